//! Everything between host memory and the device: uploads through reused mapped staging
//! buffers filled by several threads, readbacks copied out by several threads, and output
//! arrays whose first touch is cheap.
//!
//! On a discrete GPU, end to end is bound by the host: `queue.write_buffer` copies into a fresh
//! staging allocation of its own, one thread copies, and a new output array pays a page fault
//! per 4 KiB page on first touch. Here staging buffers stay mapped between calls (each is mapped
//! again as soon as the GPU has read it), planes are copied by as many threads as rayon has, and
//! new outputs ask for transparent huge pages before they are touched.

use ndarray::{ArrayView2, ArrayViewMut2};
use rayon::prelude::*;

use super::layout::Layout;
use super::pool::{Frame, Pool};
use crate::{BlurError, Voxel};

/// Copies `planes` into a mapped staging buffer of `frame` in `layout` (as f32, or as the
/// voxels' own bytes with `raw`), several planes at a time, and encodes the copy into `dst`.
pub(crate) async fn upload<A: Voxel>(
    frame: &mut Frame<'_>,
    planes: &[ArrayView2<'_, A>],
    layout: Layout,
    raw: bool,
    dst: &wgpu::Buffer,
    encoder: &mut wgpu::CommandEncoder,
) -> Result<(), BlurError> {
    let element = if raw {
        size_of::<A>()
    } else {
        size_of::<f32>()
    };
    let bytes = (layout.len() * element) as u64;
    // Copies move whole 4-byte words.
    let copied = bytes.next_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT);
    let staging = frame.upload(copied).await?;
    {
        let mut view = staging
            .slice(..copied)
            .get_mapped_range_mut()
            .map_err(|e| BlurError::Gpu {
                message: e.to_string(),
            })?;
        fill_planes(view.slice(..), planes, layout, raw);
    }
    staging.unmap();
    encoder.copy_buffer_to_buffer(&staging, 0, dst, 0, copied);
    Ok(())
}

/// A readback staging buffer from `pool`, and the encoded copy into it of `rows` of `planes`
/// of the volume in `buffer` (in `layout`), back to back. [`readback`] gives it back.
pub(crate) async fn stage(
    pool: &Pool,
    encoder: &mut wgpu::CommandEncoder,
    buffer: &wgpu::Buffer,
    layout: Layout,
    planes: std::ops::Range<usize>,
    rows: std::ops::Range<usize>,
) -> Result<wgpu::Buffer, BlurError> {
    let bytes = (planes.len() * rows.len() * layout.shape[2] * size_of::<f32>()) as u64;
    let staging = pool.readback(bytes).await?;
    copy_planes(encoder, buffer, layout, planes, rows, &staging);
    Ok(staging)
}

/// Waits for `submission`, hands the first `len` values of `staging` to `sink`, and gives the
/// staging buffer back to `pool` (also when `sink` fails, whose error is returned).
pub(crate) async fn readback(
    device: &wgpu::Device,
    pool: &Pool,
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
    device
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
    pool.keep_readback(staging);
    stored
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
