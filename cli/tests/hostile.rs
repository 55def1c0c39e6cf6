//! Runs that fail: hostile, malformed and bad inputs of every format, outputs that cannot be
//! written, interrupts. Each fails at once with one line that says what is wrong and what to
//! do, without a panic or an abort, and leaves nothing behind (no `.blur3d-*` temporary output,
//! no change to an existing output or to the input).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod common;
use common::fails_with as fails;
use common::files::{tiff_bytes, truncated, valid_inputs, write_nifti, write_npy};
use common::{
    a, blur3d, edited, fails_with, files_in, have_gpu, json, names_in, random, refuses, s,
    snapshot, succeeds, tmp, zarr_fixture,
};
use ndarray::Array3;
use nifti::NiftiHeader;

/// A Zarr v2 array of float32 whose metadata says `shape` in chunks of `chunks`, without data.
fn crafted(dir: &Path, name: &str, shape: &str, chunks: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    fs::create_dir(&p).unwrap();
    fs::write(
        p.join(".zarray"),
        format!(
            r#"{{"shape": {shape}, "chunks": {chunks}, "dtype": "<f4", "fill_value": 0.0,
                "order": "C", "filters": null, "compressor": null, "zarr_format": 2}}"#
        ),
    )
    .unwrap();
    p
}

/// A shape and chunk grid no machine can stream (2^33 chunks of one voxel, a shape of 2^120
/// voxels, a chunk of 2^60 bytes) are refused before anything is allocated per chunk and before
/// the output's temporary folder is made: at once, an older output untouched.
#[test]
fn a_crafted_zarr_chunk_grid_fails_at_once_and_leaves_nothing() {
    let dir = tmp();
    let d = dir.path();
    let out = d.join("out.zarr");
    // An older output (any Zarr array), which must stay as it is.
    common::copy_dir(&zarr_fixture("v2_gzip_f32.zarr"), &out);
    let old = snapshot(&out);
    let cases = [
        (
            crafted(d, "thin.zarr", "[8589934592, 1, 1]", "[1, 1, 1]"),
            "shape [8589934592, 1, 1] in chunks of [1, 1, 1] makes 8589934592 x 1 x 1 chunks",
        ),
        (
            crafted(
                d,
                "huge.zarr",
                &format!("[{0}, {0}, {0}]", 1u64 << 40),
                "[8, 8, 8]",
            ),
            "holds more than 2^63 bytes of float32",
        ),
        (
            crafted(
                d,
                "one.zarr",
                &format!("[{}, 1, 1]", 1u64 << 58),
                &format!("[{}, 1, 1]", 1u64 << 58),
            ),
            "are too large to stream on this machine",
        ),
    ];
    let before = names_in(d);
    for (input, words) in &cases {
        let start = Instant::now();
        let err = fails_with(
            [a(input), s("-o"), a(&out), s("--sigma"), s("1")],
            input,
            words,
        );
        assert!(
            err.contains("rewrite the array") || err.contains("fix its shape"),
            "what to do: {err}"
        );
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{err}: took {:?}",
            start.elapsed()
        );
        assert_eq!(names_in(d), before, "nothing left behind: {err}");
        assert_eq!(snapshot(&out), old, "the older output is kept");
    }
}

/// An output inside the input folder (a new array in an OME-Zarr image, or its level 0) and an
/// input inside the output folder that would be replaced are refused, and the input is left
/// as it was.
#[test]
fn an_output_inside_the_input_is_refused() {
    let dir = tmp();
    let d = dir.path();
    let image = d.join("img.ome.zarr");
    common::copy_dir(&zarr_fixture("ome05.ome.zarr"), &image);
    let before = snapshot(&image);
    let sigma = [s("--sigma"), s("1")];
    for out in [
        image.join("blur.zarr"),
        image.join("0"),
        image.join("0/c/new.zarr"),
    ] {
        let mut args = vec![a(&image), s("-o"), a(&out)];
        args.extend(sigma);
        let words = if out.parent().unwrap().is_dir() {
            "write the output outside the input folder"
        } else {
            "no such folder"
        };
        fails_with(&args, &out, words);
    }
    // Through another spelling of the same folder.
    let dotted = d
        .join(".")
        .join("img.ome.zarr")
        .join("..")
        .join("img.ome.zarr");
    let out = dotted.join("new.zarr");
    let mut args = vec![a(&image), s("-o"), a(&out)];
    args.extend(sigma);
    fails_with(&args, &out, "is the input or inside it");
    // The input inside the output.
    let level0 = image.join("0");
    let mut args = vec![a(&level0), s("-o"), a(&image)];
    args.extend(sigma);
    fails_with(&args, &image, "holds the input");
    assert_eq!(snapshot(&image), before, "the input is untouched");
    assert_eq!(names_in(d), ["img.ome.zarr"], "nothing left behind");
}

