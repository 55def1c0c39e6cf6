//! Zarr v2 and v3 arrays and OME-Zarr images through the `blur3d` command line, streamed on
//! the GPU (skipped without an adapter, except in CI), compared with the in-memory result of
//! the same values as .npy and with scipy's (`*_scipy.npy`). The fixtures in `zarr_data/` were
//! written by zarr-python and scipy (`make_fixtures.py` there): volumes of (20, 17, 13) in
//! chunks of (6, 5, 4), so every blur's halo crosses chunk borders on every axis, and
//! `--max-slab 0` makes the slabs as thin as the kernel allows, so they cross chunk rows too.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

mod common;
use common::fails_with as fails;
use common::zarr_fixture as fixture;
use common::{a, blur3d, copy_dir, have_gpu, json, max_diff, names_in, s, stderr, tmp};
use ndarray::{Array3, ArrayD, Ix3};
use ndarray_npy::{ReadNpyExt, ReadableElement};
use serde_json::Value;
use zarrs::array::{Array, ElementOwned};
use zarrs::filesystem::FilesystemStore;

#[track_caller]
fn succeeds(args: &[&OsStr]) -> Output {
    let out = blur3d(args);
    assert!(
        out.status.success(),
        "blur3d {args:?} failed: {}",
        stderr(&out)
    );
    out
}

/// The array at `node` of the Zarr folder `path`, as f64.
fn read_zarr<T: ElementOwned + Into<f64>>(path: &Path, node: &str) -> Array3<f64> {
    let store = Arc::new(FilesystemStore::new(path).unwrap());
    let array = Array::open(store, node).unwrap();
    let shape: Vec<usize> = array.shape().iter().map(|&n| n as usize).collect();
    let values = array
        .retrieve_array_subset_elements::<T>(&array.subset_all())
        .unwrap();
    Array3::from_shape_vec(
        (shape[0], shape[1], shape[2]),
        values.into_iter().map(Into::into).collect(),
    )
    .unwrap()
}

fn read_npy<T: ReadableElement + Into<f64> + Clone>(path: &Path) -> Array3<f64> {
    let a = ArrayD::<T>::read_npy(fs::File::open(path).unwrap()).unwrap();
    a.into_dimensionality::<Ix3>().unwrap().mapv(Into::into)
}

/// The in-memory result of the same options on the .npy of the same values, on the GPU.
fn in_memory(npy: &str, dir: &Path, args: &[&str], f32_out: bool) -> Array3<f64> {
    let out = dir.join("ref.npy");
    let input = fixture(npy);
    let mut all: Vec<&OsStr> = vec![a(&input), s("-o"), a(&out)];
    all.extend(args.iter().map(|x| s(x)));
    succeeds(&all);
    if f32_out {
        read_npy::<f32>(&out)
    } else {
        read_npy::<u16>(&out)
    }
}

#[test]
fn zarr_v2_and_v3_equal_the_in_memory_blur_with_every_mode() {
    if !have_gpu() {
        return;
    }
    let dir = tmp();
    let d = dir.path();
    let everything = ["reflect", "mirror", "nearest", "wrap", "constant=500"];
    let cases: [(&str, &str, bool, &[&str]); 5] = [
        ("v2_blosc_u16.zarr", "u16.npy", false, &everything),
        ("v2_gzip_f32.zarr", "f32.npy", true, &everything),
        ("v3_zstd_u16.zarr", "u16.npy", false, &everything),
        ("v3_blosc_f32.zarr", "f32.npy", true, &["reflect", "wrap"]),
        (
            "v3_sharded_u16.zarr",
            "u16.npy",
            false,
            &["reflect", "nearest"],
        ),
    ];
    for (name, npy, float, modes) in cases {
        let input = fixture(name);
        for mode in modes {
            let out = d.join("out.zarr");
            let args = ["--sigma", "2,1.5,2.5", "--mode", mode, "--max-slab", "0"];
            let mut all: Vec<&OsStr> = vec![a(&input), s("-o"), a(&out)];
            all.extend(args.iter().map(|x| s(x)));
            succeeds(&all);
            let expected = in_memory(npy, d, &args[..4], float);
            let (got, tol) = if float {
                (read_zarr::<f32>(&out, "/"), 1e-3)
            } else {
                (read_zarr::<u16>(&out, "/"), 1.0)
            };
            let diff = max_diff(&got, &expected);
            assert!(diff <= tol, "{name} {mode}: differs by {diff}");

            // Same version, chunks, codecs and attributes.
            let v3 = input.join("zarr.json").is_file();
            assert_eq!(out.join("zarr.json").is_file(), v3, "{name}: version");
            let (meta_in, meta_out) = if v3 {
                (json(&input.join("zarr.json")), json(&out.join("zarr.json")))
            } else {
                (json(&input.join(".zarray")), json(&out.join(".zarray")))
            };
            for key in [
                "chunk_grid",
                "codecs",
                "chunks",
                "compressor",
                "dtype",
                "data_type",
                "shape",
            ] {
                assert_eq!(meta_in.get(key), meta_out.get(key), "{name}: {key}");
            }
            if name.contains("u16.zarr") && !name.contains("sharded") {
                let attrs = if v3 {
                    meta_out["attributes"].clone()
                } else {
                    json(&out.join(".zattrs"))
                };
                assert_eq!(attrs["note"], "kept", "{name}: attributes");
            }
            if !v3 {
                assert!(meta_out.get("node_type").is_none(), "{name}: a v2 .zarray");
            }
        }
    }
    assert_eq!(
        names_in(d),
        ["out.zarr", "ref.npy"],
        "no temporary folder left"
    );
}

