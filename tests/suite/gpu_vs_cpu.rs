//! The GPU against the f64 ground truth, `cpu::full3d`, over modes, shapes and sigmas.

use blur3d::{BlurOptions, Mode, Precision, cpu};
use ndarray::{Array3, s};

use crate::common::{GPU_TOL, assert_close, gpu, random_volume};

const MODES: [Mode; 5] = [
    Mode::Reflect,
    Mode::Mirror,
    Mode::Nearest,
    Mode::Wrap,
    Mode::Constant(0.75),
];

fn check(vol: &Array3<f32>, opts: &BlurOptions) {
    let Some(gpu) = gpu() else { return };
    let got = gpu.blur_with(vol, opts).expect("GPU blur");
    let want = cpu::full3d(vol, opts).expect("full3d");
    assert_close(&got, &want, GPU_TOL);
}

#[test]
fn every_mode_isotropic_and_per_axis() {
    let vol = random_volume((17, 23, 9), 1);
    for mode in MODES {
        check(&vol, &BlurOptions::new(1.5).mode(mode));
        check(&vol, &BlurOptions::new([0.7, 2.5, 1.2]).mode(mode));
    }
}

#[test]
fn per_axis_modes() {
    let vol = random_volume((11, 13, 7), 2);
    check(
        &vol,
        &BlurOptions::new([1.0, 2.0, 3.0]).modes([Mode::Wrap, Mode::Constant(-2.0), Mode::Mirror]),
    );
    check(
        &vol,
        &BlurOptions::new(2.0).modes([Mode::Constant(1.0), Mode::Nearest, Mode::Constant(3.0)]),
    );
}

#[test]
fn odd_shapes_and_short_axes() {
    let shapes = [
        (1, 1, 40),
        (1, 40, 1),
        (40, 1, 1),
        (2, 3, 5),
        (2, 2, 2),
        (1, 1, 1),
        (5, 1, 2),
        (3, 37, 2),
    ];
    for (i, shape) in shapes.into_iter().enumerate() {
        let vol = random_volume(shape, 10 + i as u64);
        for mode in MODES {
            check(&vol, &BlurOptions::new([1.3, 2.0, 0.9]).mode(mode));
        }
    }
}

#[test]
fn kernel_longer_than_axis() {
    // sigma 6 gives radius 24 on axes of 1 to 5 voxels: repeated reflection and wrapping.
    let vol = random_volume((5, 3, 2), 3);
    for mode in MODES {
        check(&vol, &BlurOptions::new(6.0).mode(mode));
        check(&vol, &BlurOptions::new(1.0).radius([9, 7, 30]).mode(mode));
    }
}

#[test]
fn truncate_and_radius() {
    let vol = random_volume((9, 10, 11), 4);
    check(&vol, &BlurOptions::new(2.0).truncate(2.0));
    check(&vol, &BlurOptions::new(2.0).truncate(0.1));
    check(&vol, &BlurOptions::new([1.0, 2.0, 3.0]).radius([1, 2, 3]));
}

#[test]
fn runs_longer_than_one_invocation() {
    // Axes longer than a run of outputs, with interior and border in the same run.
    let vol = random_volume((70, 3, 45), 5);
    for mode in MODES {
        check(&vol, &BlurOptions::new([4.0, 0.0, 3.0]).mode(mode));
    }
}

#[test]
fn views_in_any_layout() {
    let Some(gpu) = gpu() else { return };
    let base = random_volume((12, 14, 16), 6);
    let opts = BlurOptions::new([1.0, 2.0, 1.5]).mode(Mode::Mirror);
    let views = [
        base.slice(s![1..10, ..;2, 3..]).to_owned(),
        base.view().reversed_axes().to_owned(),
    ];
    let lazy = [
        base.slice(s![1..10, ..;2, 3..]),
        base.view().reversed_axes(),
    ];
    for (view, owned) in lazy.iter().zip(&views) {
        let got = gpu.blur_with(view, &opts).unwrap();
        assert!(got.is_standard_layout());
        assert_eq!(got.shape(), view.shape());
        let want = cpu::full3d(owned, &opts).unwrap();
        assert_close(&got, &want, GPU_TOL);
    }
    let permuted = base.view().permuted_axes([1, 2, 0]);
    let got = gpu.blur_with(&permuted, &opts).unwrap();
    assert_close(&got, &cpu::full3d(&permuted, &opts).unwrap(), GPU_TOL);
}

