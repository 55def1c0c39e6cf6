//! The work: the pipeline built once, the buffers kept between calls, and the pass loop.

use std::num::NonZeroU64;

use bytemuck::{Pod, Zeroable};

use crate::options::AxisKernel;
use crate::{BlurError, Mode};

/// The WGSL source of the 1D pass.
pub const BLUR_AXIS_WGSL: &str = include_str!("../../shaders/blur_axis.wgsl");

/// Outputs computed by one invocation (the shader's `RUN`).
pub(crate) const RUN: u32 = 16;
/// Invocations per workgroup (the shader's `WORKGROUP`).
pub(crate) const WORKGROUP: u32 = 64;

/// Mirror of the WGSL `Params` struct of `shaders/blur_axis.wgsl`: one pass along one axis.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct PassParams {
    /// Voxels along the axis.
    pub len: u32,
    /// Distance in elements between neighbours along the axis.
    pub stride: u32,
    /// Runs of `RUN` outputs per line.
    pub runs: u32,
    /// Invocations that do work: lines times runs.
    pub invocations: u32,
    /// Kernel radius.
    pub radius: u32,
    /// Mode code (0 reflect, 1 mirror, 2 nearest, 3 wrap, 4 constant).
    pub mode: u32,
    /// Index of the pass's first weight in the weights buffer.
    pub weight_offset: u32,
    /// Value outside the axis in constant mode.
    pub cval: f32,
}

impl PassParams {
    /// The pass along `axis` of a volume of `shape` with `kernel`, whose weights start at
    /// `weight_offset`. The caller has checked that the volume's element count fits a `u32`.
    pub(crate) fn along(
        shape: [usize; 3],
        axis: usize,
        kernel: &AxisKernel,
        weight_offset: usize,
    ) -> Self {
        let len = shape[axis] as u32;
        let stride: usize = shape[axis + 1..].iter().product();
        let outer: usize = shape[..axis].iter().product();
        let runs = len.div_ceil(RUN);
        let (mode, cval) = match kernel.mode {
            Mode::Reflect => (0, 0.0),
            Mode::Mirror => (1, 0.0),
            Mode::Nearest => (2, 0.0),
            Mode::Wrap => (3, 0.0),
            Mode::Constant(v) => (4, v),
        };
        PassParams {
            len,
            stride: stride as u32,
            runs,
            invocations: (outer * stride) as u32 * runs,
            radius: kernel.radius as u32,
            mode,
            weight_offset: weight_offset as u32,
            cval,
        }
    }

    /// Workgroups to dispatch, as (x, y): y > 1 only when x alone would pass `max_per_dim`.
    pub(crate) fn workgroups(&self, max_per_dim: u32) -> (u32, u32) {
        let groups = self.invocations.div_ceil(WORKGROUP);
        if groups <= max_per_dim {
            (groups, 1)
        } else {
            (max_per_dim, groups.div_ceil(max_per_dim))
        }
    }
}

/// The compute pipeline and its bind group layout, built once per `GpuBlur`.
#[derive(Debug)]
pub(crate) struct Pipeline {
    layout: wgpu::BindGroupLayout,
    pipeline: wgpu::ComputePipeline,
}

fn storage_entry(binding: u32, read_only: bool) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only },
            has_dynamic_offset: false,
            min_binding_size: NonZeroU64::new(4),
        },
        count: None,
    }
}

impl Pipeline {
    pub(crate) fn new(device: &wgpu::Device) -> Self {
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("blur3d.blur_axis"),
            source: wgpu::ShaderSource::Wgsl(BLUR_AXIS_WGSL.into()),
        });
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("blur3d.pass_layout"),
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::COMPUTE,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: NonZeroU64::new(size_of::<PassParams>() as u64),
                    },
                    count: None,
                },
                storage_entry(1, true),
                storage_entry(2, true),
                storage_entry(3, false),
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("blur3d.pipeline_layout"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("blur3d.blur_axis_pipeline"),
            layout: Some(&pipeline_layout),
            module: &module,
            entry_point: Some("main"),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: &[("RUN", f64::from(RUN)), ("WORKGROUP", f64::from(WORKGROUP))],
                ..Default::default()
            },
            cache: None,
        });
        Pipeline { layout, pipeline }
    }
}

/// The two storage buffers passes ping-pong between, and the staging buffer for readback.
#[derive(Debug)]
pub(crate) struct Buffers {
    ping: wgpu::Buffer,
    pong: wgpu::Buffer,
    staging: wgpu::Buffer,
}

impl Buffers {
    pub(crate) fn new(device: &wgpu::Device, bytes: u64) -> Self {
        let storage = |label| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: bytes,
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_DST
                    | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            })
        };
        Buffers {
            ping: storage("blur3d.ping"),
            pong: storage("blur3d.pong"),
            staging: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("blur3d.staging"),
                size: bytes,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
        }
    }

    /// Bytes each buffer holds.
    pub(crate) fn capacity(&self) -> u64 {
        self.ping.size()
    }
}

