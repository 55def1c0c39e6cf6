//! The parameters of the shaders (Rust mirrors of their WGSL structs) and how a pass along
//! one axis is cut into runs and dispatched: device-free arithmetic, tested without a GPU.

use bytemuck::{Pod, Zeroable};

use crate::Mode;
use crate::gpu::layout::Layout;
use crate::options::AxisKernel;
use crate::plan::{Plan, Slot, Step};

/// Mirror of the WGSL `Widen` struct of `shaders/widen.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub(crate) struct WidenParams {
    /// Voxels to convert.
    pub count: u32,
    /// Bits per voxel: 8 or 16.
    pub bits: u32,
    /// 1 when the voxels are signed.
    pub signed: u32,
    /// Padding to WGSL's 16-byte struct alignment.
    pub pad: u32,
}

/// Outputs computed by one invocation (the shader's `RUN`).
pub(crate) const RUN: u32 = 32;
/// Outputs of one `interior_long` invocation (the shader's `RUN_LONG`).
pub(crate) const RUN_LONG: u32 = 64;
/// Radius from which passes off the last axis take interior runs of `RUN_LONG`: they load 2
/// inputs per output instead of 3 at radius 32, and spill more; on lavapipe that pays for long
/// kernels only.
pub(super) const LONG_RADIUS: usize = 16;
/// Invocations per workgroup (the shader's `WORKGROUP`) of the CPU family, the copies and the
/// conversions: what llvmpipe runs as one SIMD program best.
pub(crate) const WORKGROUP: u32 = 64;
/// Invocations per workgroup of the GPU family's entry points.
pub(crate) const GPU_WORKGROUP: u32 = 128;
/// Outputs along the axis per `cols4` invocation (the shader's `RUN_GPU`).
pub(crate) const RUN_GPU: u32 = 8;
/// Outputs along the axis per `col_tile` run (the shader's `RUN_TILE`).
pub(crate) const RUN_TILE: u32 = 8;
/// Bytes of workgroup memory the tile family's workgroups hold (the shader's `TILE_LEN` in its
/// element type): WebGPU's minimum, which every device has.
pub(crate) const TILE_BYTES: u32 = 16_384;
/// Outputs per `row_tile` workgroup: 4 per invocation.
const ROW_TILE: usize = 4 * GPU_WORKGROUP as usize;
/// Positions along the axis a `col_tile` tile holds (outputs and both aprons): 128 bytes of
/// columns per position in `TILE_BYTES`.
const COL_POSITIONS: usize = TILE_BYTES as usize / 128;
/// Outputs a `col_tile` tile has at the least: its kernel's radius is at most
/// `(COL_POSITIONS - MIN_COL_TILE) / 2`.
const MIN_COL_TILE: usize = 32;
/// Rows of a `plane_tile` tile (the shader's `PAIR_ROWS`).
pub(crate) const PAIR_ROWS: usize = 16;
/// Bytes of a row of a `plane_tile` tile (the shader's `PAIR_COLS` in its element type).
pub(crate) const PAIR_ROW_BYTES: usize = 128;
/// The shader's `MODE_ANY`: border runs that read the mode from the params, for kernels of any
/// length.
pub(super) const MODE_ANY: u32 = 5;
/// Kernels a fused pass applies at most (the shader's `KERNELS`: outputs `dst`, `dst_b`,
/// `dst_c`).
pub(crate) const MAX_KERNELS: usize = 3;
/// Storage bindings per stage the full pass module needs: weights, the volume and its vec4
/// view, the output and its vec4 view, two more outputs of fused passes.
pub(super) const FULL_MODULE_BINDINGS: u32 = 7;

/// Mirror of the WGSL `Combine` struct of `shaders/combine.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub(crate) struct CombineParams {
    /// vec4s to write.
    pub quads: u32,
    /// Terms to combine: 1, 2 or 3.
    pub inputs: u32,
    /// Padding to WGSL's 16-byte struct alignment.
    pub pad1: u32,
    /// Padding.
    pub pad2: u32,
}

