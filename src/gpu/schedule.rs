//! Scheduling: a batch of volumes (a single volume is a batch of one) cut into chunks that fit
//! one GPU buffer, each uploaded, filtered and read back, two in flight so that the host's
//! copies of one overlap the GPU work of the next.
//!
//! A chunk is either several whole volumes side by side in one buffer (passes along axis 0 stop
//! at each volume's ends, so a time series goes through the GPU without a round trip per volume)
//! or a slab of one volume with its halo (`slabs`).

use std::ops::Range;

use ndarray::{ArrayView2, ArrayView4, ArrayViewMut2, Axis};

use super::layout::Layout;
use super::{GpuBlur, Halo, slabs, transfer};
use crate::plan::Plan;
use crate::{BlurError, Voxel};

/// Takes output planes as they come back: `sink(output, planes, values)`, the values of those
/// planes (numbered through the batch: volume `v`'s plane `p` is `v * n0 + p`) of that output
/// of the plan, back to back in standard order.
pub(super) type Sink<'a> = dyn FnMut(usize, Range<usize>, &[f32]) + 'a;

/// The planes of one upload and where its output planes go.
struct Chunk {
    /// (volume, plane) of each plane of the chunk, in order.
    sources: Vec<(usize, usize)>,
    /// How the chunk lies in its buffer: one volume's slab, or whole volumes side by side.
    layout: Layout,
    /// The output planes it yields, numbered through the batch.
    out: Range<usize>,
    /// The chunk's plane that becomes `out.start`.
    first: usize,
}

/// A chunk submitted and not yet read back.
struct InFlight {
    out: Range<usize>,
    voxels: usize,
    /// One staging buffer per output of the plan.
    staging: Vec<wgpu::Buffer>,
    submission: wgpu::SubmissionIndex,
}

impl GpuBlur {
    /// Runs `plan` on every volume of `vols` (axis 0 counts the volumes) chunk by chunk, handing
    /// the output planes to `sink` and calling `progress(done, total)` after each chunk.
    pub(super) async fn run<A: Voxel>(
        &self,
        vols: ArrayView4<'_, A>,
        plan: &Plan,
        sink: &mut Sink<'_>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<(), BlurError> {
        let (t, n0, n1, n2) = vols.dim();
        if plan.is_identity() {
            let values: Vec<f32> = vols.iter().map(|v| v.to_f32()).collect();
            for output in 0..plan.outputs.len() {
                sink(output, 0..t * n0, &values);
            }
            progress(1, 1);
            return Ok(());
        }
        let chunks = self.chunks([t, n0, n1, n2], plan)?;
        let total = chunks.len();
        self.guard(async {
            let mut in_flight: Option<InFlight> = None;
            for (done, chunk) in chunks.iter().enumerate() {
                let next = self.submit_chunk(vols, chunk, plan).await?;
                if let Some(previous) = in_flight.replace(next) {
                    self.finish_chunk(previous, sink).await?;
                    progress(done, total);
                }
            }
            if let Some(last) = in_flight {
                self.finish_chunk(last, sink).await?;
                progress(total, total);
            }
            Ok(())
        })
        .await
    }

