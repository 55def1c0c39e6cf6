//! Buffers kept between calls, and the [`Frame`] that owns one submission's transient buffers
//! and gives them back when it ends.
//!
//! The rule of reuse: a buffer may go back to a pool once the work that uses it has been
//! submitted (or abandoned): work submitted later runs after it, so a later call's writes come
//! after its reads. A frame holds every buffer a submission takes; the engine's `submit` consumes
//! it, and dropping it (on an error too) gives everything back. Nothing is given back by hand.
//!
//! [`GpuBlur::submit`]: super::GpuBlur

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::device::Scopes;
use crate::BlurError;

/// How many idle buffers of each kind stay pooled (the largest ones); a Hessian's plan uses
/// nine storage buffers per slab, two slabs are in flight.
const POOLED: usize = 24;

/// Idle buffers of one device.
#[derive(Debug)]
pub(crate) struct Pool {
    device: wgpu::Device,
    /// Storage buffers (volumes, slabs, scratch).
    storage: Mutex<Vec<wgpu::Buffer>>,
    /// Readback staging buffers.
    readback: Mutex<Vec<wgpu::Buffer>>,
    /// Upload staging buffers, each with the flag its map callback sets once it is mapped for
    /// writing again.
    upload: Mutex<Vec<(wgpu::Buffer, Arc<AtomicBool>)>>,
    /// Buffers of the shaders' parameters and weights.
    params: Mutex<Vec<wgpu::Buffer>>,
}

impl Pool {
    pub(crate) fn new(device: wgpu::Device) -> Self {
        Pool {
            device,
            storage: Mutex::default(),
            readback: Mutex::default(),
            upload: Mutex::default(),
            params: Mutex::default(),
        }
    }

    /// A storage buffer of at least `bytes` (a whole number of vec4s, for the shaders' vec4
    /// views), pooled or new: through a [`Frame`], which gives it back, or for a volume that outlives
    /// its submission.
    pub(crate) async fn storage(&self, bytes: u64) -> Result<wgpu::Buffer, BlurError> {
        if let Some(b) = take_from(&self.storage, bytes) {
            return Ok(b);
        }
        self.create(
            "blur3d.volume",
            // Whole vec4s of f64: the vec4 views see the whole buffer.
            bytes.next_multiple_of(32),
            wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_DST
                | wgpu::BufferUsages::COPY_SRC,
            false,
        )
        .await
    }

    /// A readback staging buffer of at least `bytes`, pooled or new.
    pub(crate) async fn readback(&self, bytes: u64) -> Result<wgpu::Buffer, BlurError> {
        if let Some(b) = take_from(&self.readback, bytes) {
            return Ok(b);
        }
        let usage = wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST;
        self.create("blur3d.staging", bytes, usage, false).await
    }

    /// Keeps a readback staging buffer, unmapped, for reuse.
    pub(crate) fn keep_readback(&self, buffer: wgpu::Buffer) {
        keep(&self.readback, buffer);
    }

    /// Idle parameter buffers and idle storage buffers.
    #[cfg(test)]
    pub(crate) fn pooled(&self) -> (usize, usize) {
        let count = |pool: &Mutex<Vec<wgpu::Buffer>>| pool.lock().map_or(0, |p| p.len());
        (count(&self.params), count(&self.storage))
    }

    /// A mapped upload staging buffer of at least `bytes`: a pooled one whose mapping has
    /// completed, or a new one, mapped at creation.
    async fn upload(&self, bytes: u64) -> Result<(wgpu::Buffer, Arc<AtomicBool>), BlurError> {
        for attempt in 0..2 {
            let ready = self.upload.lock().ok().and_then(|mut pool| {
                let i = pool
                    .iter()
                    .position(|(b, m)| b.size() >= bytes && m.load(Ordering::Acquire))?;
                Some(pool.swap_remove(i))
            });
            if let Some(ready) = ready {
                return Ok(ready);
            }
            if attempt == 0 {
                // Mappings complete in a poll; this one does not wait for the GPU.
                let _ = self.device.poll(wgpu::PollType::Poll);
            }
        }
        let usage = wgpu::BufferUsages::MAP_WRITE | wgpu::BufferUsages::COPY_SRC;
        let buffer = self.create("blur3d.upload", bytes, usage, true).await?;
        Ok((buffer, Arc::new(AtomicBool::new(true))))
    }

    /// Maps an upload staging buffer again for the next upload, once the GPU has read it, and
    /// keeps it.
    fn recycle_upload(&self, (buffer, mapped): (wgpu::Buffer, Arc<AtomicBool>)) {
        mapped.store(false, Ordering::Release);
        let flag = Arc::clone(&mapped);
        buffer.map_async(wgpu::MapMode::Write, .., move |result| {
            flag.store(result.is_ok(), Ordering::Release);
        });
        if let Ok(mut pool) = self.upload.lock() {
            pool.push((buffer, mapped));
            pool.sort_by_key(|(b, _)| std::cmp::Reverse(b.size()));
            pool.truncate(POOLED);
        }
    }

    /// A new buffer; out of memory and validation errors come back as errors.
    async fn create(
        &self,
        label: &str,
        size: u64,
        usage: wgpu::BufferUsages,
        mapped_at_creation: bool,
    ) -> Result<wgpu::Buffer, BlurError> {
        let scopes = Scopes::push(&self.device);
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage,
            mapped_at_creation,
        });
        scopes.pop().await?;
        Ok(buffer)
    }
}

