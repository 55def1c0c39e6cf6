//! Hostile and malformed inputs through the `blur3d` command line: each fails at once with one
//! line that says what is wrong and what to do, without a panic or an abort, and leaves nothing
//! behind (no `.blur3d-*` temporary output, no change to an existing output or to the input).

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

mod common;
use common::{a, edited, fails_with, have_gpu, json, names_in, s, snapshot, tmp, zarr_fixture};
use ndarray::Array3;

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
            &[a(input), s("-o"), a(&out), s("--sigma"), s("1")],
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
            &[a(input), s("-o"), a(&out), s("--sigma"), s("1")],
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
            &[a(&input), s("-o"), a(&out), s("--sigma"), s("1")],
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
        &[a(&input), s("-o"), a(&out), s("--sigma"), s("1um")],
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

/// `--mode constant=nan` as scipy's `cval=np.nan`: NaN wherever a kernel reaches past an edge
/// along that axis, the blur elsewhere; on the GPU as with `--cpu` (it panicked on the GPU).
#[test]
fn a_nan_constant_is_nan_near_the_edges() {
    use ndarray_npy::{ReadNpyExt, WriteNpyExt};
    let dir = tmp();
    let d = dir.path();
    let input = d.join("in.npy");
    Array3::from_shape_fn((9, 10, 24), |(i, j, k)| ((i * 7 + j * 3 + k) % 11) as f32)
        .write_npy(fs::File::create(&input).unwrap())
        .unwrap();
    let read = |p: &Path| Array3::<f32>::read_npy(fs::File::open(p).unwrap()).unwrap();
    let run = |name: &str, extra: &[&str]| {
        let out = d.join(name);
        let mut args = vec![a(&input), s("-o"), a(&out), s("--sigma"), s("1,0,2")];
        args.extend([s("--mode"), s("reflect,wrap,constant=nan")]);
        args.extend(extra.iter().map(|e| s(e)));
        let done = common::blur3d(&args);
        assert!(done.status.success(), "{}", common::stderr(&done));
        assert_eq!(common::stderr(&done), "", "a successful run prints nothing");
        read(&out)
    };
    let cpu = run("cpu.npy", &["--cpu"]);
    let nan = cpu.iter().filter(|v| v.is_nan()).count();
    assert!(nan > 0 && nan < cpu.len(), "{nan} NaN of {}", cpu.len());
    if !have_gpu() {
        return;
    }
    let gpu = run("gpu.npy", &[]);
    for (g, c) in gpu.iter().zip(&cpu) {
        assert!(
            (g.is_nan() && c.is_nan()) || (g - c).abs() <= 1e-4,
            "GPU {g} against --cpu {c}"
        );
    }
}