/// Mirror of the WGSL `Params` struct of `shaders/blur_axis.wgsl`: one pass along one axis.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub(crate) struct PassParams {
    /// Voxels along the axis.
    pub len: u32,
    /// Distance in elements between neighbours along the axis.
    pub stride: u32,
    /// Kernel radius.
    pub radius: u32,
    /// Mode code (0 reflect, 1 mirror, 2 nearest, 3 wrap, 4 constant).
    pub mode: u32,
    /// Index of the pass's first weight in the weights buffer, a multiple of 4 after the vec4
    /// holding the value outside the axis in constant mode.
    pub weight_offset: u32,
    /// Runs per line whose taps all lie inside the axis, starting at `interior_start`.
    pub interior_runs: u32,
    /// Border runs per line starting at 0.
    pub left_runs: u32,
    /// Border runs per line ending at `len`.
    pub right_runs: u32,
    /// Invocations of the interior entry point: lines times `interior_runs`.
    pub interior_invocations: u32,
    /// Invocations of the border entry point: lines times `left_runs + right_runs`.
    pub border_invocations: u32,
    /// First output of the first interior run: where the left border runs end.
    pub interior_start: u32,
    /// Distance in elements from one group of `stride` lines to the next: `len * stride`, or
    /// more along axis 1 when planes have a spare row.
    pub outer_stride: u32,
    /// Outputs per interior run: `RUN`, or `RUN_LONG` (then the `interior_long` entry point).
    pub interior_run: u32,
    /// GPU family: vec4s per row (`rows4`), or column quads per group of lines (`cols4`).
    pub quads: u32,
    /// `cols4`: runs of `RUN_GPU` outputs per line.
    pub runs: u32,
    /// GPU family: invocations of its entry point.
    pub gpu_invocations: u32,
    /// Fused passes: index of the second kernel's first weight.
    pub weight_offset_b: u32,
    /// Fused passes: index of the third kernel's first weight.
    pub weight_offset_c: u32,
    /// 0: double-single passes read it as their `zero`.
    pub pad: u32,
    /// Tile family: outputs along the axis per workgroup.
    pub tile: u32,
    /// `plane_tile`: voxels along axis 2, the second pass's axis (the params above are the first
    /// pass's, along axis 1).
    pub pair_len: u32,
    /// `plane_tile`: the second pass's radius.
    pub pair_radius: u32,
    /// `plane_tile`: the second pass's mode.
    pub pair_mode: u32,
    /// `plane_tile`: the second pass's first weight.
    pub pair_weight_offset: u32,
    /// `row_tile`: lines of the volume.
    pub lines: u32,
    /// Padding to WGSL's 16-byte struct alignment.
    pub pad2: u32,
    /// Padding.
    pub pad3: u32,
    /// Padding.
    pub pad4: u32,
}

impl PassParams {
    /// The pass along `axis` of a volume in `layout` with `kernel`, whose weights start at
    /// `weight_offset`. The caller has checked that the buffer's element count fits a `u32`.
    pub(crate) fn along(
        layout: Layout,
        axis: usize,
        kernel: &AxisKernel,
        weight_offset: usize,
    ) -> Self {
        Self::runs_along(layout, axis, kernel, weight_offset, true)
    }

    /// The pass along `axis` with `kernels` (1 to `MAX_KERNELS` of one radius and mode, each
    /// with the index of its first weight): one read of the input, an output per kernel.
    /// Interior runs of fused passes are `RUN` long whatever the radius: `interior_long` takes
    /// one kernel.
    pub(crate) fn fused(layout: Layout, axis: usize, kernels: &[(&AxisKernel, usize)]) -> Self {
        let (first, offset) = kernels[0];
        let mut p = Self::runs_along(layout, axis, first, offset, kernels.len() == 1);
        p.set_fused(kernels);
        p
    }

    /// `fused` in the GPU family, when its entry points take the pass (`along_gpu`).
    pub(crate) fn fused_gpu(
        layout: Layout,
        axis: usize,
        kernels: &[(&AxisKernel, usize)],
    ) -> Option<Self> {
        let (first, offset) = kernels[0];
        let mut p = Self::along_gpu(layout, axis, first, offset)?;
        p.set_fused(kernels);
        Some(p)
    }

    /// The weights of the second and third of `kernels`.
    fn set_fused(&mut self, kernels: &[(&AxisKernel, usize)]) {
        let offset = |i: usize| kernels.get(i).map_or(0, |&(_, o)| o as u32);
        self.weight_offset_b = offset(1);
        self.weight_offset_c = offset(2);
    }

