//! The pass families behind one interface: [`Kernels`] holds a device's pipelines and the family
//! its passes run in, chosen once; [`Dispatcher`] turns a [`Plan`] (or a widening, or plain copies)
//! into dispatches.

mod params;
mod pipelines;
pub(crate) mod shaders;

use std::num::NonZeroU64;
use std::sync::atomic::{AtomicU64, Ordering};

use super::layout::{Layout, Real};
use super::pool::Frame;
use super::transfer;
use crate::options::AxisKernel;
use crate::plan::{Plan, Slot, Step};
pub(crate) use params::{CombineParams, PassParams, WidenParams};
use params::{
    FULL_MODULE_BINDINGS, GPU_WORKGROUP, MAX_KERNELS, WORKGROUP, dead_after, fusable, workgroups,
};
use pipelines::{Key, PassEntry, Pipelines};

use super::tuning::{self, Cache, PairClass, PassClass, Tuned, TunedPair};

/// How many passes (dispatches of a pass, fused or not) a `GpuBlur` has encoded in each family
/// since it was made: a family falls back to another's passes where its own do not apply (see
/// [`PassFamily`]), and this says which ran.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PassesRun {
    /// Passes of the CPU family (`shaders/blur_axis.wgsl`).
    pub cpu_family: u64,
    /// Passes of the GPU family (`shaders/blur_axis_gpu.wgsl`).
    pub gpu_family: u64,
    /// Passes of the tile family (`shaders/blur_axis_tile.wgsl`).
    pub tile_family: u64,
    /// In-plane pairs: passes along axes 1 and 2 the tile family ran in one dispatch (each pair
    /// also counts as two passes of the tile family).
    pub plane_pairs: u64,
    /// Passes of either family computed in f64 ([`crate::Precision`]).
    pub f64: u64,
    /// Passes computed in double-single arithmetic (f64 asked of a device without it).
    pub double_single: u64,
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
    /// 4 voxels) run in the tile family where it takes them, else in the CPU family.
    Gpu,
    /// Workgroup tiles (`shaders/blur_axis_tile.wgsl`) for discrete GPUs: a workgroup loads a
    /// tile of the volume and its aprons into workgroup memory once, then sums its outputs'
    /// taps from there; rows of any length. A pass along axis 1 followed by one along axis 2
    /// can run in one dispatch of it (the in-plane pair, [`PassesRun::plane_pairs`]) when their
    /// tile fits (radii up to 16 each in f32, about 10 in f64): a blur in two volume passes
    /// instead of three. Pairs run where the tuner timed them faster than the passes apart
    /// ([`GpuBlur::tuned_pairs`](crate::GpuBlur::tuned_pairs)), or, untuned, where both passes
    /// are the tile family's. Passes it does not take (radius above 48 along strided lines, above
    /// 1792 voxels, 768 in f64, along contiguous ones) run in the GPU family where it takes
    /// them, else in the CPU family.
    Tile,
}

impl PassFamily {
    /// Every family, in the order of their counts.
    pub(crate) const ALL: [PassFamily; 3] = [PassFamily::Cpu, PassFamily::Gpu, PassFamily::Tile];

    /// The families that run a pass this family does not take, in order; the CPU family takes
    /// every pass.
    fn fallbacks(self) -> &'static [PassFamily] {
        match self {
            PassFamily::Cpu => &[],
            PassFamily::Gpu => &[PassFamily::Tile],
            PassFamily::Tile => &[PassFamily::Gpu],
        }
    }
}

/// Whether `device` has the storage bindings of the vec4 views of the volume (bindings 4 and
/// 5) and of the fused passes' outputs (6 and 7): 7 per stage. A device with fewer (WebGPU's
/// downlevel limits have 4) runs the CPU family's variant without them.
pub(crate) fn has_vec4_views(device: &wgpu::Device) -> bool {
    device.limits().max_storage_buffers_per_shader_stage >= FULL_MODULE_BINDINGS
}

