//! Outputs written whole or not at all: a temporary file or folder beside the output's path,
//! renamed over it once complete. Until then nothing is left behind: the temporary output is
//! removed when dropped (on an error) and at SIGINT, SIGTERM or SIGHUP, once the writes into it
//! in progress have ended.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::formats::io_problem;

/// An output in the making: a temporary file or folder beside `path`.
pub struct Output {
    path: PathBuf,
    tmp: Option<Temporary>,
}

enum Temporary {
    File(tempfile::NamedTempFile),
    Folder(tempfile::TempDir),
}

/// The temporary output in the making, for the signal handler to remove.
static PENDING: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Set by the signal handler: no new write into the temporary output may start.
static STOPPING: AtomicBool = AtomicBool::new(false);
/// Writes into the temporary output in progress (a Zarr output's chunks are written by several
/// threads at once): the signal handler removes the output only once none is, so that no
/// writer recreates a file or folder in it after it is gone.
static WRITERS: AtomicUsize = AtomicUsize::new(0);

/// The lock on the temporary output in the making, held while it is made, renamed or removed,
/// so that a signal cannot slip in between.
fn pending() -> std::sync::MutexGuard<'static, Option<PathBuf>> {
    PENDING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Output {
    /// A temporary file beside the file `path`, made before any work (so that a folder that
    /// cannot take it is found at once).
    pub fn file(path: &Path) -> Result<Output, String> {
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
        let mut pending = pending();
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
            tmp: Some(Temporary::File(tmp)),
        })
    }

    /// A temporary folder beside the folder `path` (whose own folder the caller has checked),
    /// its name ending with `suffix`.
    pub fn folder(path: &Path, suffix: &str) -> Result<Output, String> {
        let dir = folder_of(path);
        watch_signals();
        let mut pending = pending();
        let tmp = tempfile::Builder::new()
            .prefix(".blur3d-")
            .suffix(suffix)
            .tempdir_in(&dir)
            .map_err(|e| {
                format!(
                    "cannot create a folder in {}: {}",
                    dir.display(),
                    io_problem(&e)
                )
            })?;
        *pending = Some(tmp.path().to_path_buf());
        Ok(Output {
            path: path.to_path_buf(),
            tmp: Some(Temporary::Folder(tmp)),
        })
    }

    /// The temporary file, to write into.
    pub fn as_file(&mut self) -> Result<&File, String> {
        match &self.tmp {
            Some(Temporary::File(tmp)) => Ok(tmp.as_file()),
            _ => Err("cannot write: the output is already complete".to_string()),
        }
    }

    /// The temporary folder, to write into.
    pub fn folder_path(&self) -> &Path {
        match &self.tmp {
            Some(Temporary::Folder(tmp)) => tmp.path(),
            _ => &self.path,
        }
    }

    /// Renames the complete file or folder to its path, replacing an older one there.
    pub fn persist(mut self) -> Result<(), String> {
        let mut pending = pending();
        let result = match self.tmp.take() {
            None => return Ok(()),
            Some(Temporary::File(tmp)) => tmp
                .persist(&self.path)
                .map(drop)
                .map_err(|e| io_problem(&e.error)),
            Some(Temporary::Folder(tmp)) => persist_folder(tmp, &self.path),
        };
        *pending = None;
        result.map_err(|e| format!("cannot write: {e}"))
    }
}

/// Renames the complete folder `tmp` to `path`: an older folder there goes aside first, and
/// is removed once the new one is in place. On failure the new folder is removed.
fn persist_folder(tmp: tempfile::TempDir, path: &Path) -> Result<(), String> {
    let done = tmp.keep();
    let result = (|| {
        if path.exists() {
            let old = tempfile::Builder::new()
                .prefix(".blur3d-old-")
                .tempdir_in(folder_of(path))
                .map_err(|e| io_problem(&e))?;
            let aside = old.path().join("old");
            std::fs::rename(path, &aside).map_err(|e| io_problem(&e))?;
            if let Err(e) = std::fs::rename(&done, path) {
                let _ = std::fs::rename(&aside, path);
                return Err(io_problem(&e));
            }
            drop(old);
            Ok(())
        } else {
            std::fs::rename(&done, path).map_err(|e| io_problem(&e))
        }
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&done);
    }
    result
}

impl Drop for Output {
    fn drop(&mut self) {
        let mut pending = pending();
        // The temporary file or folder removes itself when dropped.
        self.tmp.take();
        *pending = None;
    }
}

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
#[cfg(unix)]
fn stop_writers() {
    STOPPING.store(true, Ordering::SeqCst);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while WRITERS.load(Ordering::SeqCst) > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(1));
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
                let pending = pending();
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
pub fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}
