//! The Gaussian family: derivatives of any order, Laplacian, gradient magnitude, gradient and
//! Hessian, against scipy's numbers (`tests/fixtures/make_fixtures.py`), the CPU references and
//! the properties derivatives have.

use std::path::Path;
use std::sync::{Mutex, MutexGuard, OnceLock};

use blur3d::kernel::gaussian_kernel;
use blur3d::{BlurError, BlurOptions, Filter, GpuBlur, Mode, PassFamily, Precision, cpu};
use ndarray::{Array3, s};
use ndarray_npy::read_npy;
use proptest::prelude::*;

use crate::common::{FAMILIES, GPU_TOL, assert_close, assert_same, gpu, ran_in, random_volume};

fn fixture(name: &str) -> Array3<f64> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("{name}.npy"));
    read_npy(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The bound for derivatives: the blur's, times how much the kernels can amplify (the sum of
/// their absolute weights; 1 for a blur).
fn tolerance(input: &Array3<f64>, opts: &BlurOptions, orders: &[[u32; 3]]) -> f64 {
    let max = input.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    let radii = opts.radii().unwrap();
    let gain: f64 = orders
        .iter()
        .map(|o| {
            (0..3)
                .map(|a| {
                    let sigma = opts.sigma().get()[a];
                    if sigma <= 1e-15 || !opts.axes_filtered()[a] {
                        return 1.0;
                    }
                    gaussian_kernel(sigma, o[a], radii[a])
                        .iter()
                        .map(|w| w.abs())
                        .sum::<f64>()
                })
                .product::<f64>()
        })
        .sum();
    GPU_TOL * max * gain.max(1.0)
}

/// A blur of the scipy checks' own (in the family `BLUR3D_PASSES` asks for, as the shared one),
/// one check at a time, so that the passes it counts are that check's.
fn counted_gpu() -> Option<MutexGuard<'static, GpuBlur>> {
    static OWN: OnceLock<Mutex<GpuBlur>> = OnceLock::new();
    gpu()?;
    // The family itself, untuned: the counts say which family ran.
    let own = OWN.get_or_init(|| {
        Mutex::new(
            GpuBlur::try_new()
                .expect("a second blur")
                .with_tuning(false),
        )
    });
    Some(
        own.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    )
}

/// Checks `filter` of `input` against scipy's values: the CPU reference to 1e-12, the GPU to the
/// documented bound scaled by the kernels' gain; and that the GPU's passes ran in the family
/// asked for (the GPU family's own passes take rows of a multiple of 4 voxels, the tile
/// family's the rest).
#[track_caller]
fn check(filter: Filter, input: &Array3<f64>, opts: &BlurOptions, expected: &[Array3<f64>]) {
    let cpu_out = cpu::filter(input, opts, filter).unwrap();
    assert_eq!(cpu_out.len(), expected.len());
    for (c, e) in cpu_out.iter().zip(expected) {
        assert_close(c, e, 1e-12);
    }
    if filter == Filter::Gaussian {
        assert_close(&cpu::full3d(input, opts).unwrap(), &expected[0], 1e-12);
    }
    let Some(gpu) = gpu() else { return };
    let orders: Vec<[u32; 3]> = match filter {
        Filter::Gaussian => vec![opts.orders_per_axis()],
        Filter::Laplace => vec![[2, 0, 0], [0, 2, 0], [0, 0, 2]],
        _ => vec![
            [2, 0, 0],
            [0, 2, 0],
            [0, 0, 2],
            [1, 1, 0],
            [1, 0, 1],
            [0, 1, 1],
        ],
    };
    let tol = tolerance(input, opts, &orders);
    // The fixtures are f64: by default computed in f64 (natively or in double-single), to
    // within 1e-12 of scipy's where f32 is within 1e-5.
    let mut outs: Vec<ndarray::ArrayViewMut3<'_, f64>> = Vec::new();
    let mut f64_outs: Vec<Array3<f64>> = expected.iter().map(|e| Array3::zeros(e.dim())).collect();
    outs.extend(f64_outs.iter_mut().map(|o| o.view_mut()));
    gpu.filter_into(input, opts, filter, &mut outs, |_, _| {})
        .unwrap();
    for (g, e) in f64_outs.iter().zip(expected) {
        assert_close(g, e, tol / GPU_TOL * 1e-12);
    }
    // The families, in f32.
    let single = opts.clone().precision(Precision::Single);
    let counted = counted_gpu().expect("the shared blur exists");
    assert_eq!(counted.pass_family(), gpu.pass_family());
    let before = counted.passes_run();
    for (g, e) in counted
        .filter(input, &single, filter)
        .unwrap()
        .iter()
        .zip(expected)
    {
        assert_close(g, e, tol);
    }
    let after = counted.passes_run();
    let ran = |f| ran_in(before, after, f);
    let total: u64 = FAMILIES.into_iter().map(ran).sum();
    assert!(total > 0, "no pass ran for {filter:?} {opts:?}");
    // The family asked for ran every pass, or its fallback: the GPU family takes rows of a
    // multiple of 4 voxels, the tile family the rest (every radius here is within its reach).
    let expected = match counted.pass_family() {
        PassFamily::Gpu if !input.dim().2.is_multiple_of(4) => PassFamily::Tile,
        family => family,
    };
    assert_eq!(
        ran(expected),
        total,
        "{expected:?} ran every pass of {filter:?} {opts:?} on {:?}: {before:?} -> {after:?}",
        input.dim()
    );
}

