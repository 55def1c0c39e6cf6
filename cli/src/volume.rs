//! A volume as read from a file: its voxels in one of the element types the formats hold, the
//! voxel spacing when the file has one, and the header to write back.

use ndarray::{Array3, ArrayView3};

use crate::formats::Meta;

/// The element types blur3d reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    U64,
    I64,
    F32,
    F64,
}

impl DType {
    pub const ALL: [DType; 10] = [
        DType::U8,
        DType::I8,
        DType::U16,
        DType::I16,
        DType::U32,
        DType::I32,
        DType::U64,
        DType::I64,
        DType::F32,
        DType::F64,
    ];

    /// Short name: `u8`, `f32`...
    pub fn name(self) -> &'static str {
        match self {
            DType::U8 => "u8",
            DType::I8 => "i8",
            DType::U16 => "u16",
            DType::I16 => "i16",
            DType::U32 => "u32",
            DType::I32 => "i32",
            DType::U64 => "u64",
            DType::I64 => "i64",
            DType::F32 => "f32",
            DType::F64 => "f64",
        }
    }

    /// numpy's name: `uint8`, `float32`...
    pub fn numpy_name(self) -> &'static str {
        match self {
            DType::U8 => "uint8",
            DType::I8 => "int8",
            DType::U16 => "uint16",
            DType::I16 => "int16",
            DType::U32 => "uint32",
            DType::I32 => "int32",
            DType::U64 => "uint64",
            DType::I64 => "int64",
            DType::F32 => "float32",
            DType::F64 => "float64",
        }
    }
}

/// An element type of a volume: how a blurred value (f64) becomes one.
pub trait Element: Copy + Send + Sync + 'static {
    /// Integers: rounded to nearest with halves away from zero, then clamped to the type's
    /// range, NaN becoming 0 (as the library's `Voxel::from_f32` and `GpuBlur::blur_as`).
    /// Floats: converted.
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
}

macro_rules! integer_element {
    ($($t:ty),*) => {$(
        impl Element for $t {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            fn from_f64(v: f64) -> Self {
                // `as` from a float saturates at the type's bounds and maps NaN to 0.
                v.round() as $t
            }
            #[allow(clippy::cast_precision_loss, clippy::cast_lossless)]
            fn to_f64(self) -> f64 {
                self as f64
            }
        }
    )*};
}

integer_element!(u8, i8, u16, i16, u32, i32, u64, i64);

impl Element for f32 {
    #[allow(clippy::cast_possible_truncation)]
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

impl Element for f64 {
    fn from_f64(v: f64) -> Self {
        v
    }
    fn to_f64(self) -> f64 {
        self
    }
}

/// Voxels of any element type, in the file's axis order (any memory layout).
#[derive(Clone, Debug, PartialEq)]
pub enum Voxels {
    U8(Array3<u8>),
    I8(Array3<i8>),
    U16(Array3<u16>),
    I16(Array3<i16>),
    U32(Array3<u32>),
    I32(Array3<i32>),
    U64(Array3<u64>),
    I64(Array3<i64>),
    F32(Array3<f32>),
    F64(Array3<f64>),
}

/// Runs `$body` with `$a` bound to the array inside a [`Voxels`], whatever its type.
macro_rules! with_voxels {
    ($v:expr, $a:ident => $body:expr) => {
        match $v {
            $crate::volume::Voxels::U8($a) => $body,
            $crate::volume::Voxels::I8($a) => $body,
            $crate::volume::Voxels::U16($a) => $body,
            $crate::volume::Voxels::I16($a) => $body,
            $crate::volume::Voxels::U32($a) => $body,
            $crate::volume::Voxels::I32($a) => $body,
            $crate::volume::Voxels::U64($a) => $body,
            $crate::volume::Voxels::I64($a) => $body,
            $crate::volume::Voxels::F32($a) => $body,
            $crate::volume::Voxels::F64($a) => $body,
        }
    };
}
pub(crate) use with_voxels;

impl Voxels {
    pub fn dtype(&self) -> DType {
        match self {
            Voxels::U8(_) => DType::U8,
            Voxels::I8(_) => DType::I8,
            Voxels::U16(_) => DType::U16,
            Voxels::I16(_) => DType::I16,
            Voxels::U32(_) => DType::U32,
            Voxels::I32(_) => DType::I32,
            Voxels::U64(_) => DType::U64,
            Voxels::I64(_) => DType::I64,
            Voxels::F32(_) => DType::F32,
            Voxels::F64(_) => DType::F64,
        }
    }

