//! Everything between host memory and the device: buffer pools, uploads through reused mapped
//! staging buffers filled by several threads, readbacks copied out by several threads, and
//! output arrays whose first touch is cheap.
//!
//! On a discrete GPU, end to end is bound by the host: `queue.write_buffer` copies into a fresh
//! staging allocation of its own, one thread copies, and a new output array pays a page fault
//! per 4 KiB page on first touch. Here staging buffers stay mapped between calls (each is mapped
//! again as soon as the GPU has read it), planes are copied by as many threads as rayon has, and
//! new outputs ask for transparent huge pages before they are touched.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use ndarray::{ArrayView2, ArrayViewMut2};
use rayon::prelude::*;

use super::context::Scopes;
use super::layout::Layout;
use crate::{BlurError, Voxel};

/// How many idle buffers of each kind stay pooled (the largest ones); a Hessian's plan uses
/// nine storage buffers per slab, two slabs are in flight.
const POOLED: usize = 24;

/// A staging buffer the host writes and the GPU copies from, mapped while idle.
pub(crate) struct UploadStaging {
    buffer: wgpu::Buffer,
    /// Set by the map callback once the buffer is mapped for writing again.
    mapped: Arc<AtomicBool>,
}

/// The buffers a `GpuBlur` keeps between calls.
#[derive(Debug)]
pub(crate) struct Transfers {
    device: wgpu::Device,
    /// Idle storage buffers (volumes, slabs, scratch).
    storage: Mutex<Vec<wgpu::Buffer>>,
    /// Idle readback staging buffers.
    readback: Mutex<Vec<wgpu::Buffer>>,
    /// Upload staging buffers, mapped or being mapped.
    upload: Mutex<Vec<(wgpu::Buffer, Arc<AtomicBool>)>>,
    /// Idle buffers of the shaders' parameters and weights.
    params: Mutex<Vec<wgpu::Buffer>>,
}

impl Transfers {
    pub fn new(device: wgpu::Device) -> Self {
        Transfers {
            device,
            storage: Mutex::default(),
            readback: Mutex::default(),
            upload: Mutex::default(),
            params: Mutex::default(),
        }
    }

    /// A buffer holding `contents`, the shaders' parameters (uniform) or weights (storage):
    /// pooled or new, written with `queue.write_buffer`, which lands before the next submit.
    /// Give it back with [`Transfers::keep_params`] only once the work that reads it has been
    /// submitted, as storage buffers.
    pub fn params(&self, queue: &wgpu::Queue, contents: &[u8]) -> wgpu::Buffer {
        let bytes = (contents.len() as u64).next_multiple_of(16).max(16);
        let buffer = take_from(&self.params, bytes).unwrap_or_else(|| {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("blur3d.params"),
                size: bytes,
                usage: wgpu::BufferUsages::UNIFORM
                    | wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        });
        queue.write_buffer(&buffer, 0, contents);
        buffer
    }

    /// Keeps parameter buffers for reuse, once the work that reads them has been submitted.
    pub fn keep_params(&self, buffers: impl IntoIterator<Item = wgpu::Buffer>) {
        for buffer in buffers {
            keep(&self.params, buffer);
        }
    }

    /// Idle parameter buffers.
    #[cfg(test)]
    pub fn params_pooled(&self) -> usize {
        self.params.lock().map_or(0, |p| p.len())
    }

    /// A storage buffer of at least `bytes`, from the pool or new.
    pub async fn storage(&self, bytes: u64) -> Result<wgpu::Buffer, BlurError> {
        if let Some(b) = take_from(&self.storage, bytes) {
            return Ok(b);
        }
        let scopes = Scopes::push(&self.device);
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("blur3d.volume"),
            // A whole number of vec4s, for the shaders' vec4 views.
            size: bytes.next_multiple_of(16),
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_DST
                | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        scopes.pop().await?;
        Ok(buffer)
    }

    /// Keeps a storage buffer for reuse. Only once the work that uses it has been submitted:
    /// a later call's writes then come after it.
    pub fn keep_storage(&self, buffer: wgpu::Buffer) {
        keep(&self.storage, buffer);
    }

    /// Copies `planes` into a mapped staging buffer in `layout` (as f32, or as
    /// the voxels' own bytes with `raw`), several planes at a time, and encodes the copy into
    /// `dst`. Give the staging buffer to [`Transfers::recycle`] once submitted.
    pub async fn upload<A: Voxel>(
        &self,
        planes: &[ArrayView2<'_, A>],
        layout: Layout,
        raw: bool,
        dst: &wgpu::Buffer,
        encoder: &mut wgpu::CommandEncoder,
    ) -> Result<UploadStaging, BlurError> {
        let element = if raw {
            size_of::<A>()
        } else {
            size_of::<f32>()
        };
        let bytes = (layout.len() * element) as u64;
        // Copies move whole 4-byte words.
        let copied = bytes.next_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT);
        let staging = self.upload_staging(copied).await?;
        {
            let mut view = staging
                .buffer
                .slice(..copied)
                .get_mapped_range_mut()
                .map_err(|e| BlurError::Gpu {
                    message: e.to_string(),
                })?;
            fill_planes(view.slice(..), planes, layout, raw);
        }
        staging.buffer.unmap();
        encoder.copy_buffer_to_buffer(&staging.buffer, 0, dst, 0, copied);
        Ok(staging)
    }