#[test]
fn blur_into_equals_blur() {
    let Some(gpu) = gpu() else { return };
    let vol = random_volume((8, 9, 10), 7);
    let opts = BlurOptions::new(1.5);
    let want = gpu.blur_with(&vol, &opts).unwrap();
    let mut out = Array3::<f32>::zeros((8, 9, 10));
    gpu.blur_into(&vol, &opts, &mut out).unwrap();
    assert_eq!(out, want);
    // A non-contiguous destination.
    let mut big = Array3::<f32>::zeros((8, 9, 20));
    gpu.blur_into(&vol, &opts, &mut big.slice_mut(s![.., .., ..;2]))
        .unwrap();
    assert_eq!(big.slice(s![.., .., ..;2]), want);
    assert!(big.slice(s![.., .., 1..;2]).iter().all(|&v| v == 0.0));
}

#[test]
fn other_voxel_types_match_f32() {
    let Some(gpu) = gpu() else { return };
    let v16 = Array3::from_shape_fn((6, 7, 8), |(a, b, c)| {
        ((a * 977 + b * 131 + c * 17) % 4096) as u16
    });
    let v8 = v16.mapv(|v| (v % 256) as u8);
    let vi = v16.mapv(|v| v as i16 - 2048);
    let opts = BlurOptions::new(1.2);
    assert_close(
        &gpu.blur_with(&v16, &opts).unwrap(),
        &gpu.blur_with(&v16.mapv(f32::from), &opts).unwrap(),
        0.0,
    );
    assert_close(
        &gpu.blur_with(&v8, &opts).unwrap(),
        &cpu::full3d(&v8, &opts).unwrap(),
        255.0 * GPU_TOL,
    );
    assert_close(
        &gpu.blur_with(&vi, &opts).unwrap(),
        &cpu::full3d(&vi, &opts).unwrap(),
        4096.0 * GPU_TOL,
    );
    // i8 is widened on the GPU with its sign; the wider integers are converted on the host.
    let vi8 = v16.mapv(|v| (i32::from(v % 256) - 128) as i8);
    assert_close(
        &gpu.blur_with(&vi8, &opts).unwrap(),
        &cpu::full3d(&vi8, &opts).unwrap(),
        128.0 * GPU_TOL,
    );
    // Asked for f32, the wider integers give f32's result to the bit; by default they are
    // filtered in f64 (`Precision::Auto`), the f32 result rounded from the f64 one.
    let want = gpu.blur_with(&v16.mapv(f32::from), &opts).unwrap();
    let single = opts.clone().precision(Precision::Single);
    let double = gpu
        .blur_with(
            &v16.mapv(f64::from),
            &opts.clone().precision(Precision::Double),
        )
        .unwrap();
    let wide = [
        (
            gpu.blur_with(&v16.mapv(u32::from), &single),
            gpu.blur_with(&v16.mapv(u32::from), &opts),
        ),
        (
            gpu.blur_with(&v16.mapv(i32::from), &single),
            gpu.blur_with(&v16.mapv(i32::from), &opts),
        ),
        (
            gpu.blur_with(&v16.mapv(u64::from), &single),
            gpu.blur_with(&v16.mapv(u64::from), &opts),
        ),
        (
            gpu.blur_with(&v16.mapv(i64::from), &single),
            gpu.blur_with(&v16.mapv(i64::from), &opts),
        ),
    ];
    for (single, auto) in wide {
        assert_close(&single.unwrap(), &want, 0.0);
        assert_close(&auto.unwrap(), &double, 0.0);
    }
}

