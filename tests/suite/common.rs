use std::sync::OnceLock;

use blur3d::{GpuBlur, PassFamily, PassesRun};
use ndarray::{Array3, ArrayBase, Data, Ix3};

/// The shared GPU blur, or `None` (with a note) on a machine without an adapter.
/// In CI (`CI` set) a missing adapter fails the test instead.
pub fn gpu() -> Option<&'static GpuBlur> {
    static GPU: OnceLock<Result<GpuBlur, String>> = OnceLock::new();
    let gpu = GPU.get_or_init(|| {
        let g = GpuBlur::try_new().map_err(|e| e.to_string());
        if let Ok(g) = &g {
            if let Some(info) = g.adapter_info() {
                eprintln!("blur3d tests: adapter {} ({:?})", info.name, info.backend);
            }
        }
        g
    });
    match gpu {
        Ok(g) => Some(g),
        Err(e) if std::env::var_os("CI").is_some() => {
            panic!("CI needs a GPU adapter (a software one will do): {e}")
        }
        Err(e) => {
            eprintln!("SKIPPED: no GPU adapter on this machine ({e})");
            None
        }
    }
}

/// Values in [0, 1) from a fixed seed (splitmix64), so failures reproduce.
pub fn random_volume(shape: (usize, usize, usize), seed: u64) -> Array3<f32> {
    let mut state = seed;
    Array3::from_shape_simple_fn(shape, || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 40) as f32 / (1u64 << 24) as f32
    })
}

/// A float whose bits two paths must agree on.
pub trait Bits: Copy + std::fmt::LowerExp {
    fn bits(self) -> u64;
}

impl Bits for f32 {
    fn bits(self) -> u64 {
        u64::from(self.to_bits())
    }
}

impl Bits for f64 {
    fn bits(self) -> u64 {
        self.to_bits()
    }
}

/// Asserts that two paths to one result agree to the bit (NaN where the other has NaN of the
/// same bits), naming the first voxel where they do not.
#[track_caller]
pub fn assert_same<S, T, F>(actual: &ArrayBase<S, Ix3>, expected: &ArrayBase<T, Ix3>)
where
    S: Data<Elem = F>,
    T: Data<Elem = F>,
    F: Bits,
{
    assert_eq!(actual.shape(), expected.shape(), "shapes differ");
    let differs = actual
        .indexed_iter()
        .find(|&(idx, a)| a.bits() != expected[idx].bits());
    if let Some((idx, a)) = differs {
        panic!(
            "first difference at {idx:?}: got {a:e}, expected {:e} (shape {:?})",
            expected[idx],
            actual.shape()
        );
    }
}

/// Asserts `max |actual - expected| <= tol`, naming the worst voxel and both values.
#[track_caller]
pub fn assert_close<S, T, A, B>(actual: &ArrayBase<S, Ix3>, expected: &ArrayBase<T, Ix3>, tol: f64)
where
    S: Data<Elem = A>,
    T: Data<Elem = B>,
    A: Copy + Into<f64>,
    B: Copy + Into<f64>,
{
    assert_eq!(actual.shape(), expected.shape(), "shapes differ");
    let mut worst: Option<((usize, usize, usize), f64, f64)> = None;
    let mut worst_err = -1.0;
    for (idx, &a) in actual.indexed_iter() {
        let (a, e) = (a.into(), expected[idx].into());
        let err = (a - e).abs();
        if err > worst_err || err.is_nan() {
            worst_err = if err.is_nan() { f64::INFINITY } else { err };
            worst = Some((idx, a, e));
        }
    }
    if let Some((idx, a, e)) = worst {
        assert!(
            worst_err <= tol,
            "max abs error {worst_err:e} > {tol:e} at {idx:?}: got {a}, expected {e} (shape {:?})",
            actual.shape()
        );
    }
}

/// The documented bound for values in [0, 1].
pub const GPU_TOL: f64 = 1e-5;

/// The passes `family` ran between the counts `before` and `after`.
pub fn ran_in(before: PassesRun, after: PassesRun, family: PassFamily) -> u64 {
    let of = |r: PassesRun| match family {
        PassFamily::Cpu => r.cpu_family,
        PassFamily::Gpu => r.gpu_family,
        PassFamily::Tile => r.tile_family,
        _ => panic!("a family the tests do not know: {family:?}"),
    };
    of(after) - of(before)
}

/// Every pass family.
pub const FAMILIES: [PassFamily; 3] = [PassFamily::Cpu, PassFamily::Gpu, PassFamily::Tile];
