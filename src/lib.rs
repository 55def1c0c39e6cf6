#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod boundary;
pub mod cpu;
mod error;
mod filter;
mod gpu;
pub mod guide;
pub mod kernel;
mod options;
mod plan;
mod slabs;
pub mod stream;
mod voxel;

pub use error::BlurError;
pub use filter::Filter;
pub use gpu::{
    GpuBlur, GpuVolume, PairClass, PassClass, PassFamily, PassesRun, Tuned, TunedPair,
    adapter_matches, adapters, describe_adapter, list_adapters,
};
pub use options::{BlurOptions, Mode, ParseModeError, Precision, Sigma};
pub use stream::{PlaneSink, PlaneSource};
pub use voxel::Voxel;