#[test]
fn reused_buffers_of_other_sizes() {
    let Some(gpu) = gpu() else { return };
    // Large, then small (reuses the larger buffers), then large again.
    for shape in [(20, 20, 20), (3, 4, 5), (20, 20, 20), (21, 20, 20)] {
        let vol = random_volume(shape, 8);
        let opts = BlurOptions::new(1.0);
        assert_close(
            &gpu.blur_with(&vol, &opts).unwrap(),
            &cpu::full3d(&vol, &opts).unwrap(),
            GPU_TOL,
        );
    }
}

#[test]
fn device_resident_chains_equal_one_shot_calls() {
    let Some(gpu) = gpu() else { return };
    let vol = random_volume((19, 21, 34), 9);
    let first = BlurOptions::new([1.0, 0.0, 2.0]).mode(Mode::Wrap);
    let second = BlurOptions::new([0.0, 3.0, 0.5]).mode(Mode::Constant(0.25));
    let mut on_gpu = gpu.upload(&vol).unwrap();
    assert_eq!(on_gpu.shape(), [19, 21, 34]);
    assert_eq!(gpu.download(&on_gpu).unwrap(), vol);
    gpu.blur_volume(&mut on_gpu, &first).unwrap();
    assert_eq!(
        gpu.download(&on_gpu).unwrap(),
        gpu.blur_with(&vol, &first).unwrap()
    );
    gpu.blur_volume(&mut on_gpu, &second).unwrap();
    let chained = gpu.download(&on_gpu).unwrap();
    let one_shot = gpu
        .blur_with(&gpu.blur_with(&vol, &first).unwrap(), &second)
        .unwrap();
    assert_eq!(chained, one_shot);
    let reference = cpu::full3d(&cpu::full3d(&vol, &first).unwrap(), &second).unwrap();
    assert_close(&chained, &reference, GPU_TOL);
}

#[test]
fn copy_floor_leaves_the_volume_unchanged() {
    let Some(gpu) = gpu() else { return };
    // 10500 voxels: a whole number of vec4s; 7 * 301 * 5 is not, and copy_passes_vec4 then
    // copies voxel by voxel.
    for shape in [(7, 300, 5), (7, 301, 5)] {
        let vol = random_volume(shape, 10);
        let mut on_gpu = gpu.upload(&vol).unwrap();
        for count in [1, 2, 3] {
            gpu.copy_passes(&mut on_gpu, count).unwrap();
            gpu.wait().unwrap();
            assert_eq!(gpu.download(&on_gpu).unwrap(), vol);
            gpu.copy_passes_vec4(&mut on_gpu, count).unwrap();
            assert_eq!(gpu.download(&on_gpu).unwrap(), vol);
        }
    }
}

/// Planes of a multiple of 4 KiB lie a spare row apart on the GPU: results, device-resident
/// chains and packed integer uploads are unchanged by it, along every axis and mode, and with
/// the spare row holding garbage (NaN) from the buffer's earlier use.
#[test]
fn planes_with_a_spare_row() {
    let Some(gpu) = gpu() else { return };
    // The pooled buffers first hold NaN everywhere, spare rows included.
    let nan = Array3::<f32>::from_elem((6, 40, 64), f32::NAN);
    gpu.blur(&nan, 1.0).expect("GPU blur");
    for (i, shape) in [(5, 32, 64), (3, 64, 16), (40, 1, 1024)]
        .into_iter()
        .enumerate()
    {
        let vol = random_volume(shape, 60 + i as u64);
        for mode in MODES {
            check(&vol, &BlurOptions::new([1.0, 2.5, 1.5]).mode(mode));
        }
    }
    let vol = random_volume((4, 32, 32), 70);
    let opts = BlurOptions::new([2.0, 1.0, 3.0]);
    let mut on_gpu = gpu.upload(&vol).expect("upload");
    gpu.blur_volume(&mut on_gpu, &opts).expect("blur_volume");
    assert_eq!(
        gpu.download(&on_gpu).expect("download"),
        gpu.blur_with(&vol, &opts).expect("blur")
    );
    let bytes = vol.mapv(|v| (v * 255.0).round() as u8);
    let widened = bytes.mapv(f32::from);
    assert_eq!(
        gpu.blur_with(&bytes, &opts).expect("u8 blur"),
        gpu.blur_with(&widened, &opts).expect("f32 blur")
    );
}

