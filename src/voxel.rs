//! Element types a volume may hold.

pub(crate) mod sealed {
    /// How the GPU path receives a voxel type.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Upload {
        /// Uploaded as it is.
        F32,
        /// Uploaded as it is, packed in 32-bit words, and widened to f32 on the GPU.
        Packed {
            /// 8 or 16.
            bits: u32,
            /// Sign-extended (i16) or not (u8, u16).
            signed: bool,
        },
        /// Converted to f32 on the host (f64: WGSL has no portable f64).
        Host,
    }

    pub trait Sealed {
        const UPLOAD: Upload;
    }
}

use sealed::Upload;

/// A voxel type blur3d accepts: `f32`, `f64`, `u8`, `u16` and `i16`.
///
/// The blur computes in f32 on the GPU and in f64 in the CPU references, whatever the input
/// type. Integer volumes are uploaded as they are (half or a quarter of the bytes of f32) and
/// widened on the GPU.
pub trait Voxel: bytemuck::Pod + Send + Sync + sealed::Sealed {
    /// The value as f64, exactly.
    fn to_f64(self) -> f64;
    /// The value as f32 (rounded for `f64`).
    fn to_f32(self) -> f32;
    /// A blurred value stored in this type: integer types round to nearest (halves away from
    /// zero) and clamp to their range, NaN becomes 0; float types convert.
    fn from_f32(value: f32) -> Self;
    /// The values themselves when they are already f32 (nothing to convert).
    fn as_f32_slice(values: &[Self]) -> Option<&[f32]> {
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
        }
    )*};
}

integer_voxel!(u8: 8, false; u16: 16, false; i16: 16, true);

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
    fn as_f32_slice(values: &[Self]) -> Option<&[f32]> {
        Some(values)
    }
}

impl sealed::Sealed for f64 {
    const UPLOAD: Upload = Upload::Host;
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
    }
}
