#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod boundary;
pub mod cpu;
mod error;
mod gpu;
pub mod kernel;
mod options;
mod voxel;

pub use error::BlurError;
pub use gpu::{
    BLUR_AXIS_SCALAR_WGSL, BLUR_AXIS_WGSL, COPY_WGSL, GpuBlur, GpuVolume, PassParams, WIDEN_WGSL,
    WidenParams, list_adapters,
};
pub use options::{BlurOptions, Mode, ParseModeError, Sigma};
pub use voxel::Voxel;