/// The fixture volumes: `small` (rows of 5: the tile family's passes when the GPU family is
/// asked for) and
/// `row8` (rows of 8: the GPU family's own passes when it is asked for), with the prefix of
/// their scipy results.
fn volumes() -> [(&'static str, Array3<f64>); 2] {
    [("", fixture("small")), ("row8_", fixture("row8"))]
}

fn modes() -> [(&'static str, Mode); 5] {
    [
        ("reflect", Mode::Reflect),
        ("mirror", Mode::Mirror),
        ("nearest", Mode::Nearest),
        ("wrap", Mode::Wrap),
        ("constant", Mode::Constant(0.5)),
    ]
}

#[test]
fn orders_one_to_three_match_scipy_in_every_mode() {
    let tiny = fixture("tiny");
    for (name, mode) in modes() {
        let opts = BlurOptions::new([1.0, 1.5, 0.8])
            .orders([1, 2, 3])
            .mode(mode);
        for (prefix, vol) in &volumes() {
            check(
                Filter::Gaussian,
                vol,
                &opts,
                &[fixture(&format!("{prefix}order_{name}"))],
            );
        }
        // sigma 3 on axes of 3, 2 and 4 voxels: kernels longer than their axis.
        let opts = BlurOptions::new(3.0).orders([2, 1, 1]).mode(mode);
        check(
            Filter::Gaussian,
            &tiny,
            &opts,
            &[fixture(&format!("tiny_order_{name}"))],
        );
    }
}

#[test]
fn laplace_and_gradient_magnitude_match_scipy_in_every_mode() {
    for (name, mode) in modes() {
        let opts = BlurOptions::new([1.0, 1.5, 0.8]).mode(mode);
        for (prefix, vol) in &volumes() {
            check(
                Filter::Laplace,
                vol,
                &opts,
                &[fixture(&format!("{prefix}laplace_{name}"))],
            );
            check(
                Filter::GradientMagnitude,
                vol,
                &opts,
                &[fixture(&format!("{prefix}ggm_{name}"))],
            );
        }
    }
}

#[test]
fn per_axis_modes_axes_and_radius_match_scipy() {
    let small = fixture("small");
    let per_axis =
        BlurOptions::new([1.2, 0.9, 2.0]).modes([Mode::Wrap, Mode::Constant(-1.0), Mode::Mirror]);
    check(
        Filter::Gaussian,
        &small,
        &per_axis.clone().orders([2, 0, 1]),
        &[fixture("order_per_axis_modes")],
    );
    // scipy's laplace and gradient magnitude take term i's mode on every axis.
    check(
        Filter::Laplace,
        &small,
        &per_axis,
        &[fixture("laplace_per_axis_modes")],
    );
    check(
        Filter::GradientMagnitude,
        &small,
        &per_axis,
        &[fixture("ggm_per_axis_modes")],
    );
    // scipy's axes=(0, 2): axis 1 neither filtered nor summed.
    let axes = BlurOptions::new([1.5, 0.0, 0.7])
        .orders([1, 0, 2])
        .axes([true, false, true])
        .mode(Mode::Nearest);
    check(Filter::Gaussian, &small, &axes, &[fixture("order_axes")]);
    let axes = BlurOptions::new(1.1).axes([false, true, true]);
    check(Filter::Laplace, &small, &axes, &[fixture("laplace_axes")]);
    let radius = BlurOptions::new([1.0, 2.0, 3.0])
        .orders([3, 1, 2])
        .radius([1, 2, 3])
        .mode(Mode::Wrap);
    check(
        Filter::Gaussian,
        &small,
        &radius,
        &[fixture("order_radius")],
    );
}

#[test]
fn hessian_components_match_scipy() {
    for (prefix, vol) in &volumes() {
        let expected: Vec<Array3<f64>> = ["00", "01", "02", "11", "12", "22"]
            .iter()
            .map(|c| fixture(&format!("{prefix}hessian_{c}")))
            .collect();
        check(
            Filter::Hessian,
            vol,
            &BlurOptions::new(1.2).mode(Mode::Nearest),
            &expected,
        );
    }
}

#[test]
fn the_named_functions_are_the_filters() {
    let Some(gpu) = gpu() else { return };
    let vol = random_volume((9, 10, 11), 40);
    let opts = BlurOptions::new([1.0, 2.0, 1.5]).mode(Mode::Mirror);
    let filter = |f| gpu.filter(&vol, &opts, f).unwrap();
    assert_eq!(
        gpu.gaussian_laplace(&vol, &opts).unwrap(),
        filter(Filter::Laplace)[0]
    );
    assert_eq!(
        gpu.gaussian_gradient_magnitude(&vol, &opts).unwrap(),
        filter(Filter::GradientMagnitude)[0]
    );
    assert_eq!(
        gpu.gaussian_gradient(&vol, &opts).unwrap().to_vec(),
        filter(Filter::Gradient)
    );
    assert_eq!(
        gpu.hessian(&vol, &opts).unwrap().to_vec(),
        filter(Filter::Hessian)
    );
    // Order 0 is the blur, bit for bit.
    assert_eq!(
        filter(Filter::Gaussian)[0],
        gpu.blur_with(&vol, &opts).unwrap()
    );
    assert_eq!(
        gpu.blur_with(&vol, &opts.clone().order(0)).unwrap(),
        gpu.blur_with(&vol, &opts).unwrap()
    );
    // The gradient's components are the first-order filters, the Hessian's the second.
    let grad = gpu.gaussian_gradient(&vol, &opts).unwrap();
    let hess = gpu.hessian(&vol, &opts).unwrap();
    let by_order = |o| gpu.blur_with(&vol, &opts.clone().orders(o)).unwrap();
    assert_eq!(grad[1], by_order([0, 1, 0]));
    assert_eq!(hess[2], by_order([1, 0, 1]));
    assert_eq!(hess[3], by_order([0, 2, 0]));
    // The CPU twins of the named functions.
    let max = 1.0;
    assert_close(
        &gpu.gaussian_laplace(&vol, &opts).unwrap(),
        &cpu::gaussian_laplace(&vol, &opts).unwrap(),
        GPU_TOL * max * 4.0,
    );
    assert_close(
        &gpu.gaussian_gradient_magnitude(&vol, &opts).unwrap(),
        &cpu::gaussian_gradient_magnitude(&vol, &opts).unwrap(),
        GPU_TOL * max * 4.0,
    );
    for (g, c) in grad
        .iter()
        .zip(cpu::gaussian_gradient(&vol, &opts).unwrap())
    {
        assert_close(g, &c, GPU_TOL * max * 4.0);
    }
    for (g, c) in hess.iter().zip(cpu::hessian(&vol, &opts).unwrap()) {
        assert_close(g, &c, GPU_TOL * max * 4.0);
    }
}

/// Fused passes (one read of the input, several kernels; the CPU pass family, and the GPU
/// family's fallback for rows that are not a multiple of 4) give each kernel's output bit for
/// bit as a pass of that kernel alone: in every mode, along every axis (contiguous rows through
/// the vec4 views too), with runs of every kind and kernels longer than their axis.
#[test]
fn fused_passes_equal_one_pass_per_kernel() {
    let Some(gpu) = gpu() else { return };
    let pairs = [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)];
    // (shape, sigma): interior and border runs; rows a multiple of 4 with a radius of 4 (aligned
    // interior runs when only axis 2 is filtered); a radius of 20 (runs of RUN_LONG for one
    // kernel); kernels longer than the axis.
    let cases = [
        ((40, 9, 36), [1.2, 0.8, 1.0]),
        ((6, 5, 72), [0.0, 0.0, 1.0]),
        ((70, 3, 5), [5.0, 0.7, 0.6]),
        ((3, 40, 4), [3.0, 5.0, 2.0]),
    ];
    for (i, (shape, sigma)) in cases.into_iter().enumerate() {
        let vol = random_volume(shape, 50 + i as u64);
        for (name, mode) in modes() {
            let opts = BlurOptions::new(sigma).mode(mode);
            let hessian = gpu.hessian(&vol, &opts).unwrap();
            for (h, (a, b)) in hessian.iter().zip(pairs) {
                let mut orders = [0; 3];
                orders[a] += 1;
                orders[b] += 1;
                let alone = gpu.blur_with(&vol, &opts.clone().orders(orders)).unwrap();
                assert_eq!(h, &alone, "{shape:?} sigma {sigma:?} {name}: H{a}{b}");
            }
            let gradient = gpu.gaussian_gradient(&vol, &opts).unwrap();
            for (a, g) in gradient.iter().enumerate() {
                let mut orders = [0; 3];
                orders[a] = 1;
                let alone = gpu.blur_with(&vol, &opts.clone().orders(orders)).unwrap();
                assert_eq!(g, &alone, "{shape:?} sigma {sigma:?} {name}: gradient {a}");
            }
        }
    }
}

/// Every pass family, forced, against the CPU reference: rows of every length modulo 4, every
/// mode, kernels from one tap to longer than their axis and beyond the tile family's reach
/// (radius 49 along strided lines), passes of one to three fused kernels (the Gaussian, the
/// Hessian), rows longer than one `row_tile` segment and strided axes longer than one
/// `col_tile` tile; each family ran its own passes where it takes them, else its fallback.
#[test]
fn every_family_matches_the_reference_on_rows_of_every_length() {
    if gpu().is_none() {
        return;
    }
    let shapes = [
        (7, 5, 8),
        (6, 9, 9),
        (5, 7, 10),
        (9, 4, 11),
        (131, 3, 4),
        (2, 3, 601),
    ];
    // Radii 1, 5 and 12 (longer than most axes here), and 49.
    let sigmas = [0.25, 1.2, 3.0, 12.0];
    for family in FAMILIES {
        let g = GpuBlur::try_new()
            .unwrap()
            .with_pass_family(family)
            .with_tuning(false);
        for (i, shape) in shapes.into_iter().enumerate() {
            let vol = random_volume(shape, 70 + i as u64).mapv(f64::from);
            for (name, mode) in modes() {
                for sigma in sigmas {
                    let opts = BlurOptions::new(sigma)
                        .mode(mode)
                        .precision(Precision::Single);
                    let radius = opts.radii().unwrap()[0];
                    for filter in [Filter::Gaussian, Filter::Hessian] {
                        let before = g.passes_run();
                        let got = g.filter(&vol, &opts, filter).unwrap();
                        let after = g.passes_run();
                        let expected = cpu::filter(&vol, &opts, filter).unwrap();
                        let orders: Vec<[u32; 3]> = match filter {
                            Filter::Gaussian => vec![[0; 3]],
                            _ => vec![[2, 0, 0], [0, 2, 0], [0, 0, 2], [1, 1, 0]],
                        };
                        let tol = tolerance(&vol, &opts, &orders);
                        for (o, (a, e)) in got.iter().zip(&expected).enumerate() {
                            let at = format!(
                                "{family:?} {shape:?} {name} sigma {sigma} {filter:?} output {o}"
                            );
                            let worst = a
                                .iter()
                                .zip(e)
                                .map(|(&a, &e)| (f64::from(a) - e).abs())
                                .fold(
                                    0.0,
                                    |m: f64, d| if d.is_nan() { f64::NAN } else { m.max(d) },
                                );
                            assert!(worst <= tol, "{at}: off by {worst:e} > {tol:e}");
                        }
                        // Who ran: the family asked for where it takes the passes. The GPU
                        // family takes rows of a multiple of 4 voxels, else the tile family
                        // runs them; the tile family takes radii up to 48 along strided lines
                        // (and every radius here along contiguous ones), else the GPU family
                        // runs them where it can.
                        let ran = |f| ran_in(before, after, f);
                        let rows4 = shape.2 % 4 == 0;
                        let ok = match family {
                            PassFamily::Cpu => ran(PassFamily::Gpu) + ran(PassFamily::Tile) == 0,
                            PassFamily::Gpu if rows4 => {
                                ran(PassFamily::Cpu) + ran(PassFamily::Tile) == 0
                            }
                            PassFamily::Gpu => ran(PassFamily::Cpu) + ran(PassFamily::Gpu) == 0,
                            _ if radius <= 48 => ran(PassFamily::Cpu) + ran(PassFamily::Gpu) == 0,
                            _ => {
                                let strided = if rows4 {
                                    PassFamily::Gpu
                                } else {
                                    PassFamily::Cpu
                                };
                                ran(PassFamily::Tile) > 0 && ran(strided) > 0
                            }
                        };
                        assert!(
                            ok && FAMILIES.into_iter().map(ran).sum::<u64>() > 0,
                            "{family:?} {shape:?} {name} sigma {sigma} {filter:?}: {before:?} -> {after:?}"
                        );
                    }
                }
            }
        }
    }
}

/// The tile family's in-plane pair (the passes along axes 1 and 2 in one dispatch, the first's
/// sums kept in workgroup memory) gives what its two passes give run apart, to the bit: each
/// axis in its own mode (constants of their own), rows of every length and several tiles each
/// way, in f32, in f64 (where the device has it) and truncated for integer outputs; and it ran. Radii whose tile does
/// not fit the workgroup memory run apart.
#[test]
fn in_plane_pairs_equal_their_two_passes_run_apart() {
    if gpu().is_none() {
        return;
    }
    let g = GpuBlur::try_new()
        .unwrap()
        .with_pass_family(PassFamily::Tile);
    let pairs = |before: blur3d::PassesRun| g.passes_run().plane_pairs - before.plane_pairs;
    let modes = modes();
    let shapes = [(3, 20, 37), (2, 35, 70), (2, 5, 3)];
    for (i, shape) in shapes.into_iter().enumerate() {
        let vol = random_volume(shape, 90 + i as u64);
        let bytes = vol.mapv(|v| (v * 255.0) as u8);
        let doubles = vol.mapv(f64::from);
        for (j, &(name, first)) in modes.iter().enumerate() {
            let (name2, second) = modes[(j + 2) % modes.len()];
            // Radii (4, 8) and (14, 2); then (32, 32), beyond the tile.
            for (sigma, fused) in [([1.0, 2.0], true), ([3.5, 0.6], true), ([8.0, 8.0], false)] {
                let opts = |s: [f64; 3]| BlurOptions::new(s).modes([Mode::Reflect, first, second]);
                let both = opts([0.0, sigma[0], sigma[1]]);
                let (one, two) = (opts([0.0, sigma[0], 0.0]), opts([0.0, 0.0, sigma[1]]));
                let at = format!("{shape:?} {name}/{name2} sigma {sigma:?}");
                let before = g.passes_run();
                let pair = g.blur_with(&vol, &both).unwrap();
                assert_eq!(pairs(before), u64::from(fused), "{at}");
                let apart = g
                    .blur_with(&g.blur_with(&vol, &one).unwrap(), &two)
                    .unwrap();
                assert_same(&pair, &apart);
                // f64, computed in f64 (double-single passes are not paired).
                if g.has_f64() {
                    let before = g.passes_run();
                    let pair: Array3<f64> = g.blur_as(&doubles, &both).unwrap();
                    assert_eq!(pairs(before), u64::from(fused), "{at}");
                    let mid: Array3<f64> = g.blur_as(&doubles, &one).unwrap();
                    assert_same(&pair, &g.blur_as::<f64>(&mid, &two).unwrap());
                }
                // scipy's integer outputs: each pass truncated (the first's sums in the tile
                // too).
                let [both, one, two] = [both, one, two].map(|o| o.truncate_each_pass(true));
                let before = g.passes_run();
                let pair: Array3<u8> = g.blur_as(&bytes, &both).unwrap();
                assert_eq!(pairs(before), u64::from(fused), "{at}");
                let mid: Array3<u8> = g.blur_as(&bytes, &one).unwrap();
                assert_eq!(pair, g.blur_as::<u8>(&mid, &two).unwrap(), "{at}");
            }
        }
    }
}

#[test]
fn derivatives_of_a_constant_vanish_away_from_constant_edges() {
    let Some(gpu) = gpu() else { return };
    let c = 0.75f32;
    let vol = Array3::<f32>::from_elem((12, 9, 14), c);
    for mode in [Mode::Reflect, Mode::Mirror, Mode::Nearest, Mode::Wrap] {
        for orders in [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1], [3, 0, 0]] {
            let opts = BlurOptions::new([1.5, 2.0, 1.0]).orders(orders).mode(mode);
            let out = gpu.blur_with(&vol, &opts).unwrap();
            assert_close(&out, &Array3::<f32>::zeros(vol.raw_dim()), 1e-5);
        }
        // An even order gives the constant times the kernel's sum (not 0: the kernel is
        // sampled and truncated), as scipy does.
        let opts = BlurOptions::new(1.5).orders([0, 2, 0]).mode(mode);
        let sum: f64 = gaussian_kernel(1.5, 2, 6).iter().sum();
        let out = gpu.blur_with(&vol, &opts).unwrap();
        let expected = Array3::from_elem(vol.raw_dim(), f64::from(c) * sum);
        assert_close(&out, &expected, 1e-5);
        // Laplacian and gradient magnitude of a constant.
        let opts = BlurOptions::new(1.5).mode(mode);
        let zero = Array3::<f32>::zeros(vol.raw_dim());
        assert_close(
            &gpu.gaussian_gradient_magnitude(&vol, &opts).unwrap(),
            &zero,
            1e-5,
        );
        let laplace = gpu.gaussian_laplace(&vol, &opts).unwrap();
        let expected = Array3::from_elem(vol.raw_dim(), 3.0 * f64::from(c) * sum);
        assert_close(&laplace, &expected, 1e-5);
    }
    // In constant mode, only the voxels whose kernel stays inside are 0.
    let opts = BlurOptions::new(1.0)
        .orders([0, 0, 1])
        .mode(Mode::Constant(0.0));
    let out = gpu.blur_with(&vol, &opts).unwrap();
    assert_close(
        &out.slice(s![.., .., 4..10]).to_owned(),
        &Array3::<f32>::zeros((12, 9, 6)),
        1e-6,
    );
    // From the constant 0 up to the volume: an increase, so a positive derivative.
    assert!(
        out[[0, 0, 0]] > 0.1,
        "the edge sees the step from the constant"
    );
}

