//! What the test files of the command-line tool share: running the binary and checking how it
//! ended, paths as arguments, temporary folders, the GPU, volumes of fixed random values and
//! the library's result on them, comparisons that fail on NaN, the sample files and the Zarr
//! fixtures, peak memory. Each test file uses some of them; `files` writes and reads the test
//! files of each format.
#![allow(dead_code)]

pub mod files;

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use blur3d::{BlurOptions, GpuBlur, cpu};
use ndarray::Array3;
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// Running the binary

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

/// Runs blur3d and asserts that it succeeded without a word (stderr is not a terminal here).
#[track_caller]
pub fn succeeds<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = blur3d(args);
    assert!(out.status.success(), "blur3d failed: {}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "",
        "a successful run prints nothing off a terminal"
    );
    out
}

/// Copies `from` to `to` on the CPU (`--sigma 0 --cpu`): a format conversion, to read a result
/// back in another format.
#[track_caller]
pub fn copied(from: &Path, to: &Path) -> Output {
    succeeds([
        a(from),
        "-o".as_ref(),
        a(to),
        "--sigma".as_ref(),
        "0".as_ref(),
        "--cpu".as_ref(),
    ])
}

/// Runs blur3d, expecting exit status 1, nothing on stdout and one line
/// `blur3d: <file>: ...` containing `words`; the line.
#[track_caller]
pub fn fails_with<I, S>(args: I, file: &Path, words: &str) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
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

/// Runs blur3d and asserts that it failed with exit status 1 (not a crash) and `words`.
#[track_caller]
pub fn refuses(input: &Path, output: &Path, words: &str) {
    fails_with(
        [
            a(input),
            "-o".as_ref(),
            a(output),
            "--sigma".as_ref(),
            "1".as_ref(),
            "--cpu".as_ref(),
        ],
        input,
        words,
    );
    assert!(!output.exists());
}

// ---------------------------------------------------------------------------------------------
// The GPU

/// The shared GPU blur, or `None` without an adapter (a failure in CI).
pub fn gpu() -> Option<&'static GpuBlur> {
    static GPU: OnceLock<Result<GpuBlur, String>> = OnceLock::new();
    match GPU.get_or_init(|| GpuBlur::try_new().map_err(|e| e.to_string())) {
        Ok(g) => Some(g),
        Err(e) if std::env::var_os("CI").is_some() => panic!("CI needs a GPU adapter: {e}"),
        Err(e) => {
            eprintln!("SKIPPED: no GPU adapter on this machine ({e})");
            None
        }
    }
}

/// Whether a GPU adapter is there (a failure in CI without one).
pub fn have_gpu() -> bool {
    gpu().is_some()
}

/// The engines to run a test on: `--cpu`, and the GPU where there is one (`--quiet`, a flag
/// that changes nothing else there).
pub fn engines() -> &'static [&'static str] {
    if have_gpu() {
        &["--cpu", "--quiet"]
    } else {
        &["--cpu"]
    }
}

// ---------------------------------------------------------------------------------------------
// Volumes, the library's results, comparisons

/// Values in [0, scale) from a fixed seed (splitmix64).
pub fn random(shape: (usize, usize, usize), seed: u64, scale: f64) -> Array3<f64> {
    let mut state = seed;
    Array3::from_shape_simple_fn(shape, || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64 * scale
    })
}

pub const SHAPE: (usize, usize, usize) = (8, 9, 10);

pub fn reference(vol: &Array3<f64>, opts: &BlurOptions) -> Array3<f64> {
    cpu::separable(vol, opts).expect("valid options")
}

/// What blur3d promises for integer outputs: rounded (halves away from zero), clamped.
pub fn to_u8(v: &Array3<f64>) -> Array3<u8> {
    v.mapv(|x| x.round().clamp(0.0, 255.0) as u8)
}

pub fn to_i16(v: &Array3<f64>) -> Array3<i16> {
    v.mapv(|x| x.round().clamp(-32768.0, 32767.0) as i16)
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

/// Fails when any difference is over `tol`, or NaN.
#[track_caller]
pub fn assert_close(actual: &Array3<f64>, expected: &Array3<f64>, tol: f64) {
    let worst = max_diff(actual, expected);
    assert!(worst <= tol, "max abs difference {worst:e} > {tol:e}");
}

// ---------------------------------------------------------------------------------------------
// Files and folders

pub fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cli_data")
        .join(name)
}

/// A file or folder of `tests/zarr_data`.
pub fn zarr_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/zarr_data")
        .join(name)
}

pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
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

// ---------------------------------------------------------------------------------------------
// Memory

#[cfg(target_os = "linux")]
/// Peak resident memory of a blur3d run, in bytes: the last VmHWM of /proc/PID/status before
/// it exits (the high-water mark only grows, and the peak comes during the blur, well before the
/// output is written and the process ends). The kernel's `ru_maxrss` of a child would also
/// count the test process it was spawned from.
pub fn peak_rss(args: &[&OsStr]) -> u64 {
    let mut child = Command::new(env!("CARGO_BIN_EXE_blur3d"))
        .args(args)
        .spawn()
        .unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    let mut samples = 0;
    let status = loop {
        if let Some(kb) = fs::read_to_string(&status_file).ok().and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        }) {
            peak = peak.max(kb * 1024);
            samples += 1;
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_micros(500));
    };
    assert!(status.success(), "blur3d failed");
    assert!(samples > 0, "no sample of /proc/PID/status");
    peak
}

/// Peak resident memory of `blur3d INPUT -o OUTPUT --sigma 2 ENGINE`, in bytes.
#[cfg(target_os = "linux")]
pub fn blur_peak_rss(input: &Path, output: &Path, engine: &str) -> u64 {
    peak_rss(&[
        a(input),
        s("-o"),
        a(output),
        s("--sigma"),
        s("2"),
        s(engine),
    ])
}
