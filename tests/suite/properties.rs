//! Property test: random shapes, sigmas and modes, GPU against `cpu::full3d`.
//! The seed is fixed so CI runs the same cases every time; `PROPTEST_CASES` runs more.

use blur3d::{BlurOptions, Mode, cpu};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

use crate::common::{GPU_TOL, assert_close, gpu, random_volume};

fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![
        Just(Mode::Reflect),
        Just(Mode::Mirror),
        Just(Mode::Nearest),
        Just(Mode::Wrap),
        (-1.0f32..2.0).prop_map(Mode::Constant),
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
