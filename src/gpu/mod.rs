//! [`GpuBlur`]: the blur on a wgpu device.

mod context;
mod passes;
mod volume;

use std::sync::Mutex;

use ndarray::{Array3, ArrayBase, Data, DataMut, Ix3};

pub use context::list_adapters;
pub use passes::{BLUR_AXIS_WGSL, COPY_WGSL, PassParams};

use crate::options::AxisKernel;
use crate::{BlurError, BlurOptions, Sigma, Voxel};
use context::LostReason;
use passes::Pipeline;

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
    /// Idle storage buffers, taken by a call and given back when it is done.
    storage: Mutex<Vec<wgpu::Buffer>>,
    /// Idle staging buffers, likewise.
    staging: Mutex<Vec<wgpu::Buffer>>,
    lost: LostReason,
}

/// Error scopes around a piece of GPU work, so that wgpu reports to us instead of panicking.
struct Scopes([wgpu::ErrorScopeGuard; 3]);

impl Scopes {
    fn push(device: &wgpu::Device) -> Self {
        Scopes([
            device.push_error_scope(wgpu::ErrorFilter::Internal),
            device.push_error_scope(wgpu::ErrorFilter::OutOfMemory),
            device.push_error_scope(wgpu::ErrorFilter::Validation),
        ])
    }

    async fn pop(self) -> Result<(), BlurError> {
        let [internal, oom, validation] = self.0;
        // Inner scope first; report the first error found.
        let errors = [
            validation.pop().await,
            oom.pop().await,
            internal.pop().await,
        ];
        match errors.into_iter().flatten().next() {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }
}

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
            device,
            queue,
            adapter,
            pipeline,
            storage: Mutex::new(Vec::new()),
            staging: Mutex::new(Vec::new()),
            lost,
        })
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

    /// Blurs `vol` (any 3D array or view, in any memory order) with `opts`. The result has the
    /// input's shape, in standard layout.
    ///
    /// # Errors
    /// The validation errors of [`BlurOptions`], [`BlurError::EmptyAxis`],
    /// [`BlurError::VolumeTooLarge`] beyond the device's buffer limits, and
    /// [`BlurError::OutOfMemory`] or [`BlurError::DeviceLost`] from the GPU.
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

    /// Blurs `vol` into `out`, an array of the same shape (any layout), without allocating the
    /// result.
    ///
    /// # Errors
    /// [`BlurError::ShapeMismatch`] when the shapes differ, and those of [`GpuBlur::blur_with`].
    pub fn blur_into<S, A, T>(
        &self,
        vol: &ArrayBase<S, Ix3>,
        opts: &BlurOptions,
        out: &mut ArrayBase<T, Ix3>,
    ) -> Result<(), BlurError>
    where
        S: Data<Elem = A>,
        A: Voxel,
        T: DataMut<Elem = f32>,
    {
        pollster::block_on(self.blur_into_async(vol, opts, out))
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
        let mut result = None;
        self.run(vol, opts, |values| {
            result = Some(values.to_vec());
        })
        .await?;
        let values = result.unwrap_or_else(|| vol.iter().map(|v| v.to_f32()).collect());
        // The readback holds exactly the volume's voxels in standard order.
        Ok(Array3::from_shape_vec(vol.raw_dim(), values).expect("readback has the volume's size"))
    }

    /// [`GpuBlur::blur_into`] for async callers.
    ///
    /// # Errors
    /// As [`GpuBlur::blur_into`].
    pub async fn blur_into_async<S, A, T>(
        &self,
        vol: &ArrayBase<S, Ix3>,
        opts: &BlurOptions,
        out: &mut ArrayBase<T, Ix3>,
    ) -> Result<(), BlurError>
    where
        S: Data<Elem = A>,
        A: Voxel,
        T: DataMut<Elem = f32>,
    {
        let (volume, output) = (crate::cpu::shape_of(vol), shape3(out.dim()));
        if volume != output {
            return Err(BlurError::ShapeMismatch { volume, output });
        }
        let mut written = false;
        self.run(vol, opts, |values| {
            copy_into(values, out);
            written = true;
        })
        .await?;
        if !written {
            out.zip_mut_with(vol, |o, v| *o = v.to_f32());
        }
        Ok(())
    }

    /// Validates, uploads, runs the passes and hands the result to `sink`, all in one
    /// submission. `sink` is not called when every axis is left as it is (no GPU work then).
    async fn run<S, A>(
        &self,
        vol: &ArrayBase<S, Ix3>,
        opts: &BlurOptions,
        sink: impl FnOnce(&[f32]),
    ) -> Result<(), BlurError>
    where
        S: Data<Elem = A>,
        A: Voxel,
    {
        let shape = crate::cpu::shape_of(vol);
        let kernels = opts.plan(shape)?;
        if kernels.iter().all(Option::is_none) {
            return Ok(());
        }
        let mut volume = self.upload_async(vol).await?;
        self.guard(async {
            let staging = self
                .take(&self.staging, volume.bytes(), passes::staging_buffer)
                .await?;
            let mut encoder = self.encoder();
            let spare = self
                .encode_blur(&mut encoder, &mut volume, &kernels)
                .await?;
            encoder.copy_buffer_to_buffer(&volume.buffer, 0, &staging, 0, volume.bytes());
            self.submit(encoder).await?;
            passes::readback(&self.device, &staging, volume.len(), sink).await?;
            give_back(&self.staging, staging);
            give_back(&self.storage, spare);
            give_back(&self.storage, volume.buffer);
            Ok(())
        })
        .await
    }

    /// Runs `work`; when it fails and the device turns out to be lost, reports the loss, the
    /// error to act on.
    async fn guard<T>(
        &self,
        work: impl Future<Output = Result<T, BlurError>>,
    ) -> Result<T, BlurError> {
        self.check_alive()?;
        work.await.map_err(|e| {
            // A poll lets wgpu deliver a loss it has not reported yet.
            let _ = self.device.poll(wgpu::PollType::Poll);
            self.check_alive().err().unwrap_or(e)
        })
    }

    fn encoder(&self) -> wgpu::CommandEncoder {
        self.device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("blur3d.encoder"),
            })
    }

    async fn submit(&self, encoder: wgpu::CommandEncoder) -> Result<(), BlurError> {
        let scopes = Scopes::push(&self.device);
        self.queue.submit([encoder.finish()]);
        scopes.pop().await
    }

    /// Encodes the passes of `kernels` on `volume`, leaving the result in `volume` (its buffer
    /// may be swapped with a scratch one). Returns the buffer to give back once submitted.
    async fn encode_blur(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        volume: &mut GpuVolume,
        kernels: &[Option<AxisKernel>; 3],
    ) -> Result<wgpu::Buffer, BlurError> {
        let mut spare = self
            .take(&self.storage, volume.bytes(), passes::storage_buffer)
            .await?;
        let scopes = Scopes::push(&self.device);
        let swapped = passes::encode_blur(
            &self.device,
            &self.queue,
            &self.pipeline,
            encoder,
            &volume.buffer,
            &spare,
            volume.shape,
            kernels,
        );
        scopes.pop().await?;
        if swapped {
            std::mem::swap(&mut volume.buffer, &mut spare);
        }
        Ok(spare)
    }

    fn check_alive(&self) -> Result<(), BlurError> {
        match self.lost.lock().ok().and_then(|s| s.clone()) {
            Some(reason) => Err(BlurError::DeviceLost { reason }),
            None => Ok(()),
        }
    }

    /// Bytes of a volume of `voxels` f32, or the limit it passes.
    fn check_fits(&self, voxels: usize) -> Result<u64, BlurError> {
        let bytes = voxels as u64 * size_of::<f32>() as u64;
        let limits = self.device.limits();
        let checks = [
            (
                limits.max_storage_buffer_binding_size,
                "max_storage_buffer_binding_size",
            ),
            (limits.max_buffer_size, "max_buffer_size"),
            // Indices in the shader are u32.
            (u64::from(u32::MAX), "u32 voxel indices"),
        ];
        for (limit, limit_name) in checks {
            if bytes > limit {
                return Err(BlurError::VolumeTooLarge {
                    bytes,
                    limit,
                    limit_name,
                });
            }
        }
        Ok(bytes)
    }

    /// A buffer of at least `bytes` from `pool`, or a new one made by `make`.
    async fn take(
        &self,
        pool: &Mutex<Vec<wgpu::Buffer>>,
        bytes: u64,
        make: fn(&wgpu::Device, u64) -> wgpu::Buffer,
    ) -> Result<wgpu::Buffer, BlurError> {
        let reused = pool.lock().ok().and_then(|mut pool| {
            let i = pool.iter().position(|b| b.size() >= bytes)?;
            Some(pool.swap_remove(i))
        });
        if let Some(b) = reused {
            return Ok(b);
        }
        let scopes = Scopes::push(&self.device);
        let buffer = make(&self.device, bytes);
        scopes.pop().await?;
        Ok(buffer)
    }
}