/// Uploads `data`, encodes one pass per kernel (ping-pong), copies the result to staging and
/// submits it all at once. Returns the submission to wait for.
pub(crate) fn run_passes(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    pipeline: &Pipeline,
    buffers: &Buffers,
    data: &[f32],
    shape: [usize; 3],
    kernels: &[Option<AxisKernel>; 3],
) -> wgpu::SubmissionIndex {
    let limits = device.limits();
    queue.write_buffer(&buffers.ping, 0, bytemuck::cast_slice(data));

    // All weights in one buffer, each pass's params in its own aligned slot of one uniform buffer.
    let mut weights: Vec<f32> = Vec::new();
    let mut params: Vec<PassParams> = Vec::new();
    for (axis, kernel) in kernels.iter().enumerate() {
        if let Some(k) = kernel {
            params.push(PassParams::along(shape, axis, k, weights.len()));
            #[allow(clippy::cast_possible_truncation)] // the GPU computes in f32
            weights.extend(k.weights.iter().map(|&w| w as f32));
        }
    }
    let weights_buffer = upload(
        device,
        queue,
        "blur3d.weights",
        bytemuck::cast_slice(&weights),
        wgpu::BufferUsages::STORAGE,
    );
    let slot = (size_of::<PassParams>() as u64)
        .next_multiple_of(u64::from(limits.min_uniform_buffer_offset_alignment));
    let mut uniform_bytes = vec![0u8; (slot * params.len() as u64) as usize];
    for (i, p) in params.iter().enumerate() {
        let at = i * slot as usize;
        uniform_bytes[at..at + size_of::<PassParams>()].copy_from_slice(bytemuck::bytes_of(p));
    }
    let params_buffer = upload(
        device,
        queue,
        "blur3d.params",
        &uniform_bytes,
        wgpu::BufferUsages::UNIFORM,
    );

    let bytes = std::mem::size_of_val(data) as u64;
    let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
        label: Some("blur3d.encoder"),
    });
    let (mut src, mut dst) = (&buffers.ping, &buffers.pong);
    {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("blur3d.passes"),
            timestamp_writes: None,
        });
        pass.set_pipeline(&pipeline.pipeline);
        for (i, p) in params.iter().enumerate() {
            let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("blur3d.pass_bind_group"),
                layout: &pipeline.layout,
                entries: &[
                    wgpu::BindGroupEntry {
                        binding: 0,
                        resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                            buffer: &params_buffer,
                            offset: i as u64 * slot,
                            size: NonZeroU64::new(size_of::<PassParams>() as u64),
                        }),
                    },
                    wgpu::BindGroupEntry {
                        binding: 1,
                        resource: weights_buffer.as_entire_binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 2,
                        resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                            buffer: src,
                            offset: 0,
                            size: NonZeroU64::new(bytes),
                        }),
                    },
                    wgpu::BindGroupEntry {
                        binding: 3,
                        resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                            buffer: dst,
                            offset: 0,
                            size: NonZeroU64::new(bytes),
                        }),
                    },
                ],
            });
            pass.set_bind_group(0, &bind_group, &[]);
            let (x, y) = p.workgroups(limits.max_compute_workgroups_per_dimension);
            pass.dispatch_workgroups(x, y, 1);
            std::mem::swap(&mut src, &mut dst);
        }
    }
    encoder.copy_buffer_to_buffer(src, 0, &buffers.staging, 0, bytes);
    queue.submit([encoder.finish()])
}

/// A new buffer holding `contents`. Unlike `DeviceExt::create_buffer_init`, which maps the buffer
/// and panics when that fails, this reports a lost device through the error scopes.
fn upload(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    label: &str,
    contents: &[u8],
    usage: wgpu::BufferUsages,
) -> wgpu::Buffer {
    let buffer = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: (contents.len() as u64).next_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT),
        usage: usage | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    queue.write_buffer(&buffer, 0, contents);
    buffer
}

/// Waits for the staging buffer to hold the result and hands its first `len` values to `sink`.
pub(crate) async fn readback(
    device: &wgpu::Device,
    buffers: &Buffers,
    len: usize,
    sink: impl FnOnce(&[f32]),
) -> Result<(), BlurError> {
    let slice = buffers.staging.slice(..(len * size_of::<f32>()) as u64);
    let (sender, receiver) = futures_intrusive::channel::shared::oneshot_channel();
    slice.map_async(wgpu::MapMode::Read, move |result| {
        // The receiver only goes away if the caller was dropped; nothing is left to tell.
        let _ = sender.send(result);
    });
    device
        .poll(wgpu::PollType::wait_indefinitely())
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
    {
        let view = slice.get_mapped_range().map_err(|e| BlurError::Gpu {
            message: e.to_string(),
        })?;
        sink(bytemuck::cast_slice(&view));
    }
    buffers.staging.unmap();
    Ok(())
}
