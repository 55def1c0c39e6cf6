//! CPU references in f64: [`full3d`], the direct 3D convolution with the product kernel (the
//! ground truth the GPU is checked against), and [`separable`], three 1D passes for volumes too
//! large for `full3d`. Both implement every [`Mode`](crate::Mode) exactly as the GPU does.

mod full3d;
mod separable;

pub use full3d::full3d;
pub use separable::separable;

use ndarray::{ArrayBase, Ix3, RawData};

/// The shape of any 3D array, as an array (input volumes and output arrays alike).
pub(crate) fn shape_of<S: RawData>(vol: &ArrayBase<S, Ix3>) -> [usize; 3] {
    let (a, b, c) = vol.dim();
    [a, b, c]
}