/// The Gaussian family streams too: a u16 Zarr's Laplacian and first derivative are written as
/// float32 and equal the in-memory results.
#[test]
fn derivatives_stream_from_zarr_to_zarr() {
    if !have_gpu() {
        return;
    }
    let dir = tmp();
    let d = dir.path();
    let input = fixture("v3_zstd_u16.zarr");
    for filter in [
        &["--laplace"][..],
        &["--order", "0,1,0"],
        &["--gradient-magnitude"],
    ] {
        let out = d.join("out.zarr");
        let mut args = vec!["--sigma", "2,1.5,2.5", "--max-slab", "0"];
        args.extend_from_slice(filter);
        let mut all: Vec<&OsStr> = vec![a(&input), s("-o"), a(&out)];
        all.extend(args.iter().map(|x| s(x)));
        succeeds(&all);
        let mut reference: Vec<&str> = vec!["--sigma", "2,1.5,2.5"];
        reference.extend_from_slice(filter);
        let expected = in_memory("u16.npy", d, &reference, true);
        let got = read_zarr::<f32>(&out, "/");
        let diff = max_diff(&got, &expected);
        assert!(diff <= 1e-2, "{filter:?}: differs by {diff}");
        assert_eq!(json(&out.join("zarr.json"))["data_type"], "float32");
        fs::remove_dir_all(&out).unwrap();
    }
}

#[test]
fn dtype_changes_the_zarr_data_type_and_keeps_the_codecs_working() {
    if !have_gpu() {
        return;
    }
    let dir = tmp();
    let d = dir.path();
    for name in [
        "v2_blosc_u16.zarr",
        "v3_zstd_u16.zarr",
        "v3_sharded_u16.zarr",
    ] {
        let out = d.join("f.zarr");
        succeeds(&[
            a(&fixture(name)),
            s("-o"),
            a(&out),
            s("--sigma"),
            s("1.2"),
            s("--dtype"),
            s("f32"),
        ]);
        let expected = in_memory("u16.npy", d, &["--sigma", "1.2", "--dtype", "f32"], true);
        let got = read_zarr::<f32>(&out, "/");
        assert!(max_diff(&got, &expected) < 1e-3, "{name}");
        // And back to 8 bits: the bytes codec without endianness trouble.
        let out8 = d.join("u8.zarr");
        succeeds(&[
            a(&fixture(name)),
            s("-o"),
            a(&out8),
            s("--sigma"),
            s("1"),
            s("--dtype"),
            s("u8"),
        ]);
        let store = Arc::new(FilesystemStore::new(&out8).unwrap());
        let array = Array::open(store, "/").unwrap();
        let values = array
            .retrieve_array_subset_elements::<u8>(&array.subset_all())
            .unwrap();
        assert!(values.iter().all(|&v| v == 255), "{name}: clamped to 255");
    }
}

