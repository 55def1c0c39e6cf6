//! The file formats, chosen by extension: NumPy `.npy`, NIfTI-1 and NIfTI-2 `.nii`/`.nii.gz`
//! and TIFF stacks `.tif`/`.tiff`. Each reads into a [`Volume`] in the file's own axis order and
//! writes one back, keeping the header when input and output have the same format.
//!
//! Files are read straight into the voxels' memory, after their headers are checked against
//! the file's size: a crafted header cannot make blur3d allocate what the file does not hold.

mod nifti;
mod npy;
mod tiff;
pub mod zarr;

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use ndarray::{ArrayView, Dimension};

use crate::atomic::Output;
use crate::volume::{Element, Volume};

/// A supported file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Npy,
    Nifti {
        gz: bool,
    },
    Tiff,
    /// A Zarr v2 or v3 array or an OME-Zarr image (a folder), streamed: see [`zarr`].
    Zarr,
}

/// Format-specific header data kept from the input, for the output.
#[derive(Debug)]
pub enum Meta {
    None,
    Nifti(Box<nifti::NiftiMeta>),
    Tiff(tiff::TiffMeta),
}

/// Zarr is streamed from Zarr to Zarr only.
const ZARR_TO_ZARR: &str =
    "Zarr is blurred from Zarr to Zarr: give both INPUT and OUTPUT as .zarr folders";

pub const EXTENSIONS: &str = ".nii, .nii.gz, .npy, .tif, .tiff or .zarr";

impl Format {
    /// The format of `path`, from its extension (case-insensitive).
    pub fn of(path: &Path) -> Result<Format, String> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let format = if name.ends_with(".npy") {
            Format::Npy
        } else if name.ends_with(".nii") {
            Format::Nifti { gz: false }
        } else if name.ends_with(".nii.gz") {
            Format::Nifti { gz: true }
        } else if name.ends_with(".tif") || name.ends_with(".tiff") {
            Format::Tiff
        } else if name.ends_with(".zarr") || zarr::is_zarr_folder(path) {
            Format::Zarr
        } else {
            let ext = path
                .extension()
                .map_or("none".to_string(), |e| format!(".{}", e.to_string_lossy()));
            return Err(format!(
                "unknown extension ({ext}): blur3d reads and writes {EXTENSIONS}"
            ));
        };
        Ok(format)
    }

    /// The names of the axes, in the order of this format's sigma lists.
    pub fn axis_names(self) -> [&'static str; 3] {
        match self {
            Format::Npy => ["axis 0", "axis 1", "axis 2"],
            Format::Nifti { .. } => ["x", "y", "z"],
            Format::Tiff => ["z (pages)", "y (rows)", "x (columns)"],
            Format::Zarr => ["axis 0", "axis 1", "axis 2"],
        }
    }

    /// Whether the axes run z, y, x (TIFF) rather than x, y, z (NIfTI); `None` for .npy, whose
    /// axes have no physical meaning and are kept as they are.
    pub fn xyz_reversed(self) -> Option<bool> {
        match self {
            Format::Npy => None,
            Format::Nifti { .. } => Some(false),
            Format::Tiff | Format::Zarr => Some(true),
        }
    }

    /// Why a file of this format may have no spacing, for the message of a sigma in mm.
    pub fn no_spacing_reason(self) -> &'static str {
        match self {
            Format::Npy => ".npy files have no voxel spacing",
            Format::Nifti { .. } => "the NIfTI header has no usable voxel spacing",
            Format::Tiff => {
                "this TIFF has no voxel spacing (blur3d reads ImageJ's: a unit of length, \
                 XResolution, YResolution and the slice spacing)"
            }
            Format::Zarr => "a plain Zarr array has no voxel spacing",
        }
    }

    /// Reads the volume at `path`.
    pub fn read(self, path: &Path) -> Result<Volume, String> {
        match self {
            Format::Npy => npy::read(path),
            Format::Nifti { .. } => nifti::read(path),
            Format::Tiff => tiff::read(path),
            Format::Zarr => Err(ZARR_TO_ZARR.to_string()),
        }
    }

    /// Writes `volume` into `out`, whose file is complete once this returns.
    pub fn write(self, out: &mut Output, volume: &Volume) -> Result<(), String> {
        if self == Format::Zarr {
            return Err(ZARR_TO_ZARR.to_string());
        }
        let file = out.as_file()?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        match self {
            Format::Npy => npy::write(&mut w, volume)?,
            Format::Tiff => tiff::write(&mut w, volume)?,
            Format::Nifti { gz: false } => nifti::write(&mut w, volume)?,
            Format::Zarr => {}
            Format::Nifti { gz: true } => {
                let mut gz = flate2::write::GzEncoder::new(&mut w, flate2::Compression::new(6));
                nifti::write(&mut gz, volume)?;
                gz.finish()
                    .map_err(|e| format!("cannot write: {}", io_problem(&e)))?;
            }
        }
        w.flush()
            .map_err(|e| format!("cannot write: {}", io_problem(&e)))?;
        drop(w);
        file.sync_all()
            .map_err(|e| format!("cannot write: {}", io_problem(&e)))
    }
}