/// The transient buffers of one submission: taken from the pool through the frame, given back
/// when the frame is dropped, which the engine's `submit` does right after
/// submitting. Buffers that outlive the submission (a device-resident volume) are
/// [`released`](Frame::release) from it.
pub(crate) struct Frame<'a> {
    pool: &'a Pool,
    storage: Vec<wgpu::Buffer>,
    params: Vec<wgpu::Buffer>,
    uploads: Vec<(wgpu::Buffer, Arc<AtomicBool>)>,
}

impl<'a> Frame<'a> {
    pub(crate) fn new(pool: &'a Pool) -> Self {
        Frame {
            pool,
            storage: Vec::new(),
            params: Vec::new(),
            uploads: Vec::new(),
        }
    }

    /// A storage buffer of at least `bytes` for this submission.
    pub(crate) async fn storage(&mut self, bytes: u64) -> Result<wgpu::Buffer, BlurError> {
        let buffer = self.pool.storage(bytes).await?;
        self.storage.push(buffer.clone());
        Ok(buffer)
    }

    /// Gives `buffer`, a storage buffer, back with the frame.
    pub(crate) fn adopt(&mut self, buffer: wgpu::Buffer) {
        self.storage.push(buffer);
    }

    /// Keeps `buffer` out of the frame: it outlives the submission (its owner gives it back).
    pub(crate) fn release(&mut self, buffer: &wgpu::Buffer) {
        self.storage.retain(|b| b != buffer);
    }

    /// A buffer holding `contents`, the shaders' parameters (uniform) or weights (storage), for
    /// this submission: pooled or new, written with `queue.write_buffer`, which lands before
    /// the next submit.
    pub(crate) fn params(&mut self, queue: &wgpu::Queue, contents: &[u8]) -> wgpu::Buffer {
        let bytes = (contents.len() as u64).next_multiple_of(16).max(16);
        let buffer = take_from(&self.pool.params, bytes).unwrap_or_else(|| {
            self.pool.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("blur3d.params"),
                size: bytes,
                usage: wgpu::BufferUsages::UNIFORM
                    | wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        });
        queue.write_buffer(&buffer, 0, contents);
        self.params.push(buffer.clone());
        buffer
    }

    /// A mapped upload staging buffer of at least `bytes` for this submission; mapped again
    /// for the next upload when the frame ends.
    pub(crate) async fn upload(&mut self, bytes: u64) -> Result<wgpu::Buffer, BlurError> {
        let (buffer, mapped) = self.pool.upload(bytes).await?;
        self.uploads.push((buffer.clone(), mapped));
        Ok(buffer)
    }
}

impl Drop for Frame<'_> {
    fn drop(&mut self) {
        for buffer in self.storage.drain(..) {
            keep(&self.pool.storage, buffer);
        }
        for buffer in self.params.drain(..) {
            keep(&self.pool.params, buffer);
        }
        for upload in self.uploads.drain(..) {
            self.pool.recycle_upload(upload);
        }
    }
}

/// A buffer of at least `bytes` from `pool`, if one is idle.
fn take_from(pool: &Mutex<Vec<wgpu::Buffer>>, bytes: u64) -> Option<wgpu::Buffer> {
    let mut pool = pool.lock().ok()?;
    // The smallest that fits, so that large buffers stay for large volumes.
    let i = (0..pool.len())
        .filter(|&i| pool[i].size() >= bytes)
        .min_by_key(|&i| pool[i].size())?;
    Some(pool.swap_remove(i))
}

/// Keeps `buffer` for reuse; only the largest few stay, so memory does not pile up.
fn keep(pool: &Mutex<Vec<wgpu::Buffer>>, buffer: wgpu::Buffer) {
    if let Ok(mut pool) = pool.lock() {
        pool.push(buffer);
        pool.sort_by_key(|b| std::cmp::Reverse(b.size()));
        pool.truncate(POOLED);
    }
}

#[cfg(test)]
mod tests {
    use crate::GpuBlur;
    use ndarray::Array3;

    /// A GPU, or `None` with a note (a failure in CI, which has a software adapter).
    fn gpu() -> Option<GpuBlur> {
        match GpuBlur::try_new() {
            Ok(g) => Some(g),
            Err(e) if std::env::var_os("CI").is_some() => {
                panic!("CI needs a GPU adapter (a software one will do): {e}")
            }
            Err(e) => {
                eprintln!("SKIPPED: no GPU adapter on this machine ({e})");
                None
            }
        }
    }

    /// Every buffer a call takes comes back with its frame: calls after the first make none.
    #[test]
    fn buffers_are_given_back_and_reused_across_calls() {
        let Some(gpu) = gpu() else { return };
        // Without the tuner's probes, whose buffers are pooled too.
        let gpu = gpu.with_tuning(false);
        let vol = Array3::from_shape_fn((9, 10, 11), |(a, b, c)| (a * 7 + b * 3 + c) as u16);
        gpu.blur(&vol, [1.0, 2.0, 0.5]).unwrap();
        // Weights, pass params and the widening's params; the volume, the packed integers and
        // the ping-pong buffer.
        let pooled = gpu.pool.pooled();
        assert_eq!(pooled, (3, 3));
        for _ in 0..4 {
            gpu.blur(&vol, [1.0, 2.0, 0.5]).unwrap();
            gpu.blur_with(&vol.mapv(f32::from), &crate::BlurOptions::new(1.5))
                .unwrap();
        }
        let mut on_gpu = gpu.upload(&vol).unwrap();
        gpu.blur_volume(&mut on_gpu, &crate::BlurOptions::new(1.0))
            .unwrap();
        gpu.download(&on_gpu).unwrap();
        let (params, storage) = pooled;
        assert_eq!(
            gpu.pool.pooled(),
            (params, storage - 1),
            "the volume on the device holds one buffer, every other came back"
        );
    }
}
