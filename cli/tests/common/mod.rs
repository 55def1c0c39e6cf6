//! Helpers the test files of the command-line tool share: running the binary, paths as
//! arguments, temporary folders, comparisons that fail on NaN, the Zarr fixtures. Each test
//! file uses some of them.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use ndarray::Array3;
use serde_json::Value;

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

/// A text as an argument.
pub fn s(text: &str) -> &OsStr {
    OsStr::new(text)
}

pub fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Runs blur3d, expecting exit status 1, nothing on stdout and one line
/// `blur3d: <file>: ...` containing `words`; the line.
#[track_caller]
pub fn fails_with(args: &[&OsStr], file: &Path, words: &str) -> String {
    let out = blur3d(args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "exit status; stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    let prefix = format!("blur3d: {}: ", file.display());
    assert!(
        err.starts_with(&prefix),
        "{err:?} should start with {prefix:?}"
    );
    assert!(err.contains(words), "{err:?} should contain {words:?}");
    assert!(out.stdout.is_empty());
    err
}

/// The largest of `diffs`, or NaN when any is NaN: `f64::max` skips NaN, so that an output of
/// NaN would pass any tolerance. Compare as `assert!(worst <= tol)`, which fails on NaN.
pub fn worst(diffs: impl IntoIterator<Item = f64>) -> f64 {
    diffs.into_iter().fold(0.0, |most, d| {
        if most.is_nan() || d.is_nan() {
            f64::NAN
        } else {
            most.max(d)
        }
    })
}

/// The largest absolute difference between `a` and `b` (of the same shape), NaN when any
/// value of either is NaN (or both are the same infinity).
#[track_caller]
pub fn max_diff(a: &Array3<f64>, b: &Array3<f64>) -> f64 {
    assert_eq!(a.dim(), b.dim());
    worst(a.iter().zip(b).map(|(x, y)| (x - y).abs()))
}

/// Whether a GPU adapter is there (a failure in CI without one).
pub fn have_gpu() -> bool {
    static GPU: OnceLock<Result<(), String>> = OnceLock::new();
    match GPU.get_or_init(|| {
        blur3d::GpuBlur::try_new()
            .map(drop)
            .map_err(|e| e.to_string())
    }) {
        Ok(()) => true,
        Err(e) if std::env::var_os("CI").is_some() => panic!("CI needs a GPU adapter: {e}"),
        Err(e) => {
            eprintln!("SKIPPED: no GPU adapter on this machine ({e})");
            false
        }
    }
}

/// A file or folder of `tests/zarr_data`.
pub fn zarr_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/zarr_data")
        .join(name)
}

/// The names in `dir`, sorted.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

pub fn json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

/// A copy of the Zarr fixture `name` as `dir/to`, with `edit` applied to the JSON of its
/// metadata file `meta` (`zarr.json`, `.zarray`, `.zattrs`...; the array's or group's own
/// when `None`).
pub fn edited(
    dir: &Path,
    name: &str,
    to: &str,
    meta: Option<&str>,
    edit: impl FnOnce(&mut Value),
) -> PathBuf {
    let copy = dir.join(to);
    copy_dir(&zarr_fixture(name), &copy);
    let meta = match meta {
        Some(m) => copy.join(m),
        None if copy.join("zarr.json").is_file() => copy.join("zarr.json"),
        None => copy.join(".zarray"),
    };
    let mut v = json(&meta);
    edit(&mut v);
    fs::write(&meta, serde_json::to_vec(&v).unwrap()).unwrap();
    copy
}

/// Every file under `dir` (paths relative to it) with its bytes, to tell whether a folder
/// changed.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
        for e in fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                walk(root, &p, out);
            } else {
                out.push((
                    p.strip_prefix(root).unwrap().to_path_buf(),
                    fs::read(&p).unwrap(),
                ));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}