#[test]
fn ome_zarr_images_are_read_at_level_0_with_their_spacing() {
    if !have_gpu() {
        return;
    }
    let dir = tmp();
    let d = dir.path();
    for (name, v3) in [("ome04.ome.zarr", false), ("ome05.ome.zarr", true)] {
        let out = d.join("out.ome.zarr");
        // Level 0's scale is (2, 0.5, 0.5) um along (z, y, x): 1um is (0.5, 2, 2) voxels.
        succeeds(&[
            a(&fixture(name)),
            s("-o"),
            a(&out),
            s("--sigma"),
            s("1um"),
            s("--max-slab"),
            s("0"),
        ]);
        let expected = in_memory("u16.npy", d, &["--sigma", "0.5,2,2"], false);
        let got = read_zarr::<u16>(&out, "/0");
        assert!(max_diff(&got, &expected) <= 1.0, "{name}");
        let attrs = if v3 {
            let g = json(&out.join("zarr.json"));
            assert_eq!(g["node_type"], "group");
            g["attributes"]["ome"].clone()
        } else {
            assert!(out.join(".zgroup").is_file());
            json(&out.join(".zattrs"))
        };
        let ms = &attrs["multiscales"][0];
        assert_eq!(
            ms["datasets"].as_array().unwrap().len(),
            1,
            "{name}: level 0 only"
        );
        assert_eq!(ms["datasets"][0]["path"], "0");
        assert_eq!(ms["axes"][0]["unit"], "micrometer");
        assert!(!out.join("1").exists(), "{name}: no level 1");
        // Names of the axes in the messages: z, y, x.
        fails(
            [
                a(&fixture(name)),
                s("-o"),
                a(&out),
                s("--sigma"),
                s("1"),
                s("--radius"),
                s("1,1,100000"),
            ],
            &fixture(name),
            "--radius along x is 100000",
        );
    }
}

#[test]
fn streaming_holds_the_chunks_of_a_block_not_the_volume() {
    if !have_gpu() {
        return;
    }
    let dir = tmp();
    let d = dir.path();
    // 64 planes of 24 x 24 in chunks of 4 x 24 x 24 (4608 bytes each); the smallest blocks.
    // Sigma 3 reaches 12 planes (and rows): slabs of whole planes, 2 output planes each, whose
    // block touches 8 chunks; the source keeps those (the next block shares most of them, so
    // each chunk is decoded once, but for a few at the edges, where the modes read backwards),
    // the sink the 2 chunks a block writes into, whatever the volume's length. Sigma 3, 1, 1
    // reaches 4 rows: too far along axis 0 for a slab of whole planes in the smallest blocks,
    // so blocks are tiles of rows, and the sink holds at most the chunks of one slab.
    let chunk = 4 * 24 * 24 * 2;
    for (sigma, source_most, sink_most) in
        [("3", 8 * chunk, 2 * chunk), ("3,1,1", 8 * chunk, 2 * chunk)]
    {
        let out = d.join("out.zarr");
        let run = Command::new(env!("CARGO_BIN_EXE_blur3d"))
            .args([
                a(&fixture("long_u16.zarr")),
                s("-o"),
                a(&out),
                s("--sigma"),
                s(sigma),
                s("--max-slab"),
                s("0"),
            ])
            .env("BLUR3D_STREAM_STATS", "1")
            .output()
            .unwrap();
        let err = stderr(&run);
        assert!(run.status.success(), "{err}");
        let number = |after: &str| -> usize {
            let rest = &err[err.find(after).unwrap_or_else(|| panic!("{err}")) + after.len()..];
            rest.split_whitespace()
                .next()
                .unwrap()
                .trim_end_matches(',')
                .parse()
                .unwrap()
        };
        let source = number("source held ");
        let sink = number("sink ");
        let decoded = number("chunks decoded ");
        let blocks = number("blocks ");
        assert!(
            source <= source_most && sink <= sink_most,
            "sigma {sigma}: held {source} and {sink} bytes: {err}"
        );
        assert!(
            (16..=16 + 8).contains(&decoded),
            "sigma {sigma}: {decoded} of 16 chunks decoded: {err}"
        );
        assert!(blocks >= 16, "sigma {sigma}: {blocks} blocks: {err}");
        let expected = in_memory("long_u16.npy", d, &["--sigma", sigma], false);
        assert!(
            max_diff(&read_zarr::<u16>(&out, "/"), &expected) <= 1.0,
            "sigma {sigma}"
        );
    }
}

/// A copy of fixture `name` as `dir/to`, with `edit` applied to its array metadata.
fn edited(dir: &Path, name: &str, to: &str, edit: impl FnOnce(&mut Value)) -> PathBuf {
    common::edited(dir, name, to, None, edit)
}