/// Zarr metadata blur3d cannot use says what is wrong with it in a user's words, not in
/// zarrs' or serde's.
#[test]
fn unusable_zarr_metadata_says_what_is_wrong() {
    let dir = tmp();
    let d = dir.path();
    let out = d.join("out.zarr");
    let run = |input: &Path, words: &str| {
        let err = fails_with(
            [a(input), s("-o"), a(&out), s("--sigma"), s("1")],
            input,
            words,
        );
        for jargon in [
            "untagged enum",
            "FillValue",
            "no array there",
            "list is empty",
        ] {
            assert!(!err.contains(jargon), "{err}");
        }
        err
    };
    let supported = "blur3d reads uint8, int8, uint16, int16, uint32, int32, uint64, int64, \
                     float32 and float64";
    for (dtype, fill, name) in [
        (
            "|b1",
            serde_json::json!(false),
            "data type bool (\"|b1\") is not supported",
        ),
        (
            "<c8",
            serde_json::json!([0.0, 0.0]),
            "data type complex64 (\"<c8\") is not supported",
        ),
        (
            "<f2",
            serde_json::json!(0.0),
            "data type float16 (\"<f2\") is not supported",
        ),
    ] {
        let input = edited(
            d,
            "v2_gzip_f32.zarr",
            &format!("{}.zarr", &dtype[1..]),
            None,
            |v| {
                v["dtype"] = dtype.into();
                v["fill_value"] = fill;
            },
        );
        let err = run(&input, name);
        assert!(err.contains(supported), "{err}");
    }
    let input = edited(d, "v3_zstd_u16.zarr", "bool3.zarr", None, |v| {
        v["data_type"] = "bool".into();
        v["fill_value"] = false.into();
    });
    run(&input, "data type bool is not supported");
    let input = edited(d, "v3_zstd_u16.zarr", "nocodecs.zarr", None, |v| {
        v["codecs"] = serde_json::json!([]);
    });
    run(&input, "its zarr.json lists no codecs (\"codecs\": [])");
    let input = edited(d, "v3_zstd_u16.zarr", "nobytes.zarr", None, |v| {
        v["codecs"] =
            serde_json::json!([{"name": "zstd", "configuration": {"level": 1, "checksum": false}}]);
    });
    run(&input, "array-to-bytes codec");
    // OME multiscales as an object, and as an empty list.
    for (name, meta, nested) in [
        ("ome05.ome.zarr", "zarr.json", true),
        ("ome04.ome.zarr", ".zattrs", false),
    ] {
        let input = edited(d, name, &format!("object-{name}"), Some(meta), |v| {
            let ms = if nested {
                &mut v["attributes"]["ome"]["multiscales"]
            } else {
                &mut v["multiscales"]
            };
            *ms = ms[0].clone();
        });
        run(&input, "the OME-Zarr multiscales is an object, not a list");
        let input = edited(d, name, &format!("empty-{name}"), Some(meta), |v| {
            let ms = if nested {
                &mut v["attributes"]["ome"]["multiscales"]
            } else {
                &mut v["multiscales"]
            };
            *ms = serde_json::json!([]);
        });
        fails_with(
            [a(&input), s("-o"), a(&out), s("--sigma"), s("1")],
            &input,
            "the OME-Zarr multiscales list is empty: it needs one multiscale image",
        );
    }
    // A unit that is not a length: sigma in voxels works, in um it cannot.
    let input = edited(
        d,
        "ome05.ome.zarr",
        "seconds.ome.zarr",
        Some("zarr.json"),
        |v| {
            v["attributes"]["ome"]["multiscales"][0]["axes"][2]["unit"] = "second".into();
        },
    );
    fails_with(
        [a(&input), s("-o"), a(&out), s("--sigma"), s("1um")],
        &input,
        "the OME-Zarr axis x has the unit \"second\", which is not a unit of length",
    );
    assert!(!out.exists());
    assert!(
        names_in(d).iter().all(|n| !n.starts_with(".blur3d")),
        "{:?}",
        names_in(d)
    );
}

