//! The work: the pipeline built once, the buffers kept between calls, and the pass loop.

use std::num::NonZeroU64;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use bytemuck::{Pod, Zeroable};

use super::layout::Layout;
use crate::Mode;
use crate::options::AxisKernel;
use crate::plan::{Plan, Slot, Step};

/// The WGSL source of the 1D passes of both families: `shaders/blur_axis.wgsl`,
/// `shaders/blur_axis_vec4.wgsl` and `shaders/blur_axis_gpu.wgsl`.
pub(crate) const BLUR_AXIS_WGSL: &str = concat!(
    include_str!("../../shaders/blur_axis.wgsl"),
    include_str!("../../shaders/blur_axis_vec4.wgsl"),
    include_str!("../../shaders/blur_axis_gpu.wgsl")
);
/// The 1D pass for devices with only 4 storage bindings per shader stage:
/// `shaders/blur_axis.wgsl` and `shaders/blur_axis_scalar.wgsl`.
pub(crate) const BLUR_AXIS_SCALAR_WGSL: &str = concat!(
    include_str!("../../shaders/blur_axis.wgsl"),
    include_str!("../../shaders/blur_axis_scalar.wgsl")
);
/// The WGSL source of the plain copy that benchmarks measure passes against.
pub(crate) const COPY_WGSL: &str = include_str!("../../shaders/copy.wgsl");
/// The WGSL source of the conversion of integer voxels to f32.
pub(crate) const WIDEN_WGSL: &str = include_str!("../../shaders/widen.wgsl");
/// The WGSL source of the voxel-by-voxel combination of a filter's terms.
pub(crate) const COMBINE_WGSL: &str = include_str!("../../shaders/combine.wgsl");

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
const LONG_RADIUS: usize = 16;
/// Invocations per workgroup (the shader's `WORKGROUP`) of the CPU family, the copies and the
/// conversions: what llvmpipe runs as one SIMD program best.
pub(crate) const WORKGROUP: u32 = 64;
/// Invocations per workgroup of the GPU family's entry points.
pub(crate) const GPU_WORKGROUP: u32 = 128;
/// Outputs along the axis per `cols4` invocation (the shader's `RUN_GPU`).
pub(crate) const RUN_GPU: u32 = 8;
/// The shader's `MODE_ANY`: border runs that read the mode from the params, for kernels of any
/// length.
const MODE_ANY: u32 = 5;
/// Border pipelines: one per mode (`PassParams::mode` 0..=4), then the `MODE_ANY` one.
const BORDER_PIPELINES: usize = 6;
/// Kernels a fused pass applies at most (the shader's `KERNELS`: outputs `dst`, `dst_b`,
/// `dst_c`).
pub(crate) const MAX_KERNELS: usize = 3;
/// Storage bindings per stage the full pass module needs: weights, the volume and its vec4
/// view, the output and its vec4 view, two more outputs of fused passes.
const FULL_MODULE_BINDINGS: u32 = 7;

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
    /// Index of the pass's first weight in the weights buffer.
    pub weight_offset: u32,
    /// Value outside the axis in constant mode.
    pub cval: f32,
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
    /// Padding to WGSL's 16-byte struct alignment.
    pub pad: u32,
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
        let (mode, cval) = match kernel.mode {
            Mode::Reflect => (0, 0.0),
            Mode::Mirror => (1, 0.0),
            Mode::Nearest => (2, 0.0),
            Mode::Wrap => (3, 0.0),
            Mode::Constant(v) => (4, v),
        };
        PassParams {
            len: n as u32,
            stride: stride as u32,
            radius: r as u32,
            mode,
            weight_offset: weight_offset as u32,
            cval,
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
        }
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

/// Workgroups of `size` to dispatch for `invocations`, as (x, y): y > 1 only when x alone
/// would pass `max_per_dim`.
pub(crate) fn workgroups(invocations: u32, size: u32, max_per_dim: u32) -> (u32, u32) {
    let groups = invocations.div_ceil(size);
    if groups <= max_per_dim {
        (groups, 1)
    } else {
        (max_per_dim, groups.div_ceil(max_per_dim))
    }
}