/// A device's pipelines, and the family its passes run in.
#[derive(Debug)]
pub(crate) struct Kernels {
    pipelines: Pipelines,
    /// The family the passes run in where the tuner has not decided (or does not run).
    pub family: PassFamily,
    /// Whether the tuner decides the family per class of passes (`tuning.rs`).
    pub tunes: bool,
    /// The adapter and driver the tuner's decisions hold for.
    pub adapter_key: String,
    /// Whether the device has the workgroup memory and size of the tile family's workgroups.
    pub tiles: bool,
    /// Passes encoded so far in each family (index `PassFamily as usize`), then in f64, then in
    /// double-single, then in-plane pairs.
    passes_encoded: [AtomicU64; 6],
}

impl Kernels {
    /// The kernels of `device` in `family` (see `device::choose_family`), the plain passes of
    /// one kernel built at once: a first call does not pay for them. Everything else is built
    /// on first use.
    pub(crate) fn new(device: &wgpu::Device, family: PassFamily) -> Self {
        let vec4_views = has_vec4_views(device);
        let limits = device.limits();
        let kernels = Kernels {
            pipelines: Pipelines::new(device, vec4_views),
            family,
            tunes: false,
            tiles: limits.max_compute_workgroup_storage_size >= params::TILE_BYTES
                && limits.max_compute_invocations_per_workgroup >= GPU_WORKGROUP
                && limits.max_compute_workgroup_size_x >= GPU_WORKGROUP,
            adapter_key: tuning::adapter_key(&device.adapter_info()),
            passes_encoded: std::array::from_fn(|_| AtomicU64::new(0)),
        };
        let mut plain = vec![PassEntry::Interior, PassEntry::InteriorLong];
        plain.extend((0..=params::MODE_ANY).map(PassEntry::Border));
        if vec4_views {
            plain.push(PassEntry::InteriorAligned);
        }
        // The default mode's; the others' on first use.
        match family {
            PassFamily::Gpu => plain.extend([PassEntry::Rows4(0), PassEntry::Cols4(0)]),
            PassFamily::Tile => plain.extend([PassEntry::RowTile(0), PassEntry::ColTile(0)]),
            PassFamily::Cpu => {}
        }
        for entry in plain {
            kernels.pass(entry, false, 1, Real::F32);
        }
        kernels
    }

    /// Passes encoded so far in each family.
    pub(crate) fn passes_run(&self) -> PassesRun {
        let [cpu, gpu, tile, f64, ds, pairs] = &self.passes_encoded;
        PassesRun {
            cpu_family: cpu.load(Ordering::Relaxed),
            gpu_family: gpu.load(Ordering::Relaxed),
            tile_family: tile.load(Ordering::Relaxed),
            plane_pairs: pairs.load(Ordering::Relaxed),
            f64: f64.load(Ordering::Relaxed),
            double_single: ds.load(Ordering::Relaxed),
        }
    }

    /// The tuner's decision for `class` on this device, when it runs and has decided.
    pub(crate) fn tuned(&self, class: PassClass) -> Option<Tuned> {
        if !self.tunes {
            return None;
        }
        let cache = Cache::global().lock().unwrap_or_else(|e| e.into_inner());
        cache.get(&self.adapter_key, class)
    }

    /// The tuner's decision for in-plane pairs of `class` on this device, when it runs and has
    /// decided.
    pub(crate) fn tuned_pair(&self, class: PairClass) -> Option<TunedPair> {
        if !self.tunes {
            return None;
        }
        let cache = Cache::global().lock().unwrap_or_else(|e| e.into_inner());
        cache.get_pair(&self.adapter_key, class)
    }

    /// The family of passes of `class`: the tuner's choice, else the device's family; the CPU
    /// family on a device without the GPU family's bindings.
    fn family_for(&self, class: PassClass) -> PassFamily {
        if !self.fuses() {
            return PassFamily::Cpu;
        }
        self.tuned(class).map_or(self.family, |t| t.family)
    }

    /// Whether passes along one axis from one input can be fused (the vec4 views' variant).
    pub(crate) fn fuses(&self) -> bool {
        self.pipelines.vec4_views
    }

    /// The families this device can run: the CPU family; the GPU family with the vec4 views;
    /// the tile family with them and its workgroups' memory.
    pub(crate) fn candidates(&self) -> Vec<PassFamily> {
        PassFamily::ALL
            .into_iter()
            .filter(|f| match f {
                PassFamily::Cpu => true,
                PassFamily::Gpu => self.fuses(),
                PassFamily::Tile => self.fuses() && self.tiles,
            })
            .collect()
    }