/// An I/O error in words, without Rust's "(os error N)".
pub fn io_problem(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file or folder".to_string(),
        io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        io::ErrorKind::UnexpectedEof => "the file ends too early (truncated?)".to_string(),
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_string(),
                None => s,
            }
        }
    }
}

/// Opens `path` for reading, with its length; only regular files (a device such as /dev/zero
/// would be read without end).
pub fn open(path: &Path) -> Result<(File, u64), String> {
    let meta = std::fs::metadata(path).map_err(|e| io_problem(&e))?;
    if meta.is_dir() {
        return Err("is a folder, not a file".to_string());
    }
    if !meta.is_file() {
        return Err(
            "is not a regular file (a device, pipe or socket): blur3d reads volumes from files"
                .to_string(),
        );
    }
    let file = File::open(path).map_err(|e| io_problem(&e))?;
    Ok((file, meta.len()))
}

/// The reader back at the start of the file.
pub fn rewound(mut r: BufReader<File>) -> Result<BufReader<File>, String> {
    r.seek(SeekFrom::Start(0)).map_err(|e| io_problem(&e))?;
    Ok(r)
}

/// `count` values read straight into their vector, byte-swapped when `swap`. The vector is
/// allocated before reading: callers check `count` against the file's size first.
pub fn read_values<T: Element>(r: &mut impl Read, count: usize, swap: bool) -> io::Result<Vec<T>> {
    let mut values = vec![T::zeroed(); count];
    let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut values);
    r.read_exact(bytes)?;
    let swap = swap != cfg!(target_endian = "big");
    if swap && size_of::<T>() > 1 {
        for v in bytes.chunks_exact_mut(size_of::<T>()) {
            v.reverse();
        }
    }
    Ok(values)
}

/// Writes the values of `a` in its logical (C) order, little-endian.
pub fn write_values<T: Element, D: Dimension>(
    w: &mut impl Write,
    a: ArrayView<'_, T, D>,
) -> io::Result<()> {
    if let (Some(values), false) = (a.as_slice(), cfg!(target_endian = "big")) {
        return w.write_all(bytemuck::cast_slice(values));
    }
    let mut chunk: Vec<T> = Vec::with_capacity(1 << 16);
    for &v in &a {
        chunk.push(v);
        if chunk.len() == chunk.capacity() {
            write_le(w, &chunk)?;
            chunk.clear();
        }
    }
    write_le(w, &chunk)
}

fn write_le<T: Element>(w: &mut impl Write, values: &[T]) -> io::Result<()> {
    if cfg!(target_endian = "big") {
        let mut bytes = bytemuck::cast_slice::<T, u8>(values).to_vec();
        for v in bytes.chunks_exact_mut(size_of::<T>()) {
            v.reverse();
        }
        w.write_all(&bytes)
    } else {
        w.write_all(bytemuck::cast_slice(values))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::Meta;
    use crate::volume::Voxels;
    use ndarray::Array4;

    /// A disk that fills after `room` bytes.
    struct Disk {
        room: usize,
    }

    impl Write for Disk {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::Error::from_raw_os_error(28)); // ENOSPC
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_full_disk_says_so_in_every_format() {
        let volume = Volume {
            voxels: Voxels::F32(Array4::zeros((1, 20, 20, 20))),
            spacing: Some([1.0; 3]),
            series: false,
            meta: Meta::None,
        };
        for room in [100, 1000, 20_000] {
            for (name, result) in [
                ("nifti", nifti::write(&mut Disk { room }, &volume)),
                ("npy", npy::write(&mut Disk { room }, &volume)),
                ("tiff", tiff::write(&mut Disk { room }, &volume)),
            ] {
                let message = result.unwrap_err();
                assert_eq!(
                    message, "cannot write: No space left on device",
                    "{name}, {room} bytes"
                );
            }
        }
    }
}
