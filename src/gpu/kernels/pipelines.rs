//! The compute pipelines of one device: bind group layouts, shader modules composed for the
//! device's variant, and a cache of pipelines keyed by what makes one (entry point and override
//! constants), each built on first use.

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::sync::{Mutex, OnceLock};

use super::params::{
    CombineParams, GPU_WORKGROUP, MODE_ANY, PassParams, RUN_LONG, WORKGROUP, WidenParams,
};
use super::shaders::{self, DS, F64, VEC4_VIEWS};
use crate::gpu::layout::Real;

/// An entry point of a pass family's module; with `TRUNCATE` and `KERNELS`, what one pass
/// pipeline is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum PassEntry {
    /// Interior runs of `RUN` outputs.
    Interior,
    /// Interior runs of `RUN_LONG` outputs (passes of one kernel).
    InteriorLong,
    /// Interior runs of contiguous lines whose windows start 16-byte aligned, through the vec4
    /// views (with the vec4 views only).
    InteriorAligned,
    /// Border runs: of kernels shorter than their axis in one mode (`PassParams::mode` 0..=4),
    /// or (`MODE_ANY`) of kernels of any length.
    Border(u32),
    /// The GPU family along the contiguous axis, its loads beyond the axis mapped by the mode
    /// as `Border`'s.
    Rows4(u32),
    /// The GPU family along the other axes, as `Rows4`.
    Cols4(u32),
    /// The tile family along contiguous lines, as `Rows4`.
    RowTile(u32),
    /// The tile family along strided lines, as `Rows4`.
    ColTile(u32),
    /// The tile family's in-plane pair: the passes along axes 1 and 2 in one dispatch, each
    /// mapping its loads beyond its axis by its own mode.
    PlaneTile,
    /// A pass in double-single arithmetic, one output per invocation, its loads beyond the
    /// axis mapped as `Border`'s.
    Ds(u32),
}

impl PassEntry {
    /// The entry point's name, its module, and the override constants it takes beyond
    /// `TRUNCATE` and `KERNELS`.
    fn spec(self) -> (&'static str, Module, Vec<(&'static str, f64)>) {
        let mode = |m: u32| ("MODE", f64::from(m));
        let gpu = |m: u32| vec![("WORKGROUP", f64::from(GPU_WORKGROUP)), mode(m)];
        match self {
            PassEntry::Interior => ("interior", Module::CpuFamily, vec![]),
            PassEntry::InteriorLong => ("interior_long", Module::CpuFamily, vec![]),
            PassEntry::InteriorAligned => ("interior_aligned", Module::CpuFamily, vec![]),
            PassEntry::Border(m) => ("border", Module::CpuFamily, vec![mode(m)]),
            PassEntry::Rows4(m) => ("rows4", Module::GpuFamily, gpu(m)),
            PassEntry::Cols4(m) => ("cols4", Module::GpuFamily, gpu(m)),
            PassEntry::RowTile(m) => ("row_tile", Module::TileFamily, gpu(m)),
            PassEntry::ColTile(m) => ("col_tile", Module::TileFamily, gpu(m)),
            PassEntry::PlaneTile => ("plane_tile", Module::TileFamily, gpu(MODE_ANY)),
            // Double-single passes have a module of their own whichever family asks.
            PassEntry::Ds(m) => ("pass_ds", Module::CpuFamily, vec![mode(m)]),
        }
    }

    /// The interior entry for pass `p` of `kernels` kernels: runs of `RUN_LONG` when the params
    /// chose them; else vec4 loads (`vec4_views`) when its lines are contiguous (the last axis)
    /// and every window starts at a multiple of 4 voxels (line length, run starts and radius
    /// multiples of 4; storage buffer sizes keep the vec4 view in bounds).
    pub(crate) fn interior(p: &PassParams, kernels: usize, vec4_views: bool) -> Self {
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

    /// The border entry for pass `p`, in the mapping of [`PassEntry::mode`].
    pub(crate) fn border(p: &PassParams) -> Self {
        PassEntry::Border(Self::mode(p))
    }

    /// The GPU family's entry for pass `p`: `rows4` along the contiguous axis, `cols4` along the
    /// others, in the mapping of [`PassEntry::mode`].
    pub(crate) fn gpu(p: &PassParams) -> Self {
        if p.stride == 1 {
            PassEntry::Rows4(Self::mode(p))
        } else {
            PassEntry::Cols4(Self::mode(p))
        }
    }

    /// The tile family's entry for pass `p`: `plane_tile` for an in-plane pair, else `row_tile`
    /// along contiguous lines, `col_tile` along the others, in the mapping of
    /// [`PassEntry::mode`].
    pub(crate) fn tile(p: &PassParams) -> Self {
        if p.pair_len > 0 {
            PassEntry::PlaneTile
        } else if p.stride == 1 {
            PassEntry::RowTile(Self::mode(p))
        } else {
            PassEntry::ColTile(Self::mode(p))
        }
    }

    /// The double-single entry for pass `p`, in the mapping of [`PassEntry::mode`].
    pub(crate) fn ds(p: &PassParams) -> Self {
        PassEntry::Ds(Self::mode(p))
    }

    /// The shader's `MODE` for pass `p`: its own mode when the kernel is shorter than the axis
    /// (every tap then lies within one reflection or period, and the mapping compiles to a few
    /// selects), `MODE_ANY` (the mode read from the params, any kernel length) otherwise.
    fn mode(p: &PassParams) -> u32 {
        if p.radius < p.len {
            p.mode.min(MODE_ANY)
        } else {
            MODE_ANY
        }
    }
}

