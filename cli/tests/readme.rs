//! The examples of the tool's manual (cli/README.md, "Examples"), on the sample files that
//! nibabel, tifffile and numpy wrote (tests/cli_data/make_samples.py), against scipy's results
//! on them.

use std::fs;
use std::path::{Path, PathBuf};

mod common;
use blur3d::BlurOptions;
use common::files::{f32_pages, nifti_dims, read_nifti, read_npy, read_tiff, u16_pages};
use common::{
    assert_close, copied, gpu, max_diff, reference, sample, succeeds, tmp, to_i16, worst,
};
use ndarray_npy::ReadNpyExt;

/// Runs `blur3d INPUT -o <tmp>/OUTPUT ARGS...` and gives the output's path.
fn readme_example(dir: &Path, input: &str, output: &str, args: &[&str]) -> PathBuf {
    let out = dir.join(output);
    let mut all = vec![
        sample(input).into_os_string(),
        "-o".into(),
        out.clone().into(),
    ];
    all.extend(args.iter().map(Into::into));
    succeeds(all);
    out
}

#[test]
fn readme_examples_match_scipy_on_the_sample_files() {
    let dir = tmp();
    let d = dir.path();
    let gpu_too = gpu().is_some();
    let engines: &[&[&str]] = if gpu_too {
        &[&["--cpu"], &[]]
    } else {
        &[&["--cpu"]]
    };

    // NIfTI written by nibabel: 1 x 1 x 3 mm voxels, so 1.5mm is (1.5, 1.5, 0.5) voxels.
    let head_in = read_nifti::<i16>(&sample("head.nii.gz"));
    let head_scipy = read_npy::<f64>(&sample("head_sigma1.5mm_scipy.npy"));
    for engine in engines {
        let mut args = vec!["--sigma", "1.5mm"];
        args.extend_from_slice(engine);
        let out = readme_example(d, "head.nii.gz", "head_s.nii.gz", &args);
        let (header, extensions, values) = read_nifti::<i16>(&out);
        assert_eq!(header, head_in.0, "nibabel's header is kept");
        assert_eq!(extensions, head_in.1);
        let worst = max_diff(&values.mapv(f64::from), &head_scipy.mapv(f64::round));
        let tol = if engine.is_empty() { 1.0 } else { 0.0 };
        assert!(worst <= tol, "{engine:?}: off scipy by {worst}");
    }
    let c3d = readme_example(
        d,
        "head.nii.gz",
        "head_c.nii.gz",
        &["--sigma", "2x2x1vox", "--cpu"],
    );
    let expected = to_i16(&reference(
        &head_in.2.mapv(f64::from),
        &BlurOptions::new([2.0, 2.0, 1.0]),
    ));
    assert_eq!(read_nifti::<i16>(&c3d).2, expected);
    let fwhm = readme_example(
        d,
        "head.nii.gz",
        "head_f.nii.gz",
        &["--fwhm", "4mm", "--cpu"],
    );
    let s = 4.0 / 2.354_820_045_030_949_3;
    let expected = to_i16(&reference(
        &head_in.2.mapv(f64::from),
        &BlurOptions::new([s, s, s / 3.0]),
    ));
    assert_eq!(read_nifti::<i16>(&fwhm).2, expected);

    // An ImageJ stack written by tifffile: 0.5 um pixels, 1.5 um slices.
    let stack_scipy = read_npy::<f64>(&sample("stack_sigma1.5um_nearest_scipy.npy"));
    for engine in engines {
        let mut args = vec!["--sigma", "1.5um", "--mode", "nearest"];
        args.extend_from_slice(engine);
        let out = readme_example(d, "stack.tif", "stack_s.tif", &args);
        let stack = read_tiff(&out, u16_pages);
        let worst = max_diff(&stack.voxels.mapv(f64::from), &stack_scipy.mapv(f64::round));
        let tol = if engine.is_empty() { 1.0 } else { 0.0 };
        assert!(worst <= tol, "{engine:?}: off scipy by {worst}");
        assert!(stack.description.unwrap().contains("spacing=1.5"));
    }
    let out = readme_example(
        d,
        "stack.tif",
        "stack_f32.tif",
        &[
            "--sigma", "1,3,3", "--mode", "nearest", "--dtype", "f32", "--cpu",
        ],
    );
    let stack = read_tiff(&out, f32_pages);
    assert_close(&stack.voxels.mapv(f64::from), &stack_scipy, 1e-3);

    // A 4D NIfTI-2 series written by nibabel: each volume as scipy blurs it, rounded to int16.
    let series_scipy = ndarray::Array4::<f64>::read_npy(
        fs::File::open(sample("example_nifti2_sigma1-1-2_scipy.npy")).unwrap(),
    )
    .unwrap();
    for engine in engines {
        let mut args = vec!["--sigma", "1,1,2"];
        args.extend_from_slice(engine);
        let out = readme_example(d, "example_nifti2.nii.gz", "series_s.nii.gz", &args);
        assert_eq!(nifti_dims(&out), (2, vec![4, 32, 20, 12, 2]));
        let back = d.join("series_s.npy");
        copied(&out, &back);
        let values = ndarray::Array4::<i16>::read_npy(fs::File::open(&back).unwrap()).unwrap();
        let worst = worst(
            values
                .iter()
                .zip(&series_scipy)
                .map(|(&v, &s)| (f64::from(v) - s.round()).abs()),
        );
        let tol = if engine.is_empty() { 1.0 } else { 0.0 };
        assert!(worst <= tol, "{engine:?}: off scipy by {worst}");
    }

    // An ImageJ hyperstack written by tifffile: six volumes, each blurred on its own.
    let volumes =
        ndarray::Array4::<u16>::read_npy(fs::File::open(sample("hyperstack_volumes.npy")).unwrap())
            .unwrap();
    for engine in engines {
        let mut args = vec!["--sigma", "1"];
        args.extend_from_slice(engine);
        let out = readme_example(d, "hyperstack.tif", "hyperstack_s.tif", &args);
        let stack = read_tiff(&out, u16_pages);
        assert!(stack.description.unwrap().contains("frames=3\n"));
        // Pages in ImageJ's order: frame, slice, channel.
        let pages = stack.voxels.into_shape_with_order((3, 4, 2, 6, 5)).unwrap();
        for (v, vol) in volumes.outer_iter().enumerate() {
            let expected = reference(&vol.mapv(f64::from), &BlurOptions::new(1.0));
            let got = pages
                .slice(ndarray::s![v / 2, .., v % 2, .., ..])
                .mapv(f64::from);
            let worst = max_diff(&got, &expected.mapv(f64::round));
            let tol = if engine.is_empty() { 1.0 } else { 0.0 };
            assert!(worst <= tol, "{engine:?}: volume {v} off by {worst}");
        }
    }

    // NumPy.
    let vol_scipy = read_npy::<f64>(&sample("vol_sigma1-2-2_wrap_scipy.npy"));
    for engine in engines {
        let mut args = vec!["--sigma", "1,2,2", "--mode", "wrap"];
        args.extend_from_slice(engine);
        let out = readme_example(d, "vol.npy", "vol_s.npy", &args);
        assert_close(&read_npy::<f32>(&out).mapv(f64::from), &vol_scipy, 1e-6);
    }
}
