//! The test suite: one binary, one GPU device shared by every test.
//!
//! GPU tests run on whatever adapter wgpu picks (`WGPU_BACKEND`, `WGPU_ADAPTER_NAME`); CI uses
//! the software adapters. Without an adapter they fail when `CI` is set, and otherwise say that
//! they skipped.

mod common;

mod batch;
mod errors;
mod family;
mod fixtures;
mod gpu_vs_cpu;
mod invariants;
mod precision;
mod properties;
mod slabs;
mod stream;
mod threads;
mod tuning;