    /// Maps `staging` again for the next upload, once the GPU has read it, and keeps it.
    pub fn recycle(&self, staging: UploadStaging) {
        let UploadStaging { buffer, mapped } = staging;
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

    /// A mapped upload staging buffer of at least `bytes`: a pooled one whose mapping has
    /// completed, or a new one, mapped at creation.
    async fn upload_staging(&self, bytes: u64) -> Result<UploadStaging, BlurError> {
        for attempt in 0..2 {
            let ready = self.upload.lock().ok().and_then(|mut pool| {
                let i = pool
                    .iter()
                    .position(|(b, m)| b.size() >= bytes && m.load(Ordering::Acquire))?;
                Some(pool.swap_remove(i))
            });
            if let Some((buffer, mapped)) = ready {
                return Ok(UploadStaging { buffer, mapped });
            }
            if attempt == 0 {
                // Mappings complete in a poll; this one does not wait for the GPU.
                let _ = self.device.poll(wgpu::PollType::Poll);
            }
        }
        let scopes = Scopes::push(&self.device);
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("blur3d.upload"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_WRITE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: true,
        });
        scopes.pop().await?;
        Ok(UploadStaging {
            buffer,
            mapped: Arc::new(AtomicBool::new(true)),
        })
    }

    /// A readback staging buffer, and the encoded copy into it of `rows` of `planes` of the
    /// volume in `buffer` (in `layout`), back to back.
    pub async fn stage(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        buffer: &wgpu::Buffer,
        layout: Layout,
        planes: std::ops::Range<usize>,
        rows: std::ops::Range<usize>,
    ) -> Result<wgpu::Buffer, BlurError> {
        let bytes = (planes.len() * rows.len() * layout.shape[2] * size_of::<f32>()) as u64;
        let staging = match take_from(&self.readback, bytes) {
            Some(b) => b,
            None => {
                let scopes = Scopes::push(&self.device);
                let b = self.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("blur3d.staging"),
                    size: bytes,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                scopes.pop().await?;
                b
            }
        };
        copy_planes(encoder, buffer, layout, planes, rows, &staging);
        Ok(staging)
    }

    /// Waits for `submission`, hands the first `len` values of `staging` to `sink`, and keeps
    /// the staging buffer (also when `sink` fails, whose error is returned).
    pub async fn readback(
        &self,
        staging: wgpu::Buffer,
        submission: wgpu::SubmissionIndex,
        len: usize,
        sink: impl FnOnce(&[f32]) -> Result<(), BlurError>,
    ) -> Result<(), BlurError> {
        let slice = staging.slice(..(len * size_of::<f32>()) as u64);
        let (sender, receiver) = futures_intrusive::channel::shared::oneshot_channel();
        slice.map_async(wgpu::MapMode::Read, move |result| {
            // The receiver only goes away if the caller was dropped; nothing is left to tell.
            let _ = sender.send(result);
        });
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(submission),
                timeout: None,
            })
            .map_err(|e| BlurError::Gpu {
                message: e.to_string(),
            })?;
        match receiver.receive().await {
            Some(Ok(())) => {}
            Some(Err(e)) => {
                return Err(BlurError::DeviceLost {
                    reason: e.to_string(),
                });
            }
            None => {
                return Err(BlurError::DeviceLost {
                    reason: "the readback was abandoned".into(),
                });
            }
        }
        let stored = match slice.get_mapped_range() {
            Ok(view) => sink(bytemuck::cast_slice(&view)),
            Err(e) => Err(BlurError::Gpu {
                message: e.to_string(),
            }),
        };
        staging.unmap();
        keep(&self.readback, staging);
        stored
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

/// Writes `planes` into `dst` in `layout` (each plane at its pitch), as f32 or as the voxels'
/// own bytes (`raw`), one plane per task.
fn fill_planes<A: Voxel>(
    dst: wgpu::WriteOnly<'_, [u8]>,
    planes: &[ArrayView2<'_, A>],
    layout: Layout,
    raw: bool,
) {
    let element = if raw {
        size_of::<A>()
    } else {
        size_of::<f32>()
    };
    let (pitch, plane) = (layout.pitch() * element, layout.plane() * element);
    let mut chunks = Vec::with_capacity(planes.len());
    let mut rest = dst;
    for _ in 0..planes.len() {
        let cut = pitch.min(rest.len());
        let (chunk, tail) = rest.split_at(cut);
        chunks.push(PlaneChunk(chunk));
        rest = tail;
    }
    chunks
        .into_par_iter()
        .zip(planes.par_iter())
        .for_each(|(PlaneChunk(chunk), source)| {
            let (mut chunk, _) = chunk.split_at(plane);
            match (source.as_slice(), raw) {
                (Some(values), true) => chunk.copy_from_slice(bytemuck::cast_slice(values)),
                (Some(values), false) => match A::as_f32_slice(values) {
                    Some(f) => chunk.copy_from_slice(bytemuck::cast_slice(f)),
                    None => {
                        let f: Vec<f32> = values.iter().map(|v| v.to_f32()).collect();
                        chunk.copy_from_slice(bytemuck::cast_slice(&f));
                    }
                },
                (None, true) => {
                    let v: Vec<A> = source.iter().copied().collect();
                    chunk.copy_from_slice(bytemuck::cast_slice(&v));
                }
                (None, false) => {
                    let f: Vec<f32> = source.iter().map(|v| v.to_f32()).collect();
                    chunk.copy_from_slice(bytemuck::cast_slice(&f));
                }
            }
        });
}

/// One plane's part of a mapped staging buffer, handed to the thread that fills it.
struct PlaneChunk<'a>(wgpu::WriteOnly<'a, [u8]>);

