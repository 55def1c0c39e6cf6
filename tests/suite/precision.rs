//! f64 computed as f64 (`Precision`): float64 volumes and wide integers against the CPU
//! references (f64) to 1e-12 of the input's largest value, on every adapter (native f64 on
//! lavapipe, double-single on GL), every filter and mode.

use blur3d::{BlurOptions, Filter, GpuBlur, Mode, Precision, cpu};
use ndarray::{Array3, ArrayViewMut3};

use crate::common::{gpu, random_volume};

/// `vol` filtered on the GPU into f64 outputs.
fn gpu_f64<A: blur3d::Voxel>(
    gpu: &GpuBlur,
    vol: &Array3<A>,
    opts: &BlurOptions,
    filter: Filter,
) -> Vec<Array3<f64>> {
    let mut outs: Vec<Array3<f64>> = (0..filter.outputs())
        .map(|_| Array3::zeros(vol.dim()))
        .collect();
    let mut views: Vec<ArrayViewMut3<'_, f64>> = outs.iter_mut().map(|o| o.view_mut()).collect();
    gpu.filter_into(vol, opts, filter, &mut views, |_, _| {})
        .unwrap();
    outs
}

/// Asserts `|actual - expected| <= rel * max |input|` everywhere (NaN fails).
#[track_caller]
fn assert_relative(
    actual: &Array3<f64>,
    expected: &Array3<f64>,
    input: &Array3<f64>,
    rel: f64,
    what: &str,
) {
    let scale = input
        .iter()
        .fold(0.0f64, |m, v| m.max(v.abs()))
        .max(f64::MIN_POSITIVE);
    let mut worst = 0.0f64;
    for (a, e) in actual.iter().zip(expected) {
        let err = (a - e).abs() / scale;
        // NaN counts as the worst error.
        if err.is_nan() {
            worst = f64::INFINITY;
        } else if err > worst {
            worst = err;
        }
    }
    assert!(worst <= rel, "{what}: relative error {worst:e} > {rel:e}");
}

fn volume_f64(shape: (usize, usize, usize), seed: u64) -> Array3<f64> {
    // Values with bits below f32's: a f32 computation is off by about 1e-8.
    let a = random_volume(shape, seed);
    let b = random_volume(shape, seed + 1);
    Array3::from_shape_fn(shape, |i| f64::from(a[i]) + f64::from(b[i]) * 1e-9)
}

#[test]
fn float64_is_filtered_in_float64() {
    let Some(gpu) = gpu() else { return };
    let vol = volume_f64((9, 13, 20), 7);
    let modes = [
        Mode::Reflect,
        Mode::Mirror,
        Mode::Nearest,
        Mode::Wrap,
        Mode::Constant(0.1),
    ];
    for mode in modes {
        for filter in [
            Filter::Gaussian,
            Filter::Laplace,
            Filter::GradientMagnitude,
            Filter::Hessian,
        ] {
            let opts = BlurOptions::new([1.0, 2.5, 1.7]).mode(mode);
            let expected = cpu::filter(&vol, &opts, filter).unwrap();
            let actual = gpu_f64(gpu, &vol, &opts, filter);
            for (a, e) in actual.iter().zip(&expected) {
                assert_relative(a, e, &vol, 1e-12, &format!("{filter:?} {mode}"));
            }
        }
    }
}

