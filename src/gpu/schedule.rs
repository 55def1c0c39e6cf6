//! Scheduling: a batch of volumes (a single volume is a batch of one) cut into chunks that fit
//! one GPU buffer, each uploaded, filtered and read back, two in flight so that the host's
//! copies of one overlap the GPU work of the next.
//!
//! A chunk is either several whole volumes side by side in one buffer (passes along axis 0 stop
//! at each volume's ends, so a time series goes through the GPU without a round trip per volume)
//! or a block of one volume with its halo (`slabs`): a slab of whole planes, or, when planes are
//! too large for a slab as deep as the halo (or a sink takes tiles), a tile of rows of a slab.

use std::ops::Range;

use bytemuck::Zeroable;
use ndarray::{Array3, ArrayView2, ArrayView4, ArrayViewMut2, Axis};

use super::layout::{Layout, Real};
use super::transfer::{OwnedValues, Values};
use super::{GpuBlur, transfer};
use crate::plan::Plan;
use crate::slabs;
use crate::stream::{PlaneSink, PlaneSource};
use crate::{BlurError, Voxel};

/// Takes output blocks as they come back: `sink(output, planes, rows, values)`, the values of
/// those rows of those planes (numbered through the batch: volume `v`'s plane `p` is
/// `v * n0 + p`), every column, of that output of the plan, back to back in standard order, in
/// the element type they were computed in.
pub(super) type Sink<'a> =
    dyn FnMut(usize, Range<usize>, Range<usize>, Values<'_>) -> Result<(), BlurError> + 'a;

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

    /// The block of rows `rows` of planes `sources` ((volume, plane) each), every column: views
    /// of the arrays, or values gathered (rows out of order at an edge) or read from the stream
    /// into `held`.
    fn block<'b>(
        &'b mut self,
        sources: &[(usize, usize)],
        rows: &[usize],
        held: &'b mut Option<Array3<A>>,
    ) -> Result<Vec<ArrayView2<'b, A>>, BlurError> {
        let [_, _, _, n2] = self.dim();
        let mut block = Array3::from_elem((sources.len(), rows.len(), n2), A::zeroed());
        match self {
            Input::Arrays(vols) => {
                let plane = |&(v, p): &(usize, usize)| {
                    vols.view()
                        .index_axis_move(Axis(0), v)
                        .index_axis_move(Axis(0), p)
                };
                if let Some(run) = slabs::run_of(rows) {
                    return Ok(sources
                        .iter()
                        .map(|s| plane(s).slice_move(ndarray::s![run.clone(), ..]))
                        .collect());
                }
                for (mut out, s) in block.outer_iter_mut().zip(sources) {
                    let plane = plane(s);
                    for (mut line, &r) in out.outer_iter_mut().zip(rows) {
                        line.assign(&plane.row(r));
                    }
                }
            }
            Input::Stream(source) => {
                let planes: Vec<usize> = sources.iter().map(|&(_, p)| p).collect();
                source
                    .read_block(&planes, rows, block.view_mut())
                    .map_err(|e| BlurError::Io {
                        message: format!(
                            "reading planes {}..={}: {e}",
                            planes.iter().min().unwrap_or(&0),
                            planes.iter().max().unwrap_or(&0)
                        ),
                    })?;
            }
        }
        Ok(held.insert(block).outer_iter().collect())
    }
}

/// The planes of one upload and where its output planes go.
struct Chunk {
    /// (volume, plane) of each plane of the chunk, in order.
    sources: Vec<(usize, usize)>,
    /// The row of the volume of each row of the chunk, in order.
    rows: Vec<usize>,
    /// How the chunk lies in its buffer: one volume's block, or whole volumes side by side.
    layout: Layout,
    /// The output planes it yields, numbered through the batch.
    out: Range<usize>,
    /// The chunk's plane that becomes `out.start`.
    first: usize,
    /// The output rows it yields.
    out_rows: Range<usize>,
    /// The chunk's row that becomes `out_rows.start`.
    first_row: usize,
}