/// The passes at the head of `steps` that one fused pass computes: `steps[0]` (a pass), and
/// after it at most `max - 1` passes along the same axis from the same input with kernels of the
/// same radius and mode (siblings in the plan's tree, which puts them one after another). As
/// (kernel, output slot) each.
fn fusable(plan: &Plan, steps: &[Step], max: usize) -> Vec<(usize, Slot)> {
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

/// An entry point of the pass module (`shaders/blur_axis*.wgsl`); with the shader's `TRUNCATE`
/// and `KERNELS`, what one pass pipeline is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PassEntry {
    /// Interior runs of `RUN` outputs.
    Interior,
    /// Interior runs of `RUN_LONG` outputs (passes of one kernel).
    InteriorLong,
    /// Interior runs of contiguous lines whose windows start 16-byte aligned, through the vec4
    /// views (the full module only).
    InteriorAligned,
    /// Border runs: of kernels shorter than their axis in one mode (`PassParams::mode` 0..=4),
    /// or (`MODE_ANY`) of kernels of any length.
    Border(u32),
    /// The GPU family along the contiguous axis.
    Rows4,
    /// The GPU family along the other axes.
    Cols4,
}

/// Pipelines per value of `TRUNCATE` and `KERNELS`: one per `PassEntry`.
const PASS_ENTRIES: usize = 5 + BORDER_PIPELINES;

impl PassEntry {
    /// Where its pipeline is kept.
    fn index(self) -> usize {
        match self {
            PassEntry::Interior => 0,
            PassEntry::InteriorLong => 1,
            PassEntry::InteriorAligned => 2,
            PassEntry::Rows4 => 3,
            PassEntry::Cols4 => 4,
            PassEntry::Border(mode) => 5 + (mode as usize).min(BORDER_PIPELINES - 1),
        }
    }

    /// The entry point's name and the override constants it takes beyond `TRUNCATE` and
    /// `KERNELS`.
    fn spec(self) -> (&'static str, Option<(&'static str, f64)>) {
        match self {
            PassEntry::Interior => ("interior", None),
            PassEntry::InteriorLong => ("interior_long", None),
            PassEntry::InteriorAligned => ("interior_aligned", None),
            PassEntry::Border(mode) => ("border", Some(("MODE", f64::from(mode)))),
            PassEntry::Rows4 => ("rows4", Some(("WORKGROUP", f64::from(GPU_WORKGROUP)))),
            PassEntry::Cols4 => ("cols4", Some(("WORKGROUP", f64::from(GPU_WORKGROUP)))),
        }
    }

    /// The interior entry for pass `p` of `kernels` kernels: runs of `RUN_LONG` when `along`
    /// chose them; else vec4 loads (`vec4_views`) when its lines are contiguous (the last axis)
    /// and every window starts at a multiple of 4 voxels (line length, run starts and radius
    /// multiples of 4; `storage_buffer` sizes keep the vec4 view in bounds).
    fn interior(p: &PassParams, kernels: usize, vec4_views: bool) -> Self {
        if kernels == 1 && p.interior_run == RUN_LONG {
            return PassEntry::InteriorLong;
        }
        let aligned = p.stride == 1
            && p.outer_stride.is_multiple_of(4)
            && p.radius.is_multiple_of(4)
            && p.interior_start.is_multiple_of(4);
        if aligned && vec4_views {
            PassEntry::InteriorAligned
        } else {
            PassEntry::Interior
        }
    }

    /// The border entry for pass `p`: the one of its mode when the kernel is shorter than the
    /// axis (every tap then lies within one reflection or period), the general one otherwise.
    fn border(p: &PassParams) -> Self {
        if p.radius < p.len {
            PassEntry::Border(p.mode.min(MODE_ANY))
        } else {
            PassEntry::Border(MODE_ANY)
        }
    }
}

