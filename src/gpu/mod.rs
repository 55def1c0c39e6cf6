//! [`GpuBlur`]: the blur on a wgpu device.

mod device;
mod engine;
mod kernels;
mod layout;
mod pool;
mod schedule;
mod transfer;
mod volume;

use ndarray::{
    Array3, Array4, ArrayBase, ArrayView4, ArrayViewMut3, ArrayViewMut4, Axis, Data, DataMut, Ix3,
    Ix4,
};

#[cfg(test)]
mod shader_tests;

pub use device::{adapters, describe_adapter, list_adapters};
pub use kernels::{PassFamily, PassesRun};

use crate::plan::{Filter, Plan, into_array, shape_of};
use crate::stream::{PlaneSink, PlaneSource};
use crate::{BlurError, BlurOptions, Sigma, Voxel};
use device::{LostReason, Scopes};
use kernels::Kernels;
use pool::Pool;

pub use volume::GpuVolume;

/// A Gaussian blur on a GPU, with the semantics of `scipy.ndimage.gaussian_filter`.
///
/// Build one and keep it: the device, the pipeline and the buffers are made once and reused by
/// every call. `GpuBlur` is `Send + Sync`; calls from several threads run concurrently, each on
/// buffers of its own.
///
/// ```no_run
/// use blur3d::GpuBlur;
/// use ndarray::Array3;
///
/// let vol = Array3::<f32>::zeros((64, 64, 64));
/// let blurred = GpuBlur::new().blur(&vol, 2.0)?;
/// # Ok::<(), blur3d::BlurError>(())
/// ```
#[derive(Debug)]
pub struct GpuBlur {
    device: wgpu::Device,
    queue: wgpu::Queue,
    adapter: Option<wgpu::AdapterInfo>,
    kernels: Kernels,
    /// Buffers kept between calls.
    pool: Pool,
    lost: LostReason,
    /// Largest slab in bytes, below the device's own limits (tests force small slabs).
    max_slab_bytes: u64,
    /// Unique among the `GpuBlur`s of the process: what `GpuVolume`s are checked against.
    id: u64,
}

