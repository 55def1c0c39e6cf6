//! [`GpuBlur`]: the blur on a wgpu device.

mod context;
mod layout;
mod passes;
mod slabs;
mod transfer;
mod volume;

use std::borrow::Cow;
use std::ops::Range;

use ndarray::{Array3, ArrayBase, ArrayViewMut3, Data, DataMut, Ix3};

#[cfg(test)]
mod shader_tests;

pub use context::list_adapters;

use crate::plan::{Filter, Plan, into_array};
use crate::voxel::sealed::Upload;
use crate::{BlurError, BlurOptions, Sigma, Voxel};
use context::{LostReason, Scopes};
use layout::Layout;
use passes::Pipeline;
pub(crate) use slabs::Halo;
use slabs::Slab;
use transfer::Transfers;

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
    pipeline: Pipeline,
    /// Buffer pools, uploads and readbacks.
    transfers: Transfers,
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
        let adapter = context::adapter().await?;
        let (device, queue) = context::device(&adapter).await?;
        // This device is ours: errors that escape a scope are recorded, never a panic.
        let lost = context::watch_loss(&device);
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
        let lost = context::watch_loss(device);
        pollster::block_on(Self::build(device.clone(), queue.clone(), None, lost))
    }

    async fn build(
        device: wgpu::Device,
        queue: wgpu::Queue,
        adapter: Option<wgpu::AdapterInfo>,
        lost: LostReason,
    ) -> Result<Self, BlurError> {
        let scopes = Scopes::push(&device);
        let pipeline = Pipeline::new(&device);
        scopes.pop().await?;
        Ok(GpuBlur {
            transfers: Transfers::new(device.clone()),
            device,
            queue,
            adapter,
            pipeline,
            lost,
            max_slab_bytes: u64::MAX,
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        })
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
    /// with the same result.
    ///
    /// # Errors
    /// The validation errors of [`BlurOptions`], [`BlurError::EmptyAxis`],
    /// [`BlurError::VolumeTooLarge`] when not even a slab of one plane (plus the kernel's halo)
    /// fits the device, and [`BlurError::OutOfMemory`] or [`BlurError::DeviceLost`] from the GPU.
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
        let mut out = transfer::fresh_output(crate::cpu::shape_of(vol));
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
        let mut out = transfer::fresh_output(crate::cpu::shape_of(vol));
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
        let mut out = transfer::fresh_output(crate::cpu::shape_of(vol));
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
    /// 8 passes (the smoothing along axis 0 is shared by two terms) and one sum on the GPU;
    /// volumes larger than the device are streamed in slabs, as by [`GpuBlur::blur_with`].
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
    /// 8 passes and one combination (squares, sum, square root) on the GPU.
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
    /// 8 passes (3 would be needed per component alone).
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
    /// 15 passes (18 for six separate filters).
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
            .map(|_| transfer::fresh_output(crate::cpu::shape_of(vol)))
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
        if outs.len() != filter.outputs() {
            return Err(BlurError::OutputCount {
                filter: filter.name(),
                expected: filter.outputs(),
                given: outs.len(),
            });
        }
        let volume = crate::cpu::shape_of(vol);
        for out in outs.iter() {
            let output = crate::cpu::shape_of(out);
            if volume != output {
                return Err(BlurError::ShapeMismatch { volume, output });
            }
        }
        let plan = Plan::new(opts, filter, volume, false)?;
        self.run(
            vol,
            &plan,
            &mut |output, planes, values| {
                transfer::store_planes(outs[output].slice_mut(ndarray::s![planes, .., ..]), values);
            },
            progress,
        )
        .await
    }

    /// Blurs slab by slab (one slab when the volume fits the device) as `plan` says, handing
    /// each slab's planes of output `i` to `sink(i, planes, values)` in standard order. Two
    /// slabs are in flight at once: while one is read back, the next one runs.
    async fn run<S, A>(
        &self,
        vol: &ArrayBase<S, Ix3>,
        plan: &Plan,
        sink: &mut Sink<'_>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<(), BlurError>
    where
        S: Data<Elem = A>,
        A: Voxel,
    {
        let shape = crate::cpu::shape_of(vol);
        if plan.is_identity() {
            let values = upload_order(vol);
            for output in 0..plan.outputs.len() {
                sink(output, 0..shape[0], &values);
            }
            progress(1, 1);
            return Ok(());
        }
        // Slabs hold their planes in the layout of the volume.
        let plane_bytes = (Layout::for_shape(shape).pitch() * size_of::<f32>()) as u64;
        let (limit, limit_name) = self.slab_limit();
        let halo = if shape[0] as u64 * plane_bytes <= limit {
            // One slab: no halo, nothing to map.
            Halo {
                radius: 0,
                mode: crate::Mode::Reflect,
            }
        } else {
            plan.axis0_halo()?
        };
        let mut slabs = slabs::plan(shape[0], plane_bytes, limit, limit_name, halo)?;
        if slabs.len() > 1 {
            // Two slabs in flight take no more memory than one slab of the whole limit, when
            // half a slab still holds the halo.
            if let Ok(halves) = slabs::plan(shape[0], plane_bytes, limit / 2, limit_name, halo) {
                slabs = halves;
            }
        }
        let total = slabs.len();
        self.guard(async {
            let mut in_flight: Option<InFlight> = None;
            for (done, slab) in slabs.iter().enumerate() {
                let next = self.submit_slab(vol, slab, shape, plan).await?;
                if let Some(previous) = in_flight.replace(next) {
                    self.finish_slab(previous, sink).await?;
                    progress(done, total);
                }
            }
            if let Some(last) = in_flight {
                self.finish_slab(last, sink).await?;
                progress(total, total);
            }
            Ok(())
        })
        .await
    }

    /// The largest buffer of f32 voxels (a slab, or a device-resident volume) this device takes,
    /// in bytes, and the limit that decides it.
    fn slab_limit(&self) -> (u64, &'static str) {
        let limits = self.device.limits();
        [
            (
                limits.max_storage_buffer_binding_size,
                "max_storage_buffer_binding_size",
            ),
            (limits.max_buffer_size, "max_buffer_size"),
            // Indices in the shaders are u32.
            (u64::from(u32::MAX), "u32 voxel indices"),
            (self.max_slab_bytes, "GpuBlur::with_max_slab_bytes"),
        ]
        .into_iter()
        .min_by_key(|(bytes, _)| *bytes)
        .unwrap_or((0, "none"))
    }

    /// Uploads `slab`'s planes of `vol`, encodes the plan and the copy of the slab's output
    /// planes of each output to a staging buffer, and submits it all.
    async fn submit_slab<S, A>(
        &self,
        vol: &ArrayBase<S, Ix3>,
        slab: &Slab,
        shape: [usize; 3],
        plan: &Plan,
    ) -> Result<InFlight, BlurError>
    where
        S: Data<Elem = A>,
        A: Voxel,
    {
        let plane = shape[1] * shape[2];
        let slab_shape = [slab.planes.len(), shape[1], shape[2]];
        let mut encoder = self.encoder();
        let (volume, loaded) = self
            .load(vol, &slab.planes, slab_shape, &mut encoder)
            .await?;
        let layout = volume.layout;
        let buffers = self
            .encode_plan(&mut encoder, plan, volume.buffer, layout)
            .await?;
        let planes = slab.first..slab.first + slab.out.len();
        let mut staging = Vec::with_capacity(plan.outputs.len());
        for &slot in &plan.outputs {
            staging.push(
                self.transfers
                    .stage(&mut encoder, &buffers[slot], layout, planes.clone())
                    .await?,
            );
        }
        let submission = self.submit(encoder).await?;
        // Work submitted later runs after this: the next slab may reuse every buffer but the
        // staging ones it reads back from.
        self.recycle(loaded);
        for buffer in buffers {
            self.transfers.keep_storage(buffer);
        }
        Ok(InFlight {
            out: slab.out.clone(),
            voxels: slab.out.len() * plane,
            staging,
            submission,
        })
    }

    /// Waits for `slab` and hands each output's planes to `sink`.
    async fn finish_slab(&self, slab: InFlight, sink: &mut Sink<'_>) -> Result<(), BlurError> {
        for (output, staging) in slab.staging.into_iter().enumerate() {
            let out = slab.out.clone();
            self.transfers
                .readback(staging, slab.submission.clone(), slab.voxels, |values| {
                    sink(output, out, values)
                })
                .await?;
        }
        Ok(())
    }

    /// Takes the buffers `plan` needs beyond `input` (its slot 0) and encodes its steps on a
    /// volume in `layout`. Returns the buffer of every slot, to give back once submitted (all
    /// but the ones the caller keeps).
    async fn encode_plan(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        plan: &Plan,
        input: wgpu::Buffer,
        layout: Layout,
    ) -> Result<Vec<wgpu::Buffer>, BlurError> {
        let mut buffers = Vec::with_capacity(plan.slots);
        buffers.push(input);
        for _ in 1..plan.slots {
            buffers.push(self.transfers.storage(layout.bytes()).await?);
        }
        let scopes = Scopes::push(&self.device);
        self.encoding().plan(encoder, plan, &buffers, layout);
        scopes.pop().await?;
        Ok(buffers)
    }

    /// Encodes the upload of planes `planes` of `vol` (a volume of `shape`) as f32 into a
    /// storage buffer: as they are for f32, widened on the GPU for integer types. Returns the
    /// volume, and the buffers to recycle once submitted: the staging buffer and the packed
    /// integers, if any.
    async fn load<S, A>(
        &self,
        vol: &ArrayBase<S, Ix3>,
        planes: &[usize],
        shape: [usize; 3],
        encoder: &mut wgpu::CommandEncoder,
    ) -> Result<(GpuVolume, Loaded), BlurError>
    where
        S: Data<Elem = A>,
        A: Voxel,
    {
        let layout = Layout::for_shape(shape);
        let buffer = self.transfers.storage(layout.bytes()).await?;
        let vol = vol.view();
        let loaded = match A::UPLOAD {
            Upload::F32 | Upload::Host => Loaded {
                staging: self
                    .transfers
                    .upload(vol, planes, layout, false, &buffer, encoder)
                    .await?,
                packed: None,
            },
            Upload::Packed { bits, signed } => {
                // Packed in the same layout as the f32 volume, so widening is voxel by voxel.
                let bytes = (layout.len() * size_of::<A>()) as u64;
                let words = self.transfers.storage(bytes.next_multiple_of(4)).await?;
                let staging = self
                    .transfers
                    .upload(vol, planes, layout, true, &words, encoder)
                    .await?;
                let scopes = Scopes::push(&self.device);
                self.encoding()
                    .widen(encoder, &words, &buffer, layout.len(), (bits, signed));
                scopes.pop().await?;
                Loaded {
                    staging,
                    packed: Some(words),
                }
            }
        };
        Ok((
            GpuVolume {
                buffer,
                layout,
                owner: self.id,
            },
            loaded,
        ))
    }

    /// Recycles what an upload leaves once its work is submitted.
    fn recycle(&self, loaded: Loaded) {
        self.transfers.recycle(loaded.staging);
        if let Some(packed) = loaded.packed {
            self.transfers.keep_storage(packed);
        }
    }

    /// Runs `work`; when it fails and the device turns out to be lost, reports the loss, the
    /// error to act on.
    async fn guard<T>(
        &self,
        work: impl Future<Output = Result<T, BlurError>>,
    ) -> Result<T, BlurError> {
        self.check_alive()?;
        work.await.map_err(|e| {
            // Waiting for the queue lets wgpu deliver a loss it has not reported yet (a destroyed
            // device is only reported once its queue is maintained). Only failures wait.
            let _ = self.device.poll(wgpu::PollType::wait_indefinitely());
            self.check_alive().err().unwrap_or(e)
        })
    }

    fn encoding(&self) -> passes::Encoder<'_> {
        passes::Encoder {
            device: &self.device,
            queue: &self.queue,
            pipeline: &self.pipeline,
        }
    }

    fn encoder(&self) -> wgpu::CommandEncoder {
        self.device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("blur3d.encoder"),
            })
    }

    async fn submit(
        &self,
        encoder: wgpu::CommandEncoder,
    ) -> Result<wgpu::SubmissionIndex, BlurError> {
        let scopes = Scopes::push(&self.device);
        let index = self.queue.submit([encoder.finish()]);
        scopes.pop().await?;
        Ok(index)
    }

    fn check_alive(&self) -> Result<(), BlurError> {
        match self.lost.lock().ok().and_then(|s| s.clone()) {
            Some(reason) => Err(BlurError::DeviceLost { reason }),
            None => Ok(()),
        }
    }

    /// Bytes of a volume of `voxels` f32 in one buffer, or the limit it passes.
    fn check_fits(&self, voxels: usize) -> Result<u64, BlurError> {
        let bytes = voxels as u64 * size_of::<f32>() as u64;
        let (limit, limit_name) = self.slab_limit();
        if bytes > limit {
            return Err(BlurError::VolumeTooLarge {
                bytes,
                limit,
                limit_name,
            });
        }
        Ok(bytes)
    }
}