/// OME-Zarr axis units as tools abbreviate them ("um", "µm") are lengths: --sigma 1um gives the
/// same result as on the fixture's "micrometer", and the output names the unit as OME-NGFF does.
#[test]
fn ome_zarr_units_may_be_abbreviated() {
    if !have_gpu() {
        return;
    }
    let dir = tmp();
    let d = dir.path();
    let sigma = [s("--sigma"), s("1um")];
    let reference = d.join("reference.ome.zarr");
    let fixture = zarr_fixture("ome05.ome.zarr");
    let mut args = vec![a(&fixture), s("-o"), a(&reference)];
    args.extend(sigma);
    assert!(common::blur3d(&args).status.success());
    let expected = snapshot(&reference.join("0"));
    for unit in ["um", "µm", "micron"] {
        let input = edited(
            d,
            "ome05.ome.zarr",
            &format!("{unit}.ome.zarr"),
            Some("zarr.json"),
            |v| {
                for axis in v["attributes"]["ome"]["multiscales"][0]["axes"]
                    .as_array_mut()
                    .unwrap()
                {
                    axis["unit"] = unit.into();
                }
            },
        );
        let out = d.join("out.ome.zarr");
        let mut args = vec![a(&input), s("-o"), a(&out)];
        args.extend(sigma);
        let run = common::blur3d(&args);
        assert!(run.status.success(), "{unit}: {}", common::stderr(&run));
        assert_eq!(snapshot(&out.join("0")), expected, "{unit}: the same blur");
        let axes = &json(&out.join("zarr.json"))["attributes"]["ome"]["multiscales"][0]["axes"];
        for axis in axes.as_array().unwrap() {
            assert_eq!(axis["unit"], "micrometer", "{unit}");
        }
        fs::remove_dir_all(&out).unwrap();
    }
}

/// The comparisons of the tests fail on NaN: an output of NaN cannot pass a tolerance.
#[test]
fn comparisons_fail_on_nan() {
    let good = Array3::<f64>::zeros((2, 2, 2));
    let mut bad = good.clone();
    bad[[1, 0, 1]] = f64::NAN;
    let all_nan = Array3::<f64>::from_elem((2, 2, 2), f64::NAN);
    assert_eq!(common::max_diff(&good, &good), 0.0);
    for b in [&bad, &all_nan] {
        let worst = common::max_diff(&good, b);
        assert!(worst.is_nan());
        assert_eq!(
            worst.partial_cmp(&1e9),
            None,
            "a NaN fails `assert!(worst <= tol)`"
        );
    }
    assert!(common::worst([1.0, f64::NAN, 2.0]).is_nan());
    assert!(common::worst([f64::NAN, 3.0]).is_nan());
    assert_eq!(common::worst([1.0, 3.0, 2.0]), 3.0);
    let inf = Array3::<f64>::from_elem((2, 2, 2), f64::INFINITY);
    assert!(common::max_diff(&inf, &inf).is_nan(), "inf - inf");
}