/// How many passes (dispatches of a pass, fused or not) a `GpuBlur` has encoded in each family
/// since it was made: the GPU family falls back to the CPU family's passes where its own do not
/// apply, and this says which ran.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PassesRun {
    /// Passes of the CPU family (`shaders/blur_axis.wgsl`).
    pub cpu_family: u64,
    /// Passes of the GPU family (`shaders/blur_axis_gpu.wgsl`).
    pub gpu_family: u64,
}

/// Which shaders run the passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PassFamily {
    /// Register-window runs, interior and border apart, no divergence: tuned for CPU adapters
    /// (llvmpipe), whose workgroups run as one SIMD program.
    Cpu,
    /// Coalesced vec4 passes (`shaders/blur_axis_gpu.wgsl`) for discrete GPUs: neighbouring
    /// invocations on neighbouring addresses. Passes it does not take (rows not a multiple of
    /// 4 voxels) run in the CPU family.
    Gpu,
}

/// The compute pipelines and their bind group layouts, built once per `GpuBlur`; the variants
/// few calls need (truncating passes, the combinations) on first use.
#[derive(Debug)]
pub(crate) struct Pipeline {
    layout: wgpu::BindGroupLayout,
    pipeline_layout: wgpu::PipelineLayout,
    blur_module: wgpu::ShaderModule,
    /// Whether the device has the storage bindings for the vec4 views and the fused passes'
    /// extra outputs (the full module, `FULL_MODULE_BINDINGS`).
    vec4_views: bool,
    /// The family the passes run in.
    pub family: PassFamily,
    /// The pass pipelines of 1 to `MAX_KERNELS` kernels (index `kernels - 1`), then the same
    /// truncating toward zero; each entry's (`PassEntry::index`) built on first use, but those
    /// of plain passes of one kernel, built at once.
    passes: [[OnceLock<wgpu::ComputePipeline>; PASS_ENTRIES]; 2 * MAX_KERNELS],
    copy: wgpu::ComputePipeline,
    /// The copy through the vec4 views, when the device has them.
    copy4: Option<wgpu::ComputePipeline>,
    widen_layout: wgpu::BindGroupLayout,
    widen: wgpu::ComputePipeline,
    combine_layout: wgpu::BindGroupLayout,
    combine_pipeline_layout: wgpu::PipelineLayout,
    combine_module: wgpu::ShaderModule,
    /// The sum (index 0) and the norm (index 1) of a filter's terms.
    combine: [OnceLock<wgpu::ComputePipeline>; 2],
    /// Passes encoded so far in each family (index `PassFamily as usize`).
    passes_encoded: [AtomicU64; 2],
}

fn uniform_entry(binding: u32, size: usize) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Uniform,
            has_dynamic_offset: false,
            min_binding_size: NonZeroU64::new(size as u64),
        },
        count: None,
    }
}

fn storage_entry(binding: u32, read_only: bool) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only },
            has_dynamic_offset: false,
            // Shaders read these as f32 or vec4: the bound size is checked per dispatch.
            min_binding_size: None,
        },
        count: None,
    }
}

/// A compute pipeline of `module`'s entry point `name`, with these override constants (and
/// `WORKGROUP` unless they set it).
fn specialized(
    device: &wgpu::Device,
    layout: &wgpu::PipelineLayout,
    module: &wgpu::ShaderModule,
    name: &str,
    constants: &[(&str, f64)],
) -> wgpu::ComputePipeline {
    let mut all = constants.to_vec();
    if !all.iter().any(|(name, _)| *name == "WORKGROUP") {
        all.push(("WORKGROUP", f64::from(WORKGROUP)));
    }
    device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(&format!("blur3d.{name}")),
        layout: Some(layout),
        module,
        entry_point: Some(name),
        compilation_options: wgpu::PipelineCompilationOptions {
            constants: &all,
            ..Default::default()
        },
        cache: None,
    })
}

