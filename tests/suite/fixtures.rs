//! scipy's own numbers: values quoted from scipy, and fixtures written by
//! `tests/fixtures/make_fixtures.py` (the same cases are listed there).

use std::path::Path;

use blur3d::{BlurOptions, Mode, cpu};
use ndarray::{Array1, Array3};
use ndarray_npy::read_npy;

use crate::common::{GPU_TOL, assert_close, gpu};

fn fixture(name: &str) -> Array3<f64> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("{name}.npy"));
    read_npy(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Checks both CPU references (to 1e-12) and the GPU (to the documented bound).
#[track_caller]
fn check(input: &Array3<f64>, opts: &BlurOptions, expected: &Array3<f64>) {
    assert_close(&cpu::full3d(input, opts).unwrap(), expected, 1e-12);
    assert_close(&cpu::separable(input, opts).unwrap(), expected, 1e-12);
    if let Some(gpu) = gpu() {
        let max = input.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        assert_close(
            &gpu.blur_with(input, opts).unwrap(),
            expected,
            GPU_TOL * max,
        );
    }
}

fn line(values: &[f64]) -> Array3<f64> {
    Array1::from(values.to_vec())
        .into_shape_with_order((1, 1, values.len()))
        .unwrap()
}

#[test]
fn gaussian_filter1d_of_one_to_five() {
    // scipy.ndimage.gaussian_filter1d([1, 2, 3, 4, 5], 1)
    let expected = line(&[1.42704095, 2.06782203, 3., 3.93217797, 4.57295905]);
    let input = line(&[1., 2., 3., 4., 5.]);
    let opts = BlurOptions::new([0.0, 0.0, 1.0]);
    // scipy printed 8 decimals.
    assert_close(&cpu::full3d(&input, &opts).unwrap(), &expected, 5e-9);
    if let Some(gpu) = gpu() {
        assert_close(
            &gpu.blur_with(&input, &opts).unwrap(),
            &expected,
            5.0 * GPU_TOL,
        );
        // Sigma on the length-1 axes changes nothing under reflect.
        assert_close(&gpu.blur(&input, 1.0).unwrap(), &expected, 5.0 * GPU_TOL);
    }
}

#[test]
fn kernel_longer_than_the_line() {
    // scipy.ndimage.gaussian_filter1d([1, 2, 3, 4, 5], 4): radius 16 on 5 samples.
    let expected = line(&[2.91948343, 2.95023502, 3., 3.04976498, 3.08051657]);
    let input = line(&[1., 2., 3., 4., 5.]);
    let opts = BlurOptions::new([0.0, 0.0, 4.0]);
    assert_close(&cpu::full3d(&input, &opts).unwrap(), &expected, 5e-9);
    assert_close(&cpu::separable(&input, &opts).unwrap(), &expected, 5e-9);
    if let Some(gpu) = gpu() {
        assert_close(
            &gpu.blur_with(&input, &opts).unwrap(),
            &expected,
            5.0 * GPU_TOL,
        );
    }
}

const MODES: [(&str, Mode); 5] = [
    ("reflect", Mode::Reflect),
    ("mirror", Mode::Mirror),
    ("nearest", Mode::Nearest),
    ("wrap", Mode::Wrap),
    ("constant", Mode::Constant(0.5)),
];

#[test]
fn every_mode_against_scipy() {
    let small = fixture("small");
    let tiny = fixture("tiny");
    for (name, mode) in MODES {
        check(
            &small,
            &BlurOptions::new([1.0, 1.5, 0.8]).mode(mode),
            &fixture(&format!("small_{name}")),
        );
        check(
            &tiny,
            &BlurOptions::new(3.0).mode(mode),
            &fixture(&format!("tiny_{name}_sigma3")),
        );
    }
}

#[test]
fn per_axis_modes_truncate_radius_against_scipy() {
    let small = fixture("small");
    check(
        &small,
        &BlurOptions::new([1.2, 0.9, 2.0]).modes([Mode::Wrap, Mode::Constant(-1.0), Mode::Mirror]),
        &fixture("small_per_axis_modes"),
    );
    check(
        &small,
        &BlurOptions::new(2.0).truncate(1.6),
        &fixture("small_truncate"),
    );
    check(
        &small,
        &BlurOptions::new([1.0, 2.0, 3.0])
            .radius([1, 2, 3])
            .mode(Mode::Nearest),
        &fixture("small_radius"),
    );
    check(
        &small,
        &BlurOptions::new([0.0, 1.0, 2.0]).mode(Mode::Wrap),
        &fixture("small_sigma0_axis"),
    );
}