#[test]
fn passes_run_in_f64_unless_single_is_asked() {
    if gpu().is_none() {
        return;
    }
    // A blur of its own: the passes it counts are this test's.
    let gpu = GpuBlur::try_new().unwrap();
    let vol = volume_f64((6, 7, 8), 3);
    let opts = BlurOptions::new(1.5);
    let expected = cpu::filter(&vol, &opts, Filter::Gaussian).unwrap();
    let before = gpu.passes_run();
    let double = gpu_f64(&gpu, &vol, &opts, Filter::Gaussian);
    let after = gpu.passes_run();
    assert_relative(&double[0], &expected[0], &vol, 1e-12, "f64");
    // In f64 where the device has it, else in double-single.
    let (native, pairs) = (
        after.f64 - before.f64,
        after.double_single - before.double_single,
    );
    if gpu.has_f64() {
        assert_eq!((native, pairs), (3, 0), "three passes in f64");
    } else {
        assert_eq!((native, pairs), (0, 3), "three passes in double-single");
    }
    // Asked for f32, the same call is f32's: off by about 1e-8, the bits of the input f32
    // drops.
    let single = gpu_f64(
        &gpu,
        &vol,
        &opts.clone().precision(Precision::Single),
        Filter::Gaussian,
    );
    let single_run = gpu.passes_run();
    assert_eq!(
        (single_run.f64, single_run.double_single),
        (after.f64, after.double_single),
        "no f64 pass when Single"
    );
    let err = single[0]
        .iter()
        .zip(&expected[0])
        .map(|(a, e)| (a - e).abs())
        .fold(0.0f64, f64::max);
    assert!(err > 1e-10 && err < 1e-6, "f32 error {err:e}");
}

#[test]
fn wide_integers_keep_their_low_bits() {
    let Some(gpu) = gpu() else { return };
    let opts = BlurOptions::new(1.0);
    // A constant stays itself exactly (the weights sum to 1 in f64 as scipy's do).
    let full = Array3::from_elem((4, 4, 4), u32::MAX);
    let out: Array3<u32> = gpu.blur_as(&full, &opts).unwrap();
    assert!(
        out.iter().all(|&v| v == u32::MAX),
        "{:?}",
        out.iter().next()
    );
    let big = Array3::from_elem((4, 4, 4), 123_456_789i32);
    let out: Array3<i32> = gpu.blur_as(&big, &opts).unwrap();
    assert!(
        out.iter().all(|&v| v == 123_456_789),
        "{:?}",
        out.iter().next()
    );
    // Random int64 up to 1e15: rounded as documented from the f64 reference.
    let r = random_volume((5, 6, 7), 11);
    let vol = r.mapv(|v| (f64::from(v) * 1e15) as i64);
    let expected = cpu::filter(&vol, &opts, Filter::Gaussian).unwrap();
    let out: Array3<i64> = gpu.blur_as(&vol, &opts).unwrap();
    // Native f64 keeps 53 bits: one unit; double-single 48: 1e-12 of the largest.
    let bound = if gpu.has_f64() { 1.0 } else { 1e-12 * 1e15 };
    for (a, e) in out.iter().zip(&expected[0]) {
        assert!((*a as f64 - e).abs() <= bound, "{a} against {e}");
    }
}

#[test]
fn hostile_magnitudes_survive() {
    let Some(gpu) = gpu() else { return };
    for value in [1e300, 1e-300, -3.5e-40] {
        let vol = Array3::from_elem((4, 4, 4), value);
        let out = gpu_f64(gpu, &vol, &BlurOptions::new(1.0), Filter::Gaussian);
        assert_relative(&out[0], &vol, &vol, 1e-12, &format!("constant {value:e}"));
    }
}

#[test]
fn narrow_integers_widened_on_the_gpu_go_to_f64_too() {
    let Some(gpu) = gpu() else { return };
    // u16 and i8 are widened on the GPU (not scaled as host-converted double-single volumes are).
    let r = random_volume((6, 9, 7), 5);
    let u = r.mapv(|v| (v * 60000.0) as u16);
    let i = r.mapv(|v| (v * 255.0 - 128.0) as i8);
    let opts = BlurOptions::new(1.3).precision(Precision::Double);
    let u_out: Array3<f64> = gpu.blur_as(&u, &opts).unwrap();
    let u_want = cpu::filter(&u, &opts, Filter::Gaussian).unwrap();
    assert_relative(&u_out, &u_want[0], &u.mapv(f64::from), 1e-12, "u16");
    let i_out: Array3<f64> = gpu.blur_as(&i, &opts).unwrap();
    let i_want = cpu::filter(&i, &opts, Filter::Gaussian).unwrap();
    assert_relative(&i_out, &i_want[0], &i.mapv(f64::from), 1e-12, "i8");
}
