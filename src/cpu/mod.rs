//! CPU references in f64: [`full3d`], the direct 3D convolution with the product kernel (the
//! ground truth the GPU is checked against), and [`separable`], three 1D passes for volumes too
//! large for `full3d`. Both implement every [`Mode`](crate::Mode) and derivative order exactly
//! as the GPU does. [`filter`] and the four functions after it are the references of the
//! Gaussian family, built on `separable`, one term at a time (no passes shared).

mod full3d;
mod separable;

pub use full3d::full3d;
pub use separable::separable;

use ndarray::{Array3, ArrayBase, Data, Ix3, Zip};

use crate::plan::{Combine, Filter, terms};
use crate::{BlurError, BlurOptions, Voxel};

/// `filter` of `vol` with `opts` in f64: its outputs in the filter's order (see [`Filter`]).
///
/// # Errors
/// The validation errors of [`BlurOptions`], [`BlurError::EmptyAxis`], and
/// [`BlurError::OrderWithDerivatives`] for a derivative filter with orders set.
pub fn filter<S, A>(
    vol: &ArrayBase<S, Ix3>,
    opts: &BlurOptions,
    filter: Filter,
) -> Result<Vec<Array3<f64>>, BlurError>
where
    S: Data<Elem = A>,
    A: Voxel,
{
    crate::options::check_not_empty(crate::plan::shape_of(vol))?;
    let (terms, combine) = terms(opts, filter)?;
    let input = vol.mapv(Voxel::to_f64);
    let Some((last, others)) = terms.split_last() else {
        // No term: scipy returns the input as it is.
        return Ok(vec![input]);
    };
    let truncate = opts.truncates_each_pass();
    let mut each: Vec<Array3<f64>> = others
        .iter()
        .map(|t| separable::term(input.clone(), t, truncate))
        .collect();
    // The last term takes the input itself: a single term holds no copy of it.
    each.push(separable::term(input, last, truncate));
    if combine == Combine::Each {
        return Ok(each);
    }
    let norm = combine == Combine::Norm;
    let mut out = Array3::<f64>::zeros(each[0].raw_dim());
    for t in &each {
        Zip::from(&mut out)
            .and(t)
            .for_each(|o, &v| *o += if norm { v * v } else { v });
    }
    if norm {
        out.mapv_inplace(f64::sqrt);
    }
    Ok(vec![out])
}

/// `scipy.ndimage.gaussian_laplace` in f64. See [`GpuBlur::gaussian_laplace`](crate::GpuBlur::gaussian_laplace).
///
/// # Errors
/// As [`filter`].
pub fn gaussian_laplace<S, A>(
    vol: &ArrayBase<S, Ix3>,
    opts: &BlurOptions,
) -> Result<Array3<f64>, BlurError>
where
    S: Data<Elem = A>,
    A: Voxel,
{
    Ok(only(filter(vol, opts, Filter::Laplace)?))
}

/// `scipy.ndimage.gaussian_gradient_magnitude` in f64. See
/// [`GpuBlur::gaussian_gradient_magnitude`](crate::GpuBlur::gaussian_gradient_magnitude).
///
/// # Errors
/// As [`filter`].
pub fn gaussian_gradient_magnitude<S, A>(
    vol: &ArrayBase<S, Ix3>,
    opts: &BlurOptions,
) -> Result<Array3<f64>, BlurError>
where
    S: Data<Elem = A>,
    A: Voxel,
{
    Ok(only(filter(vol, opts, Filter::GradientMagnitude)?))
}

/// The Gaussian gradient in f64: the first derivative along each axis. See
/// [`GpuBlur::gaussian_gradient`](crate::GpuBlur::gaussian_gradient).
///
/// # Errors
/// As [`filter`].
pub fn gaussian_gradient<S, A>(
    vol: &ArrayBase<S, Ix3>,
    opts: &BlurOptions,
) -> Result<[Array3<f64>; 3], BlurError>
where
    S: Data<Elem = A>,
    A: Voxel,
{
    Ok(crate::plan::into_array(filter(
        vol,
        opts,
        Filter::Gradient,
    )?))
}

/// The Hessian in f64: components 00, 01, 02, 11, 12, 22. See
/// [`GpuBlur::hessian`](crate::GpuBlur::hessian).
///
/// # Errors
/// As [`filter`].
pub fn hessian<S, A>(
    vol: &ArrayBase<S, Ix3>,
    opts: &BlurOptions,
) -> Result<[Array3<f64>; 6], BlurError>
where
    S: Data<Elem = A>,
    A: Voxel,
{
    Ok(crate::plan::into_array(filter(vol, opts, Filter::Hessian)?))
}

/// The one output of a single-output filter.
fn only<T>(outputs: Vec<T>) -> T {
    crate::plan::into_array::<T, 1>(outputs)
        .into_iter()
        .next()
        .unwrap_or_else(|| unreachable!("one output"))
}
