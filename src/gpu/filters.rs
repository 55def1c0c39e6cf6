//! The filters of host arrays on the GPU, one way per destination: new arrays
//! ([`GpuBlur::filter`]), the caller's arrays ([`GpuBlur::filter_into`]), a batch of volumes
//! ([`GpuBlur::filter_batch_into`]) and a stream ([`GpuBlur::filter_stream`]). The blur and the
//! derivative filters by name are thin wrappers of these. Device-resident volumes are in
//! `volume.rs`.

use ndarray::{
    Array3, Array4, ArrayBase, ArrayView4, ArrayViewMut3, ArrayViewMut4, Axis, Data, DataMut, Ix3,
    Ix4,
};

use super::{GpuBlur, schedule, transfer};
use crate::plan::{Filter, Plan, into_array, shape_of};
use crate::stream::{PlaneSink, PlaneSource};
use crate::{BlurError, BlurOptions, Sigma, Voxel};

impl GpuBlur {
    /// Any [`Filter`] of `vol`: its [`Filter::outputs`] volumes, in its order.
    ///
    /// # Errors
    /// As [`GpuBlur::gaussian_laplace`].
    pub fn filter<S, A>(
        &self,
        vol: &ArrayBase<S, Ix3>,
        opts: &BlurOptions,
        filter: Filter,
    ) -> Result<Vec<Array3<f32>>, BlurError>
    where
        S: Data<Elem = A>,
        A: Voxel,
    {
        let mut outs: Vec<Array3<f32>> = (0..filter.outputs())
            .map(|_| transfer::fresh_output(shape_of(vol)))
            .collect();
        let mut views: Vec<ArrayViewMut3<'_, f32>> =
            outs.iter_mut().map(|o| o.view_mut()).collect();
        pollster::block_on(self.filter_into_inner(vol, opts, filter, &mut views, &mut |_, _| {}))?;
        Ok(outs)
    }