    pub fn shape(&self) -> [usize; 3] {
        with_voxels!(self, a => {
            let (n0, n1, n2) = a.dim();
            [n0, n1, n2]
        })
    }

    /// Bytes the voxels take.
    pub fn byte_len(&self) -> u64 {
        fn bytes<T>(a: &Array3<T>) -> u64 {
            (a.len() * size_of::<T>()) as u64
        }
        with_voxels!(self, a => bytes(a))
    }

    /// The same voxels with the axes in reverse order (no copy).
    pub fn reversed_axes(self) -> Voxels {
        macro_rules! rev {
            ($($v:ident),*) => {
                match self {
                    $(Voxels::$v(a) => Voxels::$v(a.reversed_axes()),)*
                }
            };
        }
        rev!(U8, I8, U16, I16, U32, I32, U64, I64, F32, F64)
    }

    /// Values converted to `dtype` as [`Element::from_f64`] does, keeping the memory layout.
    pub fn from_values<T: Element>(values: ArrayView3<'_, T>, dtype: DType) -> Voxels {
        macro_rules! cast {
            ($variant:ident) => {
                Voxels::$variant(values.mapv(|v| Element::from_f64(v.to_f64())))
            };
        }
        match dtype {
            DType::U8 => cast!(U8),
            DType::I8 => cast!(I8),
            DType::U16 => cast!(U16),
            DType::I16 => cast!(I16),
            DType::U32 => cast!(U32),
            DType::I32 => cast!(I32),
            DType::U64 => cast!(U64),
            DType::I64 => cast!(I64),
            DType::F32 => cast!(F32),
            DType::F64 => cast!(F64),
        }
    }
}

/// A volume and what its file says about it.
#[derive(Debug)]
pub struct Volume {
    /// Voxels in the file's axis order (NIfTI x, y, z; npy axis 0, 1, 2; TIFF z, y, x).
    pub voxels: Voxels,
    /// Millimetres per voxel along each axis, in the same order, when the file says.
    pub spacing: Option<[f64; 3]>,
    /// The header to write back when the output has the same format.
    pub meta: Meta,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_round_half_away_from_zero_and_clamp() {
        assert_eq!(u8::from_f64(2.5), 3);
        assert_eq!(u8::from_f64(3.5), 4);
        assert_eq!(u8::from_f64(2.49), 2);
        assert_eq!(u8::from_f64(-0.6), 0);
        assert_eq!(u8::from_f64(300.0), 255);
        assert_eq!(u8::from_f64(f64::NAN), 0);
        assert_eq!(i16::from_f64(-2.5), -3);
        assert_eq!(i16::from_f64(-2.49), -2);
        assert_eq!(i16::from_f64(-40000.0), i16::MIN);
        assert_eq!(u16::from_f64(65535.4), 65535);
    }

    #[test]
    fn conversion_keeps_fortran_layout() {
        let a = Array3::from_shape_fn((2, 3, 4), |(i, j, k)| (i * 100 + j * 10 + k) as f32);
        let f = a.clone().reversed_axes();
        let v = Voxels::from_values(f.view(), DType::U16);
        let Voxels::U16(u) = v else { panic!() };
        assert_eq!(u.strides(), f.strides());
        assert_eq!(u[[3, 2, 1]], 123);
    }
}
