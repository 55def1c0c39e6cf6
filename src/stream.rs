//! Volumes read and written plane by plane, for volumes larger than memory: [`PlaneSource`] and
//! [`PlaneSink`], which [`GpuBlur::blur_stream`](crate::GpuBlur::blur_stream) and
//! [`GpuBlur::filter_stream`](crate::GpuBlur::filter_stream) drive slab by slab.
//!
//! Host memory is bounded by the slabs in flight, never by the volume: a slab's input planes
//! (its halo included), its staging buffers, and one slab of each output, twice (two slabs are
//! in flight). The halo planes are read once per slab that needs them.

use ndarray::{ArrayView3, ArrayViewMut2, ArrayViewMut3, Axis};

use crate::Voxel;

/// A volume that hands out its planes along axis 0 on request.
///
/// Planes are asked for mostly in increasing order, a slab at a time; the planes of a slab's
/// halo are asked for again by the next slab, and at the volume's ends the mode may ask for
/// planes near the edge out of order. Sources backed by chunked storage should keep the chunks
/// of the last slab at hand.
pub trait PlaneSource {
    /// The voxel type of the planes.
    type Voxel: Voxel;

    /// The volume's shape, in ndarray axis order.
    fn shape(&self) -> [usize; 3];

    /// Reads plane `index` (along axis 0) into `plane`, an array of `[shape[1], shape[2]]`.
    ///
    /// # Errors
    /// What the storage reports; the blur stops and returns it as
    /// [`BlurError::Io`](crate::BlurError::Io).
    fn read_plane(
        &mut self,
        index: usize,
        plane: ArrayViewMut2<'_, Self::Voxel>,
    ) -> std::io::Result<()>;
}

/// Where the planes of a filter's outputs go, in order, a slab at a time.
pub trait PlaneSink {
    /// The voxel type the planes are stored in (converted as
    /// [`GpuBlur::blur_as`](crate::GpuBlur::blur_as) converts).
    type Voxel: Voxel;

    /// Receives planes `first .. first + planes.len_of(Axis(0))` of output `output` (0 for the
    /// Gaussian, the Laplacian and the gradient magnitude; the component for the gradient and
    /// the Hessian). Each output's planes come in increasing order, each plane once.
    ///
    /// # Errors
    /// What the storage reports (a full disk, say); the blur stops and returns it as
    /// [`BlurError::Io`](crate::BlurError::Io).
    fn write_planes(
        &mut self,
        output: usize,
        first: usize,
        planes: ArrayView3<'_, Self::Voxel>,
    ) -> std::io::Result<()>;
}

impl<A: Voxel> PlaneSource for ArrayView3<'_, A> {
    type Voxel = A;

    fn shape(&self) -> [usize; 3] {
        crate::cpu::shape_of(self)
    }

    fn read_plane(&mut self, index: usize, mut plane: ArrayViewMut2<'_, A>) -> std::io::Result<()> {
        plane.assign(&self.index_axis(Axis(0), index));
        Ok(())
    }
}

impl<B: Voxel> PlaneSink for ArrayViewMut3<'_, B> {
    type Voxel = B;

    fn write_planes(
        &mut self,
        output: usize,
        first: usize,
        planes: ArrayView3<'_, B>,
    ) -> std::io::Result<()> {
        if output != 0 {
            return Err(std::io::Error::other(format!(
                "an array sink takes one output, not output {output}: use a Vec of arrays"
            )));
        }
        let n = planes.len_of(Axis(0));
        if first + n > self.len_of(Axis(0)) || self.shape()[1..] != planes.shape()[1..] {
            return Err(std::io::Error::other(format!(
                "planes {first}..{} of shape {:?} do not fit the sink's array of shape {:?}: \
                 give an array of the volume's shape",
                first + n,
                &planes.shape()[1..],
                self.shape()
            )));
        }
        self.slice_mut(ndarray::s![first..first + n, .., ..])
            .assign(&planes);
        Ok(())
    }
}

impl<B: Voxel> PlaneSink for Vec<ArrayViewMut3<'_, B>> {
    type Voxel = B;

    fn write_planes(
        &mut self,
        output: usize,
        first: usize,
        planes: ArrayView3<'_, B>,
    ) -> std::io::Result<()> {
        let count = self.len();
        let Some(out) = self.get_mut(output) else {
            return Err(std::io::Error::other(format!(
                "output {output} of a sink of {count} arrays: give one array per output"
            )));
        };
        out.write_planes(0, first, planes)
    }
}
