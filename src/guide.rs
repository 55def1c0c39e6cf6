//! Guides to the library, beside the API: each module is one page, written as a Markdown file in
//! the repository's `docs/` folder (read there on a forge, or here), whose Rust examples are
//! doctests.
//!
//! - [`options`]: sigma, modes, truncate and radius, beside `scipy.ndimage.gaussian_filter`.
//! - [`family`]: derivatives, the Laplacian, the gradient and its magnitude, the Hessian.
//! - [`accuracy`]: what each type is computed in (f32, f64, double-single), against scipy, and
//!   how it is tested.
//! - [`large_volumes`]: volumes beyond one buffer or beyond memory, integer voxels, batches,
//!   device-resident chains, several GPUs, errors and machines without a GPU.
//! - [`how_it_works`]: the plan, the shaders, the host side, and where the time goes.
//!
//! The command-line tool's manual is `cli/README.md`, the Python package's `python/README.md`,
//! and the measurements, dated, `benches/RESULTS.md`.

pub mod options {
    #![doc = include_str!("../docs/options.md")]
}

pub mod family {
    #![doc = include_str!("../docs/family.md")]
}

pub mod accuracy {
    #![doc = include_str!("../docs/accuracy.md")]
}

pub mod large_volumes {
    #![doc = include_str!("../docs/large_volumes.md")]
}

pub mod how_it_works {
    #![doc = include_str!("../docs/how_it_works.md")]
}
