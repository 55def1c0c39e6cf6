//! [`GpuBlur`]: the blur on a wgpu device. This file holds the type, how one is made and what it
//! tells about itself; its calls are in `filters.rs` (host arrays, batches, streams) and
//! `volume.rs` (device-resident volumes), built on `engine.rs`.

mod device;
mod engine;
mod filters;
mod kernels;
mod layout;
mod pool;
mod schedule;
mod transfer;
mod tuning;
mod volume;

#[cfg(test)]
mod shader_tests;

pub use device::{adapter_matches, adapters, describe_adapter, list_adapters};
pub use kernels::{PassFamily, PassesRun};
pub use tuning::{PairClass, PassClass, Tuned, TunedPair};

use crate::BlurError;
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
    /// [`adapters`](crate::adapters)); `BLUR3D_PASSES=gpu|tile|cpu` picks the pass family
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
        let requested = PassFamily::from_env()?;
        let family = device::choose_family(&device, requested);
        let scopes = Scopes::push(&device);
        let mut kernels = Kernels::new(&device, family);
        scopes.pop().await?;
        // The tuner decides per class of passes unless the family is asked for or it is off.
        kernels.tunes = requested.is_none() && !tuning::off_by_env();
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

    /// Runs every pass in `family` instead of the tuner's choice per class (or the one chosen
    /// for the adapter, or by `BLUR3D_PASSES`); a device without the storage bindings of the
    /// GPU and tile families (fewer than 7 per stage) keeps the CPU family. The pipelines are built again
    /// (a fraction of a second). Results are equal within a few ulps; see [`PassFamily`].
    #[must_use]
    pub fn with_pass_family(mut self, family: PassFamily) -> Self {
        let family = device::choose_family(&self.device, Some(family));
        if family != self.kernels.family {
            self.kernels = Kernels::new(&self.device, family);
        }
        self.kernels.tunes = false;
        self
    }

    /// Turns the tuner on or off. On by default unless `BLUR3D_PASSES` names a family or
    /// `BLUR3D_TUNING=off`: the first call that needs a class of passes (an axis, a band of
    /// radii, f32 or f64) times the pass families on the device (a few ms per class on a GPU,
    /// a few tens on a CPU adapter) and keeps the fastest, for this process and on disk
    /// (`$BLUR3D_CACHE_DIR/tuning.txt`, else the user's cache directory's `blur3d/tuning.txt`),
    /// per adapter and driver. Off, every pass runs in [`GpuBlur::pass_family`].
    #[must_use]
    pub fn with_tuning(mut self, on: bool) -> Self {
        self.kernels.tunes = on;
        self
    }

    /// The tuner's choices on this device so far (from this process or the cache on disk):
    /// per class of passes, the family that runs it and each candidate family's time.
    #[must_use]
    pub fn tuning(&self) -> Vec<Tuned> {
        let cache = tuning::Cache::global()
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        cache.all(&self.kernels.adapter_key)
    }

    /// The tuner's choices for in-plane pairs on this device so far (passes along axes 1 and 2
    /// in one dispatch of the tile family, or apart): per class, the choice and both times.
    #[must_use]
    pub fn tuned_pairs(&self) -> Vec<TunedPair> {
        let cache = tuning::Cache::global()
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        cache.all_pairs(&self.kernels.adapter_key)
    }

    /// Caps every volume buffer at `bytes`, below the device's own limits: volumes
    /// larger than that are blurred in slabs along axis 0, with the same result, and cannot be
    /// uploaded as a [`GpuVolume`]. Useful to keep GPU memory for other work, and to test slab
    /// stitching on small volumes.
    #[must_use]
    pub fn with_max_slab_bytes(mut self, bytes: u64) -> Self {
        self.max_slab_bytes = bytes;
        self
    }

    /// The slab cap ([`GpuBlur::with_max_slab_bytes`]) under which blocks of `block` voxels
    /// (planes, rows, columns; the kernel's halo included) go through two at a time, as the
    /// schedule puts them in flight: twice such a block's buffer. For a caller that sizes its
    /// reads and writes in blocks (a chunked file) or bounds its memory by them.
    /// `voxel_bytes` is what the call holds per voxel on the GPU,
    /// [`Precision::voxel_bytes`](crate::Precision::voxel_bytes): 4 in f32, 8 in f64.
    #[must_use]
    pub fn slab_bytes_for_blocks(block: [usize; 3], voxel_bytes: usize) -> u64 {
        let real = if voxel_bytes > 4 {
            layout::Real::F64
        } else {
            layout::Real::F32
        };
        2 * layout::Layout::for_shape(block, real).bytes()
    }

    /// Whether the device computes in f64 natively (`wgpu::Features::SHADER_F64`: Vulkan and DX12
    /// on GPUs with float64 units, lavapipe); where it does not, [`crate::Precision::Double`]
    /// runs in double-single arithmetic.
    #[must_use]
    pub fn has_f64(&self) -> bool {
        self.device.features().contains(wgpu::Features::SHADER_F64)
    }

    /// The adapter in use, when this `GpuBlur` opened the device itself.
    #[must_use]
    pub fn adapter_info(&self) -> Option<&wgpu::AdapterInfo> {
        self.adapter.as_ref()
    }

    /// The family of shaders the passes run in: chosen per adapter (the CPU family on CPU
    /// adapters such as llvmpipe, the GPU family on every other), by `BLUR3D_PASSES=gpu|tile|cpu`
    /// ([`PassFamily::from_env`]), or by [`GpuBlur::with_pass_family`].
    #[must_use]
    pub fn pass_family(&self) -> PassFamily {
        self.kernels.family
    }

    /// The passes this `GpuBlur` has encoded so far, counted by the family that ran them:
    /// passes a family does not take (the GPU family: rows not a multiple of 4 voxels; the
    /// tile family: long kernels; a device of few storage bindings) run in another (see
    /// [`PassFamily`]), and this shows it.
    #[must_use]
    pub fn passes_run(&self) -> PassesRun {
        self.kernels.passes_run()
    }

    /// The device's limits, which decide the largest volume (`max_storage_buffer_binding_size`).
    #[must_use]
    pub fn limits(&self) -> wgpu::Limits {
        self.device.limits()
    }
}

impl Default for GpuBlur {
    /// Same as [`GpuBlur::new`].
    fn default() -> Self {
        Self::new()
    }
}