    /// Cuts a batch of `t` volumes of `[n0, n1, n2]` into chunks: as many whole volumes as fit
    /// one buffer, or slabs of each volume when one does not fit.
    fn chunks(&self, [t, n0, n1, n2]: [usize; 4], plan: &Plan) -> Result<Vec<Chunk>, BlurError> {
        let shape = [n0, n1, n2];
        let one = Layout::for_shape(shape);
        let (limit, limit_name) = self.slab_limit();
        if one.bytes() <= limit {
            let fit = (limit / one.bytes()).max(1) as usize;
            // Several chunks: two in flight take no more memory than one of the whole limit.
            let per = if t > fit { (fit / 2).max(1) } else { t };
            return Ok((0..t)
                .step_by(per)
                .map(|v0| {
                    let v1 = (v0 + per).min(t);
                    Chunk {
                        sources: (v0..v1)
                            .flat_map(|v| (0..n0).map(move |p| (v, p)))
                            .collect(),
                        layout: Layout::batch(shape, v1 - v0),
                        out: v0 * n0..v1 * n0,
                        first: 0,
                    }
                })
                .collect());
        }
        // Slabs hold their planes in the layout of the volume.
        let plane_bytes = (one.pitch() * size_of::<f32>()) as u64;
        let halo: Halo = plan.axis0_halo()?;
        let mut slabs = slabs::plan(n0, plane_bytes, limit, limit_name, halo)?;
        // Two slabs in flight take no more memory than one slab of the whole limit, when half a
        // slab still holds the halo.
        if let Ok(halves) = slabs::plan(n0, plane_bytes, limit / 2, limit_name, halo) {
            slabs = halves;
        }
        Ok((0..t)
            .flat_map(|v| {
                slabs.iter().map(move |s| Chunk {
                    sources: s.planes.iter().map(|&p| (v, p)).collect(),
                    layout: Layout::for_shape([s.planes.len(), n1, n2]),
                    out: v * n0 + s.out.start..v * n0 + s.out.end,
                    first: s.first,
                })
            })
            .collect())
    }

    /// Uploads `chunk`'s planes of `vols`, encodes the plan and the copy of the chunk's output
    /// planes of each output to a staging buffer, and submits it all.
    async fn submit_chunk<A: Voxel>(
        &self,
        vols: ArrayView4<'_, A>,
        chunk: &Chunk,
        plan: &Plan,
    ) -> Result<InFlight, BlurError> {
        let planes: Vec<ArrayView2<'_, A>> = chunk
            .sources
            .iter()
            .map(|&(v, p)| vols.index_axis_move(Axis(0), v).index_axis_move(Axis(0), p))
            .collect();
        let layout = chunk.layout;
        let mut encoder = self.encoder();
        let (volume, loaded) = self.load(&planes, layout, &mut encoder).await?;
        let buffers = self
            .encode_plan(&mut encoder, plan, volume.buffer, layout)
            .await?;
        let planes = chunk.first..chunk.first + chunk.out.len();
        let mut staging = Vec::with_capacity(plan.outputs.len());
        for &slot in &plan.outputs {
            staging.push(
                self.transfers
                    .stage(&mut encoder, &buffers[slot], layout, planes.clone())
                    .await?,
            );
        }
        let submission = self.submit(encoder).await?;
        // Work submitted later runs after this: the next chunk may reuse every buffer but the
        // staging ones it reads back from.
        self.recycle(loaded);
        for buffer in buffers {
            self.transfers.keep_storage(buffer);
        }
        Ok(InFlight {
            out: chunk.out.clone(),
            voxels: chunk.out.len() * layout.plane(),
            staging,
            submission,
        })
    }

    /// Waits for `chunk` and hands each output's planes to `sink`.
    async fn finish_chunk(&self, chunk: InFlight, sink: &mut Sink<'_>) -> Result<(), BlurError> {
        for (output, staging) in chunk.staging.into_iter().enumerate() {
            let out = chunk.out.clone();
            self.transfers
                .readback(staging, chunk.submission.clone(), chunk.voxels, |values| {
                    sink(output, out, values);
                })
                .await?;
        }
        Ok(())
    }
}

/// The planes of each output array, numbered through the batch, to store chunks into.
pub(super) fn output_planes<'a, B>(
    outs: &'a mut [ndarray::ArrayViewMut4<'_, B>],
) -> Vec<Vec<ArrayViewMut2<'a, B>>> {
    outs.iter_mut()
        .map(|o| {
            o.outer_iter_mut()
                .flat_map(|v| v.into_outer_iter_mut())
                .collect()
        })
        .collect()
}

/// A sink that stores into `planes` (see [`output_planes`]), converting to `B`.
pub(super) fn store_into<'a, B: Voxel>(
    planes: &'a mut [Vec<ArrayViewMut2<'_, B>>],
) -> impl FnMut(usize, Range<usize>, &[f32]) + 'a {
    move |output, range, values| transfer::store_planes(&mut planes[output][range], values)
}