/// Keeps `buffer` for reuse; only the largest few stay, so memory does not pile up.
fn give_back(pool: &Mutex<Vec<wgpu::Buffer>>, buffer: wgpu::Buffer) {
    if let Ok(mut pool) = pool.lock() {
        pool.push(buffer);
        pool.sort_by_key(|b| std::cmp::Reverse(b.size()));
        pool.truncate(4);
    }
}

impl Default for GpuBlur {
    /// Same as [`GpuBlur::new`].
    fn default() -> Self {
        Self::new()
    }
}

fn shape3(d: (usize, usize, usize)) -> [usize; 3] {
    [d.0, d.1, d.2]
}

/// The voxels as f32 in standard (C) order, borrowed when they already are.
fn upload_order<S, A>(vol: &ArrayBase<S, Ix3>) -> std::borrow::Cow<'_, [f32]>
where
    S: Data<Elem = A>,
    A: Voxel,
{
    if let Some(slice) = vol.as_slice().and_then(A::as_f32_slice) {
        return std::borrow::Cow::Borrowed(slice);
    }
    std::borrow::Cow::Owned(vol.iter().map(|v| v.to_f32()).collect())
}

fn copy_into<T: DataMut<Elem = f32>>(values: &[f32], out: &mut ArrayBase<T, Ix3>) {
    match out.as_slice_mut() {
        Some(dst) => dst.copy_from_slice(values),
        None => out.iter_mut().zip(values).for_each(|(o, v)| *o = *v),
    }
}