#[test]
fn the_first_derivative_of_a_ramp_is_its_slope_times_the_first_moment() {
    let Some(gpu) = gpu() else { return };
    let slope = [0.5, -0.25, 0.125];
    let vol = Array3::from_shape_fn((20, 21, 22), |(i, j, k)| {
        (slope[0] * i as f64 + slope[1] * j as f64 + slope[2] * k as f64) as f32
    });
    for axis in 0..3 {
        let sigma = 1.5;
        let mut orders = [0; 3];
        orders[axis] = 1;
        let opts = BlurOptions::new(sigma).orders(orders);
        // scipy convolves: the first moment of the kernel reversed.
        let k = gaussian_kernel(sigma, 1, 6);
        let moment: f64 = k
            .iter()
            .enumerate()
            .map(|(i, w)| -(i as f64 - 6.0) * w)
            .sum();
        assert!(
            (moment - 1.0).abs() < 0.01,
            "the moment is about 1: {moment}"
        );
        let out = gpu.blur_with(&vol, &opts).unwrap();
        // Away from every edge (radius 6), the derivative is the slope times the moment.
        let inner = out.slice(s![6..14, 6..15, 6..16]).to_owned();
        let expected = Array3::from_elem(inner.raw_dim(), slope[axis] * moment);
        assert_close(&inner, &expected, 1e-5);
    }
}

