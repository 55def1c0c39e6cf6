//! Helpers both test files of the command-line tool use: running the binary, paths as
//! arguments, temporary folders.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};

/// Runs the `blur3d` binary with `args`.
pub fn blur3d<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_blur3d"))
        .args(args)
        .output()
        .expect("the blur3d binary runs")
}

/// What a run printed on stderr.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A path as an argument.
pub fn a(p: &Path) -> &OsStr {
    p.as_os_str()
}

pub fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}
