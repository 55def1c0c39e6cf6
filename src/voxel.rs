//! Element types a volume may hold.

mod sealed {
    pub trait Sealed {}
}

/// A voxel type blur3d accepts: `f32`, `f64`, `u8`, `u16` and `i16`.
///
/// Results are `f32` on the GPU and `f64` in the CPU references, whatever the input type.
pub trait Voxel: Copy + Send + Sync + 'static + sealed::Sealed {
    /// The value as f64, exactly.
    fn to_f64(self) -> f64;
    /// The value as f32 (rounded for `f64`).
    fn to_f32(self) -> f32;
    /// The values themselves when they are already f32 (nothing to convert).
    fn as_f32_slice(values: &[Self]) -> Option<&[f32]> {
        let _ = values;
        None
    }
}

macro_rules! voxel {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl Voxel for $t {
            fn to_f64(self) -> f64 {
                f64::from(self)
            }
            #[allow(clippy::cast_possible_truncation)] // f64 -> f32 rounds; that is the intent
            fn to_f32(self) -> f32 {
                self as f32
            }
        }
    )*};
}

voxel!(f64, u8, u16, i16);

impl sealed::Sealed for f32 {}
impl Voxel for f32 {
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn to_f32(self) -> f32 {
        self
    }
    fn as_f32_slice(values: &[Self]) -> Option<&[f32]> {
        Some(values)
    }
}