fn module(device: &wgpu::Device, label: &str, source: &str) -> wgpu::ShaderModule {
    device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(label),
        source: wgpu::ShaderSource::Wgsl(source.into()),
    })
}

fn pipeline_layout(
    device: &wgpu::Device,
    label: &str,
    layout: &wgpu::BindGroupLayout,
) -> wgpu::PipelineLayout {
    device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(label),
        bind_group_layouts: &[Some(layout)],
        immediate_size: 0,
    })
}

impl Pipeline {
    /// Passes encoded so far in each family: `(cpu, gpu)`.
    pub(crate) fn passes_encoded(&self) -> PassesRun {
        let [cpu, gpu] = &self.passes_encoded;
        PassesRun {
            cpu_family: cpu.load(Ordering::Relaxed),
            gpu_family: gpu.load(Ordering::Relaxed),
        }
    }

    /// The pipelines of `family` (the CPU family where the device lacks the vec4 views the GPU
    /// family needs).
    pub(crate) fn new(device: &wgpu::Device, family: PassFamily) -> Self {
        // The vec4 views of the volume (bindings 4 and 5) and the fused passes' outputs (6 and
        // 7) need 7 storage buffers per stage; a device with fewer (WebGPU's downlevel limits
        // have 4) runs without them.
        let vec4_views =
            device.limits().max_storage_buffers_per_shader_stage >= FULL_MODULE_BINDINGS;
        let family = if vec4_views { family } else { PassFamily::Cpu };
        let blur_module = if vec4_views {
            module(device, "blur3d.blur_axis", BLUR_AXIS_WGSL)
        } else {
            module(device, "blur3d.blur_axis_scalar", BLUR_AXIS_SCALAR_WGSL)
        };
        let copy_module = module(device, "blur3d.copy", COPY_WGSL);
        let widen_module = module(device, "blur3d.widen", WIDEN_WGSL);
        let entries = [
            uniform_entry(0, size_of::<PassParams>()),
            storage_entry(1, true),
            storage_entry(2, true),
            storage_entry(3, false),
            storage_entry(4, true),
            storage_entry(5, false),
            storage_entry(6, false),
            storage_entry(7, false),
        ];
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("blur3d.pass_layout"),
            entries: &entries[..if vec4_views { 8 } else { 4 }],
        });
        let pass_layout = pipeline_layout(device, "blur3d.pipeline_layout", &layout);
        let widen_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("blur3d.widen_layout"),
            entries: &[
                uniform_entry(0, size_of::<WidenParams>()),
                storage_entry(1, true),
                storage_entry(2, false),
            ],
        });
        let widen_pipeline_layout =
            pipeline_layout(device, "blur3d.widen_pipeline_layout", &widen_layout);
        let combine_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("blur3d.combine_layout"),
            entries: &[
                uniform_entry(0, size_of::<CombineParams>()),
                storage_entry(1, true),
                storage_entry(2, true),
                storage_entry(3, true),
                storage_entry(4, false),
            ],
        });
        let pipeline = Pipeline {
            copy: specialized(device, &pass_layout, &copy_module, "copy", &[]),
            copy4: vec4_views
                .then(|| specialized(device, &pass_layout, &copy_module, "copy4", &[])),
            widen: specialized(device, &widen_pipeline_layout, &widen_module, "widen", &[]),
            widen_layout,
            combine_pipeline_layout: pipeline_layout(
                device,
                "blur3d.combine_pipeline_layout",
                &combine_layout,
            ),
            combine_layout,
            combine_module: module(device, "blur3d.combine", COMBINE_WGSL),
            combine: [OnceLock::new(), OnceLock::new()],
            passes: std::array::from_fn(|_| std::array::from_fn(|_| OnceLock::new())),
            layout,
            pipeline_layout: pass_layout,
            blur_module,
            vec4_views,
            family,
            passes_encoded: [AtomicU64::new(0), AtomicU64::new(0)],
        };
        // The plain passes every blur needs, at once: a first call does not pay for them.
        let mut plain = vec![PassEntry::Interior, PassEntry::InteriorLong];
        plain.extend((0..=MODE_ANY).map(PassEntry::Border));
        if vec4_views {
            plain.push(PassEntry::InteriorAligned);
        }
        if family == PassFamily::Gpu {
            plain.extend([PassEntry::Rows4, PassEntry::Cols4]);
        }
        for entry in plain {
            pipeline.pass(device, false, 1, entry);
        }
        pipeline
    }

    /// Whether passes along one axis from one input can be fused (the full module).
    pub(crate) fn fuses(&self) -> bool {
        self.vec4_views
    }

    /// The pipeline of pass entry point `entry`, truncating toward zero or not, of `kernels`
    /// kernels (1 to `MAX_KERNELS`), built on first use.
    fn pass(
        &self,
        device: &wgpu::Device,
        truncate: bool,
        kernels: usize,
        entry: PassEntry,
    ) -> &wgpu::ComputePipeline {
        let kernels = kernels.clamp(1, MAX_KERNELS);
        self.passes[usize::from(truncate) * MAX_KERNELS + kernels - 1][entry.index()].get_or_init(
            || {
                let (name, more) = entry.spec();
                let mut constants = vec![
                    ("TRUNCATE", f64::from(u8::from(truncate))),
                    ("KERNELS", kernels as f64),
                ];
                constants.extend(more);
                specialized(
                    device,
                    &self.pipeline_layout,
                    &self.blur_module,
                    name,
                    &constants,
                )
            },
        )
    }

    /// The combination of terms, sum or norm, built on first use.
    fn combine(&self, device: &wgpu::Device, norm: bool) -> &wgpu::ComputePipeline {
        self.combine[usize::from(norm)].get_or_init(|| {
            specialized(
                device,
                &self.combine_pipeline_layout,
                &self.combine_module,
                "combine",
                &[("NORM", f64::from(u8::from(norm)))],
            )
        })
    }
}

