//! CPU references in f64: [`full3d`], the direct 3D convolution with the product kernel (the
//! ground truth the GPU is checked against), and [`separable`], three 1D passes for volumes too
//! large for `full3d`. Both implement every [`Mode`](crate::Mode) exactly as the GPU does.

mod full3d;
mod separable;

pub use full3d::full3d;
pub use separable::separable;

use ndarray::{ArrayBase, Data, Ix3};

use crate::Voxel;

pub(crate) fn shape_of<S: Data<Elem = A>, A: Voxel>(vol: &ArrayBase<S, Ix3>) -> [usize; 3] {
    let d = vol.dim();
    [d.0, d.1, d.2]
}
