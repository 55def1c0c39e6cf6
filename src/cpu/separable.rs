//! Three 1D passes in f64, one per axis (and a filter's terms one at a time): the CPU twin of
//! the shaders' passes, for volumes too large for the direct convolution.

use ndarray::{Array3, ArrayBase, Axis, Data, Ix3, Zip};

use crate::boundary::source_index;
use crate::options::AxisKernel;
use crate::plan::Term;
use crate::{BlurError, BlurOptions, Mode, Voxel};

/// Three 1D passes (axis 0, then 1, then 2) in f64, the way scipy's `gaussian_filter` runs,
/// with the options' derivative orders; truncated toward zero after each pass when the options
/// say so.
///
/// Each line is extended by the kernel radius on both sides as the mode says, then correlated
/// with the kernel. This is the CPU twin of `shaders/blur_axis.wgsl`, and the reference for
/// volumes too large for [`full3d`](crate::cpu::full3d).
///
/// # Errors
/// The validation errors of [`BlurOptions`] and [`BlurError::EmptyAxis`].
pub fn separable<S, A>(
    vol: &ArrayBase<S, Ix3>,
    opts: &BlurOptions,
) -> Result<Array3<f64>, BlurError>
where
    S: Data<Elem = A>,
    A: Voxel,
{
    let kernels = opts.axis_kernels(crate::plan::shape_of(vol))?;
    Ok(term(
        vol.mapv(Voxel::to_f64),
        &kernels,
        opts.truncates_each_pass(),
    ))
}

/// The passes of one term (a kernel or none per axis) on `data`, in axis order, truncating
/// toward zero after each when `truncate` is set.
pub(crate) fn term(mut data: Array3<f64>, kernels: &Term, truncate: bool) -> Array3<f64> {
    for (axis, kernel) in kernels.iter().enumerate() {
        if let Some(k) = kernel {
            data = pass_along(&data, Axis(axis), k);
            if truncate {
                data.mapv_inplace(f64::trunc);
            }
        }
    }
    data
}

fn pass_along(input: &Array3<f64>, axis: Axis, k: &AxisKernel) -> Array3<f64> {
    let len = input.len_of(axis);
    let r = k.radius;
    let cval = match k.mode {
        Mode::Constant(v) => v,
        _ => 0.0,
    };
    // Where each position of the extended line reads from, computed once per pass.
    let sources: Vec<Option<usize>> = (0..len + 2 * r)
        .map(|e| source_index(e as i64 - r as i64, len, k.mode))
        .collect();
    let mut out = Array3::<f64>::zeros(input.raw_dim());
    let mut line = vec![0.0; len + 2 * r];
    Zip::from(out.lanes_mut(axis))
        .and(input.lanes(axis))
        .for_each(|mut out_lane, in_lane| {
            for (dst, src) in line.iter_mut().zip(&sources) {
                *dst = src.map_or(cval, |j| in_lane[j]);
            }
            for (i, o) in out_lane.iter_mut().enumerate() {
                *o = line[i..i + 2 * r + 1]
                    .iter()
                    .zip(&k.weights)
                    .map(|(x, w)| x * w)
                    .sum();
            }
        });
    out
}