// SAFETY: a `WriteOnly<[u8]>` is a unique, write-only borrow of its bytes, like `&mut [u8]`,
// which is `Send`; wgpu's own `Send` impl only misses it for want of `?Sized`. The chunks are
// disjoint (split from one view), and the view outlives the parallel fill.
unsafe impl Send for PlaneChunk<'_> {}

/// Encodes the copy of `planes` of the volume in `src` (in `layout`) to the start of `dst`,
/// back to back.
fn copy_planes(
    encoder: &mut wgpu::CommandEncoder,
    src: &wgpu::Buffer,
    layout: Layout,
    planes: std::ops::Range<usize>,
    rows: std::ops::Range<usize>,
    dst: &wgpu::Buffer,
) {
    let f32_bytes = |voxels: usize| (voxels * size_of::<f32>()) as u64;
    if layout.is_dense() && rows == (0..layout.shape[1]) {
        let from = f32_bytes(planes.start * layout.plane());
        encoder.copy_buffer_to_buffer(src, from, dst, 0, f32_bytes(planes.len() * layout.plane()));
        return;
    }
    let n2 = layout.shape[2];
    let part = rows.len() * n2;
    for (i, p) in planes.enumerate() {
        encoder.copy_buffer_to_buffer(
            src,
            f32_bytes(p * layout.pitch() + rows.start * n2),
            dst,
            f32_bytes(i * part),
            f32_bytes(part),
        );
    }
}

/// Stores `values` (planes back to back, in standard order) into `planes`, converting to `B`,
/// one plane per task.
pub(crate) fn store_planes<B: Voxel>(planes: &mut [ArrayViewMut2<'_, B>], values: &[f32]) {
    let Some(plane) = planes.first().map(|p| p.len()).filter(|&n| n > 0) else {
        return;
    };
    planes
        .par_iter_mut()
        .zip(values.par_chunks(plane))
        .for_each(|(o, v)| match o.as_slice_mut() {
            Some(o) => o.iter_mut().zip(v).for_each(|(o, &v)| *o = B::from_f32(v)),
            None => o.iter_mut().zip(v).for_each(|(o, &v)| *o = B::from_f32(v)),
        });
}

/// A new array of `shape`, zeroed lazily by the allocator, whose pages are asked to be huge
/// before anything touches them (Linux; elsewhere a plain zeroed array).
pub(crate) fn fresh_output<B: Voxel>(shape: [usize; 3]) -> ndarray::Array3<B> {
    let out = ndarray::Array3::from_elem(shape, B::zeroed());
    advise_huge_pages(out.as_ptr().cast(), out.len() * size_of::<B>());
    out
}

#[cfg(target_os = "linux")]
fn advise_huge_pages(ptr: *const u8, len: usize) {
    const HUGE: usize = 2 << 20;
    let start = (ptr as usize).next_multiple_of(HUGE);
    let end = (ptr as usize + len) / HUGE * HUGE;
    if end > start {
        // SAFETY: the range lies inside one live allocation of ours; MADV_HUGEPAGE only changes
        // how the kernel backs it, never its contents. A refusal (THP off) changes nothing.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_ptr: *const u8, _len: usize) {}

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

    #[test]
    fn weights_and_params_are_pooled_across_calls() {
        let Some(gpu) = gpu() else { return };
        let vol = Array3::from_shape_fn((9, 10, 11), |(a, b, c)| (a * 7 + b * 3 + c) as u16);
        gpu.blur(&vol, [1.0, 2.0, 0.5]).unwrap();
        // Weights, pass params and the widening's params.
        let pooled = gpu.transfers.params_pooled();
        assert_eq!(pooled, 3);
        for _ in 0..4 {
            gpu.blur(&vol, [1.0, 2.0, 0.5]).unwrap();
            gpu.blur_with(&vol.mapv(f32::from), &crate::BlurOptions::new(1.5))
                .unwrap();
        }
        assert_eq!(
            gpu.transfers.params_pooled(),
            pooled,
            "new buffers per call"
        );
    }
}
