//! Volumes in slabs along axis 0 (and tiles of rows along axis 1 when planes are too large for a
//! slab as deep as the halo): forced tiny blocks on small volumes must give the one-piece
//! result, and a volume beyond the software adapter's binding limit must blur at all.

use blur3d::{BlurOptions, Filter, GpuBlur, Mode, cpu};
use ndarray::{Array3, s};

use crate::common::{GPU_TOL, assert_close, assert_same, gpu, random_volume};

const MODES: [Mode; 5] = [
    Mode::Reflect,
    Mode::Mirror,
    Mode::Nearest,
    Mode::Wrap,
    Mode::Constant(0.5),
];

/// A blur of its own whose slabs hold at most `planes` planes of a `plane`-voxel volume.
fn slabbed(planes: usize, plane: usize) -> Option<GpuBlur> {
    gpu()?;
    Some(
        GpuBlur::try_new()
            .unwrap()
            .with_max_slab_bytes((planes * plane * 4) as u64),
    )
}

#[test]
fn tiny_slabs_equal_one_piece_and_full3d() {
    let Some(one_piece) = gpu() else { return };
    let vol = random_volume((150, 5, 6), 30);
    // (slab limit in planes, sigma along axis 0). Two slabs in flight halve the limit when half
    // still holds the halo: 140 planes at sigma 8 (radius 32) leave 6 output planes per slab, a
    // halo far larger than the slab; 17 planes at sigma 2 (radius 8) leave exactly one.
    for (limit, sigma0) in [(140, 8.0), (17, 2.0), (20, 1.0), (12, 0.5), (60, 4.0)] {
        let Some(gpu) = slabbed(limit, 30) else {
            return;
        };
        for mode in MODES {
            let opts = BlurOptions::new([sigma0, 1.0, 0.7]).mode(mode);
            let mut calls = Vec::new();
            let got = gpu
                .blur_with_progress(&vol, &opts, |done, total| calls.push((done, total)))
                .unwrap();
            // The same sums in the same order: equal to the bit, not within a tolerance.
            assert_same(&got, &one_piece.blur_with(&vol, &opts).unwrap());
            assert_close(&got, &cpu::full3d(&vol, &opts).unwrap(), GPU_TOL);
            let total = calls.last().unwrap().1;
            assert!(total > 1, "limit {limit}: one slab");
            assert_eq!(calls, (1..=total).map(|d| (d, total)).collect::<Vec<_>>());
        }
    }
}

#[test]
fn a_slab_too_small_for_the_halo_is_an_error() {
    let vol = random_volume((100, 5, 6), 34);
    // Radius 32 needs 65 planes in a slab.
    let Some(gpu) = slabbed(64, 30) else { return };
    assert_eq!(
        gpu.blur(&vol, [8.0, 1.0, 1.0]).unwrap_err(),
        blur3d::BlurError::VolumeTooLarge {
            bytes: 65 * 30 * 4,
            limit: 64 * 30 * 4,
            limit_name: "GpuBlur::with_max_slab_bytes"
        }
    );
}

#[test]
fn one_plane_slabs_and_halos_longer_than_the_axis() {
    let vol = random_volume((9, 4, 3), 31);
    // One plane per slab (two in flight halve the limit of 2 planes), no blur along axis 0.
    let Some(gpu) = slabbed(2, 12) else { return };
    for mode in MODES {
        let opts = BlurOptions::new([0.0, 1.5, 1.0]).mode(mode);
        assert_close(
            &gpu.blur_with(&vol, &opts).unwrap(),
            &cpu::full3d(&vol, &opts).unwrap(),
            GPU_TOL,
        );
    }
    // A radius of 12 on 9 planes: the halo wraps around and reflects more than once.
    let Some(gpu) = slabbed(60, 12) else { return };
    for mode in MODES {
        let opts = BlurOptions::new([3.0, 1.0, 1.0]).mode(mode);
        assert_close(
            &gpu.blur_with(&vol, &opts).unwrap(),
            &cpu::full3d(&vol, &opts).unwrap(),
            GPU_TOL,
        );
    }
}

#[test]
fn slabs_of_views_and_integers() {
    let Some(gpu) = slabbed(40, 7 * 6) else {
        return;
    };
    let base = random_volume((60, 6, 14), 32);
    let view = base.slice(s![.., .., ..;2]);
    let opts = BlurOptions::new([2.0, 1.0, 1.0]).mode(Mode::Mirror);
    assert_close(
        &gpu.blur_with(&view, &opts).unwrap(),
        &cpu::full3d(&view, &opts).unwrap(),
        GPU_TOL,
    );
    let ints = Array3::from_shape_fn((60, 7, 6), |(a, b, c)| {
        ((a * 37 + b * 11 + c * 5) % 1000) as u16
    });
    assert_close(
        &gpu.blur_with(&ints, &opts).unwrap(),
        &cpu::full3d(&ints, &opts).unwrap(),
        1000.0 * GPU_TOL,
    );
}