#[test]
fn the_family_on_device_resident_volumes_equals_the_host_calls() {
    let Some(gpu) = gpu() else { return };
    let vol = random_volume((10, 12, 16), 41);
    let opts = BlurOptions::new([1.0, 1.5, 2.0]).mode(Mode::Wrap);
    let on_gpu = gpu.upload(&vol).unwrap();
    for filter in [
        Filter::Laplace,
        Filter::GradientMagnitude,
        Filter::Gradient,
        Filter::Hessian,
    ] {
        let resident = gpu.filter_volume(&on_gpu, &opts, filter).unwrap();
        let host = gpu.filter(&vol, &opts, filter).unwrap();
        assert_eq!(resident.len(), filter.outputs());
        for (r, h) in resident.iter().zip(&host) {
            assert_eq!(&gpu.download(r).unwrap(), h, "{filter:?}");
        }
    }
    // The input is left as it is.
    assert_eq!(gpu.download(&on_gpu).unwrap(), vol);
    // Outputs that are the input (every axis skipped) are copies of their own.
    let none = BlurOptions::new(0.0);
    let copies = gpu.filter_volume(&on_gpu, &none, Filter::Gradient).unwrap();
    for c in &copies {
        assert_eq!(gpu.download(c).unwrap(), vol);
    }
    let mut blurred = gpu.upload(&vol).unwrap();
    gpu.blur_volume(&mut blurred, &opts.clone().orders([1, 0, 2]))
        .unwrap();
    assert_eq!(
        gpu.download(&blurred).unwrap(),
        gpu.blur_with(&vol, &opts.orders([1, 0, 2])).unwrap()
    );
}

