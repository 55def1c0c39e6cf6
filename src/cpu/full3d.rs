//! The direct 3D convolution with the product kernel in f64: every output a sum over its whole
//! neighbourhood, the ground truth the GPU and the separable reference are checked against.

use ndarray::{Array3, ArrayBase, Data, Ix3};

use crate::boundary::source_index;
use crate::options::AxisKernel;
use crate::{BlurError, BlurOptions, Mode, Voxel};

/// The taps of one output position along one axis: source indices with their weights, where
/// `None` stands for the mode's constant. Taps that read the same source are merged, which
/// keeps the sum exact and the cost bounded when the kernel is longer than the axis.
type Taps = Vec<(Option<usize>, f64)>;

fn axis_taps(len: usize, kernel: Option<&AxisKernel>) -> Vec<Taps> {
    (0..len)
        .map(|i| {
            let Some(k) = kernel else {
                return vec![(Some(i), 1.0)];
            };
            let mut taps: Taps = Vec::new();
            for (t, &w) in k.weights.iter().enumerate() {
                let pos = i as i64 + t as i64 - k.radius as i64;
                let src = source_index(pos, len, k.mode);
                match taps.iter_mut().find(|(s, _)| *s == src) {
                    Some((_, acc)) => *acc += w,
                    None => taps.push((src, w)),
                }
            }
            taps
        })
        .collect()
}

fn cval(kernel: Option<&AxisKernel>) -> f64 {
    match kernel.map(|k| k.mode) {
        Some(Mode::Constant(v)) => v,
        _ => 0.0,
    }
}

/// Direct 3D convolution of `vol` with the product of the three 1D kernels, accumulated in f64.
///
/// Every output voxel is the weighted sum over all `(2 r0 + 1)(2 r1 + 1)(2 r2 + 1)` taps of the
/// 3D kernel (derivative kernels too, with the options' orders). A tap outside the volume reads
/// what the mode says; where several axes are in `Constant` mode, a tap outside along a later
/// axis (in pass order 0, 1, 2) reads that axis's constant, which is what three 1D passes (and
/// scipy) give.
///
/// The cost is the volume's size times the kernel's, so keep it to small volumes (up to about
/// 32^3 with sigma up to 8); [`separable`](crate::cpu::separable) is for the rest.
///
/// # Errors
/// The validation errors of [`BlurOptions`] and [`BlurError::EmptyAxis`].
pub fn full3d<S, A>(vol: &ArrayBase<S, Ix3>, opts: &BlurOptions) -> Result<Array3<f64>, BlurError>
where
    S: Data<Elem = A>,
    A: Voxel,
{
    let shape = crate::plan::shape_of(vol);
    let kernels = opts.axis_kernels(shape)?;
    let taps: Vec<Vec<Taps>> = (0..3)
        .map(|a| axis_taps(shape[a], kernels[a].as_ref()))
        .collect();
    let cvals: Vec<f64> = kernels.iter().map(|k| cval(k.as_ref())).collect();
    Ok(Array3::from_shape_fn(vol.dim(), |(i0, i1, i2)| {
        // Nested as the passes nest: a tap outside along an axis reads that axis's constant,
        // whatever the kernels of the axes before it sum to (derivatives do not sum to 1).
        let mut acc = 0.0;
        for &(s2, w2) in &taps[2][i2] {
            let Some(j2) = s2 else {
                acc += w2 * cvals[2];
                continue;
            };
            let mut acc1 = 0.0;
            for &(s1, w1) in &taps[1][i1] {
                let Some(j1) = s1 else {
                    acc1 += w1 * cvals[1];
                    continue;
                };
                let mut acc0 = 0.0;
                for &(s0, w0) in &taps[0][i0] {
                    acc0 += w0 * s0.map_or(cvals[0], |j0| vol[[j0, j1, j2]].to_f64());
                }
                acc1 += w1 * acc0;
            }
            acc += w2 * acc1;
        }
        acc
    }))
}