#[test]
fn bad_zarr_inputs_fail_with_one_line_and_leave_no_output() {
    let dir = tmp();
    let d = dir.path();
    let out = d.join("out.zarr");
    let run = |input: &Path, words: &str| {
        fails(
            [a(input), s("-o"), a(&out), s("--sigma"), s("1")],
            input,
            words,
        );
    };
    run(&d.join("missing.zarr"), "no such file or folder");
    let foreign = d.join("foreign.zarr");
    fs::create_dir(&foreign).unwrap();
    fs::write(foreign.join("notes.txt"), "hello").unwrap();
    run(&foreign, "is not a Zarr array or OME-Zarr image");
    let group = d.join("group.zarr");
    fs::create_dir(&group).unwrap();
    fs::write(
        group.join("zarr.json"),
        r#"{"zarr_format":3,"node_type":"group","attributes":{}}"#,
    )
    .unwrap();
    run(&group, "not an OME-Zarr image");
    let codec = edited(d, "v3_zstd_u16.zarr", "codec.zarr", |v| {
        v["codecs"][1]["name"] = "nonexistent".into();
    });
    run(&codec, "codec nonexistent is not supported");
    let f16 = edited(d, "v3_zstd_u16.zarr", "f16.zarr", |v| {
        v["data_type"] = "float16".into();
    });
    run(&f16, "data type float16 is not supported");
    let flat = edited(d, "v2_gzip_f32.zarr", "flat.zarr", |v| {
        v["shape"] = serde_json::json!([20, 221]);
        v["chunks"] = serde_json::json!([6, 20]);
    });
    run(&flat, "blur3d blurs 3D volumes");
    let no_level0 = d.join("nolevel.ome.zarr");
    copy_dir(&fixture("ome05.ome.zarr"), &no_level0);
    fs::remove_dir_all(no_level0.join("0")).unwrap();
    run(
        &no_level0,
        "cannot open the Zarr array at /0: no array there",
    );
    let before = names_in(d);
    if have_gpu() {
        // A chunk that fails to decode, found midway through the blur.
        let broken = edited(d, "v2_blosc_u16.zarr", "broken.zarr", |_| {});
        fs::write(broken.join("2.1.1"), b"not blosc at all").unwrap();
        run(&broken, "cannot read the chunk at planes 12..18");
        let broken = edited(d, "v3_zstd_u16.zarr", "broken3.zarr", |_| {});
        fs::write(broken.join("c/1/2/0"), b"not zstd").unwrap();
        run(&broken, "cannot read the chunk at planes 6..12");
    }
    let mut after = names_in(d);
    after.retain(|n| !n.starts_with("broken"));
    assert_eq!(after, before, "nothing left behind");
    assert!(!out.exists());

    // Zarr goes to Zarr, on a GPU.
    let input = fixture("v3_zstd_u16.zarr");
    fails(
        [
            a(&input),
            s("-o"),
            a(&d.join("o.npy")),
            s("--sigma"),
            s("1"),
        ],
        &d.join("o.npy"),
        "from Zarr to Zarr",
    );
    let err = stderr(&blur3d([
        a(&input),
        s("-o"),
        a(&out),
        s("--sigma"),
        s("1"),
        s("--cpu"),
    ]));
    assert!(err.contains("--cpu blurs the in-memory formats"), "{err}");
    // A plain array has no spacing.
    fails(
        [a(&input), s("-o"), a(&out), s("--sigma"), s("1um")],
        &input,
        "no voxel spacing",
    );
    // The output may not be the input.
    let copy = edited(d, "v3_zstd_u16.zarr", "copy.zarr", |_| {});
    fails(
        [a(&copy), s("-o"), a(&copy), s("--sigma"), s("1")],
        &copy,
        "is the input",
    );
    // Nor a folder that is not Zarr.
    fails(
        [a(&input), s("-o"), a(&foreign), s("--sigma"), s("1")],
        &foreign,
        "not a Zarr folder",
    );
    assert_eq!(names_in(&foreign), ["notes.txt"]);
}

