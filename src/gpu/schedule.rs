//! Scheduling: a batch of volumes (a single volume is a batch of one) cut into chunks that fit
//! one GPU buffer, each uploaded, filtered and read back, two in flight so that the host's
//! copies of one overlap the GPU work of the next.
//!
//! A chunk is either several whole volumes side by side in one buffer (passes along axis 0 stop
//! at each volume's ends, so a time series goes through the GPU without a round trip per volume)
//! or a slab of one volume with its halo (`slabs`).

use std::ops::Range;

use bytemuck::Zeroable;
use ndarray::{Array3, ArrayView2, ArrayView4, ArrayViewMut2, Axis};

use super::layout::Layout;
use super::{GpuBlur, Halo, slabs, transfer};
use crate::plan::Plan;
use crate::stream::{PlaneSink, PlaneSource};
use crate::{BlurError, Voxel};

/// Takes output planes as they come back: `sink(output, planes, values)`, the values of those
/// planes (numbered through the batch: volume `v`'s plane `p` is `v * n0 + p`) of that output
/// of the plan, back to back in standard order.
pub(super) type Sink<'a> = dyn FnMut(usize, Range<usize>, &[f32]) -> Result<(), BlurError> + 'a;

/// Where the planes come from: arrays in memory (a batch of volumes), or a source read plane
/// by plane.
pub(super) enum Input<'a, A: Voxel> {
    Arrays(ArrayView4<'a, A>),
    Stream(&'a mut dyn PlaneSource<Voxel = A>),
}

impl<A: Voxel> Input<'_, A> {
    /// (volumes, n0, n1, n2).
    fn dim(&self) -> [usize; 4] {
        match self {
            Input::Arrays(v) => {
                let (t, a, b, c) = v.dim();
                [t, a, b, c]
            }
            Input::Stream(s) => {
                let [a, b, c] = s.shape();
                [1, a, b, c]
            }
        }
    }

    /// The planes `sources` ((volume, plane) each): views of the arrays, or planes read from
    /// the stream into `held`.
    fn planes<'b>(
        &'b mut self,
        sources: &[(usize, usize)],
        held: &'b mut Option<Array3<A>>,
    ) -> Result<Vec<ArrayView2<'b, A>>, BlurError> {
        match self {
            Input::Arrays(vols) => Ok(sources
                .iter()
                .map(|&(v, p)| {
                    vols.view()
                        .index_axis_move(Axis(0), v)
                        .index_axis_move(Axis(0), p)
                })
                .collect()),
            Input::Stream(source) => {
                let [_, n1, n2] = source.shape();
                let mut planes = Array3::from_elem((sources.len(), n1, n2), A::zeroed());
                for (plane, &(_, p)) in planes.outer_iter_mut().zip(sources) {
                    source.read_plane(p, plane).map_err(|e| BlurError::Io {
                        message: format!("reading plane {p}: {e}"),
                    })?;
                }
                Ok(held.insert(planes).outer_iter().collect())
            }
        }
    }
}

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
        mut input: Input<'_, A>,
        plan: &Plan,
        sink: &mut Sink<'_>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<(), BlurError> {
        let [t, n0, n1, n2] = input.dim();
        if plan.is_identity() {
            // Plane by plane: a stream need not fit in memory.
            for (i, source) in (0..t)
                .flat_map(|v| (0..n0).map(move |p| (v, p)))
                .enumerate()
            {
                let mut held = None;
                let plane = input.planes(&[source], &mut held)?;
                let values: Vec<f32> = plane[0].iter().map(|v| v.to_f32()).collect();
                for output in 0..plan.outputs.len() {
                    sink(output, i..i + 1, &values)?;
                }
            }
            progress(1, 1);
            return Ok(());
        }
        let chunks = self.chunks([t, n0, n1, n2], plan)?;
        let total = chunks.len();
        self.guard(async {
            let mut in_flight: Option<InFlight> = None;
            for (done, chunk) in chunks.iter().enumerate() {
                let next = self.submit_chunk(&mut input, chunk, plan).await?;
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

    /// Uploads `chunk`'s planes of `input`, encodes the plan and the copy of the chunk's output
    /// planes of each output to a staging buffer, and submits it all.
    async fn submit_chunk<A: Voxel>(
        &self,
        input: &mut Input<'_, A>,
        chunk: &Chunk,
        plan: &Plan,
    ) -> Result<InFlight, BlurError> {
        let mut held = None;
        let planes = input.planes(&chunk.sources, &mut held)?;
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
                    sink(output, out, values)
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
) -> impl FnMut(usize, Range<usize>, &[f32]) -> Result<(), BlurError> + 'a {
    move |output, range, values| {
        transfer::store_planes(&mut planes[output][range], values);
        Ok(())
    }
}

/// A sink that converts planes to `S::Voxel` and hands them to `sink`.
pub(super) fn stream_into<S: PlaneSink + ?Sized>(
    sink: &mut S,
    [n1, n2]: [usize; 2],
) -> impl FnMut(usize, Range<usize>, &[f32]) -> Result<(), BlurError> + '_ {
    move |output, range, values| {
        let mut planes = Array3::from_elem((range.len(), n1, n2), S::Voxel::zeroed());
        let mut views: Vec<_> = planes.outer_iter_mut().collect();
        transfer::store_planes(&mut views, values);
        sink.write_planes(output, range.start, planes.view())
            .map_err(|e| BlurError::Io {
                message: format!("writing planes {}..{}: {e}", range.start, range.end),
            })
    }
}