#[test]
fn bad_input_fails_with_one_line_and_leaves_no_output() {
    let dir = tmp();
    let d = dir.path();
    let (npy, nii, niigz, tif) = valid_inputs(d);
    let out_dir = d.join("out");
    fs::create_dir(&out_dir).unwrap();

    // Garbage of each format, and files cut short.
    fs::write(d.join("garbage.npy"), b"this is not an array").unwrap();
    fs::write(d.join("garbage.tif"), b"this is not a tiff file at all").unwrap();
    let mut bad_magic = fs::read(&nii).unwrap();
    bad_magic[344..348].copy_from_slice(b"xyz\0");
    fs::write(d.join("magic.nii"), bad_magic).unwrap();
    let npy_len = fs::metadata(&npy).unwrap().len() as usize;
    let nii_len = fs::metadata(&nii).unwrap().len() as usize;
    let tif_len = fs::metadata(&tif).unwrap().len() as usize;
    let gz_len = fs::metadata(&niigz).unwrap().len() as usize;
    // Not 3D.
    write_npy(&d.join("flat.npy"), &ndarray::Array2::<f32>::zeros((4, 5)));
    write_nifti(
        &d.join("five.nii"),
        &ndarray::Array5::<f32>::zeros((4, 5, 6, 1, 2)),
        &NiftiHeader::default(),
    );
    {
        use tiff::encoder::{TiffEncoder, colortype::RGB8};
        let mut enc = TiffEncoder::new(fs::File::create(d.join("rgb.tif")).unwrap()).unwrap();
        enc.write_image::<RGB8>(4, 3, &[0u8; 36]).unwrap();
    }

    let cases: Vec<(PathBuf, &str, &str)> = vec![
        (d.join("missing.nii.gz"), "1", "no such file"),
        (d.join("volume.png"), "1", "unknown extension (.png)"),
        (d.join("garbage.npy"), "1", "not a .npy file"),
        (d.join("magic.nii"), "1", "not a NIfTI-1 file"),
        (d.join("garbage.tif"), "1", "not a valid TIFF file"),
        (
            truncated(&npy, &d.join("short.npy"), npy_len - 7),
            "1",
            "truncated",
        ),
        (
            truncated(&nii, &d.join("short_header.nii"), 200),
            "1",
            "truncated",
        ),
        (
            truncated(&nii, &d.join("short_data.nii"), nii_len - 9),
            "1",
            "truncated",
        ),
        (
            truncated(&niigz, &d.join("short.nii.gz"), gz_len / 2),
            "1",
            "truncated",
        ),
        (
            truncated(&tif, &d.join("short.tif"), tif_len / 2),
            "1",
            "truncated",
        ),
        (d.join("flat.npy"), "1", "needs a 3D volume"),
        (d.join("five.nii"), "1", "5D (4x5x6x1x2)"),
        (d.join("rgb.tif"), "1", "one value per voxel"),
        (npy.clone(), "-1", "finite number >= 0"),
        (npy.clone(), "1,-2,1", "finite number >= 0"),
        (nii.clone(), "abc", "\"abc\" is not a number"),
        (nii.clone(), "2px", "unknown unit \"px\""),
        (npy.clone(), "1.5mm", ".npy files have no voxel spacing"),
        (npy.clone(), "1,2", "one value, or three"),
        (nii.clone(), "1,1,1e9", "kernel radius along z"),
    ];
    for (input, sigma, words) in &cases {
        let ext = if input.to_string_lossy().ends_with(".tif") {
            "tif"
        } else {
            "nii.gz"
        };
        let output = out_dir.join(format!("result.{ext}"));
        fails(
            [
                a(input),
                "-o".as_ref(),
                a(&output),
                "--sigma".as_ref(),
                sigma.as_ref(),
            ],
            input,
            words,
        );
        assert_eq!(
            files_in(&out_dir),
            Vec::<PathBuf>::new(),
            "{input:?}: no output"
        );
    }

    // The output's own problems name the output.
    let png = out_dir.join("result.png");
    fails(
        [a(&npy), "-o".as_ref(), a(&png), "-s".as_ref(), "1".as_ref()],
        &png,
        "unknown extension",
    );
    let nowhere = d.join("no/such/folder/out.npy");
    fails(
        [
            a(&npy),
            "-o".as_ref(),
            a(&nowhere),
            "-s".as_ref(),
            "1".as_ref(),
        ],
        &nowhere,
        "cannot create a file in",
    );
    assert_eq!(files_in(&out_dir), Vec::<PathBuf>::new());
}

