//! Each file format through the `blur3d` command line, one module per format: what is read from
//! a file (its voxels in their order, its spacing, its header) and what is written back.
//!
//! Most runs use `--cpu`, whose result is compared exactly with `blur3d::cpu::separable`.

#[path = "../common/mod.rs"]
mod common;

mod nifti;
mod npy;
mod tiff;