/// The id of the next `GpuBlur`.
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl GpuBlur {
    /// A blur on the default adapter (or the one `WGPU_ADAPTER_NAME` names).
    ///
    /// The environment, read here and by every other constructor: wgpu's `WGPU_BACKEND`,
    /// `WGPU_ADAPTER_NAME` and `WGPU_POWER_PREF` pick the adapter (see
    /// [`adapters`](crate::adapters)); `BLUR3D_PASSES=gpu|cpu` picks the pass family
    /// ([`PassFamily::from_env`]; [`GpuBlur::with_pass_family`] does it from code).
    ///
    /// # Panics
    /// When no adapter is available or it cannot open a device; the message says what to
    /// install. Use [`GpuBlur::try_new`] to get that as a [`BlurError`] instead.
    #[must_use]
    pub fn new() -> Self {
        Self::try_new().unwrap_or_else(|e| panic!("blur3d: {e}"))
    }

    /// A blur on the default adapter, or the reason there is none.
    ///
    /// # Errors
    /// [`BlurError::NoAdapter`] when wgpu finds no adapter (or none matching
    /// `WGPU_ADAPTER_NAME`), [`BlurError::DeviceRequest`] when the adapter refuses a device.
    pub fn try_new() -> Result<Self, BlurError> {
        pollster::block_on(Self::new_async())
    }

    /// [`GpuBlur::try_new`] for async callers.
    ///
    /// # Errors
    /// As [`GpuBlur::try_new`].
    pub async fn new_async() -> Result<Self, BlurError> {
        Self::on_adapter_async(device::adapter().await?).await
    }

    /// A blur on a device of its own opened on `adapter` (one of [`adapters`](crate::adapters),
    /// say, to put one `GpuBlur` on each GPU), with the
    /// adapter's own limits, as [`GpuBlur::new`] opens one.
    ///
    /// # Errors
    /// [`BlurError::DeviceRequest`] when the adapter refuses a device,
    /// [`BlurError::InvalidPasses`] for a bad `BLUR3D_PASSES`.
    pub fn on_adapter(adapter: &wgpu::Adapter) -> Result<Self, BlurError> {
        pollster::block_on(Self::on_adapter_async(adapter.clone()))
    }

    async fn on_adapter_async(adapter: wgpu::Adapter) -> Result<Self, BlurError> {
        let (device, queue) = device::device(&adapter).await?;
        // This device is ours: errors that escape a scope are recorded, never a panic.
        let lost = device::watch_loss(&device);
        let slot = lost.clone();
        device.on_uncaptured_error(std::sync::Arc::new(move |e: wgpu::Error| {
            if let Ok(mut s) = slot.lock() {
                s.get_or_insert_with(|| format!("uncaptured error: {e}"));
            }
        }));
        Self::build(device, queue, Some(adapter.get_info()), lost).await
    }

    /// A blur on a device the caller already has. Its limits decide the largest volume.
    ///
    /// # Errors
    /// [`BlurError::Gpu`] if the device cannot build the pipeline, [`BlurError::DeviceLost`] if
    /// it is already lost.
    pub fn from_device(device: &wgpu::Device, queue: &wgpu::Queue) -> Result<Self, BlurError> {
        let lost = device::watch_loss(device);
        pollster::block_on(Self::build(device.clone(), queue.clone(), None, lost))
    }

    async fn build(
        device: wgpu::Device,
        queue: wgpu::Queue,
        adapter: Option<wgpu::AdapterInfo>,
        lost: LostReason,
    ) -> Result<Self, BlurError> {
        let family = device::choose_family(&device, PassFamily::from_env()?);
        let scopes = Scopes::push(&device);
        let kernels = Kernels::new(&device, family);
        scopes.pop().await?;
        Ok(GpuBlur {
            pool: Pool::new(device.clone()),
            device,
            queue,
            adapter,
            kernels,
            lost,
            max_slab_bytes: u64::MAX,
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        })
    }

    /// Runs the passes in `family` instead of the one chosen for the adapter (or by
    /// `BLUR3D_PASSES`); a device without the storage bindings of the GPU family (fewer than 7
    /// per stage) keeps the CPU family. The pipelines are built again (a fraction of a second).
    /// Results are equal within a few ulps; see [`PassFamily`].
    #[must_use]
    pub fn with_pass_family(mut self, family: PassFamily) -> Self {
        let family = device::choose_family(&self.device, Some(family));
        if family != self.kernels.family {
            self.kernels = Kernels::new(&self.device, family);
        }
        self
    }

    /// Caps every volume buffer at `bytes` of f32 voxels, below the device's own limits: volumes
    /// larger than that are blurred in slabs along axis 0, with the same result, and cannot be
    /// uploaded as a [`GpuVolume`]. Useful to keep GPU memory for other work, and to test slab
    /// stitching on small volumes.
    #[must_use]
    pub fn with_max_slab_bytes(mut self, bytes: u64) -> Self {
        self.max_slab_bytes = bytes;
        self
    }

    /// The adapter in use, when this `GpuBlur` opened the device itself.
    #[must_use]
    pub fn adapter_info(&self) -> Option<&wgpu::AdapterInfo> {
        self.adapter.as_ref()
    }

    /// The family of shaders the passes run in: chosen per adapter (the CPU family on CPU
    /// adapters such as llvmpipe, the GPU family on every other), by `BLUR3D_PASSES=gpu|cpu`
    /// ([`PassFamily::from_env`]), or by [`GpuBlur::with_pass_family`].
    #[must_use]
    pub fn pass_family(&self) -> PassFamily {
        self.kernels.family
    }

    /// The passes this `GpuBlur` has encoded so far, counted by the family that ran them: with
    /// the GPU family, passes it does not take (rows not a multiple of 4 voxels, a device of few
    /// storage bindings) run in the CPU family, and this shows it.
    #[must_use]
    pub fn passes_run(&self) -> PassesRun {
        self.kernels.passes_run()
    }

    /// The device's limits, which decide the largest volume (`max_storage_buffer_binding_size`).
    #[must_use]
    pub fn limits(&self) -> wgpu::Limits {
        self.device.limits()
    }

    /// Blurs `vol` with the same `sigma` on every axis (or one per axis) and scipy's defaults:
    /// `Mode::Reflect`, `truncate = 4.0`.
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
    /// every axis; blur3d keeps f32 through all passes and rounds once.
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

    /// Blurs a volume read plane by plane (or block by block) from `source` into `sink`, slab
    /// by slab, for volumes larger than memory: host memory is bounded by the blocks in flight
    /// (see [`crate::stream`]), never by the volume. The result equals [`GpuBlur::blur_into`]'s.
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
        let mut store = schedule::stream_into(sink, [shape[1], shape[2]]);
        pollster::block_on(self.run(
            schedule::Input::Stream(source),
            &plan,
            &mut store,
            tiles,
            &mut progress,
        ))
    }

    /// Blurs each volume of a batch (axis 0 counts the volumes; axes 1, 2, 3 are each volume's
    /// axes 0, 1, 2): a (t, z, y, x) time series, a stack of channels. The volumes go through
    /// the GPU together, as many per upload as fit one buffer, not one round trip each; the
    /// result equals blurring each volume alone.
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
        self.run(
            schedule::Input::Arrays(vols),
            &plan,
            &mut schedule::store_into(&mut planes),
            None,
            progress,
        )
        .await
    }
}

impl Default for GpuBlur {
    /// Same as [`GpuBlur::new`].
    fn default() -> Self {
        Self::new()
    }
}