#[test]
fn a_failed_run_never_touches_an_existing_output() {
    let dir = tmp();
    let d = dir.path();
    let (npy, nii, _, _) = valid_inputs(d);
    let existing = d.join("existing.nii");
    fs::write(&existing, b"precious").unwrap();
    for (input, sigma) in [(&npy, "1mm"), (&npy, "-3"), (&nii, "x")] {
        let o = blur3d([
            a(input),
            "-o".as_ref(),
            a(&existing),
            "--sigma".as_ref(),
            sigma.as_ref(),
        ]);
        assert_eq!(o.status.code(), Some(1));
    }
    let corrupt = truncated(&nii, &d.join("short.nii"), 400);
    let o = blur3d([
        a(&corrupt),
        "-o".as_ref(),
        a(&existing),
        "-s".as_ref(),
        "1".as_ref(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(fs::read(&existing).unwrap(), b"precious");
    assert_eq!(
        files_in(d).len(),
        6,
        "no temporary file is left behind: {:?}",
        files_in(d)
    );

    // A run that succeeds replaces it.
    succeeds([
        a(&nii),
        "-o".as_ref(),
        a(&existing),
        "-s".as_ref(),
        "1".as_ref(),
        "--cpu".as_ref(),
        "-q".as_ref(),
    ]);
    assert_ne!(fs::read(&existing).unwrap(), b"precious");
    assert_eq!(files_in(d).len(), 6);
}

#[test]
fn crafted_headers_are_refused_before_anything_is_allocated() {
    let dir = tmp();
    let d = dir.path();
    let out = d.join("out.npy");

    // 128 bytes that claim 3000^3 float32 (108 GB).
    let mut npy = b"\x93NUMPY\x01\x00\x76\x00".to_vec();
    let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3000, 3000, 3000), }";
    npy.extend_from_slice(format!("{dict:<117}\n").as_bytes());
    assert_eq!(npy.len(), 128);
    fs::write(d.join("huge.npy"), &npy).unwrap();
    refuses(&d.join("huge.npy"), &out, "truncated");

    // 138 bytes of TIFF that claim one page of 100000 x 100000 float32.
    let tif = tiff_bytes(100_000, 100_000, &[vec![0; 8]], 32, &[(339, 3, 3)]);
    fs::write(d.join("huge.tif"), &tif).unwrap();
    refuses(&d.join("huge.tif"), &out, "more than this");
    // ... or a thousand such pages.
    let pages = vec![vec![0u8; 4]; 1000];
    fs::write(
        d.join("pages.tif"),
        tiff_bytes(30_000, 30_000, &pages, 32, &[(339, 3, 3)]),
    )
    .unwrap();
    refuses(&d.join("pages.tif"), &out, "more than this");

    // A NIfTI header of 20000^3 voxels, plain and compressed.
    let (_, nii, niigz, _) = valid_inputs(d);
    let mut header = fs::read(&nii).unwrap()[..352].to_vec();
    for (i, v) in [3i16, 20000, 20000, 20000].iter().enumerate() {
        header[40 + 2 * i..42 + 2 * i].copy_from_slice(&v.to_le_bytes());
    }
    header[108..112].copy_from_slice(&352f32.to_le_bytes());
    header[348] = 0;
    fs::write(d.join("huge.nii"), &header).unwrap();
    refuses(&d.join("huge.nii"), &out, "truncated");
    let mut gz = Vec::new();
    {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(&mut gz, flate2::Compression::default());
        enc.write_all(&header).unwrap();
        enc.finish().unwrap();
    }
    fs::write(d.join("huge.nii.gz"), &gz).unwrap();
    refuses(&d.join("huge.nii.gz"), &out, "more than this");
    drop(niigz);
}

#[test]
#[cfg(unix)]
fn devices_are_not_read() {
    let dir = tmp();
    let d = dir.path();
    for name in ["zero.npy", "zero.nii", "zero.tif"] {
        let link = d.join(name);
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        refuses(&link, &d.join("out.npy"), "not a regular file");
    }
}

#[test]
#[cfg(target_os = "linux")]
fn output_problems_are_found_before_the_input_is_read() {
    let dir = tmp();
    let d = dir.path();
    // The input is garbage: an error that names the output shows that it came first.
    let garbage = d.join("garbage.npy");
    fs::write(&garbage, b"not an array").unwrap();
    let folder = d.join("folder.npy");
    fs::create_dir(&folder).unwrap();
    fails(
        [
            a(&garbage),
            "-o".as_ref(),
            a(&folder),
            "--sigma".as_ref(),
            "1".as_ref(),
        ],
        &folder,
        "is a folder",
    );
    // A folder nobody may write to, root included.
    let proc_out = Path::new("/proc/blur3d-out.npy");
    fails(
        [
            a(&garbage),
            "-o".as_ref(),
            a(proc_out),
            "--sigma".as_ref(),
            "1".as_ref(),
        ],
        proc_out,
        "cannot create a file in /proc",
    );
}

#[test]
fn messages_say_what_is_wrong() {
    let dir = tmp();
    let d = dir.path();
    let out = d.join("out.npy");
    let (npy, nii, _, _) = valid_inputs(d);

    fs::write(d.join("empty.npy"), b"").unwrap();
    refuses(&d.join("empty.npy"), &out, "the file is empty");
    write_npy(&d.join("none.npy"), &Array3::<f32>::zeros((0, 4, 5)));
    refuses(
        &d.join("none.npy"),
        &out,
        "the array is empty (shape [0, 4, 5])",
    );

    for sigma in ["-inf", "inf", "nan"] {
        let err = fails(
            [
                a(&npy),
                "-o".as_ref(),
                a(&out),
                "--sigma".as_ref(),
                sigma.as_ref(),
            ],
            &npy,
            "finite number >= 0",
        );
        assert!(!err.contains("unit"), "{err}");
    }
    let err = fails(
        [
            a(&nii),
            "-o".as_ref(),
            a(&out),
            "--sigma".as_ref(),
            "1".as_ref(),
            "--radius".as_ref(),
            "100000".as_ref(),
        ],
        &nii,
        "--radius along x is 100000",
    );
    assert!(!err.contains("set --radius"), "{err}");

    let bilevel = tiff_bytes(8, 2, &[vec![0b1010_1010; 2]], 1, &[]);
    fs::write(d.join("bilevel.tif"), bilevel).unwrap();
    refuses(
        &d.join("bilevel.tif"),
        &out,
        "1-bit pixels (a bilevel image)",
    );
}

#[test]
#[cfg(unix)]
fn an_interrupted_write_leaves_nothing_behind() {
    let dir = tmp();
    let d = dir.path();
    let input = d.join("in.npy");
    // Large enough that compressing it takes a while.
    write_npy(&input, &random((160, 160, 160), 25, 1.0));
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let output = d.join("out.nii.gz");
        let mut child = Command::new(env!("CARGO_BIN_EXE_blur3d"))
            .args([
                a(&input),
                "-o".as_ref(),
                a(&output),
                "--sigma".as_ref(),
                "0".as_ref(),
                "--cpu".as_ref(),
            ])
            .spawn()
            .unwrap();
        // Wait until the temporary file has data in it: the write has begun.
        let start = std::time::Instant::now();
        let begun = loop {
            let part = files_in(d).into_iter().find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(".blur3d-")
                    && fs::metadata(p).map(|m| m.len() > 0).unwrap_or(false)
            });
            if part.is_some() || start.elapsed().as_secs() > 60 {
                break part;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        };
        assert!(begun.is_some(), "the write began");
        unsafe { libc::kill(child.id() as i32, signal) };
        let status = child.wait().unwrap();
        assert_eq!(
            status.code(),
            Some(128 + signal),
            "exit status after signal {signal}"
        );
        assert_eq!(
            files_in(d),
            std::slice::from_ref(&input),
            "nothing left after signal {signal}"
        );
    }
}