/// A file-size limit (RLIMIT_FSIZE) makes writes fail as a full disk does: the error is one
/// line, and the half-written output folder is removed.
#[test]
#[cfg(target_os = "linux")]
fn a_failed_write_leaves_no_output_and_keeps_an_old_one() {
    use std::os::unix::process::CommandExt;
    if !have_gpu() {
        return;
    }
    let dir = tmp();
    let d = dir.path();
    let out = d.join("out.zarr");
    // An older output, which a failed run keeps as it was.
    succeeds(&[
        a(&fixture("v2_gzip_f32.zarr")),
        s("-o"),
        a(&out),
        s("--sigma"),
        s("1"),
    ]);
    let old = names_in(&out);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_blur3d"));
    cmd.args([
        a(&fixture("long_u16.zarr")),
        s("-o"),
        a(&out),
        s("--sigma"),
        s("1"),
        s("--dtype"),
        s("f64"),
    ]);
    // SAFETY: setrlimit and signal are async-signal-safe; nothing else runs in the child.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit {
                rlim_cur: 4096,
                rlim_max: 4096,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let run = cmd.output().unwrap();
    let err = stderr(&run);
    assert_eq!(run.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("blur3d: {}: cannot write", out.display())),
        "{err}"
    );
    assert!(err.contains("File too large"), "{err}");
    assert!(!err.contains("os error"), "{err}");
    assert_eq!(names_in(d), ["out.zarr"], "no temporary folder left");
    assert_eq!(names_in(&out), old, "the old output is kept");
    assert!(out.join(".zarray").is_file());
}

#[test]
#[cfg(unix)]
fn an_interrupted_zarr_run_leaves_nothing_behind() {
    if !have_gpu() {
        return;
    }
    let dir = tmp();
    let d = dir.path();
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let out = d.join("out.zarr");
        let mut child = Command::new(env!("CARGO_BIN_EXE_blur3d"))
            .args([
                a(&fixture("long_u16.zarr")),
                s("-o"),
                a(&out),
                s("--sigma"),
                s("6"),
                s("--max-slab"),
                s("0"),
            ])
            .spawn()
            .unwrap();
        let start = std::time::Instant::now();
        let begun = loop {
            let part = names_in(d).into_iter().find(|n| n.starts_with(".blur3d-"));
            if part.is_some() || start.elapsed().as_secs() > 60 {
                break part;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        };
        assert!(begun.is_some(), "the temporary folder was made");
        unsafe { libc::kill(child.id() as i32, signal) };
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(128 + signal), "after signal {signal}");
        assert_eq!(
            names_in(d),
            Vec::<String>::new(),
            "nothing left after {signal}"
        );
    }
}

/// Zarr runs compared with scipy itself (`gaussian_filter` in float64, written by
/// `make_fixtures.py --scipy`), not only with blur3d's in-memory path: a plain v3 array, both
/// OME-Zarr versions through their scale (1um is (0.5, 2, 2) voxels), and a v2 float32 array.
#[test]
fn zarr_blurs_equal_scipy() {
    if !have_gpu() {
        return;
    }
    let dir = tmp();
    let d = dir.path();
    let reflect = ["--sigma", "2,1.5,2.5", "--dtype", "f32"];
    let nearest = ["--sigma", "1um", "--mode", "nearest", "--dtype", "f32"];
    let cases: [(&str, &str, &[&str], &str, f64); 5] = [
        (
            "v3_zstd_u16.zarr",
            "/",
            &reflect,
            "u16_sigma2-1.5-2.5_reflect_scipy.npy",
            1e-2,
        ),
        (
            "v2_blosc_u16.zarr",
            "/",
            &reflect,
            "u16_sigma2-1.5-2.5_reflect_scipy.npy",
            1e-2,
        ),
        (
            "ome05.ome.zarr",
            "/0",
            &nearest,
            "u16_sigma0.5-2-2_nearest_scipy.npy",
            1e-2,
        ),
        (
            "ome04.ome.zarr",
            "/0",
            &nearest,
            "u16_sigma0.5-2-2_nearest_scipy.npy",
            1e-2,
        ),
        (
            "v2_gzip_f32.zarr",
            "/",
            &["--sigma", "1.2", "--mode", "wrap"],
            "f32_sigma1.2_wrap_scipy.npy",
            2e-3,
        ),
    ];
    for (name, node, args, scipy, tol) in cases {
        let out = d.join("out.zarr");
        let input = fixture(name);
        let mut all: Vec<&OsStr> = vec![a(&input), s("-o"), a(&out), s("--max-slab"), s("0")];
        all.extend(args.iter().map(|x| s(x)));
        succeeds(&all);
        let got = read_zarr::<f32>(&out, node);
        let expected = read_npy::<f64>(&fixture(scipy));
        let diff = max_diff(&got, &expected);
        eprintln!("{name} {args:?}: off scipy by {diff:e}");
        assert!(diff <= tol, "{name} {args:?}: off scipy by {diff}");
        // Not a trivial match: the blur changed the values.
        let input = if name.contains("f32") {
            read_npy::<f32>(&fixture("f32.npy"))
        } else {
            read_npy::<u16>(&fixture("u16.npy"))
        };
        assert!(max_diff(&input, &expected) > 100.0 * tol, "{name}");
        fs::remove_dir_all(&out).unwrap();
    }
}