/// Rows of a multiple of 4 voxels, blurred along the last axis with radii of a multiple of 4,
/// load their windows four voxels at a time: against full3d over every mode, with and without
/// interior runs, on rows that are and are not a whole number of runs.
#[test]
fn last_axis_vec4_windows() {
    for (i, shape) in [(3, 5, 96), (2, 3, 128), (2, 2, 44), (1, 4, 200)]
        .into_iter()
        .enumerate()
    {
        let vol = random_volume(shape, 80 + i as u64);
        for sigma in [1.0, 1.5, 2.0, 3.0] {
            for mode in MODES {
                check(&vol, &BlurOptions::new([0.0, 0.0, sigma]).mode(mode));
            }
        }
        check(&vol, &BlurOptions::new([1.0, 2.0, 2.0]));
    }
}

/// Long kernels off the last axis take interior runs of 64 outputs: against full3d over every
/// mode, along axes 0 and 1, with one and with several such runs per line.
#[test]
fn long_interior_runs() {
    for (i, (shape, axis)) in [((130, 2, 3), 0), ((2, 141, 3), 1), ((300, 1, 2), 0)]
        .into_iter()
        .enumerate()
    {
        let vol = random_volume(shape, 90 + i as u64);
        for sigma in [4.0, 5.0, 8.0] {
            let mut sigmas = [0.0; 3];
            sigmas[axis] = sigma;
            for mode in MODES {
                check(&vol, &BlurOptions::new(sigmas).mode(mode));
            }
        }
    }
}

/// A NaN `cval`, as scipy takes it (`mode='constant', cval=np.nan`): NaN wherever the kernel
/// reaches past an edge, the blur elsewhere; also through the Gaussian family.
#[test]
fn a_nan_cval_is_nan_near_the_edges() {
    let Some(gpu) = gpu() else { return };
    let vol = random_volume((9, 10, 24), 3);
    for opts in [
        BlurOptions::new(1.0).mode(Mode::Constant(f64::NAN)),
        BlurOptions::new([1.0, 0.0, 2.0]).modes([
            Mode::Reflect,
            Mode::Wrap,
            Mode::Constant(f64::NAN),
        ]),
    ] {
        let got = gpu.blur_with(&vol, &opts).expect("GPU blur");
        let want = cpu::full3d(&vol, &opts).expect("full3d");
        let nan = want.iter().filter(|v| v.is_nan()).count();
        assert!(nan > 0 && nan < want.len(), "{nan} NaN of {}", want.len());
        for (idx, &w) in want.indexed_iter() {
            let g = f64::from(got[idx]);
            assert!(
                (w.is_nan() && g.is_nan()) || (g - w).abs() <= GPU_TOL,
                "{opts:?} at {idx:?}: got {g}, expected {w}"
            );
        }
        let laplace = gpu
            .filter(&vol, &opts, blur3d::Filter::Laplace)
            .expect("GPU Laplacian");
        let laplace_cpu = cpu::gaussian_laplace(&vol, &opts).expect("CPU Laplacian");
        for (idx, &w) in laplace_cpu.indexed_iter() {
            let g = f64::from(laplace[0][idx]);
            assert!(
                (w.is_nan() && g.is_nan()) || (g - w).abs() <= 1e-4,
                "Laplacian {opts:?} at {idx:?}: got {g}, expected {w}"
            );
        }
    }
}
