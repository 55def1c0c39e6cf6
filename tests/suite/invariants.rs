//! Properties any correct Gaussian blur has.

use blur3d::kernel::{gaussian_weights, radius_for};
use blur3d::{BlurOptions, Mode, cpu};
use ndarray::Array3;

use crate::common::{GPU_TOL, assert_close, gpu, random_volume};

#[test]
fn constant_in_constant_out() {
    let Some(gpu) = gpu() else { return };
    let vol = Array3::<f32>::from_elem((9, 5, 12), 0.625);
    for mode in [Mode::Reflect, Mode::Mirror, Mode::Nearest, Mode::Wrap] {
        for sigma in [[1.0, 2.0, 3.0], [6.0, 6.0, 6.0]] {
            let out = gpu
                .blur_with(&vol, &BlurOptions::new(sigma).mode(mode))
                .unwrap();
            assert_close(&out, &vol, GPU_TOL);
        }
    }
    // Constant mode with the volume's own value is constant too.
    let out = gpu
        .blur_with(&vol, &BlurOptions::new(2.0).mode(Mode::Constant(0.625)))
        .unwrap();
    assert_close(&out, &vol, GPU_TOL);
}

#[test]
fn wrap_conserves_the_sum() {
    let Some(gpu) = gpu() else { return };
    let vol = random_volume((10, 7, 13), 20);
    let out = gpu
        .blur_with(&vol, &BlurOptions::new([2.0, 5.0, 1.0]).mode(Mode::Wrap))
        .unwrap();
    let (a, b): (f64, f64) = (
        vol.iter().map(|&v| f64::from(v)).sum(),
        out.iter().map(|&v| f64::from(v)).sum(),
    );
    assert!(
        (a - b).abs() < 1e-6 * vol.len() as f64,
        "sum {a} became {b}"
    );
}

#[test]
fn impulse_response_is_the_outer_product_of_the_1d_kernels() {
    let Some(gpu) = gpu() else { return };
    let n = 31;
    let c = n / 2;
    let mut vol = Array3::<f32>::zeros((n, n, n));
    vol[[c, c, c]] = 1.0;
    let sigma = [1.5, 2.0, 3.0];
    let out = gpu.blur(&vol, sigma).unwrap();
    let k: Vec<Vec<f64>> = sigma
        .iter()
        .map(|&s| gaussian_weights(s, radius_for(s, 4.0).unwrap()))
        .collect();
    let expected = Array3::from_shape_fn((n, n, n), |(i, j, l)| {
        let tap = |a: usize, i: usize| {
            let r = (k[a].len() / 2) as i64;
            let d = i as i64 - c as i64;
            if d.abs() <= r {
                k[a][(d + r) as usize]
            } else {
                0.0
            }
        };
        tap(0, i) * tap(1, j) * tap(2, l)
    });
    assert_close(&out, &expected, 1e-7);
    let sum: f64 = out.iter().map(|&v| f64::from(v)).sum();
    assert!((sum - 1.0).abs() < 1e-5, "impulse response sums to {sum}");
}

#[test]
fn sigma_zero_is_the_identity() {
    let Some(gpu) = gpu() else { return };
    let vol = random_volume((4, 5, 6), 21);
    assert_eq!(gpu.blur(&vol, 0.0).unwrap(), vol);
    assert_eq!(
        gpu.blur_with(&vol, &BlurOptions::new(1.0).radius([0, 0, 0]))
            .unwrap(),
        vol
    );
    // Zero on some axes only: those axes untouched, others blurred.
    let out = gpu.blur(&vol, [0.0, 0.0, 1.0]).unwrap();
    assert_close(
        &out,
        &cpu::full3d(&vol, &BlurOptions::new([0.0, 0.0, 1.0])).unwrap(),
        GPU_TOL,
    );
}

#[test]
fn separable_equals_full3d() {
    let vol = random_volume((9, 8, 7), 22);
    for mode in [
        Mode::Reflect,
        Mode::Mirror,
        Mode::Nearest,
        Mode::Wrap,
        Mode::Constant(2.0),
    ] {
        for sigma in [[0.5, 1.0, 2.0], [3.0, 0.0, 5.0]] {
            let opts = BlurOptions::new(sigma).modes([mode, Mode::Constant(-1.0), mode]);
            assert_close(
                &cpu::separable(&vol, &opts).unwrap(),
                &cpu::full3d(&vol, &opts).unwrap(),
                1e-12,
            );
        }
    }
}

/// scipy's own test of sum preservation (`test_gauss03`: `arange(10000)` as 100 x 100 in f32,
/// sigma 1, the sum within 1.5 of the input's 49995000): a reflecting blur moves every voxel's
/// value around without adding any, so only rounding may change the sum, and no bias from the
/// kernel's f32 weights may add up over the volume.
#[test]
fn a_blur_keeps_the_sum_of_its_input() {
    let Some(gpu) = gpu() else { return };
    let vol = Array3::from_shape_fn((1, 100, 100), |(_, i, j)| (i * 100 + j) as f32);
    let input: f64 = vol.iter().map(|&v| f64::from(v)).sum();
    for sigma in [[0.0, 1.0, 1.0], [0.0, 0.6, 2.5], [0.0, 3.0, 8.0]] {
        let out = gpu.blur_with(&vol, &BlurOptions::new(sigma)).unwrap();
        let sum: f64 = out.iter().map(|&v| f64::from(v)).sum();
        assert!(
            (sum - input).abs() <= 1.5,
            "sigma {sigma:?}: {sum} against {input}"
        );
    }
}
