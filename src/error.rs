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
        "the kernel radius along axis {axis} would be {radius} voxels, more than the {max} blur3d supports: \
         use a smaller sigma or truncate, or set the radius explicitly"
    )]
    RadiusTooLarge {
        /// Axis (ndarray order).
        axis: usize,
        /// The radius that sigma and truncate (or the explicit radius) asked for.
        radius: usize,
        /// The largest radius supported.
        max: usize,
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
        /// Bytes needed in one buffer, as f32.
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