#[test]
fn tiles_of_rows_equal_one_piece_for_every_mode_and_filter() {
    let Some(one_piece) = gpu() else { return };
    let vol = random_volume((26, 40, 7), 35);
    // Radii 4 and 6 along axes 0 and 1: a slab of whole planes needs 9 planes of 40 rows, more
    // than the limit of 12 planes of 20 rows; blocks of rows fit.
    let Some(tiled) = slabbed(12 * 20, 7) else {
        return;
    };
    let filters = [
        Filter::Gaussian,
        Filter::Laplace,
        Filter::GradientMagnitude,
        Filter::Hessian,
    ];
    for mode in MODES {
        let opts = BlurOptions::new([1.0, 1.5, 0.7]).mode(mode);
        let mut blocks = 0;
        let got = tiled
            .blur_with_progress(&vol, &opts, |_, total| blocks = total)
            .unwrap();
        assert_same(&got, &one_piece.blur_with(&vol, &opts).unwrap());
        assert_close(&got, &cpu::full3d(&vol, &opts).unwrap(), GPU_TOL);
        // Whole planes would take at most 12 - 8 = 4 planes per slab, 7 slabs.
        assert!(blocks > 7, "{mode:?}: {blocks} blocks");
        for filter in filters {
            let got = tiled.filter(&vol, &opts, filter).unwrap();
            let want = one_piece.filter(&vol, &opts, filter).unwrap();
            for (g, w) in got.iter().zip(&want) {
                assert_close(g, w, 1e-5);
            }
        }
    }
    // Integers and views go through blocks too.
    let base = Array3::from_shape_fn((26, 40, 14), |(a, b, c)| {
        ((a * 37 + b * 11 + c * 5) % 1000) as u16
    });
    let view = base.slice(s![.., .., ..;2]);
    let opts = BlurOptions::new([2.0, 1.0, 1.0]).mode(Mode::Mirror);
    assert_close(
        &tiled.blur_with(&view, &opts).unwrap(),
        &cpu::full3d(&view, &opts).unwrap(),
        1000.0 * GPU_TOL,
    );
}

#[test]
fn a_block_too_small_for_both_halos_is_an_error() {
    let vol = random_volume((30, 30, 5), 36);
    // Radii 4 and 4: the smallest block is 9 planes of 9 rows.
    let Some(gpu) = slabbed(9 * 8, 5) else { return };
    assert_eq!(
        gpu.blur(&vol, 1.0).unwrap_err(),
        blur3d::BlurError::VolumeTooLarge {
            bytes: 9 * 9 * 5 * 4,
            limit: 9 * 8 * 5 * 4,
            limit_name: "GpuBlur::with_max_slab_bytes"
        }
    );
    let Some(gpu) = slabbed(9 * 9, 5) else { return };
    assert_close(
        &gpu.blur(&vol, 1.0).unwrap(),
        &cpu::full3d(&vol, &BlurOptions::new(1.0)).unwrap(),
        GPU_TOL,
    );
}

/// A blur whose slabs are at most the software adapter's 128 MiB, on any adapter.
fn at_most_128_mib() -> Option<GpuBlur> {
    gpu()?;
    Some(GpuBlur::try_new().unwrap().with_max_slab_bytes(128 << 20))
}

#[test]
fn f32_384_cubed_beyond_the_binding_limit() {
    let Some(gpu) = at_most_128_mib() else { return };
    let vol = random_volume((384, 384, 384), 33);
    let opts = BlurOptions::new([2.0, 1.0, 3.0]);
    let mut slabs = 0;
    let got = gpu
        .blur_with_progress(&vol, &opts, |_, total| slabs = total)
        .unwrap();
    assert!(slabs >= 2, "{slabs} slab(s)");
    assert_close(&got, &cpu::separable(&vol, &opts).unwrap(), GPU_TOL);
}