    /// `along`, with interior runs of `RUN_LONG` for long kernels off the last axis when
    /// `long_runs`.
    fn runs_along(
        layout: Layout,
        axis: usize,
        kernel: &AxisKernel,
        weight_offset: usize,
        long_runs: bool,
    ) -> Self {
        // Lines run through the buffer as through a volume of its shape, spare rows included
        // (their lines are blurred too, and never read into the volume's); only along axis 1
        // does a line stop before the spare row.
        let buffer = layout.buffer_shape();
        let (n, r, run) = (layout.shape[axis], kernel.radius, RUN as usize);
        let stride: usize = buffer[axis + 1..].iter().product();
        let outer_stride: usize = buffer[axis..].iter().product();
        let lines = layout.len() / buffer[axis];
        // Left border runs tile [0, start) with start >= r, interior runs go on from there as
        // far as their taps stay inside the axis, and right border runs end at n. When n is a
        // multiple of RUN, that is n / RUN runs, none overlapping. Long kernels off the last
        // axis take interior runs of RUN_LONG where at least one fits.
        let start = r.div_ceil(run) * run;
        let fit = |interior_run: usize| n.saturating_sub(start + r) / interior_run;
        let long = long_runs && stride > 1 && r >= LONG_RADIUS && fit(RUN_LONG as usize) > 0;
        let interior_run = if long { RUN_LONG as usize } else { run };
        let interior_runs = fit(interior_run);
        let (left_runs, right_runs) = if interior_runs == 0 {
            (n.div_ceil(run), 0)
        } else {
            let rest = n - start - interior_runs * interior_run;
            (start / run, rest.div_ceil(run))
        };
        let mode = mode_code(kernel.mode);
        PassParams {
            len: n as u32,
            stride: stride as u32,
            radius: r as u32,
            mode,
            weight_offset: weight_offset as u32,
            interior_runs: interior_runs as u32,
            left_runs: left_runs as u32,
            right_runs: right_runs as u32,
            interior_invocations: (lines * interior_runs) as u32,
            border_invocations: (lines * (left_runs + right_runs)) as u32,
            interior_start: start as u32,
            outer_stride: outer_stride as u32,
            interior_run: interior_run as u32,
            quads: 0,
            runs: 0,
            gpu_invocations: 0,
            weight_offset_b: 0,
            weight_offset_c: 0,
            pad: 0,
            tile: 0,
            pair_len: 0,
            pair_radius: 0,
            pair_mode: 0,
            pair_weight_offset: 0,
            lines: 0,
            pad2: 0,
            pad3: 0,
            pad4: 0,
        }
    }

    /// `fused` in the tile family, when its entry points take the pass (`along_tile`).
    pub(crate) fn fused_tile(
        layout: Layout,
        axis: usize,
        kernels: &[(&AxisKernel, usize)],
    ) -> Option<Self> {
        let (first, offset) = kernels[0];
        let mut p = Self::along_tile(layout, axis, first, offset)?;
        p.set_fused(kernels);
        Some(p)
    }

    /// The pass along `axis` in the tile family, when its entry points take it: rows of any
    /// length; along contiguous lines (`row_tile`) kernels whose taps fit a tile beside
    /// `ROW_TILE` outputs, along strided lines (`col_tile`) kernels of radius up to 48. What
    /// decides depends on the radius and the element type only, never on the extents: every
    /// piece of a volume cut in slabs takes the same entry points.
    pub(crate) fn along_tile(
        layout: Layout,
        axis: usize,
        kernel: &AxisKernel,
        weight_offset: usize,
    ) -> Option<Self> {
        let mut p = Self::along(layout, axis, kernel, weight_offset);
        let (n, r, stride) = (p.len as usize, kernel.radius, p.stride as usize);
        let tile_len = TILE_BYTES as usize / layout.real.size();
        let groups = layout.len() / p.outer_stride as usize;
        let run = RUN_TILE as usize;
        let (tile, blocks, tiles) = if stride == 1 {
            if ROW_TILE + 2 * r > tile_len {
                return None;
            }
            // Lines of `ROW_TILE` or more in segments of that; shorter ones whole, several to
            // a workgroup (as many as `ROW_TILE` outputs and the tile allow).
            let (tile, per_group) = if n >= ROW_TILE {
                (ROW_TILE, 1)
            } else {
                (n, (ROW_TILE / n).min(tile_len / (n + 2 * r)).max(1))
            };
            p.lines = u32::try_from(groups).ok()?;
            // `runs`: lines per workgroup.
            (tile, n.div_ceil(tile), per_group)
        } else {
            let cols = 128 / layout.real.size();
            let room = COL_POSITIONS
                .checked_sub(2 * r)
                .filter(|&t| t >= MIN_COL_TILE)?;
            let tile = (room / run * run).min(n.next_multiple_of(run));
            (tile, stride.div_ceil(cols), n.div_ceil(tile))
        };
        let workgroups = if stride == 1 {
            groups.div_ceil(tiles).checked_mul(blocks)?
        } else {
            groups.checked_mul(blocks)?.checked_mul(tiles)?
        };
        p.quads = u32::try_from(blocks).ok()?;
        p.runs = tiles as u32;
        p.tile = tile as u32;
        p.gpu_invocations = u32::try_from(workgroups.checked_mul(GPU_WORKGROUP as usize)?).ok()?;
        Some(p)
    }

