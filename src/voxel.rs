//! Element types a volume may hold.

pub(crate) mod sealed {
    /// How the GPU path receives a voxel type.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Upload {
        /// Uploaded as it is.
        F32,
        /// Uploaded as it is, packed in 32-bit words, and widened on the GPU.
        Packed {
            /// 8 or 16.
            bits: u32,
            /// Sign-extended (i16) or not (u8, u16).
            signed: bool,
        },
        /// f64, uploaded as it is for f64 passes, converted on the host for f32 passes.
        F64,
        /// Converted on the host to the passes' element type (32- and 64-bit integers).
        Host,
    }

    impl Upload {
        /// Whether f32 loses what a user of the type would see (values beyond 24 bits): the
        /// types [`crate::Precision::Auto`] filters in f64.
        pub fn is_wide(self) -> bool {
            matches!(self, Upload::F64 | Upload::Host)
        }
    }

    pub trait Sealed {
        const UPLOAD: Upload;
    }
}

use sealed::Upload;

/// A voxel type blur3d accepts: `f32`, `f64`, and the integers `u8`, `i8`, `u16`, `i16`, `u32`,
/// `i32`, `u64`, `i64` (every type `scipy.ndimage` filters, so that the Python package takes them
/// all).
///
/// The GPU computes in f32 or f64 as [`crate::Precision`] says (by default f64 for `f64` and
/// the 32- and 64-bit integers, f32 for the others), the CPU references in f64. Integers of 8
/// and 16 bits are uploaded as they are (half or a quarter of the bytes of f32) and widened on
/// the GPU; wider ones are converted on the host (integers beyond 2^53 in magnitude round to
/// f64's 53 bits, as scipy's f64 arithmetic rounds them).
pub trait Voxel: bytemuck::Pod + Send + Sync + sealed::Sealed {
    /// The value as f64, exactly.
    fn to_f64(self) -> f64;
    /// The value as f32 (rounded for `f64`).
    fn to_f32(self) -> f32;
    /// A blurred value stored in this type: integer types round to nearest (halves away from
    /// zero) and clamp to their range, NaN becomes 0; float types convert.
    fn from_f32(value: f32) -> Self;
    /// A value of the CPU references stored in this type, by the rule of
    /// [`Voxel::from_f32`].
    fn from_f64(value: f64) -> Self;
    /// The values themselves when they are already f32 (nothing to convert).
    fn as_f32_slice(values: &[Self]) -> Option<&[f32]> {
        let _ = values;
        None
    }
    /// The values themselves when they are already f64 (nothing to convert).
    fn as_f64_slice(values: &[Self]) -> Option<&[f64]> {
        let _ = values;
        None
    }
}

macro_rules! integer_voxel {
    ($($t:ty: $bits:expr, $signed:expr);*) => {$(
        impl sealed::Sealed for $t {
            const UPLOAD: Upload = Upload::Packed { bits: $bits, signed: $signed };
        }
        impl Voxel for $t {
            fn to_f64(self) -> f64 {
                f64::from(self)
            }
            fn to_f32(self) -> f32 {
                f32::from(self)
            }
            #[allow(clippy::cast_possible_truncation)] // rounded and clamped first
            fn from_f32(value: f32) -> Self {
                // `as` saturates and maps NaN to 0.
                value.round() as $t
            }
            #[allow(clippy::cast_possible_truncation)] // rounded and clamped first
            fn from_f64(value: f64) -> Self {
                value.round() as $t
            }
        }
    )*};
}

integer_voxel!(u8: 8, false; i8: 8, true; u16: 16, false; i16: 16, true);

/// Integers wider than 16 bits: converted on the host (f64 by default, [`crate::Precision`]).
macro_rules! wide_integer_voxel {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {
            const UPLOAD: Upload = Upload::Host;
        }
        impl Voxel for $t {
            #[allow(clippy::cast_precision_loss)] // exact up to 2^53, as f64 holds integers
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[allow(clippy::cast_precision_loss)] // the GPU computes in f32
            fn to_f32(self) -> f32 {
                self as f32
            }
            #[allow(clippy::cast_possible_truncation)] // rounded and clamped first
            fn from_f32(value: f32) -> Self {
                // `as` saturates and maps NaN to 0.
                value.round() as $t
            }
            #[allow(clippy::cast_possible_truncation)] // rounded and clamped first
            fn from_f64(value: f64) -> Self {
                value.round() as $t
            }
        }
    )*};
}

wide_integer_voxel!(u32, i32, u64, i64);

impl sealed::Sealed for f32 {
    const UPLOAD: Upload = Upload::F32;
}

impl Voxel for f32 {
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn to_f32(self) -> f32 {
        self
    }
    fn from_f32(value: f32) -> Self {
        value
    }
    #[allow(clippy::cast_possible_truncation)] // f64 -> f32 rounds; that is the intent
    fn from_f64(value: f64) -> Self {
        value as f32
    }
    fn as_f32_slice(values: &[Self]) -> Option<&[f32]> {
        Some(values)
    }
}

impl sealed::Sealed for f64 {
    const UPLOAD: Upload = Upload::F64;
}

impl Voxel for f64 {
    fn to_f64(self) -> f64 {
        self
    }
    #[allow(clippy::cast_possible_truncation)] // f64 -> f32 rounds; that is the intent
    fn to_f32(self) -> f32 {
        self as f32
    }
    fn from_f32(value: f32) -> Self {
        f64::from(value)
    }
    fn from_f64(value: f64) -> Self {
        value
    }
    fn as_f64_slice(values: &[Self]) -> Option<&[f64]> {
        Some(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_round_half_away_from_zero_and_clamp() {
        assert_eq!(u8::from_f32(2.5), 3);
        assert_eq!(u8::from_f32(2.49), 2);
        assert_eq!(u8::from_f32(-3.0), 0);
        assert_eq!(u8::from_f32(300.0), 255);
        assert_eq!(u16::from_f32(65535.6), 65535);
        assert_eq!(i16::from_f32(-2.5), -3);
        assert_eq!(i16::from_f32(-40000.0), i16::MIN);
        assert_eq!(i16::from_f32(f32::NAN), 0);
        assert_eq!(f64::from_f32(0.1f32), f64::from(0.1f32));
        assert_eq!(i8::from_f32(-200.0), i8::MIN);
        assert_eq!(i8::from_f32(-1.5), -2);
        assert_eq!(u32::from_f32(-1.0), 0);
        assert_eq!(u32::from_f32(7.5), 8);
        assert_eq!(i32::from_f32(-7.5), -8);
        assert_eq!(u64::from_f32(1e30), u64::MAX);
        assert_eq!(i64::from_f32(f32::NAN), 0);
        assert_eq!(i64::MIN.to_f64(), -(2f64.powi(63)));
        assert_eq!(u32::MAX.to_f32(), 2f32.powi(32));
        // The same rule from f64, to the last bit of the wide types.
        assert_eq!(u8::from_f64(2.5), 3);
        assert_eq!(i16::from_f64(-40000.0), i16::MIN);
        assert_eq!(u32::from_f64(4_294_967_295.4), u32::MAX);
        assert_eq!(i64::from_f64(-1e300), i64::MIN);
        assert_eq!(u64::from_f64(f64::NAN), 0);
        assert_eq!(i32::from_f64(123_456_789.5), 123_456_790);
        assert_eq!(f32::from_f64(0.1), 0.1f32);
    }
}