/// A Zarr volume of 128 x 256 x 256 float32 in 64 chunks, written with zarrs.
fn write_volume(path: &Path) {
    use zarrs::array::{ArrayBuilder, DataType, FillValue};
    let store = Arc::new(FilesystemStore::new(path).unwrap());
    let shape = [128u64, 256, 256];
    let array = ArrayBuilder::new(
        shape.to_vec(),
        [32u64, 64, 64],
        DataType::Float32,
        FillValue::from(0.0f32),
    )
    .build(store, "/")
    .unwrap();
    array.store_metadata().unwrap();
    let values: Vec<f32> = (0..shape.iter().product::<u64>())
        .map(|i| ((i * 2_654_435_761) % 1000) as f32)
        .collect();
    array
        .store_array_subset_elements(&array.subset_all(), &values)
        .unwrap();
}

/// Files under `dir` (any depth), 0 when it is gone.
fn files_under(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                files_under(&e.path())
            } else {
                1
            }
        })
        .sum()
}

/// SIGINT at many moments of a run that replaces an older output: before its temporary folder
/// exists, and when that folder holds 0 to all 64 of its chunks, near the end above all, where
/// the chunks of the last blocks are being written by several threads while the signal handler
/// removes the folder. No `.blur3d-*` folder is ever left, and the output is the old one or,
/// when the run won the race, the complete new one, never anything else.
#[test]
#[cfg(unix)]
fn an_interrupted_zarr_run_leaves_no_part_folder_at_any_moment() {
    use std::os::unix::process::ExitStatusExt;
    use std::time::{Duration, Instant};
    if !have_gpu() {
        return;
    }
    let dir = tmp();
    let d = dir.path();
    let input = d.join("in.zarr");
    write_volume(&input);
    let out = d.join("out.zarr");
    let run = |sigma: &str, to: &Path| {
        Command::new(env!("CARGO_BIN_EXE_blur3d"))
            .args([a(&input), s("-o"), a(to), s("--sigma"), s(sigma)])
            .spawn()
            .unwrap()
    };
    // The older output, and the complete new one.
    assert!(run("1", &out).wait().unwrap().success());
    let old = common::snapshot(&out);
    let complete = d.join("complete.zarr");
    assert!(run("4", &complete).wait().unwrap().success());
    let new = common::snapshot(&complete);
    assert_ne!(old, new);
    let chunks = files_under(&complete.join("c"));
    assert_eq!(chunks, 64);

    // When to interrupt: after a time, or once the temporary folder holds that many chunks
    // (and its zarr.json).
    enum At {
        Millis(u64),
        Chunks(usize),
    }
    let mut moments = vec![At::Millis(0), At::Millis(200)];
    moments.extend(
        [0, 1, 8, 24, 40, 52, 56, 58, 60, 61, 62, 63, 64, 64]
            .into_iter()
            .map(At::Chunks),
    );
    let mut current = old;
    let mut interrupted = 0;
    for at in moments {
        let mut child = run("4", &out);
        let start = Instant::now();
        let what = match at {
            At::Millis(ms) => {
                std::thread::sleep(Duration::from_millis(ms));
                format!("{ms} ms into the run")
            }
            At::Chunks(n) => {
                // Polled as fast as the folder can be read: chunks come every few ms.
                while child.try_wait().unwrap().is_none() && start.elapsed().as_secs() < 60 {
                    let part = names_in(d).into_iter().find(|n| n.starts_with(".blur3d-"));
                    if part.is_some_and(|p| files_under(&d.join(p)) > n) {
                        break;
                    }
                }
                format!("with {n} chunks written")
            }
        };
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let status = child.wait().unwrap();
        // Interrupted (130, or killed by the signal before the handler was set), or done.
        let stopped = status.code() == Some(130) || status.signal() == Some(libc::SIGINT);
        assert!(stopped || status.success(), "{what}: {status:?}");
        interrupted += usize::from(stopped);
        eprintln!("{what}: {status:?}");
        assert_eq!(
            names_in(d),
            ["complete.zarr", "in.zarr", "out.zarr"],
            "{what} ({status:?}): a temporary folder was left"
        );
        let now = common::snapshot(&out);
        assert!(
            now == current || now == new,
            "{what} ({status:?}): the output is neither the old one nor the new"
        );
        current = now;
    }
    assert!(interrupted >= 8, "only {interrupted} runs were interrupted");
}