    /// [`GpuBlur::filter`] into `outs`, arrays of the volume's shape (any layout, any [`Voxel`]
    /// type, converted as [`GpuBlur::blur_as`] does), one per output of the filter, calling
    /// `progress(done, total)` after each slab.
    ///
    /// # Errors
    /// [`BlurError::OutputCount`] when `outs` does not hold one array per output,
    /// [`BlurError::ShapeMismatch`] when a shape differs, and those of [`GpuBlur::filter`].
    pub fn filter_into<S, A, B>(
        &self,
        vol: &ArrayBase<S, Ix3>,
        opts: &BlurOptions,
        filter: Filter,
        outs: &mut [ArrayViewMut3<'_, B>],
        mut progress: impl FnMut(usize, usize),
    ) -> Result<(), BlurError>
    where
        S: Data<Elem = A>,
        A: Voxel,
        B: Voxel,
    {
        pollster::block_on(self.filter_into_inner(vol, opts, filter, outs, &mut progress))
    }

    /// [`GpuBlur::filter_into`] for a batch of volumes (see [`GpuBlur::blur_batch`]): each
    /// output array has the batch's shape.
    ///
    /// # Errors
    /// As [`GpuBlur::filter_into`].
    pub fn filter_batch_into<S, A, B>(
        &self,
        vols: &ArrayBase<S, Ix4>,
        opts: &BlurOptions,
        filter: Filter,
        outs: &mut [ArrayViewMut4<'_, B>],
        mut progress: impl FnMut(usize, usize),
    ) -> Result<(), BlurError>
    where
        S: Data<Elem = A>,
        A: Voxel,
        B: Voxel,
    {
        pollster::block_on(self.filter_batch_inner(vols.view(), opts, filter, outs, &mut progress))
    }

    /// Any [`Filter`] from `source` into `sink`, slab by slab, as [`GpuBlur::blur_stream`];
    /// the sink receives every output's planes.
    ///
    /// # Errors
    /// As [`GpuBlur::blur_stream`].
    pub fn filter_stream<A: Voxel, B: Voxel>(
        &self,
        source: &mut dyn PlaneSource<Voxel = A>,
        sink: &mut dyn PlaneSink<Voxel = B>,
        opts: &BlurOptions,
        filter: Filter,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<(), BlurError> {
        let shape = source.shape();
        let plan = Plan::new(opts, filter, shape, false)?;
        let tiles = sink.tiles();
        let real = self.real_for::<A, B>(opts.precision_asked());
        let mut store = schedule::stream_into(sink, [shape[1], shape[2]]);
        pollster::block_on(self.run(
            schedule::Input::Stream(source),
            (&plan, real),
            &mut store,
            tiles,
            &mut progress,
        ))
    }

    // The conveniences: each a thin wrapper of one of the calls above.

    /// Blurs `vol` with the same `sigma` on every axis (or one per axis) and scipy's defaults:
    /// `Mode::Reflect`, `truncate = 4.0`.
    ///
    /// The result is f32 whatever the input (an `f64` volume is computed in f64 and rounded to
    /// f32 at the end); [`GpuBlur::blur_as`] `::<f64>` keeps f64.
    ///
    /// A thin wrapper: [`GpuBlur::blur_with`] with `BlurOptions::new(sigma)`.
    ///
    /// # Errors
    /// As [`GpuBlur::blur_with`].
    pub fn blur<S, A>(
        &self,
        vol: &ArrayBase<S, Ix3>,
        sigma: impl Into<Sigma>,
    ) -> Result<Array3<f32>, BlurError>
    where
        S: Data<Elem = A>,
        A: Voxel,
    {
        self.blur_with(vol, &BlurOptions::new(sigma))
    }

    /// Blurs `vol` (any 3D array or view, in any memory order, of any [`Voxel`] type) with
    /// `opts`. The result has the input's shape, in standard layout.
    ///
    /// Volumes larger than one storage buffer of the device are blurred in slabs along axis 0,
    /// and planes too large for a slab as deep as the kernel in tiles of rows along axis 1,
    /// with the same result.
    ///
    /// A thin wrapper: [`GpuBlur::filter_into`] with [`Filter::Gaussian`] into a new array.
    ///
    /// # Errors
    /// The validation errors of [`BlurOptions`], [`BlurError::EmptyAxis`],
    /// [`BlurError::VolumeTooLarge`] when not even a block of one row of one plane (plus the
    /// kernel's halo on axes 0 and 1) fits the device, and [`BlurError::OutOfMemory`] or [`BlurError::DeviceLost`] from the GPU.
    pub fn blur_with<S, A>(
        &self,
        vol: &ArrayBase<S, Ix3>,
        opts: &BlurOptions,
    ) -> Result<Array3<f32>, BlurError>
    where
        S: Data<Elem = A>,
        A: Voxel,
    {
        pollster::block_on(self.blur_async(vol, opts))
    }

    /// [`GpuBlur::blur_with`], calling `progress(done, total)` after each slab (a volume that
    /// fits the device is one slab), for a progress bar on long jobs.
    ///
    /// A thin wrapper: [`GpuBlur::filter_into`] with [`Filter::Gaussian`] into a new array.
    ///
    /// # Errors
    /// As [`GpuBlur::blur_with`].
    pub fn blur_with_progress<S, A>(
        &self,
        vol: &ArrayBase<S, Ix3>,
        opts: &BlurOptions,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<Array3<f32>, BlurError>
    where
        S: Data<Elem = A>,
        A: Voxel,
    {
        let mut out = transfer::fresh_output(shape_of(vol));
        pollster::block_on(self.filter_into_inner(
            vol,
            opts,
            Filter::Gaussian,
            &mut [out.view_mut()],
            &mut progress,
        ))?;
        Ok(out)
    }

    /// Blurs `vol` and stores the result as `B`: for integer types rounded to nearest (halves
    /// away from zero) and clamped to the type's range. `gpu.blur_as::<u16>(&vol, &opts)` keeps a
    /// u16 volume u16.
    ///
    /// scipy's `gaussian_filter` with an integer output instead truncates toward zero after
    /// every axis; blur3d keeps its arithmetic (f32, or f64 for the types of
    /// [`crate::Precision::Auto`]) through all passes and rounds once.
    ///
    /// A thin wrapper: [`GpuBlur::filter_into`] with [`Filter::Gaussian`] into a new array of `B`.
    ///
    /// # Errors
    /// As [`GpuBlur::blur_with`].
    pub fn blur_as<B: Voxel>(
        &self,
        vol: &ArrayBase<impl Data<Elem = impl Voxel>, Ix3>,
        opts: &BlurOptions,
    ) -> Result<Array3<B>, BlurError> {
        let mut out = transfer::fresh_output(shape_of(vol));
        self.blur_into(vol, opts, &mut out)?;
        Ok(out)
    }

    /// Blurs `vol` into `out`, an array of the same shape (any layout, any [`Voxel`] type,
    /// converted as [`GpuBlur::blur_as`] does), without allocating the result.
    ///
    /// A thin wrapper: [`GpuBlur::filter_into`] with [`Filter::Gaussian`].
    ///
    /// # Errors
    /// [`BlurError::ShapeMismatch`] when the shapes differ, and those of [`GpuBlur::blur_with`].
    pub fn blur_into<S, A, T, B>(
        &self,
        vol: &ArrayBase<S, Ix3>,
        opts: &BlurOptions,
        out: &mut ArrayBase<T, Ix3>,
    ) -> Result<(), BlurError>
    where
        S: Data<Elem = A>,
        A: Voxel,
        T: DataMut<Elem = B>,
        B: Voxel,
    {
        pollster::block_on(self.filter_into_inner(
            vol,
            opts,
            Filter::Gaussian,
            &mut [out.view_mut()],
            &mut |_, _| {},
        ))
    }

    /// [`GpuBlur::blur_with`] for async callers (the returned future is not `Send`: wgpu's
    /// error scopes belong to the calling thread).
    ///
    /// A thin wrapper: the async form of [`GpuBlur::filter_into`] with [`Filter::Gaussian`] into a new array.
    ///
    /// # Errors
    /// As [`GpuBlur::blur_with`].
    pub async fn blur_async<S, A>(
        &self,
        vol: &ArrayBase<S, Ix3>,
        opts: &BlurOptions,
    ) -> Result<Array3<f32>, BlurError>
    where
        S: Data<Elem = A>,
        A: Voxel,
    {
        let mut out = transfer::fresh_output(shape_of(vol));
        self.filter_into_inner(
            vol,
            opts,
            Filter::Gaussian,
            &mut [out.view_mut()],
            &mut |_, _| {},
        )
        .await?;
        Ok(out)
    }

    /// Blurs each volume of a batch (axis 0 counts the volumes; axes 1, 2, 3 are each volume's
    /// axes 0, 1, 2): a (t, z, y, x) time series, a stack of channels. The volumes go through
    /// the GPU together, as many per upload as fit one buffer, not one round trip each; the
    /// result equals blurring each volume alone.
    ///
    /// A thin wrapper: [`GpuBlur::filter_batch_into`] with [`Filter::Gaussian`] into a new array.
    ///
    /// # Errors
    /// As [`GpuBlur::blur_with`].
    pub fn blur_batch<S, A>(
        &self,
        vols: &ArrayBase<S, Ix4>,
        opts: &BlurOptions,
    ) -> Result<Array4<f32>, BlurError>
    where
        S: Data<Elem = A>,
        A: Voxel,
    {
        let (t, a, b, c) = vols.dim();
        let mut out = Array4::<f32>::zeros((t, a, b, c));
        self.filter_batch_into(
            vols,
            opts,
            Filter::Gaussian,
            &mut [out.view_mut()],
            |_, _| {},
        )?;
        Ok(out)
    }

    /// Blurs a volume read plane by plane (or block by block) from `source` into `sink`, slab
    /// by slab, for volumes larger than memory: host memory is bounded by the blocks in flight
    /// (see [`crate::stream`]), never by the volume. The result equals [`GpuBlur::blur_into`]'s.
    ///
    /// A thin wrapper: [`GpuBlur::filter_stream`] with [`Filter::Gaussian`].
    ///
    /// # Errors
    /// As [`GpuBlur::blur_with`], and [`BlurError::Io`] when the source or the sink fails.
    pub fn blur_stream<A: Voxel, B: Voxel>(
        &self,
        source: &mut dyn PlaneSource<Voxel = A>,
        sink: &mut dyn PlaneSink<Voxel = B>,
        opts: &BlurOptions,
        progress: impl FnMut(usize, usize),
    ) -> Result<(), BlurError> {
        self.filter_stream(source, sink, opts, Filter::Gaussian, progress)
    }

    /// `scipy.ndimage.gaussian_laplace`: the sum over the filtered axes (all three unless
    /// [`BlurOptions::axes`] says otherwise) of the second derivative of the Gaussian along that
    /// axis, with the options' sigma on every axis. As in scipy, term `i` of the sum uses the
    /// mode of axis `i` on every axis.
    ///
    /// 8 passes (the smoothing along axis 0 is shared by two terms) in 6 reads of a volume
    /// (passes along one axis from one input are fused: one read, an output per kernel), and
    /// one sum, on the GPU; volumes larger than the device are streamed in blocks, as by
    /// [`GpuBlur::blur_with`].
    ///
    /// A thin wrapper: [`GpuBlur::filter`] with [`Filter::Laplace`].
    ///
    /// # Errors
    /// Those of [`GpuBlur::blur_with`], and [`BlurError::OrderWithDerivatives`] when the options
    /// carry derivative orders.
    pub fn gaussian_laplace<S, A>(
        &self,
        vol: &ArrayBase<S, Ix3>,
        opts: &BlurOptions,
    ) -> Result<Array3<f32>, BlurError>
    where
        S: Data<Elem = A>,
        A: Voxel,
    {
        let [out] = into_array(self.filter(vol, opts, Filter::Laplace)?);
        Ok(out)
    }

    /// `scipy.ndimage.gaussian_gradient_magnitude`: the square root of the sum over the
    /// filtered axes of the squared first derivative of the Gaussian along that axis. As in
    /// scipy, term `i` uses the mode of axis `i` on every axis.
    ///
    /// 8 passes in 6 reads (fused as for [`GpuBlur::gaussian_laplace`]) and one combination
    /// (squares, sum, square root) on the GPU.
    ///
    /// A thin wrapper: [`GpuBlur::filter`] with [`Filter::GradientMagnitude`].
    ///
    /// # Errors
    /// As [`GpuBlur::gaussian_laplace`].
    pub fn gaussian_gradient_magnitude<S, A>(
        &self,
        vol: &ArrayBase<S, Ix3>,
        opts: &BlurOptions,
    ) -> Result<Array3<f32>, BlurError>
    where
        S: Data<Elem = A>,
        A: Voxel,
    {
        let [out] = into_array(self.filter(vol, opts, Filter::GradientMagnitude)?);
        Ok(out)
    }

    /// The Gaussian gradient: the first derivative along axes 0, 1 and 2, each
    /// `gaussian_filter(vol, sigma, order=e_i)` with the options' modes. An axis left out by
    /// [`BlurOptions::axes`] (or with a sigma scipy skips) is not differentiated: its component
    /// is the smoothing along the other axes, as scipy gives.
    ///
    /// 8 passes in 6 reads (3 passes would be needed per component alone).
    ///
    /// A thin wrapper: [`GpuBlur::filter`] with [`Filter::Gradient`].
    ///
    /// # Errors
    /// As [`GpuBlur::gaussian_laplace`].
    pub fn gaussian_gradient<S, A>(
        &self,
        vol: &ArrayBase<S, Ix3>,
        opts: &BlurOptions,
    ) -> Result<[Array3<f32>; 3], BlurError>
    where
        S: Data<Elem = A>,
        A: Voxel,
    {
        Ok(into_array(self.filter(vol, opts, Filter::Gradient)?))
    }

    /// The Hessian of the Gaussian-smoothed volume: components 00, 01, 02, 11, 12, 22, each
    /// `gaussian_filter(vol, sigma, order=e_i + e_j)` with the options' modes, as
    /// `skimage.feature.hessian_matrix(vol, sigma, use_gaussian_derivatives=True)` builds them.
    ///
    /// 15 passes (18 for six separate filters) in 10 reads: orders 2, 1 and 0 along axis 0 in
    /// one pass, then along axis 1 six outputs from those three, then one pass along axis 2
    /// per component.
    ///
    /// A thin wrapper: [`GpuBlur::filter`] with [`Filter::Hessian`].
    ///
    /// # Errors
    /// As [`GpuBlur::gaussian_laplace`].
    pub fn hessian<S, A>(
        &self,
        vol: &ArrayBase<S, Ix3>,
        opts: &BlurOptions,
    ) -> Result<[Array3<f32>; 6], BlurError>
    where
        S: Data<Elem = A>,
        A: Voxel,
    {
        Ok(into_array(self.filter(vol, opts, Filter::Hessian)?))
    }

    async fn filter_into_inner<S, A, B>(
        &self,
        vol: &ArrayBase<S, Ix3>,
        opts: &BlurOptions,
        filter: Filter,
        outs: &mut [ArrayViewMut3<'_, B>],
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<(), BlurError>
    where
        S: Data<Elem = A>,
        A: Voxel,
        B: Voxel,
    {
        let mut outs: Vec<ArrayViewMut4<'_, B>> = outs
            .iter_mut()
            .map(|o| o.view_mut().insert_axis(Axis(0)))
            .collect();
        self.filter_batch_inner(
            vol.view().insert_axis(Axis(0)),
            opts,
            filter,
            &mut outs,
            progress,
        )
        .await
    }

    async fn filter_batch_inner<A, B>(
        &self,
        vols: ArrayView4<'_, A>,
        opts: &BlurOptions,
        filter: Filter,
        outs: &mut [ArrayViewMut4<'_, B>],
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<(), BlurError>
    where
        A: Voxel,
        B: Voxel,
    {
        if outs.len() != filter.outputs() {
            return Err(BlurError::OutputCount {
                filter: filter.name(),
                expected: filter.outputs(),
                given: outs.len(),
            });
        }
        let (t, a, b, c) = vols.dim();
        for out in outs.iter() {
            if out.dim() != (t, a, b, c) {
                let (_, x, y, z) = out.dim();
                return Err(BlurError::ShapeMismatch {
                    volume: [a, b, c],
                    output: [x, y, z],
                });
            }
        }
        let plan = Plan::new(opts, filter, [a, b, c], false)?;
        if t == 0 {
            return Ok(());
        }
        let mut planes = schedule::output_planes(outs);
        let real = self.real_for::<A, B>(opts.precision_asked());
        self.run(
            schedule::Input::Arrays(vols),
            (&plan, real),
            &mut schedule::store_into(&mut planes),
            None,
            progress,
        )
        .await
    }
}