impl Default for GpuBlur {
    /// Same as [`GpuBlur::new`].
    fn default() -> Self {
        Self::new()
    }
}

/// Takes output planes as they come back: `sink(output, planes, values)`, the values of those
/// planes of that output of the plan in standard order.
type Sink<'a> = dyn FnMut(usize, Range<usize>, &[f32]) + 'a;

/// What an upload leaves to recycle once its work is submitted.
struct Loaded {
    staging: transfer::UploadStaging,
    /// The packed integers widened on the GPU.
    packed: Option<wgpu::Buffer>,
}

/// A slab submitted and not yet read back.
struct InFlight {
    out: Range<usize>,
    voxels: usize,
    /// One staging buffer per output of the plan.
    staging: Vec<wgpu::Buffer>,
    submission: wgpu::SubmissionIndex,
}

/// The voxels as f32 in standard (C) order, borrowed when they already are.
fn upload_order<S, A>(vol: &ArrayBase<S, Ix3>) -> Cow<'_, [f32]>
where
    S: Data<Elem = A>,
    A: Voxel,
{
    if let Some(slice) = vol.as_slice().and_then(A::as_f32_slice) {
        return Cow::Borrowed(slice);
    }
    Cow::Owned(vol.iter().map(|v| v.to_f32()).collect())
}
