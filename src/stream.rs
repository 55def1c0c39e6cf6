//! Volumes read and written plane by plane, for volumes larger than memory: [`PlaneSource`] and
//! [`PlaneSink`], which [`GpuBlur::blur_stream`](crate::GpuBlur::blur_stream) and
//! [`GpuBlur::filter_stream`](crate::GpuBlur::filter_stream) drive slab by slab.
//!
//! Host memory is bounded by the blocks in flight, never by the volume: a block's input (its
//! halo included), its staging buffers, and one block of each output, twice (two blocks are in
//! flight). A block is a slab of whole planes along axis 0, or, when planes are too large for a
//! slab as deep as the kernel (or the sink takes tiles), a tile of rows of a slab: then a sink
//! that takes whole planes gets them gathered from the tiles (one slab of planes per output),
//! and a sink that takes tiles ([`PlaneSink::tiles`]) gets the tiles, so that memory depends on
//! the tile, not the plane. Halo planes and rows are read once per block that needs them.
//!
//! A volume of planes `n1 x n2` blurred with radii `r0, r1` along axes 0 and 1 in blocks of
//! `b` bytes (the cap of [`GpuBlur::with_max_slab_bytes`](crate::GpuBlur::with_max_slab_bytes)
//! halved, or half the device's buffer limit) holds about `2 b` of input and `2 b x outputs` of
//! staging and output on the GPU, and on the host the blocks' voxels (input and output, as the
//! source's and sink's types) plus what the source and the sink keep.

use ndarray::{Array2, ArrayView3, ArrayViewMut2, ArrayViewMut3, Axis};

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

    /// Reads rows `rows` (along axis 1), every column, of planes `planes` (along axis 0) into
    /// `block`, an array of `[planes.len(), rows.len(), shape[2]]`. Indices come in increasing
    /// order but at the volume's edges, where the mode maps them (repeated or backwards).
    ///
    /// The provided method reads whole planes with [`PlaneSource::read_plane`] and keeps the
    /// rows asked for; sources of chunked storage override it to decode only the chunks the
    /// block touches.
    ///
    /// # Errors
    /// As [`PlaneSource::read_plane`].
    fn read_block(
        &mut self,
        planes: &[usize],
        rows: &[usize],
        mut block: ArrayViewMut3<'_, Self::Voxel>,
    ) -> std::io::Result<()> {
        let [_, n1, n2] = self.shape();
        let whole = rows.len() == n1 && rows.iter().enumerate().all(|(i, &r)| i == r);
        let mut plane = (!whole).then(|| Array2::from_elem((n1, n2), bytemuck::Zeroable::zeroed()));
        let named = |p: usize| {
            move |e: std::io::Error| std::io::Error::new(e.kind(), format!("plane {p}: {e}"))
        };
        for (&p, mut out) in planes.iter().zip(block.outer_iter_mut()) {
            match &mut plane {
                None => self.read_plane(p, out).map_err(named(p))?,
                Some(plane) => {
                    self.read_plane(p, plane.view_mut()).map_err(named(p))?;
                    for (&r, mut line) in rows.iter().zip(out.outer_iter_mut()) {
                        line.assign(&plane.row(r));
                    }
                }
            }
        }
        Ok(())
    }
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

    /// `Some([planes, rows])` when the sink takes tiles through [`PlaneSink::write_block`]:
    /// the blur then hands it blocks of rows of planes as they come back, instead of gathering
    /// whole planes, and cuts wide planes into tiles that start at multiples of these steps
    /// where the GPU's buffers allow (a Zarr sink gives its chunk shape, so that every block
    /// completes whole chunks). `None`, the default: whole planes only.
    fn tiles(&self) -> Option<[usize; 2]> {
        None
    }

    /// Receives a block of output `output`: planes `first[0]..`, rows `first[1]..`, every
    /// column. Called only when [`PlaneSink::tiles`] is `Some`; each voxel comes once. Slabs
    /// of planes come in increasing order, and the tiles of a slab in increasing rows.
    ///
    /// # Errors
    /// What the storage reports; the provided method, which a sink that takes tiles replaces,
    /// says that this sink takes whole planes.
    fn write_block(
        &mut self,
        output: usize,
        first: [usize; 2],
        block: ArrayView3<'_, Self::Voxel>,
    ) -> std::io::Result<()> {
        let _ = (output, first, block);
        Err(std::io::Error::other(
            "this sink takes whole planes: its tiles() must return None",
        ))
    }
}

impl<A: Voxel> PlaneSource for ArrayView3<'_, A> {
    type Voxel = A;

    fn shape(&self) -> [usize; 3] {
        crate::plan::shape_of(self)
    }

    fn read_plane(&mut self, index: usize, mut plane: ArrayViewMut2<'_, A>) -> std::io::Result<()> {
        plane.assign(&self.index_axis(Axis(0), index));
        Ok(())
    }

    fn read_block(
        &mut self,
        planes: &[usize],
        rows: &[usize],
        mut block: ArrayViewMut3<'_, A>,
    ) -> std::io::Result<()> {
        for (&p, mut out) in planes.iter().zip(block.outer_iter_mut()) {
            let plane = self.index_axis(Axis(0), p);
            for (&r, mut line) in rows.iter().zip(out.outer_iter_mut()) {
                line.assign(&plane.row(r));
            }
        }
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
        self.write_block(0, [first, 0], planes)
    }

    fn tiles(&self) -> Option<[usize; 2]> {
        Some([1, 1])
    }

    fn write_block(
        &mut self,
        output: usize,
        [first, row]: [usize; 2],
        block: ArrayView3<'_, B>,
    ) -> std::io::Result<()> {
        if output != 0 {
            return Err(std::io::Error::other(format!(
                "an array sink takes one output, not output {output}: use a Vec of arrays"
            )));
        }
        let [n, rows, n2] = [0, 1, 2].map(|a| block.len_of(Axis(a)));
        if first + n > self.len_of(Axis(0))
            || row + rows > self.len_of(Axis(1))
            || n2 != self.len_of(Axis(2))
        {
            return Err(std::io::Error::other(format!(
                "a block of shape {:?} at plane {first}, row {row} does not fit the sink's array \
                 of shape {:?}: give an array of the volume's shape",
                block.shape(),
                self.shape()
            )));
        }
        self.slice_mut(ndarray::s![first..first + n, row..row + rows, ..])
            .assign(&block);
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
        self.write_block(output, [first, 0], planes)
    }

    fn tiles(&self) -> Option<[usize; 2]> {
        Some([1, 1])
    }

    fn write_block(
        &mut self,
        output: usize,
        first: [usize; 2],
        block: ArrayView3<'_, B>,
    ) -> std::io::Result<()> {
        let count = self.len();
        let Some(out) = self.get_mut(output) else {
            return Err(std::io::Error::other(format!(
                "output {output} of a sink of {count} arrays: give one array per output"
            )));
        };
        out.write_block(0, first, block)
    }
}
