//! The tuner: each class of passes a call needs is timed in every family on the device and runs
//! in the fastest, a choice shared by every `GpuBlur` on the adapter and kept on disk; forced or
//! off, every pass runs in the family asked for. Results agree with the references either way.

use blur3d::{BlurOptions, GpuBlur, PassFamily, Tuned, cpu};

use crate::common::{FAMILIES, GPU_TOL, assert_close, assert_same, gpu, ran_in, random_volume};

/// The f32 decision for passes along `axis` of `radius`.
#[track_caller]
fn decision(tuning: &[Tuned], axis: usize, radius: u32) -> Tuned {
    *tuning
        .iter()
        .find(|t| {
            t.class.axis == axis
                && t.class.radii.0 <= radius
                && radius <= t.class.radii.1
                && !t.class.f64
        })
        .unwrap_or_else(|| panic!("no decision for axis {axis} radius {radius}: {tuning:?}"))
}

#[test]
fn tuning_times_every_family_per_class_and_keeps_the_clearly_fastest() {
    if gpu().is_none() {
        return;
    }
    let tuned = GpuBlur::try_new().unwrap().with_tuning(true);
    // Rows of a multiple of 4: every axis's passes are the GPU family's to take.
    let vol = random_volume((20, 24, 28), 41);
    let opts = BlurOptions::new([1.0, 2.0, 5.0]);
    let got = tuned.blur_with(&vol, &opts).unwrap();
    assert_close(&got, &cpu::full3d(&vol, &opts).unwrap(), GPU_TOL);
    let tuning = tuned.tuning();
    for (axis, radius) in [(0, 4), (1, 8), (2, 20)] {
        let t = decision(&tuning, axis, radius);
        // Every family timed (a software adapter has what each needs).
        let times: Vec<_> = t.times.iter().map(|d| d.expect("timed")).collect();
        assert!(times.iter().all(|d| !d.is_zero()), "{t}");
        // The fastest, or the device's own family when the fastest is not 10% faster (the
        // decision may come from the cache, made by a blur of another own family).
        let best = *times.iter().min().unwrap();
        assert!(times[t.family as usize] * 9 <= best * 10, "{t}");
    }
    // Another blur on the adapter shares the choices, and gives the same bits.
    let other = GpuBlur::try_new().unwrap().with_tuning(true);
    assert_eq!(other.tuning(), tuned.tuning());
    assert_same(&other.blur_with(&vol, &opts).unwrap(), &got);
    // Where one family won every class, the result is that family's, to the bit.
    let forced = |family| {
        GpuBlur::try_new()
            .unwrap()
            .with_pass_family(family)
            .blur_with(&vol, &opts)
            .unwrap()
    };
    let families: Vec<PassFamily> = [(0, 4), (1, 8), (2, 20)]
        .iter()
        .map(|&(axis, radius)| decision(&tuning, axis, radius).family)
        .collect();
    if families.iter().all(|&f| f == families[0]) {
        assert_same(&got, &forced(families[0]));
    }
}

#[test]
fn forced_or_off_runs_every_pass_in_the_family_asked_for() {
    if gpu().is_none() {
        return;
    }
    let vol = random_volume((9, 12, 16), 42);
    let opts = BlurOptions::new([1.0, 2.0, 3.0]);
    for family in FAMILIES {
        let g = GpuBlur::try_new().unwrap().with_pass_family(family);
        assert_eq!(g.pass_family(), family);
        let before = g.passes_run();
        g.blur_with(&vol, &opts).unwrap();
        let ran = FAMILIES.map(|f| ran_in(before, g.passes_run(), f));
        let mut expected = [0; 3];
        expected[family as usize] = 3;
        assert_eq!(ran, expected, "{family:?}");
    }
    let off = GpuBlur::try_new().unwrap().with_tuning(false);
    let before = off.passes_run();
    off.blur_with(&vol, &opts).unwrap();
    assert_eq!(ran_in(before, off.passes_run(), off.pass_family()), 3);
}

#[test]
fn tuning_times_in_plane_pairs_and_runs_them_as_decided() {
    if gpu().is_none() {
        return;
    }
    let tuned = GpuBlur::try_new().unwrap().with_tuning(true);
    let vol = random_volume((6, 40, 36), 43);
    // Radii 4 and 8 along axes 1 and 2: a pair whose tile fits.
    let opts = BlurOptions::new([0.0, 1.0, 2.0]);
    let got = tuned.blur_with(&vol, &opts).unwrap();
    assert_close(&got, &cpu::full3d(&vol, &opts).unwrap(), GPU_TOL);
    let pairs = tuned.tuned_pairs();
    let pair = pairs
        .iter()
        .find(|t| t.class.radii == [(3, 5), (6, 11)] && !t.class.f64)
        .unwrap_or_else(|| panic!("no decision for the pair: {pairs:?}"));
    assert!(pair.times.iter().all(|t| !t.is_zero()), "{pair}");
    assert_eq!(pair.fused, pair.times[0] * 10 < pair.times[1] * 9, "{pair}");
    // The next call runs the pair as decided.
    let before = tuned.passes_run();
    assert_same(&tuned.blur_with(&vol, &opts).unwrap(), &got);
    let after = tuned.passes_run();
    assert_eq!(
        after.plane_pairs - before.plane_pairs,
        u64::from(pair.fused),
        "{pair}"
    );
    // Off, the pair runs only where both passes are the tile family's: never on the devices'
    // own families.
    let off = GpuBlur::try_new().unwrap().with_tuning(false);
    let before = off.passes_run();
    off.blur_with(&vol, &opts).unwrap();
    let fused = u64::from(off.pass_family() == PassFamily::Tile);
    assert_eq!(off.passes_run().plane_pairs - before.plane_pairs, fused);
}