    /// The pass along axis 1 with `first` then the pass along axis 2 with `second` (each with
    /// the index of its first weight) in one dispatch of the tile family's `plane_tile`, when
    /// their tile fits the workgroup memory: depending on the radii and the element type only.
    pub(crate) fn plane_pair(
        layout: Layout,
        first: (&AxisKernel, usize),
        second: (&AxisKernel, usize),
    ) -> Option<Self> {
        let mut p = Self::along(layout, 1, first.0, first.1);
        let (r1, r2) = (first.0.radius, second.0.radius);
        let cols = PAIR_ROW_BYTES / layout.real.size();
        let tile_len = TILE_BYTES as usize / layout.real.size();
        // The inputs with both aprons, and the first pass's sums on the tile's rows.
        let elements = (2 * PAIR_ROWS + 2 * r1).checked_mul(cols + 2 * r2)?;
        if elements > tile_len {
            return None;
        }
        let (n1, n2) = (layout.shape[1], layout.shape[2]);
        let planes = layout.len() / p.outer_stride as usize;
        let (across, down) = (n2.div_ceil(cols), n1.div_ceil(PAIR_ROWS));
        let workgroups = planes.checked_mul(across)?.checked_mul(down)?;
        p.quads = u32::try_from(across).ok()?;
        p.runs = u32::try_from(down).ok()?;
        p.gpu_invocations = u32::try_from(workgroups.checked_mul(GPU_WORKGROUP as usize)?).ok()?;
        p.pair_len = n2 as u32;
        p.pair_radius = r2 as u32;
        p.pair_mode = mode_code(second.0.mode);
        p.pair_weight_offset = second.1 as u32;
        Some(p)
    }

    /// The pass along `axis` in double-single arithmetic: one invocation per output voxel.
    pub(crate) fn along_ds(
        layout: Layout,
        axis: usize,
        kernel: &AxisKernel,
        weight_offset: usize,
    ) -> Self {
        let mut p = Self::along(layout, axis, kernel, weight_offset);
        let lines = layout.len() / layout.buffer_shape()[axis];
        p.gpu_invocations = (lines * p.len as usize) as u32;
        p
    }

    /// The pass along `axis` in the GPU family, when its entry points take it: rows of a
    /// multiple of 4 voxels (`rows4` along the last axis, `cols4` along the others, whose
    /// column quads then start 16-byte aligned).
    pub(crate) fn along_gpu(
        layout: Layout,
        axis: usize,
        kernel: &AxisKernel,
        weight_offset: usize,
    ) -> Option<Self> {
        if !layout.shape[2].is_multiple_of(4) {
            return None;
        }
        let mut p = Self::along(layout, axis, kernel, weight_offset);
        let elements = layout.len();
        let (n, stride) = (p.len as usize, p.stride as usize);
        let (quads, runs, invocations) = if axis == 2 {
            let quads = n / 4;
            (quads, 0, elements / n * quads)
        } else {
            let (quads, runs) = (stride / 4, n.div_ceil(RUN_GPU as usize));
            let groups = elements / p.outer_stride as usize;
            (quads, runs, groups * runs * quads)
        };
        p.quads = quads as u32;
        p.runs = runs as u32;
        p.gpu_invocations = u32::try_from(invocations).ok()?;
        Some(p)
    }
}

