//! CPU references in f64: [`full3d`], the direct 3D convolution with the product kernel (the
//! ground truth the GPU is checked against), and [`separable`], three 1D passes for volumes too
//! large for `full3d`. Both implement every [`Mode`](crate::Mode) and derivative order exactly
//! as the GPU does. [`filter`] and the four functions after it are the references of the
//! Gaussian family, built on `separable`, one term at a time (no passes shared).

mod full3d;
mod separable;

pub use full3d::full3d;
pub use separable::separable;

use ndarray::{Array3, ArrayBase, ArrayViewMut3, Axis, CowArray, Data, Ix3, Zip, s};

use crate::plan::{Combine, Filter, Plan, shape_of, terms};
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

/// [`filter`] of a filter of one output (the Gaussian filter, the Laplacian, the gradient
/// magnitude) into `out`, stored by [`Voxel::from_f64`], computed slab by slab along axis 0 so
/// that a slab of about `slab_bytes` of f64 (and the kernel's halo) is held at a time rather than
/// the whole volume in f64. Each slab holds the kernel's reach of planes beyond its outputs (the
/// far edge's planes where axis 0 wraps), so the result equals `filter`'s to the bit; a volume
/// whose terms wrap along axis 0 in different modes, which slabs cannot cut, is filtered whole.
///
/// # Errors
/// As [`filter`], [`BlurError::OutputCount`] for a filter of several outputs and
/// [`BlurError::ShapeMismatch`] when `out`'s shape is not the volume's.
pub fn filter_into<S, A, B>(
    vol: &ArrayBase<S, Ix3>,
    opts: &BlurOptions,
    filter: Filter,
    out: &mut ArrayViewMut3<'_, B>,
    slab_bytes: usize,
) -> Result<(), BlurError>
where
    S: Data<Elem = A>,
    A: Voxel,
    B: Voxel,
{
    if filter.outputs() != 1 {
        return Err(BlurError::OutputCount {
            filter: filter.name(),
            expected: filter.outputs(),
            given: 1,
        });
    }
    let shape = shape_of(vol);
    if shape_of(out) != shape {
        return Err(BlurError::ShapeMismatch {
            volume: shape,
            output: shape_of(out),
        });
    }
    let plan = Plan::new(opts, filter, shape, false)?;
    for slab in slabs_of(&plan, shape, slab_bytes) {
        // A run of planes is a view; planes mapped beyond the edges are gathered.
        let block: CowArray<'_, A, Ix3> = match crate::slabs::run_of(&slab.planes) {
            Some(run) => vol.slice(s![run, .., ..]).into(),
            None => vol.select(Axis(0), &slab.planes).into(),
        };
        let filtered = self::filter(&block, opts, filter)?;
        let rows = slab.first..slab.first + slab.out.len();
        Zip::from(out.slice_mut(s![slab.out.clone(), .., ..]))
            .and(filtered[0].slice(s![rows, .., ..]))
            .for_each(|o, &v| *o = B::from_f64(v));
    }
    Ok(())
}

/// The slabs `filter_into` cuts a volume of `shape` into: cores of about `slab_bytes` of f64 less
/// the halo (at least twice the halo, so a slab is at most three times its core), or one slab
/// when the plan's halo cannot be cut (terms that wrap in different modes).
fn slabs_of(plan: &Plan, [n0, n1, n2]: [usize; 3], slab_bytes: usize) -> Vec<crate::slabs::Slab> {
    match plan.halo(0) {
        Ok(halo) => {
            let plane = (n1 * n2 * size_of::<f64>()).max(1);
            let r = halo.radius;
            let step = (slab_bytes / plane).saturating_sub(2 * r).max(2 * r).max(1);
            // Slabs stop at the volume's edges, where the reference applies the mode itself
            // (right for every mode but wrap: a slab holds more than twice the radius): runs
            // of planes, viewed rather than gathered.
            let halo = match halo.mode {
                crate::Mode::Wrap => halo,
                _ => crate::slabs::Halo {
                    mode: crate::Mode::Constant(0.0),
                    ..halo
                },
            };
            crate::slabs::cut(n0, step, halo)
        }
        Err(_) => crate::slabs::cut(n0, n0, crate::slabs::Halo::whole()),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Mode;

    /// Small slabs cut the volume (the equality of their sums with the whole volume's is a test
    /// of the suite); a Laplacian whose terms wrap in different modes is one slab.
    #[test]
    fn slabs_follow_the_size_and_the_halo() {
        let shape = [37, 5, 4];
        let plane = 5 * 4 * 8;
        let plan = |opts: &BlurOptions, filter| Plan::new(opts, filter, shape, false).unwrap();
        let blur = plan(&BlurOptions::new(1.0), Filter::Gaussian);
        // Radius 4: cores of at least twice the halo (8 planes), or what is left of 20 planes.
        assert_eq!(slabs_of(&blur, shape, plane).len(), 5);
        assert_eq!(slabs_of(&blur, shape, 20 * plane).len(), 4);
        assert_eq!(slabs_of(&blur, shape, 1 << 30).len(), 1);
        let wraps = BlurOptions::new(1.0).modes([Mode::Nearest, Mode::Wrap, Mode::Reflect]);
        assert_eq!(
            slabs_of(&plan(&wraps, Filter::Laplace), shape, plane).len(),
            1
        );
        let no_wrap = BlurOptions::new(1.0).modes([Mode::Nearest, Mode::Mirror, Mode::Reflect]);
        assert_eq!(
            slabs_of(&plan(&no_wrap, Filter::Laplace), shape, plane).len(),
            5
        );
    }
}
