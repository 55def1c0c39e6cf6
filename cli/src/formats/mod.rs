//! The file formats, chosen by extension: NumPy `.npy`, NIfTI-1 `.nii`/`.nii.gz` and TIFF
//! stacks `.tif`/`.tiff`. Each reads into a [`Volume`] in the file's own axis order and writes one
//! back, keeping the header when input and output have the same format.

mod nifti;
mod npy;
mod tiff;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::volume::Volume;

/// A supported file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Npy,
    Nifti { gz: bool },
    Tiff,
}

/// Format-specific header data kept from the input, for the output.
#[derive(Debug)]
pub enum Meta {
    None,
    Nifti(Box<nifti::NiftiMeta>),
    Tiff(tiff::TiffMeta),
}

pub const EXTENSIONS: &str = ".nii, .nii.gz, .npy, .tif or .tiff";

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

    /// The suffix a temporary file of this format needs (the NIfTI writer goes by it).
    fn suffix(self) -> &'static str {
        match self {
            Format::Npy => ".npy",
            Format::Nifti { gz: false } => ".nii",
            Format::Nifti { gz: true } => ".nii.gz",
            Format::Tiff => ".tif",
        }
    }

    /// The names of the axes, in the order of this format's sigma lists.
    pub fn axis_names(self) -> [&'static str; 3] {
        match self {
            Format::Npy => ["axis 0", "axis 1", "axis 2"],
            Format::Nifti { .. } => ["x", "y", "z"],
            Format::Tiff => ["z (pages)", "y (rows)", "x (columns)"],
        }
    }

    /// Whether the axes run z, y, x (TIFF) rather than x, y, z (NIfTI); `None` for .npy, whose
    /// axes have no physical meaning and are kept as they are.
    pub fn xyz_reversed(self) -> Option<bool> {
        match self {
            Format::Npy => None,
            Format::Nifti { .. } => Some(false),
            Format::Tiff => Some(true),
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
        }
    }

    /// Reads the volume at `path`.
    pub fn read(self, path: &Path) -> Result<Volume, String> {
        match self {
            Format::Npy => npy::read(path),
            Format::Nifti { .. } => nifti::read(path),
            Format::Tiff => tiff::read(path),
        }
    }

    /// Checks, before any work, that `path` can be an output: its folder exists.
    pub fn check_output(path: &Path) -> Result<(), String> {
        let dir = folder_of(path);
        if dir.is_dir() {
            Ok(())
        } else {
            Err(format!(
                "cannot create a file in {}: no such folder",
                dir.display()
            ))
        }
    }

    /// Writes `volume` to `path` atomically: into a temporary file beside it, renamed over
    /// `path` once complete. On error nothing is left behind and an existing `path` is intact.
    pub fn write(self, path: &Path, volume: &Volume) -> Result<(), String> {
        let dir = folder_of(path);
        let mut builder = tempfile::Builder::new();
        builder.prefix(".blur3d-").suffix(self.suffix());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // As File::create would: 0o666 less the umask (tempfile's default is 0o600).
            builder.permissions(std::fs::Permissions::from_mode(0o666));
        }
        let tmp = builder.tempfile_in(&dir).map_err(|e| {
            format!(
                "cannot create a file in {}: {}",
                dir.display(),
                io_problem(&e)
            )
        })?;
        match self {
            Format::Npy => write_with(tmp.as_file(), |w| npy::write(w, volume))?,
            Format::Tiff => write_with(tmp.as_file(), |w| tiff::write(w, volume))?,
            Format::Nifti { gz } => {
                // The nifti crate writes to a path, and its buffered writer drops errors on
                // the floor: make sure the data reached the disk.
                nifti::write(tmp.path(), gz, volume)?;
                let file = tmp.as_file();
                let len = file
                    .sync_all()
                    .and_then(|()| file.metadata())
                    .map_err(|e| format!("cannot write: {}", io_problem(&e)))?
                    .len();
                if !gz && len < 352 + volume.voxels.byte_len() {
                    return Err("cannot write: the file came out short (is the disk full?)".into());
                }
            }
        }
        tmp.persist(path)
            .map_err(|e| format!("cannot write: {}", io_problem(&e.error)))?;
        Ok(())
    }
}

/// The folder `path` is in (`.` for a bare file name).
fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Runs `write` on a buffered writer of `file`, then flushes and syncs it.
fn write_with(
    file: &File,
    write: impl FnOnce(&mut BufWriter<&File>) -> Result<(), String>,
) -> Result<(), String> {
    let mut w = BufWriter::new(file);
    write(&mut w)?;
    w.flush()
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write: {}", io_problem(&e)))
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

/// Opens `path` for reading, with the problem in words.
pub fn open(path: &Path) -> Result<File, String> {
    if path.is_dir() {
        return Err("is a folder, not a file".to_string());
    }
    File::open(path).map_err(|e| io_problem(&e))
}