    /// The params of a pass along `axis` of `kernels` in `family` on a volume in `layout`, or
    /// in the first of its fallbacks that takes the pass, else in the CPU family; with the
    /// family that runs it. Double-single passes have their own entry point (counted as the
    /// CPU family's).
    fn params_in(
        &self,
        family: PassFamily,
        layout: Layout,
        axis: usize,
        kernels: &[(&AxisKernel, usize)],
    ) -> (PassFamily, PassParams) {
        if layout.real == Real::Ds {
            let (kernel, offset) = kernels[0];
            return (
                PassFamily::Cpu,
                PassParams::along_ds(layout, axis, kernel, offset),
            );
        }
        let candidates = self.candidates();
        for &f in std::iter::once(&family).chain(family.fallbacks()) {
            if !candidates.contains(&f) {
                continue;
            }
            let params = match f {
                PassFamily::Gpu => PassParams::fused_gpu(layout, axis, kernels),
                PassFamily::Tile => PassParams::fused_tile(layout, axis, kernels),
                PassFamily::Cpu => None,
            };
            if let Some(p) = params {
                return (f, p);
            }
        }
        (PassFamily::Cpu, PassParams::fused(layout, axis, kernels))
    }

    /// Counts a pass encoded in `family`, computing in `real`.
    fn count(&self, family: PassFamily, real: Real) {
        self.passes_encoded[family as usize].fetch_add(1, Ordering::Relaxed);
        match real {
            Real::F32 => {}
            Real::F64 => {
                self.passes_encoded[3].fetch_add(1, Ordering::Relaxed);
            }
            Real::Ds => {
                self.passes_encoded[4].fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The pipeline of pass entry point `entry` of `kernels` kernels (1 to `MAX_KERNELS`),
    /// truncating toward zero or not, computing in `real`.
    fn pass(
        &self,
        entry: PassEntry,
        truncate: bool,
        kernels: usize,
        real: Real,
    ) -> wgpu::ComputePipeline {
        self.pipelines.get(Key::Pass {
            entry,
            truncate,
            kernels: kernels.clamp(1, MAX_KERNELS) as u8,
            real,
        })
    }
}

/// One dispatch step of encoded GPU work, with the buffers it reads and writes.
enum Work<'a> {
    /// A blur pass, in `family` (in double-single arithmetic when `ds`); a fused one writes the
    /// sums of its second and third kernels to `extra`.
    Pass {
        params: PassParams,
        family: PassFamily,
        ds: bool,
        src: &'a wgpu::Buffer,
        dst: &'a wgpu::Buffer,
        extra: Vec<&'a wgpu::Buffer>,
    },
    /// A plain copy, one voxel per invocation, or four (`vec4`).
    #[cfg(feature = "bench")]
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
/// through it) and the kernels. Parameter and weight buffers come from the submission's
/// [`Frame`], which gives them back.
#[derive(Clone, Copy)]
pub(crate) struct Dispatcher<'a> {
    pub device: &'a wgpu::Device,
    pub queue: &'a wgpu::Queue,
    pub kernels: &'a Kernels,
    /// Every pass in this family; `None`: each class's family.
    pub force: Option<PassFamily>,
    /// In-plane pairs in one dispatch wherever they fit (`Some(true)`), never (`Some(false)`),
    /// or as decided: the tuner's decision for their class, else when both passes are the tile
    /// family's.
    pub pairs: Option<bool>,
    /// Whether the passes count in [`PassesRun`] (not the tuner's timings).
    pub counted: bool,
}

impl Dispatcher<'_> {
    /// Encodes the steps of `plan` on a volume in `layout`, slot `i` of the plan being
    /// `buffers[i]` at the start. Returns which of `buffers` holds each slot at the end: an
    /// in-plane pair (`plane_pair`) whose output slot is its input's writes into its
    /// intermediate's buffer instead (no step reads that again), and the two slots trade
    /// buffers.
    pub(crate) fn plan(
        &self,
        frame: &mut Frame<'_>,
        encoder: &mut wgpu::CommandEncoder,
        plan: &Plan,
        buffers: &[wgpu::Buffer],
        layout: Layout,
    ) -> Vec<usize> {
        // All weights in one buffer, each kernel's from a multiple of 4 after a vec4 holding its
        // constant mode's value: the shaders read them as vec4s.
        let mut weights: Vec<f64> = Vec::new();
        let mut offsets = Vec::with_capacity(plan.kernels.len());
        for k in &plan.kernels {
            let cval = match k.mode {
                crate::Mode::Constant(v) => v,
                _ => 0.0,
            };
            weights.extend([cval, 0.0, 0.0, 0.0]);
            offsets.push(weights.len());
            weights.extend(&k.weights);
            weights.resize(weights.len().next_multiple_of(4), 0.0);
        }
        let weights = match layout.real {
            // f32 weights whose sum is scipy's (`kernel::f32_weights`), kernel by kernel.
            Real::F32 => {
                let mut w: Vec<f32> = weights.iter().map(|&v| v as f32).collect();
                for (k, &at) in plan.kernels.iter().zip(&offsets) {
                    let rounded = crate::kernel::f32_weights(&k.weights);
                    w[at..at + rounded.len()].copy_from_slice(&rounded);
                }
                bytemuck::cast_slice(&w).to_vec()
            }
            Real::F64 => bytemuck::cast_slice(&weights).to_vec(),
            // Pairs; the constant mode's value scaled as the volume is.
            Real::Ds => {
                let scale = 2f64.powi(-layout.exp);
                let mut pairs: Vec<[f32; 2]> =
                    weights.iter().map(|&w| transfer::ds_pair(w)).collect();
                for &at in &offsets {
                    pairs[at - 4] = transfer::ds_pair(weights[at - 4] * scale);
                }
                bytemuck::cast_slice(&pairs).to_vec()
            }
        };
        let ds = layout.real == Real::Ds;
        // Double-single passes are never fused (one output per invocation: nothing to share).
        let max = if self.kernels.fuses() && !ds {
            MAX_KERNELS
        } else {
            1
        };
        let mut work: Vec<Work<'_>> = Vec::with_capacity(plan.steps.len());
        let mut at: Vec<usize> = (0..buffers.len()).collect();
        let mut rest = &plan.steps[..];
        while let Some(step) = rest.first() {
            if let Some((params, [src, mid, dst])) =
                self.plane_pair(plan, rest, layout, &offsets, max)
            {
                let from = at[src];
                if dst == src {
                    at.swap(dst, mid);
                }
                if self.counted {
                    self.kernels.count(PassFamily::Tile, layout.real);
                    self.kernels.count(PassFamily::Tile, layout.real);
                    self.kernels.passes_encoded[5].fetch_add(1, Ordering::Relaxed);
                }
                work.push(Work::Pass {
                    family: PassFamily::Tile,
                    ds: false,
                    params,
                    src: &buffers[from],
                    dst: &buffers[at[dst]],
                    extra: Vec::new(),
                });
                rest = &rest[2..];
                continue;
            }
            let taken = match step {
                Step::Pass { axis, src, dst, .. } => {
                    let group = fusable(plan, rest, max);
                    let kernels: Vec<(&AxisKernel, usize)> = group
                        .iter()
                        .map(|&(kernel, _)| (&plan.kernels[kernel], offsets[kernel]))
                        .collect();
                    let class = PassClass::of(*axis, kernels[0].0.radius, layout.real);
                    let family = self.force.unwrap_or_else(|| self.kernels.family_for(class));
                    let (ran, params) = self.kernels.params_in(family, layout, *axis, &kernels);
                    if self.counted {
                        self.kernels.count(ran, layout.real);
                    }
                    work.push(Work::Pass {
                        family: ran,
                        ds,
                        params,
                        src: &buffers[at[*src]],
                        dst: &buffers[at[*dst]],
                        extra: group[1..].iter().map(|&(_, d)| &buffers[at[d]]).collect(),
                    });
                    group.len()
                }
                Step::Combine { inputs, norm, dst } => {
                    work.push(Work::Combine {
                        inputs: inputs.iter().map(|&i| &buffers[at[i]]).collect(),
                        norm: *norm,
                        dst: &buffers[at[*dst]],
                    });
                    1
                }
            };
            rest = &rest[taken..];
        }
        self.dispatch(
            frame,
            encoder,
            layout,
            &weights,
            &work,
            plan.truncate_each_pass,
        );
        at
    }

    /// The in-plane pair at the head of `steps`: a pass along axis 1 of one kernel whose output
    /// only the next step reads, a pass along axis 2 of one kernel, pairs asked for (`pairs`, or
    /// the tile family forced, or the tuner's decision for their class, or both passes' classes
    /// in the tile family), and a tile that holds them (`PassParams::plane_pair`). With its params and its (input, intermediate, output) slots.
    fn plane_pair(
        &self,
        plan: &Plan,
        steps: &[Step],
        layout: Layout,
        offsets: &[usize],
        max: usize,
    ) -> Option<(PassParams, [Slot; 3])> {
        let [
            Step::Pass {
                axis: 1,
                kernel: first,
                src,
                dst: mid,
            },
            Step::Pass {
                axis: 2,
                kernel: second,
                src: read,
                dst,
            },
            after @ ..,
        ] = steps
        else {
            return None;
        };
        if read != mid
            || layout.real == Real::Ds
            || !self.kernels.candidates().contains(&PassFamily::Tile)
            || fusable(plan, steps, max).len() != 1
            || fusable(plan, &steps[1..], max).len() != 1
            || !dead_after(plan, after, *mid)
        {
            return None;
        }
        let (a, b) = (&plan.kernels[*first], &plan.kernels[*second]);
        let tile = |axis: usize, k: &AxisKernel| {
            let class = PassClass::of(axis, k.radius, layout.real);
            self.force.unwrap_or_else(|| self.kernels.family_for(class)) == PassFamily::Tile
        };
        let fused = match (self.pairs, self.force) {
            (Some(fused), _) => fused,
            (None, Some(family)) => family == PassFamily::Tile,
            (None, None) => self
                .kernels
                .tuned_pair(PairClass::of(a.radius, b.radius, layout.real))
                .map_or_else(|| tile(1, a) && tile(2, b), |t| t.fused),
        };
        if !fused {
            return None;
        }
        let params = PassParams::plane_pair(layout, (a, offsets[*first]), (b, offsets[*second]))?;
        Some((params, [*src, *mid, *dst]))
    }

    /// Encodes the conversion of `count` packed integer voxels in `packed` to `real` in `dst`.
    pub(crate) fn widen(
        &self,
        frame: &mut Frame<'_>,
        encoder: &mut wgpu::CommandEncoder,
        packed: &wgpu::Buffer,
        dst: &wgpu::Buffer,
        (count, real): (usize, Real),
        (bits, signed): (u32, bool),
    ) {
        let Dispatcher {
            device,
            queue,
            kernels,
            ..
        } = *self;
        let params = WidenParams {
            count: count as u32,
            bits,
            signed: u32::from(signed),
            pad: 0,
        };
        let params_buffer = frame.params(queue, bytemuck::bytes_of(&params));
        let packed_bytes = (count as u64 * u64::from(bits)).div_ceil(32) * 4;
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("blur3d.widen_bind_group"),
            layout: &kernels.pipelines.widen_layout,
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
                    resource: binding(dst, 0, (count * real.size()) as u64),
                },
            ],
        });
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("blur3d.widen"),
            timestamp_writes: None,
        });
        pass.set_pipeline(&kernels.pipelines.get(Key::Widen { real }));
        pass.set_bind_group(0, &bind_group, &[]);
        let (x, y) = workgroups(
            count as u32,
            WORKGROUP,
            device.limits().max_compute_workgroups_per_dimension,
        );
        pass.dispatch_workgroups(x, y, 1);
    }

    /// Encodes `count` plain copies ping-ponging between `a` and `b`: the floor of `count`
    /// passes. Returns whether the result ended in `b`.
    #[cfg(feature = "bench")]
    pub(crate) fn copies(
        &self,
        frame: &mut Frame<'_>,
        encoder: &mut wgpu::CommandEncoder,
        [a, b]: [&wgpu::Buffer; 2],
        layout: Layout,
        count: usize,
        vec4: bool,
    ) -> bool {
        let work: Vec<Work<'_>> = (0..count)
            .map(|i| {
                let (src, dst) = if i % 2 == 0 { (a, b) } else { (b, a) };
                Work::Copy { vec4, src, dst }
            })
            .collect();
        self.dispatch(frame, encoder, layout, &[0; 16], &work, false);
        count % 2 == 1
    }

    fn dispatch(
        &self,
        frame: &mut Frame<'_>,
        encoder: &mut wgpu::CommandEncoder,
        layout: Layout,
        weights: &[u8],
        work: &[Work<'_>],
        truncate: bool,
    ) {
        let Dispatcher {
            device,
            queue,
            kernels,
            ..
        } = *self;
        let limits = device.limits();
        let bytes = layout.bytes();
        let quads = layout.quad_bytes();
        // What one combination invocation writes: a vec4, or one double-single voxel.
        let combined = if layout.real == Real::Ds {
            layout.real.size() as u64
        } else {
            4 * layout.real.size() as u64
        };
        let weights_buffer = frame.params(queue, weights);
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
                        quads: (quads / combined) as u32,
                        inputs: inputs.len() as u32,
                        // 0: `zero` of `shaders/double_single.wgsl` in `combine_ds.wgsl`.
                        pad1: 0,
                        pad2: 0,
                    };
                    bytemuck::bytes_of(&combine)
                }
                #[cfg(feature = "bench")]
                Work::Copy { .. } => &[],
            };
            uniform_bytes[at..at + params.len()].copy_from_slice(params);
        }
        let params_buffer = frame.params(queue, &uniform_bytes);
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("blur3d.passes"),
            timestamp_writes: None,
        });
        for (i, step) in work.iter().enumerate() {
            let params = |size: usize| binding(&params_buffer, i as u64 * slot, size as u64);
            let (bind_group, dispatches) = match step {
                Work::Pass {
                    params: p,
                    family,
                    ds,
                    src,
                    dst,
                    extra,
                } => {
                    let count = 1 + extra.len();
                    let entry = |e| kernels.pass(e, truncate, count, layout.real);
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
                            (bytes, quads),
                        ),
                        match family {
                            _ if *ds => {
                                vec![(entry(PassEntry::ds(p)), p.gpu_invocations, WORKGROUP)]
                            }
                            PassFamily::Gpu => {
                                vec![(entry(PassEntry::gpu(p)), p.gpu_invocations, GPU_WORKGROUP)]
                            }
                            PassFamily::Tile => {
                                let tile = entry(PassEntry::tile(p));
                                vec![(tile, p.gpu_invocations, GPU_WORKGROUP)]
                            }
                            PassFamily::Cpu => {
                                let interior = PassEntry::interior(p, count, kernels.fuses());
                                vec![
                                    (entry(interior), p.interior_invocations, WORKGROUP),
                                    (entry(PassEntry::border(p)), p.border_invocations, WORKGROUP),
                                ]
                            }
                        },
                    )
                }
                #[cfg(feature = "bench")]
                Work::Copy { vec4, src, dst } => (
                    self.pass_bind_group(
                        params(size_of::<PassParams>()),
                        &weights_buffer,
                        src,
                        [dst; 3],
                        (bytes, quads),
                    ),
                    if *vec4 && kernels.fuses() && layout.len().is_multiple_of(4) {
                        let voxels = layout.len();
                        let copy4 = kernels.pipelines.get(Key::Copy { vec4: true });
                        vec![(copy4, (voxels / 4) as u32, WORKGROUP)]
                    } else {
                        let copy = kernels.pipelines.get(Key::Copy { vec4: false });
                        vec![(copy, layout.len() as u32, WORKGROUP)]
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
                            &kernels.pipelines.combine_layout,
                            "blur3d.combine_bind_group",
                            entries,
                        ),
                        vec![(
                            kernels.pipelines.get(Key::Combine {
                                norm: *norm,
                                real: layout.real,
                            }),
                            (quads / combined) as u32,
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
                    pass.set_pipeline(&entry);
                    pass.dispatch_workgroups(x, y, 1);
                }
            }
        }
    }

    /// The bind group of a pass or copy from `src` to `dst` (volumes of `bytes`, `quads` seen
    /// as vec4s): the outputs of a fused pass's kernels, the first one again in place of
    /// kernels it does not have.
    fn pass_bind_group(
        &self,
        params: wgpu::BindingResource<'_>,
        weights: &wgpu::Buffer,
        src: &wgpu::Buffer,
        [dst, dst_b, dst_c]: [&wgpu::Buffer; 3],
        (bytes, quads): (u64, u64),
    ) -> wgpu::BindGroup {
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
        let views = if self.kernels.fuses() { 8 } else { 4 };
        bind_group(
            self.device,
            &self.kernels.pipelines.pass_layout,
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