/// One dispatch step of encoded GPU work, with the buffers it reads and writes.
enum Work<'a> {
    /// A blur pass, in the GPU family when `gpu`; a fused one writes the sums of its second
    /// and third kernels to `extra`.
    Pass {
        params: PassParams,
        gpu: bool,
        src: &'a wgpu::Buffer,
        dst: &'a wgpu::Buffer,
        extra: Vec<&'a wgpu::Buffer>,
    },
    /// A plain copy, one voxel per invocation, or four (`vec4`).
    Copy {
        vec4: bool,
        src: &'a wgpu::Buffer,
        dst: &'a wgpu::Buffer,
    },
    /// The sum of the terms, or their norm.
    Combine {
        inputs: Vec<&'a wgpu::Buffer>,
        norm: bool,
        dst: &'a wgpu::Buffer,
    },
}

/// What encoding GPU work needs: the device, its queue (small parameter buffers are written
/// through it) and the pipelines.
#[derive(Clone, Copy)]
pub(crate) struct Encoder<'a> {
    pub device: &'a wgpu::Device,
    pub queue: &'a wgpu::Queue,
    pub pipeline: &'a Pipeline,
    /// Where parameter and weight buffers come from (pooled).
    pub transfers: &'a super::transfer::Transfers,
}

impl Encoder<'_> {
    /// Encodes the steps of `plan` on a volume in `layout`, slot `i` of the plan being
    /// `buffers[i]`. Returns the parameter buffers it used, to give back once submitted.
    pub(crate) fn plan(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        plan: &Plan,
        buffers: &[wgpu::Buffer],
        layout: Layout,
    ) -> Vec<wgpu::Buffer> {
        // All weights in one buffer, each kernel's from a multiple of 4: the shaders read them
        // as vec4s.
        let mut weights: Vec<f32> = Vec::new();
        let mut offsets = Vec::with_capacity(plan.kernels.len());
        for k in &plan.kernels {
            offsets.push(weights.len());
            weights.extend(crate::kernel::f32_weights(&k.weights));
            weights.resize(weights.len().next_multiple_of(4), 0.0);
        }
        let max = if self.pipeline.fuses() {
            MAX_KERNELS
        } else {
            1
        };
        let mut work: Vec<Work<'_>> = Vec::with_capacity(plan.steps.len());
        let mut rest = &plan.steps[..];
        while let Some(step) = rest.first() {
            let taken = match step {
                Step::Pass { axis, src, dst, .. } => {
                    let group = fusable(plan, rest, max);
                    let kernels: Vec<(&AxisKernel, usize)> = group
                        .iter()
                        .map(|&(kernel, _)| (&plan.kernels[kernel], offsets[kernel]))
                        .collect();
                    let gpu = match self.pipeline.family {
                        PassFamily::Gpu => PassParams::fused_gpu(layout, *axis, &kernels),
                        PassFamily::Cpu => None,
                    };
                    let ran = if gpu.is_some() {
                        PassFamily::Gpu
                    } else {
                        PassFamily::Cpu
                    };
                    self.pipeline.passes_encoded[ran as usize].fetch_add(1, Ordering::Relaxed);
                    work.push(Work::Pass {
                        gpu: gpu.is_some(),
                        params: gpu.unwrap_or_else(|| PassParams::fused(layout, *axis, &kernels)),
                        src: &buffers[*src],
                        dst: &buffers[*dst],
                        extra: group[1..].iter().map(|&(_, d)| &buffers[d]).collect(),
                    });
                    group.len()
                }
                Step::Combine { inputs, norm, dst } => {
                    work.push(Work::Combine {
                        inputs: inputs.iter().map(|&i| &buffers[i]).collect(),
                        norm: *norm,
                        dst: &buffers[*dst],
                    });
                    1
                }
            };
            rest = &rest[taken..];
        }
        self.dispatch(encoder, layout, &weights, &work, plan.truncate_each_pass)
    }

    /// Encodes the conversion of `count` packed integer voxels in `packed` to f32 in `dst`.
    /// Returns the parameter buffer it used, to give back once submitted.
    pub(crate) fn widen(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        packed: &wgpu::Buffer,
        dst: &wgpu::Buffer,
        count: usize,
        (bits, signed): (u32, bool),
    ) -> wgpu::Buffer {
        let Encoder {
            device,
            queue,
            pipeline,
            transfers,
        } = *self;
        let params = WidenParams {
            count: count as u32,
            bits,
            signed: u32::from(signed),
            pad: 0,
        };
        let params_buffer = transfers.params(queue, bytemuck::bytes_of(&params));
        let packed_bytes = (count as u64 * u64::from(bits)).div_ceil(32) * 4;
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("blur3d.widen_bind_group"),
            layout: &pipeline.widen_layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: binding(&params_buffer, 0, size_of::<WidenParams>() as u64),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: binding(packed, 0, packed_bytes),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: binding(dst, 0, count as u64 * 4),
                },
            ],
        });
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("blur3d.widen"),
            timestamp_writes: None,
        });
        pass.set_pipeline(&pipeline.widen);
        pass.set_bind_group(0, &bind_group, &[]);
        let (x, y) = workgroups(
            count as u32,
            WORKGROUP,
            device.limits().max_compute_workgroups_per_dimension,
        );
        pass.dispatch_workgroups(x, y, 1);
        drop(pass);
        params_buffer
    }

    /// Encodes `count` plain copies ping-ponging between `a` and `b`: the floor of `count`
    /// passes. Returns whether the result ended in `b`, and the parameter buffers it used, to
    /// give back once submitted.
    pub(crate) fn copies(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        [a, b]: [&wgpu::Buffer; 2],
        layout: Layout,
        count: usize,
        vec4: bool,
    ) -> (bool, Vec<wgpu::Buffer>) {
        let work: Vec<Work<'_>> = (0..count)
            .map(|i| {
                let (src, dst) = if i % 2 == 0 { (a, b) } else { (b, a) };
                Work::Copy { vec4, src, dst }
            })
            .collect();
        let params = self.dispatch(encoder, layout, &[0.0; 4], &work, false);
        (count % 2 == 1, params)
    }

    fn dispatch(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        layout: Layout,
        weights: &[f32],
        work: &[Work<'_>],
        truncate: bool,
    ) -> Vec<wgpu::Buffer> {
        let Encoder {
            device,
            queue,
            pipeline,
            transfers,
        } = *self;
        let limits = device.limits();
        let voxels = layout.len();
        let bytes = layout.bytes();
        let quads = bytes.next_multiple_of(16);
        let weights_buffer = transfers.params(queue, bytemuck::cast_slice(weights));
        // Each step's params in its own slot of one uniform buffer.
        let slot = (size_of::<PassParams>() as u64)
            .next_multiple_of(u64::from(limits.min_uniform_buffer_offset_alignment));
        let mut uniform_bytes = vec![0u8; (slot * work.len() as u64) as usize];
        for (i, step) in work.iter().enumerate() {
            let at = i * slot as usize;
            let combine;
            let params: &[u8] = match step {
                Work::Pass { params, .. } => bytemuck::bytes_of(params),
                Work::Combine { inputs, .. } => {
                    combine = CombineParams {
                        quads: (quads / 16) as u32,
                        inputs: inputs.len() as u32,
                        pad1: 0,
                        pad2: 0,
                    };
                    bytemuck::bytes_of(&combine)
                }
                Work::Copy { .. } => &[],
            };
            uniform_bytes[at..at + params.len()].copy_from_slice(params);
        }
        let params_buffer = transfers.params(queue, &uniform_bytes);
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("blur3d.passes"),
            timestamp_writes: None,
        });
        for (i, step) in work.iter().enumerate() {
            let params = |size: usize| binding(&params_buffer, i as u64 * slot, size as u64);
            let (bind_group, dispatches) = match step {
                Work::Pass {
                    params: p,
                    gpu,
                    src,
                    dst,
                    extra,
                } => {
                    let kernels = 1 + extra.len();
                    let entry = |e| pipeline.pass(device, truncate, kernels, e);
                    (
                        self.pass_bind_group(
                            params(size_of::<PassParams>()),
                            &weights_buffer,
                            src,
                            [
                                dst,
                                extra.first().unwrap_or(dst),
                                extra.get(1).unwrap_or(dst),
                            ],
                            bytes,
                        ),
                        if *gpu && pipeline.family == PassFamily::Gpu {
                            let e = if p.stride == 1 {
                                PassEntry::Rows4
                            } else {
                                PassEntry::Cols4
                            };
                            vec![(entry(e), p.gpu_invocations, GPU_WORKGROUP)]
                        } else {
                            let interior = PassEntry::interior(p, kernels, pipeline.vec4_views);
                            vec![
                                (entry(interior), p.interior_invocations, WORKGROUP),
                                (entry(PassEntry::border(p)), p.border_invocations, WORKGROUP),
                            ]
                        },
                    )
                }
                Work::Copy { vec4, src, dst } => (
                    self.pass_bind_group(
                        params(size_of::<PassParams>()),
                        &weights_buffer,
                        src,
                        [dst; 3],
                        bytes,
                    ),
                    match &pipeline.copy4 {
                        Some(copy4) if *vec4 && voxels.is_multiple_of(4) => {
                            vec![(copy4, (voxels / 4) as u32, WORKGROUP)]
                        }
                        _ => vec![(&pipeline.copy, voxels as u32, WORKGROUP)],
                    },
                ),
                Work::Combine { inputs, norm, dst } => {
                    let term = |j: usize| binding(inputs.get(j).unwrap_or(&inputs[0]), 0, quads);
                    let entries = [
                        params(size_of::<CombineParams>()),
                        term(0),
                        term(1),
                        term(2),
                        binding(dst, 0, quads),
                    ];
                    (
                        bind_group(
                            device,
                            &pipeline.combine_layout,
                            "blur3d.combine_bind_group",
                            entries,
                        ),
                        vec![(
                            pipeline.combine(device, *norm),
                            (quads / 16) as u32,
                            WORKGROUP,
                        )],
                    )
                }
            };
            pass.set_bind_group(0, &bind_group, &[]);
            for (entry, invocations, size) in dispatches {
                if invocations > 0 {
                    let (x, y) = workgroups(
                        invocations,
                        size,
                        limits.max_compute_workgroups_per_dimension,
                    );
                    pass.set_pipeline(entry);
                    pass.dispatch_workgroups(x, y, 1);
                }
            }
        }
        drop(pass);
        vec![weights_buffer, params_buffer]
    }

    /// The bind group of a pass or copy from `src` to `dst` (volumes of `bytes`): the outputs
    /// of a fused pass's kernels, the first one again in place of kernels it does not have.
    fn pass_bind_group(
        &self,
        params: wgpu::BindingResource<'_>,
        weights: &wgpu::Buffer,
        src: &wgpu::Buffer,
        [dst, dst_b, dst_c]: [&wgpu::Buffer; 3],
        bytes: u64,
    ) -> wgpu::BindGroup {
        let quads = bytes.next_multiple_of(16);
        let entries = [
            params,
            weights.as_entire_binding(),
            binding(src, 0, bytes),
            binding(dst, 0, bytes),
            binding(src, 0, quads),
            binding(dst, 0, quads),
            binding(dst_b, 0, quads),
            binding(dst_c, 0, quads),
        ];
        let views = if self.pipeline.vec4_views { 8 } else { 4 };
        bind_group(
            self.device,
            &self.pipeline.layout,
            "blur3d.pass_bind_group",
            entries.into_iter().take(views),
        )
    }
}