#[test]
fn u16_512_cubed() {
    let Some(gpu) = at_most_128_mib() else { return };
    let vol = Array3::from_shape_fn((512, 512, 512), |(a, b, c)| {
        ((a * 7919 + b * 104_729 + c * 1_299_709) % 65_536) as u16
    });
    let opts = BlurOptions::new(1.5).mode(Mode::Nearest);
    let got = gpu.blur_as::<u16>(&vol, &opts).unwrap();
    let want = cpu::separable(&vol, &opts).unwrap();
    // The f32 result is within the documented bound of the f64 reference (1e-5 of the largest
    // value); rounding then puts it at most one step from the rounded reference.
    let worst = got
        .iter()
        .zip(&want)
        .map(|(&g, &w)| (f64::from(g) - w.round()).abs())
        .fold(0.0, |m: f64, d| {
            if m.is_nan() || d.is_nan() {
                f64::NAN
            } else {
                m.max(d)
            }
        });
    assert!(worst <= 1.0, "worst difference {worst}");
    let as_f32 = gpu.blur_with(&vol, &opts).unwrap();
    assert_close(&as_f32, &want, 65_535.0 * GPU_TOL);
    assert!(
        got.iter()
            .zip(&as_f32)
            .all(|(&g, &f)| g == blur3d::Voxel::from_f32(f))
    );
}

/// The CPU reference in slabs (`cpu::filter_into`) gives the volume's own sums, to the bit:
/// every mode, kernels longer than a slab, slabs of one plane, the Laplacian with a mode per axis
/// (whole when one of them wraps), and integer outputs stored by `from_f64`.
#[test]
fn cpu_slabs_give_the_sums_of_the_whole_volume() {
    use blur3d::{BlurError, BlurOptions, Filter, Mode, cpu};
    use ndarray::Array3;
    let vol = Array3::from_shape_fn((37, 5, 4), |(i, j, k)| {
        ((i * 7919 + j * 104_729 + k * 1_299_709) % 1000) as f32 / 7.0
    });
    let per_axis = [Mode::Nearest, Mode::Wrap, Mode::Mirror];
    let cases = [
        (2.0, BlurOptions::new([2.0, 1.0, 0.5]), Filter::Gaussian),
        (
            1.0,
            BlurOptions::new([1.0, 1.0, 0.5]).mode(Mode::Mirror),
            Filter::Gaussian,
        ),
        (
            3.5,
            BlurOptions::new([3.5, 1.0, 0.5]).mode(Mode::Nearest),
            Filter::Gaussian,
        ),
        (
            0.7,
            BlurOptions::new([0.7, 1.0, 0.5]).mode(Mode::Constant(2.5)),
            Filter::Gaussian,
        ),
        (
            2.0,
            BlurOptions::new([2.0, 1.0, 0.5]).mode(Mode::Wrap),
            Filter::Gaussian,
        ),
        // A kernel longer than a slab.
        (9.0, BlurOptions::new([9.0, 1.0, 0.5]), Filter::Gaussian),
        (1.5, BlurOptions::new(1.5).modes(per_axis), Filter::Laplace),
        (
            1.5,
            BlurOptions::new(1.5).modes([Mode::Nearest, Mode::Reflect, Mode::Mirror]),
            Filter::GradientMagnitude,
        ),
    ];
    for (sigma, opts, filter) in cases {
        let whole = cpu::filter(&vol, &opts, filter).unwrap().remove(0);
        // Slabs of 3 planes of f64 (5 x 4 voxels each), and of one.
        for planes in [3, 1] {
            let mut out = Array3::<f64>::zeros(vol.dim());
            cpu::filter_into(&vol, &opts, filter, &mut out.view_mut(), planes * 5 * 4 * 8).unwrap();
            assert_eq!(
                out, whole,
                "sigma {sigma}, {filter:?}, {opts:?}, slabs of {planes}"
            );
            let mut ints = Array3::<i16>::zeros(vol.dim());
            cpu::filter_into(
                &vol,
                &opts,
                filter,
                &mut ints.view_mut(),
                planes * 5 * 4 * 8,
            )
            .unwrap();
            assert_eq!(ints, whole.mapv(|v| v.round() as i16));
        }
    }
    // What it refuses, and says why.
    let mut wrong = Array3::<f64>::zeros((37, 5, 3));
    assert!(matches!(
        cpu::filter_into(
            &vol,
            &BlurOptions::new(1.0),
            Filter::Gaussian,
            &mut wrong.view_mut(),
            1 << 20
        ),
        Err(BlurError::ShapeMismatch { .. })
    ));
    let mut out = Array3::<f64>::zeros(vol.dim());
    assert!(matches!(
        cpu::filter_into(
            &vol,
            &BlurOptions::new(1.0),
            Filter::Hessian,
            &mut out.view_mut(),
            1 << 20
        ),
        Err(BlurError::OutputCount { .. })
    ));
}
