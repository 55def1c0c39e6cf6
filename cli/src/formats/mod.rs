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
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use ndarray::{ArrayView, Dimension};

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
        let file = out.file()?;
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

/// The output file: a temporary file beside its path, made before any work (so that a folder
/// that cannot take it is found at once), renamed over the path once complete. Until then
/// nothing is left behind: dropped, on an error, or at SIGINT, SIGTERM or SIGHUP.
pub struct Output {
    path: PathBuf,
    tmp: Option<tempfile::NamedTempFile>,
}

/// The temporary file in the making, for the signal handler to remove.
static PENDING: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Set by the signal handler: no new write into the temporary output may start.
static STOPPING: AtomicBool = AtomicBool::new(false);
/// Writes into the temporary output in progress (a Zarr output's chunks are written by several
/// threads at once): the signal handler removes the output only once none is, so that no
/// writer recreates a file or folder in it after it is gone.
static WRITERS: AtomicUsize = AtomicUsize::new(0);

/// A write into the temporary output in progress; see [`start_writing`].
pub struct Writing(());

impl Drop for Writing {
    fn drop(&mut self) {
        WRITERS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Registers a write into the temporary output, to hold while writing; an error once a signal
/// has come, and the output is being removed. Never blocks (a writer may start another on the
/// same thread, through rayon).
pub fn start_writing() -> io::Result<Writing> {
    WRITERS.fetch_add(1, Ordering::SeqCst);
    let writing = Writing(());
    if STOPPING.load(Ordering::SeqCst) {
        return Err(io::Error::new(
            io::ErrorKind::Interrupted,
            "interrupted: the output is being removed",
        ));
    }
    Ok(writing)
}

/// Stops new writes and waits (a few seconds at most) for those in progress to end.
fn stop_writers() {
    STOPPING.store(true, Ordering::SeqCst);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while WRITERS.load(Ordering::SeqCst) > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

impl Output {
    pub fn create(path: &Path) -> Result<Output, String> {
        if path.is_dir() {
            return Err("is a folder: give the name of a file to write".to_string());
        }
        let dir = folder_of(path);
        if !dir.is_dir() {
            return Err(format!(
                "cannot create a file in {}: no such folder",
                dir.display()
            ));
        }
        watch_signals();
        let mut builder = tempfile::Builder::new();
        builder.prefix(".blur3d-").suffix(".part");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // As File::create would: 0o666 less the umask (tempfile's default is 0o600).
            builder.permissions(std::fs::Permissions::from_mode(0o666));
        }
        // Held while the file is made, so that a signal cannot slip in between.
        let mut pending = PENDING
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let tmp = builder.tempfile_in(&dir).map_err(|e| {
            format!(
                "cannot create a file in {}: {}",
                dir.display(),
                io_problem(&e)
            )
        })?;
        *pending = Some(tmp.path().to_path_buf());
        Ok(Output {
            path: path.to_path_buf(),
            tmp: Some(tmp),
        })
    }

    fn file(&mut self) -> Result<&File, String> {
        self.tmp
            .as_ref()
            .map(tempfile::NamedTempFile::as_file)
            .ok_or_else(|| "cannot write: the output is already complete".to_string())
    }

    /// Renames the complete file to its path.
    pub fn persist(mut self) -> Result<(), String> {
        let mut pending = PENDING
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(tmp) = self.tmp.take() else {
            return Ok(());
        };
        let result = tmp
            .persist(&self.path)
            .map(drop)
            .map_err(|e| format!("cannot write: {}", io_problem(&e.error)));
        *pending = None;
        result
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        let mut pending = PENDING
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // The temporary file removes itself when dropped.
        self.tmp.take();
        *pending = None;
    }
}

/// On SIGINT, SIGTERM or SIGHUP: removes the temporary output, then exits as the signal
/// would (128 + its number).
#[cfg(not(unix))]
fn watch_signals() {}

/// On SIGINT, SIGTERM or SIGHUP: removes the temporary output, then exits as the signal
/// would (128 + its number).
#[cfg(unix)]
fn watch_signals() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    static WATCHING: std::sync::Once = std::sync::Once::new();
    WATCHING.call_once(|| {
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
            return;
        };
        std::thread::spawn(move || {
            if let Some(signal) = signals.forever().next() {
                let pending = PENDING
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                // The writers still at work finish first: one could otherwise create a chunk
                // (and its folders) in the output after it is removed.
                stop_writers();
                if let Some(path) = pending.as_ref() {
                    // A file, or a Zarr output's folder.
                    if path.is_dir() {
                        let _ = std::fs::remove_dir_all(path);
                    } else {
                        let _ = std::fs::remove_file(path);
                    }
                }
                // Exits with the lock held, so that the main thread cannot rename in between;
                // at once (_exit), without the atexit handlers and static destructors that
                // std::process::exit runs: the GPU driver's, run while the other threads still
                // use it, could crash the process (SIGSEGV) instead of ending it.
                signal_hook::low_level::exit(128 + signal);
            }
        });
    });
}

/// The folder `path` is in (`.` for a bare file name).
fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
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