/// The shader modules of a device, each composed for its variant and element type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Module {
    CpuFamily,
    GpuFamily,
    TileFamily,
    Copy,
    Widen,
    Combine,
}

impl Module {
    const COUNT: usize = 6;

    /// The module's label and source in `real`: the passes of every family and the combination
    /// have their own double-single source.
    fn source(self, real: Real) -> (&'static str, &'static str) {
        match (self, real) {
            (Module::CpuFamily | Module::GpuFamily | Module::TileFamily, Real::Ds) => {
                ("blur3d.blur_axis_ds", shaders::BLUR_AXIS_DS)
            }
            (Module::Combine, Real::Ds) => ("blur3d.combine_ds", shaders::COMBINE_DS),
            (Module::CpuFamily, _) => ("blur3d.blur_axis", shaders::BLUR_AXIS),
            (Module::GpuFamily, _) => ("blur3d.blur_axis_gpu", shaders::BLUR_AXIS_GPU),
            (Module::TileFamily, _) => ("blur3d.blur_axis_tile", shaders::BLUR_AXIS_TILE),
            (Module::Copy, _) => ("blur3d.copy", shaders::COPY),
            (Module::Widen, _) => ("blur3d.widen", shaders::WIDEN),
            (Module::Combine, _) => ("blur3d.combine", shaders::COMBINE),
        }
    }
}

/// What one pipeline is: the cache's key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    /// A pass of `kernels` kernels (1 to `MAX_KERNELS`), its outputs truncated toward zero or
    /// not (scipy's passes into an integer output), computing in `real`.
    Pass {
        entry: PassEntry,
        truncate: bool,
        kernels: u8,
        real: Real,
    },
    /// The plain copy, one voxel per invocation or four.
    #[cfg(feature = "bench")]
    Copy { vec4: bool },
    /// The conversion of packed integers to `real`.
    Widen { real: Real },
    /// The combination of terms: their sum, or their norm.
    Combine { norm: bool, real: Real },
}

/// The bind group layouts of one device, its shader modules (each made on first use) and its
/// pipelines (each built on first use).
#[derive(Debug)]
pub(crate) struct Pipelines {
    device: wgpu::Device,
    /// Whether the device has the storage bindings for the vec4 views and the fused passes'
    /// extra outputs (`FULL_MODULE_BINDINGS`): the variant its modules are composed for.
    pub vec4_views: bool,
    /// Passes and copies: params, weights, the volume, the output, and with the vec4 views the
    /// volume's and the output's vec4 views and two more outputs.
    pub pass_layout: wgpu::BindGroupLayout,
    pub widen_layout: wgpu::BindGroupLayout,
    pub combine_layout: wgpu::BindGroupLayout,
    pass_pipeline_layout: wgpu::PipelineLayout,
    widen_pipeline_layout: wgpu::PipelineLayout,
    combine_pipeline_layout: wgpu::PipelineLayout,
    /// Every [`Module`] (`Module as usize`), each in f32, f64 and double-single (`Real as
    /// usize`).
    modules: [[OnceLock<wgpu::ShaderModule>; 3]; Module::COUNT],
    built: Mutex<HashMap<Key, wgpu::ComputePipeline>>,
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

fn bind_group_layout(
    device: &wgpu::Device,
    label: &str,
    entries: &[wgpu::BindGroupLayoutEntry],
) -> (wgpu::BindGroupLayout, wgpu::PipelineLayout) {
    let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some(label),
        entries,
    });
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(label),
        bind_group_layouts: &[Some(&layout)],
        immediate_size: 0,
    });
    (layout, pipeline_layout)
}

