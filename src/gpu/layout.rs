//! How a volume lies in a storage buffer.
//!
//! Planes whose size is a multiple of 4 KiB (256 x 256 f32, 512 x 512, ...) put the voxels of
//! one column along axis 0 at addresses a power of two apart: they all fall in the same cache
//! set, and the axis-0 pass, whose window holds 2 radius + RUN of them, thrashes the cache (on
//! lavapipe it cost 1.7x the other passes at sigma 8). Such volumes get one spare row after
//! every plane on the GPU in the CPU family's passes; the passes never read it into a voxel of
//! the volume. The GPU family's device is assumed to hash its addresses (GPUs do), and its
//! volumes lie dense: one readback copy instead of one per plane.
//!
//! Voxels lie in the buffer as the element type the passes compute in ([`Real`]).

/// The element type of a volume on the device, which its passes compute in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Real {
    /// f32.
    F32,
    /// f64 (devices with `SHADER_F64`).
    F64,
    /// Double-single: a pair of f32 (hi, lo) holding hi + lo (devices without f64).
    Ds,
}

impl Real {
    /// Bytes of one element.
    pub fn size(self) -> usize {
        match self {
            Real::F32 => 4,
            Real::F64 | Real::Ds => 8,
        }
    }
}

/// `volumes` volumes of `shape` one after the other, whose planes lie `rows` rows apart in
/// their buffer (`rows` is `shape[1]` or `shape[1] + 1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    pub shape: [usize; 3],
    pub rows: usize,
    /// Volumes side by side (a batch); passes along axis 0 stop at each one's ends.
    pub volumes: usize,
    /// The element type.
    pub real: Real,
    /// Double-single volumes hold the host's values times 2^-`exp` (a power of two, so exact):
    /// the largest then lies in [1, 2), within the range f32 pairs and their products take.
    pub exp: i32,
}

impl Layout {
    /// The layout of a volume of `shape` with `spare_rows` (the CPU family's): one spare row per
    /// plane when a plane is a multiple of 4 KiB of f32 and a row a whole number of 4-byte words
    /// of any voxel type (packed integers are uploaded in the same layout), dense otherwise;
    /// elements of `real`.
    pub fn new(shape: [usize; 3], spare_rows: bool, real: Real) -> Self {
        let plane = shape[1] * shape[2];
        let spare =
            spare_rows && plane > 0 && plane.is_multiple_of(1024) && shape[2].is_multiple_of(4);
        Layout {
            shape,
            rows: shape[1] + usize::from(spare),
            volumes: 1,
            real,
            exp: 0,
        }
    }

    /// The layout with spare rows where they pay, the larger of the two: what a block of
    /// `shape` takes at most in elements of `real`.
    pub fn for_shape(shape: [usize; 3], real: Real) -> Self {
        Self::new(shape, true, real)
    }

    /// `volumes` volumes of `shape` side by side, each as [`Layout::new`] lays it.
    pub fn batch(shape: [usize; 3], volumes: usize, spare_rows: bool, real: Real) -> Self {
        Layout {
            volumes,
            ..Self::new(shape, spare_rows, real)
        }
    }

    /// Voxels from one plane to the next in the buffer.
    pub fn pitch(&self) -> usize {
        self.rows * self.shape[2]
    }

    /// Voxels of one plane of the volume.
    pub fn plane(&self) -> usize {
        self.shape[1] * self.shape[2]
    }

    /// Elements of the buffer, spare rows included.
    pub fn len(&self) -> usize {
        self.volumes * self.shape[0] * self.pitch()
    }

    /// Bytes of `voxels` elements.
    pub fn bytes_of(&self, voxels: usize) -> u64 {
        (voxels * self.real.size()) as u64
    }

    /// Bytes of the buffer.
    pub fn bytes(&self) -> u64 {
        self.bytes_of(self.len())
    }

    /// Bytes of the buffer seen as whole vec4s of its element type (the vec4 views).
    pub fn quad_bytes(&self) -> u64 {
        self.bytes_of(self.len().next_multiple_of(4))
    }

    /// The shape of one volume in the buffer: the spare row counted as a row.
    pub fn buffer_shape(&self) -> [usize; 3] {
        [self.shape[0], self.rows, self.shape[2]]
    }

    /// Whether the planes lie back to back.
    pub fn is_dense(&self) -> bool {
        self.rows == self.shape[1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_of_two_planes_get_a_spare_row() {
        let f32 = |shape| Layout::for_shape(shape, Real::F32);
        assert_eq!(f32([256, 256, 256]).rows, 257);
        assert_eq!(f32([3, 32, 32]).pitch(), 33 * 32);
        for dense in [[256, 256, 257], [10, 20, 30], [4, 1024, 2], [1, 1, 1]] {
            assert!(f32(dense).is_dense(), "{dense:?}");
        }
        let l = f32([2, 32, 32]);
        assert_eq!(
            (l.len(), l.bytes(), l.plane()),
            (2 * 33 * 32, 2 * 33 * 32 * 4, 1024)
        );
        let d = Layout::for_shape([1, 1, 5], Real::F64);
        assert_eq!((d.bytes(), d.quad_bytes()), (40, 64));
        // Without spare rows (the GPU family), every layout is dense.
        assert!(Layout::new([256, 256, 256], false, Real::F32).is_dense());
        assert_eq!(
            Layout::batch([3, 32, 32], 2, false, Real::F64).len(),
            2 * 3 * 32 * 32
        );
    }
}