/// The shaders' code of `mode` (`MODE_REFLECT` ... `MODE_CONSTANT`).
fn mode_code(mode: Mode) -> u32 {
    match mode {
        Mode::Reflect => 0,
        Mode::Mirror => 1,
        Mode::Nearest => 2,
        Mode::Wrap => 3,
        Mode::Constant(_) => 4,
    }
}

/// Workgroups of `size` to dispatch for `invocations`, as (x, y): y > 1 only when x alone
/// would pass `max_per_dim`, and then x as small as y allows, so that fewer than y workgroups
/// are surplus (surplus invocations redo the last item).
pub(crate) fn workgroups(invocations: u32, size: u32, max_per_dim: u32) -> (u32, u32) {
    let groups = invocations.div_ceil(size);
    if groups <= max_per_dim {
        (groups, 1)
    } else {
        let y = groups.div_ceil(max_per_dim);
        (groups.div_ceil(y), y)
    }
}

/// The passes at the head of `steps` that one fused pass computes: `steps[0]` (a pass), and
/// after it at most `max - 1` passes along the same axis from the same input with kernels of the
/// same radius and mode (siblings in the plan's tree, which puts them one after another). As
/// (kernel, output slot) each.
pub(super) fn fusable(plan: &Plan, steps: &[Step], max: usize) -> Vec<(usize, Slot)> {
    let mut group = Vec::with_capacity(max);
    let mut first = None;
    for step in steps.iter().take(max.max(1)) {
        let Step::Pass {
            axis,
            kernel,
            src,
            dst,
        } = step
        else {
            break;
        };
        let k = &plan.kernels[*kernel];
        let key = (*axis, *src, k.radius, k.mode);
        if *first.get_or_insert(key) != key {
            break;
        }
        group.push((*kernel, *dst));
    }
    group
}