impl Pipelines {
    /// The layouts of `device`; modules and pipelines come on first use.
    pub(crate) fn new(device: &wgpu::Device, vec4_views: bool) -> Self {
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
        let (pass_layout, pass_pipeline_layout) = bind_group_layout(
            device,
            "blur3d.pass_layout",
            &entries[..if vec4_views { 8 } else { 4 }],
        );
        let (widen_layout, widen_pipeline_layout) = bind_group_layout(
            device,
            "blur3d.widen_layout",
            &[
                uniform_entry(0, size_of::<WidenParams>()),
                storage_entry(1, true),
                storage_entry(2, false),
            ],
        );
        let (combine_layout, combine_pipeline_layout) = bind_group_layout(
            device,
            "blur3d.combine_layout",
            &[
                uniform_entry(0, size_of::<CombineParams>()),
                storage_entry(1, true),
                storage_entry(2, true),
                storage_entry(3, true),
                storage_entry(4, false),
            ],
        );
        Pipelines {
            device: device.clone(),
            vec4_views,
            pass_layout,
            widen_layout,
            combine_layout,
            pass_pipeline_layout,
            widen_pipeline_layout,
            combine_pipeline_layout,
            modules: std::array::from_fn(|_| std::array::from_fn(|_| OnceLock::new())),
            built: Mutex::default(),
        }
    }

    /// `module` in `real`, made on first use from its source composed for this device.
    fn module(&self, module: Module, real: Real) -> &wgpu::ShaderModule {
        self.modules[module as usize][real as usize].get_or_init(|| {
            let (label, source) = module.source(real);
            let mut defines = Vec::new();
            if self.vec4_views {
                defines.push(VEC4_VIEWS);
            }
            match real {
                Real::F32 => {}
                Real::F64 => defines.push(F64),
                Real::Ds => defines.push(DS),
            }
            self.device
                .create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(label),
                    source: wgpu::ShaderSource::Wgsl(shaders::compose(source, &defines).into()),
                })
        })
    }

    /// The pipeline of `key`, built on first use.
    pub(crate) fn get(&self, key: Key) -> wgpu::ComputePipeline {
        let mut built = self.built.lock().unwrap_or_else(|e| e.into_inner());
        built.entry(key).or_insert_with(|| self.build(key)).clone()
    }

    fn build(&self, key: Key) -> wgpu::ComputePipeline {
        let (module, layout, name, mut constants) = match key {
            Key::Pass {
                entry,
                truncate,
                kernels,
                real,
            } => {
                let (name, module, more) = entry.spec();
                let mut constants = vec![("TRUNCATE", f64::from(u8::from(truncate)))];
                // Double-single passes apply one kernel: no KERNELS.
                if !matches!(entry, PassEntry::Ds(_)) {
                    constants.push(("KERNELS", f64::from(kernels)));
                }
                constants.extend(more);
                let module = self.module(module, real);
                (module, &self.pass_pipeline_layout, name, constants)
            }
            #[cfg(feature = "bench")]
            Key::Copy { vec4 } => {
                let name = if vec4 { "copy4" } else { "copy" };
                (
                    self.module(Module::Copy, Real::F32),
                    &self.pass_pipeline_layout,
                    name,
                    vec![],
                )
            }
            Key::Widen { real } => (
                self.module(Module::Widen, real),
                &self.widen_pipeline_layout,
                "widen",
                vec![],
            ),
            Key::Combine { norm, real } => (
                self.module(Module::Combine, real),
                &self.combine_pipeline_layout,
                "combine",
                vec![("NORM", f64::from(u8::from(norm)))],
            ),
        };
        if !constants.iter().any(|(name, _)| *name == "WORKGROUP") {
            constants.push(("WORKGROUP", f64::from(WORKGROUP)));
        }
        self.device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(&format!("blur3d.{name}")),
                layout: Some(layout),
                module,
                entry_point: Some(name),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants: &constants,
                    // Only the tile family has workgroup memory, and it reads no element it has
                    // not written: zeroing it first (WebGPU's default) cost llvmpipe's GL
                    // driver 1.7 ms per workgroup.
                    zero_initialize_workgroup_memory: false,
                },
                cache: None,
            })
    }
}