#[test]
fn slabs_give_the_family_the_one_piece_result() {
    let Some(one_piece) = gpu() else { return };
    let vol = random_volume((40, 12, 16), 42);
    // Room for about 9 planes: slabs of a few output planes each.
    let small = GpuBlur::try_new()
        .unwrap()
        .with_max_slab_bytes(9 * 12 * 16 * 4);
    let cases = [
        (Filter::Hessian, BlurOptions::new(1.0).mode(Mode::Wrap)),
        (Filter::GradientMagnitude, BlurOptions::new([1.0, 2.0, 1.0])),
        // Per-axis modes: the Laplacian's terms mix modes along axis 0.
        (
            Filter::Laplace,
            BlurOptions::new(1.0).modes([Mode::Mirror, Mode::Nearest, Mode::Constant(2.0)]),
        ),
    ];
    for (filter, opts) in cases {
        let a = small.filter(&vol, &opts, filter).unwrap();
        let b = one_piece.filter(&vol, &opts, filter).unwrap();
        for (x, y) in a.iter().zip(&b) {
            assert_same(x, y);
        }
    }
    // Wrap on axis 0 for one term and another mode for the others has no common halo.
    let mixed = BlurOptions::new(1.0).modes([Mode::Wrap, Mode::Reflect, Mode::Reflect]);
    assert_eq!(
        small.filter(&vol, &mixed, Filter::Laplace).unwrap_err(),
        BlurError::MixedModesInSlabs {
            filter: "gaussian_laplace"
        }
    );
    // ... which a volume that fits one buffer does not need.
    assert!(one_piece.filter(&vol, &mixed, Filter::Laplace).is_ok());
}

