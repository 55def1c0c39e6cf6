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

use super::layout::{Layout, Real};
use super::pool::{Frame, Pool};
use crate::{BlurError, Voxel};

/// Copies `planes` into a mapped staging buffer of `frame` in `layout` (in its element type, or
/// as the voxels' own bytes with `raw`), several planes at a time, and encodes the copy into
/// `dst`.
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
        layout.real.size()
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
    let bytes = layout.bytes_of(planes.len() * rows.len() * layout.shape[2]);
    let staging = pool.readback(bytes).await?;
    copy_planes(encoder, buffer, layout, planes, rows, &staging);
    Ok(staging)
}

/// Values read back or passed through, in the element type they were computed in;
/// double-single pairs with the exponent their volume was scaled by ([`Layout::exp`]).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Values<'a> {
    F32(&'a [f32]),
    F64(&'a [f64]),
    Ds(&'a [[f32; 2]], i32),
}

impl<'a> Values<'a> {
    /// `bytes` as elements of `layout`'s type.
    fn of(layout: Layout, bytes: &'a [u8]) -> Self {
        match layout.real {
            Real::F32 => Values::F32(bytemuck::cast_slice(bytes)),
            Real::F64 => Values::F64(bytemuck::cast_slice(bytes)),
            Real::Ds => Values::Ds(bytemuck::cast_slice(bytes), layout.exp),
        }
    }
}

/// Values of a layout's type converted from voxels, owned.
pub(crate) enum OwnedValues {
    F32(Vec<f32>),
    F64(Vec<f64>),
    Ds(Vec<[f32; 2]>),
}

impl OwnedValues {
    /// `voxels` converted to `layout`'s element type (double-single pairs scaled by 2^-exp).
    pub fn convert<A: Voxel>(layout: Layout, voxels: impl Iterator<Item = A>) -> Self {
        match layout.real {
            Real::F32 => OwnedValues::F32(voxels.map(Voxel::to_f32).collect()),
            Real::F64 => OwnedValues::F64(voxels.map(Voxel::to_f64).collect()),
            Real::Ds => {
                let scale = 2f64.powi(-layout.exp);
                OwnedValues::Ds(voxels.map(|v| ds_pair(v.to_f64() * scale)).collect())
            }
        }
    }

    /// The values as bytes.
    pub fn bytes(&self) -> &[u8] {
        match self {
            OwnedValues::F32(v) => bytemuck::cast_slice(v),
            OwnedValues::F64(v) => bytemuck::cast_slice(v),
            OwnedValues::Ds(v) => bytemuck::cast_slice(v),
        }
    }

    pub fn view(&self) -> Values<'_> {
        match self {
            OwnedValues::F32(v) => Values::F32(v),
            OwnedValues::F64(v) => Values::F64(v),
            OwnedValues::Ds(v) => Values::Ds(v, 0),
        }
    }
}

/// `x` as a double-single pair: the nearest f32, and the f32 nearest the rest (0 beside an
/// infinite or NaN value).
pub(crate) fn ds_pair(x: f64) -> [f32; 2] {
    #[allow(clippy::cast_possible_truncation)] // rounding to f32 is the point
    let hi = x as f32;
    #[allow(clippy::cast_possible_truncation)]
    let lo = if hi.is_finite() {
        (x - f64::from(hi)) as f32
    } else {
        0.0
    };
    [hi, lo]
}

/// The exponent to scale double-single `planes` by ([`Layout::exp`]): that of their largest
/// finite magnitude, 0 when there is none, or when they are 8- or 16-bit integers (widened on
/// the GPU as they are, well within f32's range).
pub(crate) fn ds_exponent<A: Voxel>(planes: &[ArrayView2<'_, A>]) -> i32 {
    if matches!(A::UPLOAD, crate::voxel::sealed::Upload::Packed { .. }) {
        return 0;
    }
    let max = planes
        .par_iter()
        .map(|p| {
            p.iter()
                .map(|v| v.to_f64().abs())
                .filter(|v| v.is_finite())
                .fold(0.0f64, f64::max)
        })
        .reduce(|| 0.0, f64::max);
    if max > 0.0 {
        #[allow(clippy::cast_possible_truncation)] // within f64's exponents
        let exp = max.log2().floor() as i32;
        exp
    } else {
        0
    }
}

/// Waits for `submission`, hands the first `len` values of `staging` (elements of `layout`'s
/// type) to `sink`, and gives the staging buffer back to `pool` (also when `sink` fails, whose
/// error is returned).
pub(crate) async fn readback(
    device: &wgpu::Device,
    pool: &Pool,
    staging: wgpu::Buffer,
    submission: wgpu::SubmissionIndex,
    (len, layout): (usize, Layout),
    sink: impl FnOnce(Values<'_>) -> Result<(), BlurError>,
) -> Result<(), BlurError> {
    let slice = staging.slice(..layout.bytes_of(len));
    let (sender, receiver) = futures_intrusive::channel::shared::oneshot_channel();
    slice.map_async(wgpu::MapMode::Read, move |result| {
        // The receiver only goes away if the caller was dropped; nothing is left to tell.
        let _ = sender.send(result);
    });
    wait(device, submission)?;
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
        Ok(view) => sink(Values::of(layout, &view)),
        Err(e) => Err(BlurError::Gpu {
            message: e.to_string(),
        }),
    };
    staging.unmap();
    pool.keep_readback(staging);
    stored
}

/// Waits until the device has run `submission`.
pub(crate) fn wait(
    device: &wgpu::Device,
    submission: wgpu::SubmissionIndex,
) -> Result<(), BlurError> {
    device
        .poll(wgpu::PollType::Wait {
            submission_index: Some(submission),
            timeout: None,
        })
        .map(|_| ())
        .map_err(|e| BlurError::Gpu {
            message: e.to_string(),
        })
}

/// Writes `planes` into `dst` in `layout` (each plane at its pitch), in its element type or as
/// the voxels' own bytes (`raw`), one plane per task.
fn fill_planes<A: Voxel>(
    dst: wgpu::WriteOnly<'_, [u8]>,
    planes: &[ArrayView2<'_, A>],
    layout: Layout,
    raw: bool,
) {
    let element = if raw {
        size_of::<A>()
    } else {
        layout.real.size()
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
            let own = source.as_slice();
            let same = own.and_then(|values| match layout.real {
                Real::F32 => A::as_f32_slice(values).map(bytemuck::cast_slice::<f32, u8>),
                Real::F64 => A::as_f64_slice(values).map(bytemuck::cast_slice::<f64, u8>),
                Real::Ds => None,
            });
            match (own, raw, same) {
                (Some(values), true, _) => chunk.copy_from_slice(bytemuck::cast_slice(values)),
                (_, false, Some(bytes)) => chunk.copy_from_slice(bytes),
                (None, true, _) => {
                    let v: Vec<A> = source.iter().copied().collect();
                    chunk.copy_from_slice(bytemuck::cast_slice(&v));
                }
                (_, false, None) => {
                    chunk.copy_from_slice(
                        OwnedValues::convert(layout, source.iter().copied()).bytes(),
                    );
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
    let bytes = |voxels: usize| layout.bytes_of(voxels);
    if layout.is_dense() && rows == (0..layout.shape[1]) {
        let from = bytes(planes.start * layout.plane());
        encoder.copy_buffer_to_buffer(src, from, dst, 0, bytes(planes.len() * layout.plane()));
        return;
    }
    let n2 = layout.shape[2];
    let part = rows.len() * n2;
    for (i, p) in planes.enumerate() {
        encoder.copy_buffer_to_buffer(
            src,
            bytes(p * layout.pitch() + rows.start * n2),
            dst,
            bytes(i * part),
            bytes(part),
        );
    }
}

/// Stores `values` (planes back to back, in standard order) into `planes`, converting to `B`
/// ([`Voxel::from_f32`] or [`Voxel::from_f64`]), one plane per task.
pub(crate) fn store_planes<B: Voxel>(planes: &mut [ArrayViewMut2<'_, B>], values: Values<'_>) {
    match values {
        Values::F32(v) => store_converted(planes, v, B::from_f32),
        Values::F64(v) => store_converted(planes, v, B::from_f64),
        Values::Ds(v, exp) => {
            let scale = 2f64.powi(exp);
            store_converted(planes, v, |[hi, lo]| {
                B::from_f64((f64::from(hi) + f64::from(lo)) * scale)
            });
        }
    }
}

fn store_converted<B: Voxel, R: Copy + Sync>(
    planes: &mut [ArrayViewMut2<'_, B>],
    values: &[R],
    convert: impl Fn(R) -> B + Sync,
) {
    let Some(plane) = planes.first().map(|p| p.len()).filter(|&n| n > 0) else {
        return;
    };
    planes
        .par_iter_mut()
        .zip(values.par_chunks(plane))
        .for_each(|(o, v)| match o.as_slice_mut() {
            Some(o) => o.iter_mut().zip(v).for_each(|(o, &v)| *o = convert(v)),
            None => o.iter_mut().zip(v).for_each(|(o, &v)| *o = convert(v)),
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
