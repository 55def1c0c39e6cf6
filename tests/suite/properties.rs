//! Property test: random shapes, sigmas and modes, GPU against `cpu::full3d`.
//! The seed is fixed so CI runs the same cases every time; `PROPTEST_CASES` runs more.

use blur3d::{BlurOptions, Mode, cpu};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

use crate::common::{GPU_TOL, assert_close, assert_same, gpu, random_volume};

fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![
        Just(Mode::Reflect),
        Just(Mode::Mirror),
        Just(Mode::Nearest),
        Just(Mode::Wrap),
        (-1.0f64..2.0).prop_map(Mode::Constant),
    ]
}

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(48);
    Config {
        cases,
        rng_seed: RngSeed::Fixed(0xB1D3_2026),
        failure_persistence: None,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config())]
    #[test]
    fn gpu_equals_full3d(
        shape in (1usize..=24, 1usize..=24, 1usize..=24),
        sigma in prop::array::uniform3(prop_oneof![Just(0.0f64), 0.0f64..=6.0]),
        modes in prop::array::uniform3(mode()),
        seed in any::<u64>(),
    ) {
        let Some(gpu) = gpu() else { return Ok(()) };
        let vol = random_volume(shape, seed);
        let opts = BlurOptions::new(sigma).modes(modes);
        let got = gpu.blur_with(&vol, &opts).unwrap();
        let want = cpu::full3d(&vol, &opts).unwrap();
        // Constant values reach 2 in magnitude; the bound scales with the largest value.
        assert_close(&got, &want, 2.0 * GPU_TOL);
    }
}

proptest! {
    #![proptest_config(Config { cases: config().cases / 2, ..config() })]
    /// Axes longer than a run of outputs, so that interior and border runs meet at random places.
    #[test]
    fn gpu_equals_full3d_long_axes(
        long in 33usize..=110,
        short in (1usize..=5, 1usize..=5),
        long_axis in 0usize..3,
        sigma in prop::array::uniform3(0.0f64..=8.0),
        modes in prop::array::uniform3(mode()),
        seed in any::<u64>(),
    ) {
        let Some(gpu) = gpu() else { return Ok(()) };
        let mut shape = [short.0, short.1, short.0.max(short.1)];
        shape[long_axis] = long;
        let vol = random_volume((shape[0], shape[1], shape[2]), seed);
        let opts = BlurOptions::new(sigma).modes(modes);
        let got = gpu.blur_with(&vol, &opts).unwrap();
        let want = cpu::full3d(&vol, &opts).unwrap();
        assert_close(&got, &want, 2.0 * GPU_TOL);
    }
}

proptest! {
    #![proptest_config(Config { cases: config().cases / 2, ..config() })]
    /// One answer whatever the path, to the bit: random shapes, sigmas and modes, one volume
    /// against the same volume in slabs of a few planes, in a batch beside another, and streamed
    /// plane by plane from a source into a sink.
    #[test]
    fn every_path_gives_the_same_bits(
        shape in (2usize..=40, 1usize..=12, 1usize..=12),
        sigma in prop::array::uniform3(prop_oneof![Just(0.0f64), 0.3f64..=3.0]),
        modes in prop::array::uniform3(mode()),
        seed in any::<u64>(),
    ) {
        let Some(gpu) = gpu() else { return Ok(()) };
        let vol = random_volume(shape, seed);
        let opts = BlurOptions::new(sigma).modes(modes);
        let one = gpu.blur_with(&vol, &opts).unwrap();
        // Slabs: as few planes as the halo allows (two in flight halve the limit).
        let radius = opts.radii().unwrap()[0];
        let plane = shape.1 * shape.2 * 4;
        let slabbed = blur3d::GpuBlur::try_new()
            .unwrap()
            .with_max_slab_bytes((2 * (2 * radius + 2) * plane) as u64);
        match slabbed.blur_with(&vol, &opts) {
            Ok(got) => assert_same(&got, &one),
            Err(e) => panic!("{shape:?} {opts:?}: {e}"),
        }
        let batch = ndarray::stack![ndarray::Axis(0), vol.mapv(|v| v * 0.5), vol.view()];
        let both = gpu.blur_batch(&batch, &opts).unwrap();
        assert_same(&both.index_axis(ndarray::Axis(0), 1), &one);
        let mut out = ndarray::Array3::<f32>::zeros(vol.raw_dim());
        gpu.blur_stream(&mut vol.view(), &mut vec![out.view_mut()], &opts, |_, _| {}).unwrap();
        assert_same(&out, &one);
    }
}

proptest! {
    #![proptest_config(Config { cases: config().cases / 4, ..config() })]
    /// `every_path_gives_the_same_bits` in f64 (natively, or in double-single where the device
    /// has no f64), each path within 1e-12 of the f64 reference.
    #[test]
    fn every_path_gives_the_same_bits_in_f64(
        shape in (2usize..=30, 1usize..=10, 1usize..=10),
        sigma in prop::array::uniform3(prop_oneof![Just(0.0f64), 0.3f64..=3.0]),
        modes in prop::array::uniform3(mode()),
        seed in any::<u64>(),
    ) {
        let Some(gpu) = gpu() else { return Ok(()) };
        let f = random_volume(shape, seed);
        let vol = f.mapv(|v| f64::from(v) + 1e-9 / (1.0 + f64::from(v)));
        let opts = BlurOptions::new(sigma).modes(modes);
        let one: ndarray::Array3<f64> = gpu.blur_as(&vol, &opts).unwrap();
        let want = cpu::full3d(&vol, &opts).unwrap();
        // Constant values reach 2 in magnitude.
        assert_close(&one, &want, 2.0 * 1e-12);
        let radius = opts.radii().unwrap()[0];
        let plane = shape.1 * shape.2 * 8;
        let slabbed = blur3d::GpuBlur::try_new()
            .unwrap()
            .with_max_slab_bytes((2 * (2 * radius + 2) * plane) as u64);
        let got: ndarray::Array3<f64> = slabbed.blur_as(&vol, &opts).unwrap();
        assert_same(&got, &one);
        let batch = ndarray::stack![ndarray::Axis(0), vol.mapv(|v| v * 0.5), vol.view()];
        let mut both = ndarray::Array4::<f64>::zeros(batch.raw_dim());
        gpu.filter_batch_into(&batch, &opts, blur3d::Filter::Gaussian, &mut [both.view_mut()], |_, _| {})
            .unwrap();
        assert_same(&both.index_axis(ndarray::Axis(0), 1), &one);
        let mut out = ndarray::Array3::<f64>::zeros(vol.raw_dim());
        gpu.blur_stream(&mut vol.view(), &mut vec![out.view_mut()], &opts, |_, _| {}).unwrap();
        assert_same(&out, &one);
    }
}