#[test]
fn truncating_passes_match_the_cpu_twin() {
    let Some(gpu) = gpu() else { return };
    let vol = random_volume((8, 9, 10), 43).mapv(|v| (v * 200.0).floor());
    for filter in [Filter::Gaussian, Filter::Laplace] {
        let opts = BlurOptions::new([1.0, 0.0, 2.0]).truncate_each_pass(true);
        let gpu_out = gpu.filter(&vol, &opts, filter).unwrap();
        let cpu_out = cpu::filter(&vol, &opts, filter).unwrap();
        // Integers either way; f32 sums may land on the other side of an integer now and then.
        let (mut differ, mut worst) = (0, 0.0f64);
        for (g, c) in gpu_out[0].iter().zip(&cpu_out[0]) {
            assert_eq!(f64::from(*g).fract(), 0.0);
            let d = (f64::from(*g) - c).abs();
            differ += usize::from(d > 0.0);
            worst = worst.max(d);
        }
        assert!(worst <= 1.0, "{filter:?}: off by {worst}");
        assert!(
            differ * 100 <= vol.len(),
            "{filter:?}: {differ} voxels differ"
        );
    }
    // A pass of radius 0 truncates too, as scipy's (sigma 0.01: one weight of 1), and the next
    // pass reads the truncated values.
    let halves = Array3::from_shape_fn((6, 5, 4), |(i, j, k)| (i + j + k) as f32 + 0.5);
    for sigma in [[0.01, 0.0, 0.0], [0.01, 1.0, 0.0]] {
        let opts = BlurOptions::new(sigma).truncate_each_pass(true);
        let expected = cpu::filter(
            &halves.mapv(f32::floor),
            &opts.clone().truncate_each_pass(true),
            Filter::Gaussian,
        )
        .unwrap()
        .remove(0);
        let out: Array3<i32> = gpu.blur_as(&halves, &opts).unwrap();
        let cpu_out = cpu::filter(&halves, &opts, Filter::Gaussian)
            .unwrap()
            .remove(0);
        assert_eq!(
            cpu_out, expected,
            "{sigma:?}: the reference truncates first"
        );
        let worst = out
            .iter()
            .zip(&expected)
            .map(|(&g, &c)| (f64::from(g) - c).abs())
            .fold(0.0, f64::max);
        assert!(worst <= 1.0, "{sigma:?}: off by {worst}");
        if sigma[1] == 0.0 {
            assert_eq!(out, halves.mapv(|v| v.floor() as i32), "{sigma:?}");
        }
    }
}