/// Whether `slot` is dead once the steps before `after` have run: no later step reads it before
/// one writes it, and it holds no output.
pub(super) fn dead_after(plan: &Plan, after: &[Step], slot: Slot) -> bool {
    if plan.outputs.contains(&slot) {
        return false;
    }
    for step in after {
        let (reads, dst) = match step {
            Step::Pass { src, dst, .. } => (*src == slot, *dst),
            Step::Combine { inputs, dst, .. } => (inputs.contains(&slot), *dst),
        };
        if reads {
            return false;
        }
        if dst == slot {
            return true;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::layout::Real;

    /// The value of the u32 constant `name` of either pass family's shader.
    fn shader_const(name: &str) -> u32 {
        use super::super::shaders::{
            BLUR_AXIS, BLUR_AXIS_GPU, BLUR_AXIS_TILE, VEC4_VIEWS, compose,
        };
        let source = match name {
            "RUN_GPU" => BLUR_AXIS_GPU,
            "RUN_TILE" | "TILE_LEN" | "PAIR_ROWS" | "PAIR_COLS" => BLUR_AXIS_TILE,
            _ => BLUR_AXIS,
        };
        let module =
            naga::front::wgsl::parse_str(&compose(source, &[VEC4_VIEWS])).expect("shader parses");
        let (_, c) = module
            .constants
            .iter()
            .find(|(_, c)| c.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("const {name}"));
        match module.global_expressions[c.init] {
            naga::Expression::Literal(naga::Literal::U32(v)) => v,
            ref e => panic!("const {name} is {e:?}"),
        }
    }

    /// Every invocation gets a workgroup, within the device's limit per dimension, and fewer
    /// than one row of workgroups is surplus.
    #[test]
    fn grids_cover_the_invocations_with_little_surplus() {
        let max = 65_535;
        for invocations in [1, 63, 64, 65, 4_194_240, 4_194_241, 20_000_000, u32::MAX] {
            for size in [64, 128] {
                let (x, y) = workgroups(invocations, size, max);
                let groups = invocations.div_ceil(size);
                assert!(x <= max && y <= max, "{invocations}/{size}: {x} x {y}");
                assert!(u64::from(x) * u64::from(y) >= u64::from(groups));
                assert!(u64::from(x) * u64::from(y) < u64::from(groups) + u64::from(y));
            }
        }
        // The contiguous-axis pass of 512^3 in the GPU family: 25% surplus before.
        let (x, y) = workgroups(512 * 512 * 128, 128, max);
        assert_eq!((x, y), (52_429, 5));
    }

    #[test]
    fn constants_match_the_shader() {
        assert_eq!(shader_const("RUN"), RUN);
        assert_eq!(shader_const("RUN_LONG"), RUN_LONG);
        assert_eq!(shader_const("RUN_GPU"), RUN_GPU);
        assert_eq!(shader_const("RUN_TILE"), RUN_TILE);
        assert_eq!(shader_const("TILE_LEN") * 4, TILE_BYTES);
        assert_eq!(shader_const("PAIR_ROWS") as usize, PAIR_ROWS);
        assert_eq!(shader_const("PAIR_COLS") as usize * 4, PAIR_ROW_BYTES);
        assert_eq!(shader_const("MODE_ANY"), MODE_ANY);
        // The border pipelines are indexed by the params' mode numbers.
        let modes = [
            (Mode::Reflect, "MODE_REFLECT"),
            (Mode::Mirror, "MODE_MIRROR"),
            (Mode::Nearest, "MODE_NEAREST"),
            (Mode::Wrap, "MODE_WRAP"),
            (Mode::Constant(0.0), "MODE_CONSTANT"),
        ];
        for (mode, name) in modes {
            let k = AxisKernel { mode, ..kernel(1) };
            let p = PassParams::along(Layout::for_shape([1, 1, 8], Real::F32), 2, &k, 0);
            assert_eq!(p.mode, shader_const(name), "{name}");
        }
    }

    /// The sizes of the fused passes `Encoder::plan` makes of `plan`'s passes.
    fn fused_sizes(plan: &Plan, max: usize) -> Vec<usize> {
        let mut sizes = Vec::new();
        let mut rest = &plan.steps[..];
        while let Some(step) = rest.first() {
            let n = match step {
                Step::Pass { .. } => fusable(plan, rest, max).len(),
                Step::Combine { .. } => 1,
            };
            if matches!(step, Step::Pass { .. }) {
                sizes.push(n);
            }
            rest = &rest[n..];
        }
        sizes
    }

    #[test]
    fn passes_from_one_input_along_one_axis_are_fused() {
        use crate::{BlurOptions, Filter};
        let plan = |filter, opts: &BlurOptions| Plan::new(opts, filter, [8, 8, 8], false).unwrap();
        let opts = BlurOptions::new(1.5);
        // The Hessian: orders 2, 1, 0 along axis 0 from the input (one pass), then along axis 1
        // 3 + 2 + 1 kernels from those three (three passes), then 6 passes along axis 2.
        let h = plan(Filter::Hessian, &opts);
        assert_eq!(fused_sizes(&h, MAX_KERNELS), [3, 1, 1, 2, 1, 1, 3, 1, 1, 1]);
        assert_eq!(fused_sizes(&h, 1), [1; 15]);
        assert_eq!(fused_sizes(&h, 2).len(), 12);
        // 8 passes in 6 reads for the other filters of the family.
        for filter in [Filter::GradientMagnitude, Filter::Gradient, Filter::Laplace] {
            let sizes = fused_sizes(&plan(filter, &opts), MAX_KERNELS);
            assert_eq!(sizes.iter().sum::<usize>(), 8, "{filter:?}");
            assert_eq!(sizes.len(), 6, "{filter:?}");
        }
        // Radii per axis: the kernels along one axis still share theirs.
        let radii = BlurOptions::new(1.5).radius([2, 3, 4]);
        assert_eq!(
            fused_sizes(&plan(Filter::Hessian, &radii), MAX_KERNELS).len(),
            10
        );
        // Kernels of other modes along the same axis are separate passes: the Laplacian's
        // terms take the mode of their own axis (then they share no pass either).
        let modes = opts
            .clone()
            .modes([Mode::Reflect, Mode::Wrap, Mode::Nearest]);
        assert_eq!(
            fused_sizes(&plan(Filter::Laplace, &modes), MAX_KERNELS),
            [1; 9]
        );
        // A chain of passes (the blur) has nothing to fuse.
        assert_eq!(
            fused_sizes(&plan(Filter::Gaussian, &opts), MAX_KERNELS),
            [1, 1, 1]
        );
    }

    fn kernel(radius: usize) -> AxisKernel {
        AxisKernel {
            weights: vec![0.0; 2 * radius + 1],
            radius,
            mode: Mode::Reflect,
        }
    }

    /// The tile family's workgroups cover every line and column once, their tiles and aprons
    /// fit the workgroup memory, `col_tile`'s tiles are whole runs, and whether the family
    /// takes a pass depends on the radius and the element type only (slabs of a volume take
    /// the same entry points as the whole).
    #[test]
    fn tiles_cover_every_line_and_fit_the_workgroup_memory() {
        for real in [Real::F32, Real::F64] {
            let tile_len = TILE_BYTES as usize / real.size();
            for r in [0, 1, 5, 24, 48, 49, 700, 768, 769, 1792, 1793] {
                let mut taken = [None, None];
                for shape in [
                    [1, 1, 1],
                    [3, 5, 7],
                    [130, 9, 601],
                    [64, 64, 64],
                    [2, 1, 2000],
                ] {
                    let layout = Layout::new(shape, false, real);
                    for axis in 0..3 {
                        let Some(p) = PassParams::along_tile(layout, axis, &kernel(r), 0) else {
                            let strided =
                                usize::from(layout.shape[axis + 1..].iter().product::<usize>() > 1);
                            assert_ne!(
                                taken[strided].replace(false),
                                Some(true),
                                "{shape:?} {axis} r {r}"
                            );
                            continue;
                        };
                        let (n, tile) = (shape[axis], p.tile as usize);
                        let strided = usize::from(p.stride > 1);
                        assert_ne!(
                            taken[strided].replace(true),
                            Some(false),
                            "{shape:?} {axis} r {r}"
                        );
                        let groups = layout.len() / p.outer_stride as usize;
                        let workgroups = p.gpu_invocations as usize / GPU_WORKGROUP as usize;
                        assert!(tile > 0, "{p:?}");
                        if p.stride == 1 {
                            // `runs` lines a workgroup, each its segment and aprons.
                            let per = p.runs as usize;
                            assert!(per >= 1 && per * (tile + 2 * r) <= tile_len, "{p:?}");
                            assert!(per == 1 || p.quads == 1, "{p:?}");
                            assert!(p.quads as usize * tile >= n, "{p:?}");
                            assert_eq!(p.lines as usize, groups);
                            assert_eq!(workgroups, groups.div_ceil(per) * p.quads as usize);
                        } else {
                            let cols = 128 / real.size();
                            assert!((tile + 2 * r) * cols <= tile_len, "{p:?}");
                            assert!(tile.is_multiple_of(RUN_TILE as usize), "{p:?}");
                            assert!(p.runs as usize * tile >= n, "{p:?}");
                            assert!(p.quads as usize * cols >= p.stride as usize, "{p:?}");
                            assert_eq!(workgroups, groups * p.quads as usize * p.runs as usize);
                        }
                    }
                }
                // Along strided lines radii up to 48; along contiguous ones up to 1792 (768 in
                // f64).
                let row_limit = if real == Real::F32 { 1792 } else { 768 };
                assert_eq!(
                    taken,
                    [Some(r <= row_limit), Some(r <= 48)],
                    "{real:?} r {r}"
                );
            }
        }
    }

    /// An in-plane pair's tiles cover every plane, row and column, hold their inputs, aprons and
    /// first sums in the workgroup memory, and whether a pair is made depends on the radii and
    /// the element type only.
    #[test]
    fn plane_pairs_cover_every_plane_and_fit_the_workgroup_memory() {
        for real in [Real::F32, Real::F64] {
            let (cols, tile_len) = (
                PAIR_ROW_BYTES / real.size(),
                TILE_BYTES as usize / real.size(),
            );
            for (r1, r2) in [
                (0, 0),
                (1, 2),
                (8, 12),
                (12, 12),
                (16, 16),
                (17, 16),
                (40, 2),
                (2, 48),
            ] {
                let fits = (2 * PAIR_ROWS + 2 * r1) * (cols + 2 * r2) <= tile_len;
                for shape in [[1, 1, 1], [3, 20, 37], [2, 35, 70], [5, 16, 32]] {
                    for spare in [false, true] {
                        let layout = Layout::new(shape, spare, real);
                        let pair =
                            PassParams::plane_pair(layout, (&kernel(r1), 4), (&kernel(r2), 8));
                        assert_eq!(pair.is_some(), fits, "{real:?} {r1} {r2}");
                        let Some(p) = pair else { continue };
                        let planes = layout.len() / p.outer_stride as usize;
                        assert_eq!(planes, shape[0]);
                        assert!(
                            p.quads as usize * cols >= shape[2]
                                && p.runs as usize * PAIR_ROWS >= shape[1]
                        );
                        assert_eq!(
                            p.gpu_invocations as usize,
                            planes * (p.quads * p.runs * GPU_WORKGROUP) as usize
                        );
                        assert_eq!((p.len, p.stride), (shape[1] as u32, shape[2] as u32));
                        assert_eq!(
                            (p.pair_len, p.pair_radius, p.pair_weight_offset),
                            (shape[2] as u32, r2 as u32, 8)
                        );
                    }
                }
            }
        }
    }

    /// A slot is dead after a step when no later step reads it before one writes it and it holds
    /// no output.
    #[test]
    fn intermediates_die_when_nothing_reads_them_again() {
        use crate::{BlurOptions, Filter};
        let plan = Plan::new(&BlurOptions::new(1.0), Filter::Gaussian, [8, 8, 8], false).unwrap();
        let Step::Pass {
            axis: 1, dst: mid, ..
        } = plan.steps[1]
        else {
            panic!("{plan:?}")
        };
        assert!(dead_after(&plan, &plan.steps[3..], mid));
        assert!(
            !dead_after(&plan, &plan.steps[2..], mid),
            "the axis-2 pass reads it"
        );
        assert!(!dead_after(&plan, &[], plan.outputs[0]), "an output");
        // An axis-1 pass feeding two axis-2 passes (of two kernels that do not fuse).
        let pass = |axis, kernel, src, dst| Step::Pass {
            axis,
            kernel,
            src,
            dst,
        };
        let mut plan = plan;
        plan.steps = vec![
            pass(0, 0, 0, 1),
            pass(1, 0, 1, 2),
            pass(2, 0, 2, 0),
            pass(2, 1, 2, 3),
        ];
        plan.outputs = vec![0, 3];
        assert!(!dead_after(&plan, &plan.steps[3..], 2));
        // Written again before it is read: dead.
        plan.steps[3] = pass(2, 1, 1, 2);
        assert!(dead_after(&plan, &plan.steps[3..], 2));
    }

    /// Every output of a line is written by some run, interior runs (of either length) never
    /// read outside, and lines that are a whole number of runs compute no output twice.
    #[test]
    fn runs_cover_every_line() {
        let run = RUN as usize;
        let mut long = false;
        for n in 1..200 {
            for r in 1..40 {
                for (shape, axis) in [([1, 1, n], 2), ([n, 3, 4], 0), ([2, n, 1024], 1)] {
                    let p =
                        PassParams::along(Layout::for_shape(shape, Real::F32), axis, &kernel(r), 0);
                    let mut covered = vec![false; n];
                    for i in 0..p.interior_runs as usize {
                        let start = p.interior_start as usize + i * p.interior_run as usize;
                        assert!(start >= r, "n {n} r {r}: interior run {i} reads before 0");
                        assert!(
                            start + p.interior_run as usize + r <= n,
                            "n {n} r {r}: interior run {i} reads outside"
                        );
                        covered[start..start + p.interior_run as usize]
                            .iter_mut()
                            .for_each(|c| *c = true);
                    }
                    for j in 0..(p.left_runs + p.right_runs) as usize {
                        let start = if j < p.left_runs as usize {
                            (j * run).min(n.saturating_sub(run))
                        } else {
                            n - (j - p.left_runs as usize + 1) * run
                        };
                        covered[start..(start + run).min(n)]
                            .iter_mut()
                            .for_each(|c| *c = true);
                    }
                    assert!(covered.iter().all(|&c| c), "n {n} r {r}: {p:?}");
                    let outputs = (p.left_runs + p.right_runs) as usize * run
                        + p.interior_runs as usize * p.interior_run as usize;
                    if n % run == 0 && p.interior_runs > 0 {
                        assert_eq!(outputs, n, "n {n} r {r}: no output twice");
                    }
                    long |= p.interior_run == RUN_LONG;
                }
            }
        }
        assert!(long, "some lines take long interior runs");
    }
}