/// A chunk submitted and not yet read back.
struct InFlight {
    out: Range<usize>,
    out_rows: Range<usize>,
    voxels: usize,
    layout: Layout,
    /// One staging buffer per output of the plan.
    staging: Vec<wgpu::Buffer>,
    submission: wgpu::SubmissionIndex,
}

impl GpuBlur {
    /// Runs `plan` in `real` on every volume of `vols` (axis 0 counts the volumes) chunk by
    /// chunk, handing the output planes to `sink` and calling `progress(done, total)` after each
    /// chunk. `tiles` are the steps (planes, rows) a sink that takes tiles likes blocks to start
    /// at.
    pub(super) async fn run<A: Voxel>(
        &self,
        mut input: Input<'_, A>,
        (plan, real): (&Plan, Real),
        sink: &mut Sink<'_>,
        tiles: Option<[usize; 2]>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<(), BlurError> {
        let [t, n0, n1, n2] = input.dim();
        if plan.is_identity() {
            // Block by block (a sink's tiles, else whole planes): a stream need not fit in
            // memory.
            let [zs, ys] = tiles.map_or([1, n1], |[a, b]| [a.max(1), b.max(1)]);
            let blocks = t * n0.div_ceil(zs) * n1.div_ceil(ys);
            let mut done = 0;
            for v in 0..t {
                for z0 in (0..n0).step_by(zs) {
                    let planes = z0..(z0 + zs).min(n0);
                    let sources: Vec<(usize, usize)> = planes.clone().map(|p| (v, p)).collect();
                    for y0 in (0..n1).step_by(ys) {
                        let rows = y0..(y0 + ys).min(n1);
                        let rows_list: Vec<usize> = rows.clone().collect();
                        let mut held = None;
                        let block = input.block(&sources, &rows_list, &mut held)?;
                        // Nothing to compute: the values as they are, in f64 for double-single.
                        let as_is = if real == Real::Ds { Real::F64 } else { real };
                        let values = OwnedValues::convert(
                            Layout::new([0; 3], false, as_is),
                            block.iter().flat_map(|p| p.iter().copied()),
                        );
                        let out = v * n0 + planes.start..v * n0 + planes.end;
                        for output in 0..plan.outputs.len() {
                            sink(output, out.clone(), rows.clone(), values.view())?;
                        }
                        done += 1;
                        progress(done, blocks);
                    }
                }
            }
            return Ok(());
        }
        let chunks = self.chunks([t, n0, n1, n2], (plan, real), tiles)?;
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
    /// one buffer, or blocks of each volume when one does not fit (or when `tiles`, a sink's
    /// preferred steps, asks for blocks).
    fn chunks(
        &self,
        [t, n0, n1, n2]: [usize; 4],
        (plan, real): (&Plan, Real),
        tiles: Option<[usize; 2]>,
    ) -> Result<Vec<Chunk>, BlurError> {
        let shape = [n0, n1, n2];
        let one = self.layout(shape, real);
        let (limit, limit_name) = self.slab_limit();
        let whole = |v0: usize, v1: usize| Chunk {
            sources: (v0..v1)
                .flat_map(|v| (0..n0).map(move |p| (v, p)))
                .collect(),
            rows: (0..n1).collect(),
            layout: Layout::batch(shape, v1 - v0, self.spare_rows(), real),
            out: v0 * n0..v1 * n0,
            first: 0,
            out_rows: 0..n1,
            first_row: 0,
        };
        if one.bytes() <= limit {
            let fit = (limit / one.bytes()).max(1) as usize;
            // Several chunks: two in flight take no more memory than one of the whole limit.
            let per = if t > fit { (fit / 2).max(1) } else { t };
            return Ok((0..t)
                .step_by(per)
                .map(|v0| whole(v0, (v0 + per).min(t)))
                .collect());
        }
        let halos = [plan.halo(0)?, plan.halo(1)?];
        let radii = halos.map(|h| h.radius);
        // Two blocks in flight take no more memory than one of the whole limit, when half the
        // limit still holds a block of the halo's depth.
        let steps = block_steps(shape, radii, limit / 2, (tiles, real))
            .or_else(|| block_steps(shape, radii, limit, (tiles, real)))
            .ok_or(BlurError::VolumeTooLarge {
                bytes: Layout::for_shape(
                    [(2 * radii[0] + 1).min(n0), (2 * radii[1] + 1).min(n1), n2],
                    real,
                )
                .bytes(),
                limit,
                limit_name,
            })?;
        let slabs = slabs::cut(n0, steps[0], halos[0]);
        let tiles = slabs::cut(n1, steps[1], halos[1]);
        let mut chunks = Vec::with_capacity(t * slabs.len() * tiles.len());
        for v in 0..t {
            for s in &slabs {
                for r in &tiles {
                    chunks.push(Chunk {
                        sources: s.planes.iter().map(|&p| (v, p)).collect(),
                        rows: r.planes.clone(),
                        layout: self.layout([s.planes.len(), r.planes.len(), n2], real),
                        out: v * n0 + s.out.start..v * n0 + s.out.end,
                        first: s.first,
                        out_rows: r.out.clone(),
                        first_row: r.first,
                    });
                }
            }
        }
        Ok(chunks)
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
        let planes = input.block(&chunk.sources, &chunk.rows, &mut held)?;
        let mut layout = chunk.layout;
        // Double-single values scaled into f32's range, unless passes truncate (scipy's integer
        // outputs: integers lie within it, and truncation does not scale).
        if layout.real == Real::Ds && !plan.truncate_each_pass {
            layout.exp = transfer::ds_exponent(&planes);
        }
        let mut frame = self.frame();
        let mut encoder = self.command_encoder();
        let volume = self.load(&mut frame, &planes, layout, &mut encoder).await?;
        let buffers = self
            .encode_plan(&mut frame, &mut encoder, plan, volume.buffer, layout)
            .await?;
        let planes = chunk.first..chunk.first + chunk.out.len();
        let rows = chunk.first_row..chunk.first_row + chunk.out_rows.len();
        let mut staging = Vec::with_capacity(plan.outputs.len());
        for &slot in &plan.outputs {
            staging.push(
                transfer::stage(
                    &self.pool,
                    &mut encoder,
                    &buffers[slot],
                    layout,
                    planes.clone(),
                    rows.clone(),
                )
                .await?,
            );
        }
        // The next chunk may reuse every buffer of this one's frame, but not the staging ones
        // it reads back from, which the readback gives back.
        let submission = self.submit(frame, encoder).await?;
        Ok(InFlight {
            out: chunk.out.clone(),
            out_rows: chunk.out_rows.clone(),
            voxels: chunk.out.len() * chunk.out_rows.len() * layout.shape[2],
            layout,
            staging,
            submission,
        })
    }

    /// Waits for `chunk` and hands each output's planes to `sink`.
    async fn finish_chunk(&self, chunk: InFlight, sink: &mut Sink<'_>) -> Result<(), BlurError> {
        for (output, staging) in chunk.staging.into_iter().enumerate() {
            let (out, rows) = (chunk.out.clone(), chunk.out_rows.clone());
            transfer::readback(
                &self.device,
                &self.pool,
                staging,
                chunk.submission.clone(),
                (chunk.voxels, chunk.layout),
                |values| sink(output, out, rows, values),
            )
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
) -> impl FnMut(usize, Range<usize>, Range<usize>, Values<'_>) -> Result<(), BlurError> + 'a {
    move |output, range, rows, values| {
        let mut views: Vec<ArrayViewMut2<'_, B>> = planes[output][range]
            .iter_mut()
            .map(|p| p.slice_mut(ndarray::s![rows.clone(), ..]))
            .collect();
        transfer::store_planes(&mut views, values);
        Ok(())
    }
}

/// A sink that converts blocks to `S::Voxel` and hands them to `sink`: as they come when it
/// takes tiles, else gathered into whole planes (the planes of one slab of each output).
pub(super) fn stream_into<S: PlaneSink + ?Sized>(
    sink: &mut S,
    [n1, n2]: [usize; 2],
) -> impl FnMut(usize, Range<usize>, Range<usize>, Values<'_>) -> Result<(), BlurError> + '_ {
    let tiles = sink.tiles().is_some();
    let mut pending: Vec<Option<(usize, Array3<S::Voxel>)>> = Vec::new();
    move |output, range, rows, values| {
        let failed = |e: std::io::Error| BlurError::Io {
            message: format!("writing planes {}..{}: {e}", range.start, range.end),
        };
        let mut block = Array3::from_elem((range.len(), rows.len(), n2), S::Voxel::zeroed());
        let mut views: Vec<_> = block.outer_iter_mut().collect();
        transfer::store_planes(&mut views, values);
        if tiles {
            return sink
                .write_block(output, [range.start, rows.start], block.view())
                .map_err(failed);
        }
        if rows == (0..n1) {
            return sink
                .write_planes(output, range.start, block.view())
                .map_err(failed);
        }
        if pending.len() <= output {
            pending.resize_with(output + 1, || None);
        }
        let (_, planes) = pending[output].get_or_insert_with(|| {
            (
                range.start,
                Array3::from_elem((range.len(), n1, n2), S::Voxel::zeroed()),
            )
        });
        planes
            .slice_mut(ndarray::s![.., rows.clone(), ..])
            .assign(&block);
        if rows.end == n1
            && let Some((first, planes)) = pending[output].take()
        {
            return sink
                .write_planes(output, first, planes.view())
                .map_err(failed);
        }
        Ok(())
    }
}

/// Steps (output planes per slab, output rows per tile; `n1` for whole planes) for blocks of
/// at most `limit` bytes, the cheapest in work per output voxel (the halos'), preferring whole
/// planes and multiples of `tiles`. `None` when not even the halo and one output plane of one row fit.
fn block_steps(
    [n0, n1, n2]: [usize; 3],
    [r0, r1]: [usize; 2],
    limit: u64,
    (tiles, real): (Option<[usize; 2]>, Real),
) -> Option<[usize; 2]> {
    let mut best: Option<(f64, [usize; 2])> = None;
    // From whole planes down: the first of equal cost has the fewest tiles.
    for ys in (1..=n1).rev() {
        let (rows, row_cost) = if ys == n1 {
            (n1, 1.0)
        } else {
            let Some((step, cost)) = slabs::step(n1, ys + 2 * r1, r1, tiles.map(|t| t[1])) else {
                continue;
            };
            // Smaller steps than one already tried are tried on their own.
            if step != ys {
                continue;
            }
            // Tiles cost more than their halo: a copy per plane each way, rows gathered, and
            // on lavapipe about 15% more per voxel (short axes, more border runs); whole planes
            // are kept unless tiles save a third of the work.
            (ys + 2 * r1, cost * 1.5)
        };
        let per_plane = Layout::for_shape([1, rows, n2], real).bytes();
        let fit = usize::try_from(limit / per_plane.max(1)).unwrap_or(usize::MAX);
        let Some((zs, plane_cost)) = slabs::step(n0, fit, r0, tiles.map(|t| t[0])) else {
            continue;
        };
        let cost = row_cost * plane_cost;
        // Of equal costs, the deepest slab: a source reads its halo planes again per slab.
        if best.is_none_or(|(c, [z, _])| cost < c - 1e-9 || (cost <= c + 1e-9 && zs > z)) {
            best = Some((cost, [zs, ys]));
        }
    }
    best.map(|(_, steps)| steps)
}