#[test]
fn misuse_is_an_error() {
    let Some(gpu) = gpu() else { return };
    let vol = random_volume((4, 5, 6), 44);
    assert_eq!(
        gpu.gaussian_laplace(&vol, &BlurOptions::new(1.0).order(1))
            .unwrap_err(),
        BlurError::OrderWithDerivatives {
            filter: "gaussian_laplace"
        }
    );
    let mut one = Array3::<f32>::zeros((4, 5, 6));
    assert_eq!(
        gpu.filter_into(
            &vol,
            &BlurOptions::new(1.0),
            Filter::Gradient,
            &mut [one.view_mut()],
            |_, _| {}
        )
        .unwrap_err(),
        BlurError::OutputCount {
            filter: "gaussian_gradient",
            expected: 3,
            given: 1
        }
    );
    // A GpuVolume belongs to the GpuBlur that made it, also once that one is gone.
    let other = GpuBlur::try_new().unwrap();
    let mut foreign = other.upload(&vol).unwrap();
    drop(other);
    assert_eq!(
        gpu.download(&foreign).unwrap_err(),
        BlurError::ForeignVolume
    );
    assert_eq!(
        gpu.blur_volume(&mut foreign, &BlurOptions::new(1.0))
            .unwrap_err(),
        BlurError::ForeignVolume
    );
    assert_eq!(
        gpu.filter_volume(&foreign, &BlurOptions::new(1.0), Filter::Laplace)
            .unwrap_err(),
        BlurError::ForeignVolume
    );
    assert_eq!(
        gpu.copy_passes(&mut foreign, 1).unwrap_err(),
        BlurError::ForeignVolume
    );
    // A sigma scipy skips is skipped whatever the radius: the identity, not NaN.
    let tiny = BlurOptions::new(1e-300).radius([3; 3]);
    assert_eq!(gpu.blur_with(&vol, &tiny).unwrap(), vol);
    assert_eq!(cpu::separable(&vol, &tiny).unwrap(), vol.mapv(f64::from));
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        rng_seed: proptest::test_runner::RngSeed::Fixed(20_261_201),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Random orders, sigmas, modes and shapes against the direct 3D convolution.
    #[test]
    fn random_derivatives_match_full3d(
        shape in (1usize..9, 1usize..9, 1usize..9),
        sigma in prop::array::uniform3(0.0f64..3.0),
        orders in prop::array::uniform3(0u32..4),
        mode in 0usize..5,
        seed in any::<u64>(),
    ) {
        let Some(gpu) = gpu() else { return Ok(()) };
        let vol = random_volume(shape, seed);
        let mode = modes()[mode].1;
        let opts = BlurOptions::new(sigma).orders(orders).mode(mode);
        let expected = cpu::full3d(&vol, &opts).unwrap();
        let input = vol.mapv(f64::from);
        assert_close(
            &gpu.blur_with(&vol, &opts).unwrap(),
            &expected,
            tolerance(&input, &opts, &[orders]),
        );
    }
}
