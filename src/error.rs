//! The one error type of the crate.

/// Everything that can go wrong in blur3d, each message saying what to do about it.
///
/// Variants carry plain data so that tests and callers can compare errors with `assert_eq!`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BlurError {
    /// No GPU adapter could be found (or none matched `WGPU_ADAPTER_NAME`).
    #[error(
        "no GPU adapter found{detail}. Install a GPU driver, or a software one: Mesa's Vulkan driver \
         (lavapipe, Debian/Ubuntu package mesa-vulkan-drivers) or Mesa's GL (llvmpipe through EGL) \
         work everywhere. WGPU_BACKEND (vulkan, gl, metal, dx12) and WGPU_ADAPTER_NAME choose among \
         adapters; blur3d::cpu::separable blurs without any GPU"
    )]
    NoAdapter {
        /// What was looked for and what was available, starting with ": " when not empty.
        detail: String,
    },
    /// `BLUR3D_PASSES` names no pass family.
    #[error(
        "BLUR3D_PASSES is {value:?}: set it to gpu or tile (the passes for discrete GPUs) or cpu \
         (the passes for CPU adapters such as llvmpipe), or unset it to let blur3d choose"
    )]
    InvalidPasses {
        /// The value found.
        value: String,
    },
    /// The adapter refused to open a device.
    #[error(
        "the adapter {adapter} could not open a device: {reason}. Update the driver or pick another adapter with WGPU_ADAPTER_NAME"
    )]
    DeviceRequest {
        /// Name of the adapter.
        adapter: String,
        /// What wgpu said.
        reason: String,
    },
    /// A sigma was negative, NaN or infinite.
    #[error(
        "sigma along axis {axis} is {value}: sigma must be a finite number >= 0 (0 leaves that axis as it is)"
    )]
    InvalidSigma {
        /// Axis (ndarray order) of the bad sigma.
        axis: usize,
        /// The value given.
        value: f64,
    },
    /// Truncate was negative, NaN or infinite.
    #[error(
        "truncate is {value}: it must be a finite number >= 0 (the default, 4.0, keeps the kernel to 4 sigma on each side)"
    )]
    InvalidTruncate {
        /// The value given.
        value: f64,
    },
    /// The kernel would be longer than blur3d supports.
    #[error(
        "the kernel radius along axis {axis} would be {}, more than the {max} voxels blur3d supports: \
         use a smaller sigma or truncate, or a smaller explicit radius",
        .radius.map_or_else(|| "beyond any number of voxels".to_string(), |r| format!("{r} voxels"))
    )]
    RadiusTooLarge {
        /// Axis (ndarray order).
        axis: usize,
        /// The radius that sigma and truncate (or the explicit radius) asked for; `None` when
        /// `floor(truncate * sigma + 0.5)` is too large to be a number of voxels at all.
        radius: Option<usize>,
        /// The largest radius supported.
        max: usize,
    },
    /// A derivative order is higher than blur3d supports.
    #[error(
        "the derivative order along axis {axis} is {order}, more than the {max} blur3d supports: \
         use an order from 0 (blur) to {max}"
    )]
    OrderTooLarge {
        /// Axis (ndarray order).
        axis: usize,
        /// The order given.
        order: u32,
        /// The highest order supported.
        max: u32,
    },
    /// A filter of the Gaussian family that sets the derivative orders itself was given orders.
    #[error(
        "{filter} sets the derivative orders itself: leave BlurOptions::order at 0 (scipy raises \
         for an order given to it too), or call the Gaussian filter with the orders you want"
    )]
    OrderWithDerivatives {
        /// The filter's name.
        filter: &'static str,
    },
    /// A volume too large for one buffer, whose filter's passes along axis 0 mix wrap with
    /// other modes: its slabs cannot hold the halo of both.
    #[error(
        "{filter} with wrap along axis 0 for some terms and another mode for others cannot cut \
         this volume into slabs: use one mode for every axis, or a volume that fits one GPU buffer \
         (see GpuBlur::limits)"
    )]
    MixedModesInSlabs {
        /// The filter's name.
        filter: &'static str,
    },
    /// `filter_into` was given a number of output arrays other than the filter's.
    #[error(
        "{filter} has {expected} outputs but {given} output arrays were given: pass one per output"
    )]
    OutputCount {
        /// The filter's name.
        filter: &'static str,
        /// The filter's number of outputs.
        expected: usize,
        /// The number of arrays given.
        given: usize,
    },
    /// A [`GpuVolume`](crate::GpuVolume) was given to a `GpuBlur` other than the one that made it.
    #[error(
        "this GpuVolume was made by another GpuBlur, whose device holds its data: use it with the \
         GpuBlur that uploaded it, or download it there and upload it here"
    )]
    ForeignVolume,
    /// A plane source or sink failed (reading or writing a file, say).
    #[error("{message}: the blur stopped there; fix the storage and run it again")]
    Io {
        /// What failed, and what the storage said.
        message: String,
    },
    /// One axis of the volume has no voxels.
    #[error(
        "axis {axis} of the volume has length 0 (shape {shape:?}): every axis needs at least one voxel"
    )]
    EmptyAxis {
        /// The empty axis.
        axis: usize,
        /// The volume's shape.
        shape: [usize; 3],
    },
    /// An output array given to `blur_into` does not have the volume's shape.
    #[error(
        "the output array has shape {output:?} but the volume has shape {volume:?}: pass an output of the volume's shape"
    )]
    ShapeMismatch {
        /// Shape of the volume.
        volume: [usize; 3],
        /// Shape of the output given.
        output: [usize; 3],
    },
    /// What must sit in one GPU buffer does not fit the device: the whole volume for a
    /// [`GpuVolume`](crate::GpuVolume), otherwise a slab of one plane of axis 0 plus the axis-0
    /// kernel's halo on each side.
    #[error(
        "the blur needs {bytes} bytes in one GPU buffer (the whole volume for a GpuVolume, \
         otherwise one plane of axis 0 plus the kernel's halo) but this device allows {limit} \
         bytes ({limit_name}): blur with GpuBlur::blur (which cuts large volumes into slabs), \
         transpose so that the largest axis comes first, lower the sigma along axis 0, or use \
         blur3d::cpu::separable"
    )]
    VolumeTooLarge {
        /// Bytes needed in one buffer, in the element type the passes compute in.
        bytes: u64,
        /// The limit.
        limit: u64,
        /// Which limit it is.
        limit_name: &'static str,
    },
    /// The GPU could not allocate what the blur needs.
    #[error("the GPU ran out of memory ({message}): blur a smaller volume or free GPU memory")]
    OutOfMemory {
        /// What wgpu reported.
        message: String,
    },
    /// The device was lost (driver reset, GPU removed, or destroyed).
    #[error("the GPU device was lost ({reason}): create a new GpuBlur")]
    DeviceLost {
        /// Why, as wgpu reported it.
        reason: String,
    },
    /// wgpu rejected an operation. This is a bug in blur3d or in the driver.
    #[error(
        "the GPU rejected an operation ({message}): this is a bug, please report it with the adapter's name"
    )]
    Gpu {
        /// What wgpu reported.
        message: String,
    },
}

impl From<wgpu::Error> for BlurError {
    fn from(e: wgpu::Error) -> Self {
        match e {
            wgpu::Error::OutOfMemory { .. } => BlurError::OutOfMemory {
                message: e.to_string(),
            },
            other => BlurError::Gpu {
                message: other.to_string(),
            },
        }
    }
}
