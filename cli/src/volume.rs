//! Volumes as read from a file: a series of volumes (often of one) in one of the element types
//! the formats hold, the voxel spacing when the file has one, and the header to write back.

use blur3d::Voxel;
use ndarray::Array4;

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

/// An element type of a volume: one of the library's [`Voxel`] types (which gives its value as
/// f64), with how a blurred value (f64) becomes one and which [`Voxels`] variant holds it.
pub trait Element: Voxel + 'static {
    const DTYPE: DType;
    /// The voxels, as the variant of [`Voxels`] that holds this type.
    fn wrap(a: Array4<Self>) -> Voxels;
}

macro_rules! integer_element {
    ($($t:ty => $v:ident),*) => {$(
        impl Element for $t {
            const DTYPE: DType = DType::$v;
            fn wrap(a: Array4<Self>) -> Voxels {
                Voxels::$v(a)
            }
        }
    )*};
}

integer_element!(u8 => U8, i8 => I8, u16 => U16, i16 => I16, u32 => U32, i32 => I32,
                 u64 => U64, i64 => I64);

impl Element for f32 {
    const DTYPE: DType = DType::F32;
    #[allow(clippy::cast_possible_truncation)]
    fn wrap(a: Array4<Self>) -> Voxels {
        Voxels::F32(a)
    }
}

impl Element for f64 {
    const DTYPE: DType = DType::F64;
    fn wrap(a: Array4<Self>) -> Voxels {
        Voxels::F64(a)
    }
}

/// Runs `$body` with the type alias `$t` set to the element type of `$dtype`.
macro_rules! with_dtype {
    ($dtype:expr, $t:ident => $body:expr) => {
        match $dtype {
            $crate::volume::DType::U8 => {
                type $t = u8;
                $body
            }
            $crate::volume::DType::I8 => {
                type $t = i8;
                $body
            }
            $crate::volume::DType::U16 => {
                type $t = u16;
                $body
            }
            $crate::volume::DType::I16 => {
                type $t = i16;
                $body
            }
            $crate::volume::DType::U32 => {
                type $t = u32;
                $body
            }
            $crate::volume::DType::I32 => {
                type $t = i32;
                $body
            }
            $crate::volume::DType::U64 => {
                type $t = u64;
                $body
            }
            $crate::volume::DType::I64 => {
                type $t = i64;
                $body
            }
            $crate::volume::DType::F32 => {
                type $t = f32;
                $body
            }
            $crate::volume::DType::F64 => {
                type $t = f64;
                $body
            }
        }
    };
}
pub(crate) use with_dtype;

/// A series of volumes of any element type: axis 0 counts the volumes (1 for a 3D file), axes
/// 1 to 3 are the file's three spatial axes in its own order, in any memory layout.
#[derive(Clone, Debug, PartialEq)]
pub enum Voxels {
    U8(Array4<u8>),
    I8(Array4<i8>),
    U16(Array4<u16>),
    I16(Array4<i16>),
    U32(Array4<u32>),
    I32(Array4<i32>),
    U64(Array4<u64>),
    I64(Array4<i64>),
    F32(Array4<f32>),
    F64(Array4<f64>),
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
        fn of<T: Element>(_: &Array4<T>) -> DType {
            T::DTYPE
        }
        with_voxels!(self, a => of(a))
    }

    /// `[volumes, n0, n1, n2]`.
    pub fn shape(&self) -> [usize; 4] {
        with_voxels!(self, a => {
            let (t, n0, n1, n2) = a.dim();
            [t, n0, n1, n2]
        })
    }

    /// The same voxels with the three spatial axes in reverse order (no copy).
    pub fn reversed_axes(self) -> Voxels {
        fn rev<T: Element>(a: Array4<T>) -> Voxels {
            T::wrap(a.permuted_axes([0, 3, 2, 1]))
        }
        with_voxels!(self, a => rev(a))
    }

    /// The same voxels with their axes in the order `axes` (no copy).
    pub fn permuted_axes(self, axes: [usize; 4]) -> Voxels {
        fn permute<T: Element>(a: Array4<T>, axes: [usize; 4]) -> Voxels {
            T::wrap(a.permuted_axes(axes))
        }
        with_voxels!(self, a => permute(a, axes))
    }

    /// Zeros of `dtype` with the shape and memory order of `like`.
    pub fn zeros_like<T>(like: &Array4<T>, dtype: DType) -> Voxels {
        fn zeros<T, U: Element>(like: &Array4<T>) -> Voxels {
            // The same strides: allocate in the order of the axes from slowest to fastest, then
            // put the axes back.
            let mut order: [usize; 4] = [0, 1, 2, 3];
            let strides = like.strides();
            order.sort_by_key(|&i| std::cmp::Reverse(strides[i].unsigned_abs()));
            let dim = like.raw_dim();
            let shape = order.map(|i| dim[i]);
            let a = Array4::<U>::from_elem(shape, U::zeroed());
            let mut back = [0; 4];
            for (pos, &axis) in order.iter().enumerate() {
                back[axis] = pos;
            }
            U::wrap(a.permuted_axes(back))
        }
        with_dtype!(dtype, U => zeros::<T, U>(like))
    }
}

impl DType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        with_dtype!(self, T => size_of::<T>())
    }
}

/// A volume and what its file says about it.
#[derive(Debug)]
pub struct Volume {
    /// Voxels in the file's axis order (NIfTI x, y, z; npy axis 0, 1, 2; TIFF z, y, x), after
    /// the series axis.
    pub voxels: Voxels,
    /// Millimetres per voxel along each spatial axis, in the same order, when the file says.
    pub spacing: Option<[f64; 3]>,
    /// Whether the file holds a series (4D) rather than one volume, even a series of one.
    pub series: bool,
    /// The header to write back when the output has the same format.
    pub meta: Meta,
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::ShapeBuilder;

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
    fn zeros_keep_the_memory_order() {
        let like = Array4::<u8>::zeros((2, 3, 4, 5).f()).permuted_axes([3, 0, 1, 2]);
        let Voxels::F32(z) = Voxels::zeros_like(&like, DType::F32) else {
            panic!()
        };
        assert_eq!(z.dim(), like.dim());
        assert_eq!(z.strides(), like.strides());
    }
}