/// A binding of `size` bytes of `buffer` from `offset`.
fn binding(buffer: &wgpu::Buffer, offset: u64, size: u64) -> wgpu::BindingResource<'_> {
    wgpu::BindingResource::Buffer(wgpu::BufferBinding {
        buffer,
        offset,
        size: NonZeroU64::new(size),
    })
}

/// A bind group of `resources` at bindings 0, 1, 2, ...
fn bind_group<'a>(
    device: &wgpu::Device,
    layout: &wgpu::BindGroupLayout,
    label: &str,
    resources: impl IntoIterator<Item = wgpu::BindingResource<'a>>,
) -> wgpu::BindGroup {
    let entries: Vec<wgpu::BindGroupEntry<'_>> = resources
        .into_iter()
        .zip(0..)
        .map(|(resource, binding)| wgpu::BindGroupEntry { binding, resource })
        .collect();
    device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some(label),
        layout,
        entries: &entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of the shader's u32 constant `name`.
    fn shader_const(name: &str) -> u32 {
        let module = naga::front::wgsl::parse_str(BLUR_AXIS_WGSL).expect("shader parses");
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

    #[test]
    fn constants_match_the_shader() {
        assert_eq!(shader_const("RUN"), RUN);
        assert_eq!(shader_const("RUN_LONG"), RUN_LONG);
        assert_eq!(shader_const("RUN_GPU"), RUN_GPU);
        assert_eq!(shader_const("MODE_ANY"), MODE_ANY);
        assert_eq!(BORDER_PIPELINES, MODE_ANY as usize + 1);
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
            let p = PassParams::along(Layout::for_shape([1, 1, 8]), 2, &k, 0);
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

    /// Every output of a line is written by some run, interior runs (of either length) never
    /// read outside, and lines that are a whole number of runs compute no output twice.
    #[test]
    fn runs_cover_every_line() {
        let run = RUN as usize;
        let mut long = false;
        for n in 1..200 {
            for r in 1..40 {
                for (shape, axis) in [([1, 1, n], 2), ([n, 3, 4], 0), ([2, n, 1024], 1)] {
                    let p = PassParams::along(Layout::for_shape(shape), axis, &kernel(r), 0);
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
