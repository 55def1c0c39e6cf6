//! The filters of the Gaussian family ([`Filter`]), each a list of terms: a Gaussian
//! derivative per term, one kernel (or none) per axis, and how the terms combine. Shared by the
//! GPU and the CPU references; `plan.rs` turns terms into passes.

use crate::options::AxisKernel;
use crate::{BlurError, BlurOptions, Mode};

/// What to compute: the Gaussian filter, or a filter of its family, each as scipy (and
/// scikit-image for the Hessian) computes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Filter {
    /// `scipy.ndimage.gaussian_filter`, with the options' derivative orders. One output.
    Gaussian,
    /// `scipy.ndimage.gaussian_laplace`: the sum over the filtered axes of the second derivative
    /// along that axis. One output.
    Laplace,
    /// `scipy.ndimage.gaussian_gradient_magnitude`: the square root of the sum over the filtered
    /// axes of the squared first derivative along that axis. One output.
    GradientMagnitude,
    /// The first derivative along each axis (`gaussian_filter` with order 1 on that axis). Three
    /// outputs, in axis order.
    Gradient,
    /// The second derivatives 00, 01, 02, 11, 12, 22 (`gaussian_filter` with order `e_i + e_j`,
    /// as `skimage.feature.hessian_matrix` builds them). Six outputs.
    Hessian,
}

impl Filter {
    /// How many volumes the filter returns.
    #[must_use]
    pub fn outputs(self) -> usize {
        match self {
            Filter::Gaussian | Filter::Laplace | Filter::GradientMagnitude => 1,
            Filter::Gradient => 3,
            Filter::Hessian => 6,
        }
    }

    /// Every filter, in the order of its variants.
    pub const ALL: [Filter; 5] = [
        Filter::Gaussian,
        Filter::Laplace,
        Filter::GradientMagnitude,
        Filter::Gradient,
        Filter::Hessian,
    ];

    /// The filter whose [`Filter::name`] is `name`.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The function's name (scipy's, where scipy has the filter), for messages.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Filter::Gaussian => "gaussian_filter",
            Filter::Laplace => "gaussian_laplace",
            Filter::GradientMagnitude => "gaussian_gradient_magnitude",
            Filter::Gradient => "gaussian_gradient",
            Filter::Hessian => "hessian",
        }
    }
}

/// The outputs of a filter as an array of the filter's count of outputs.
///
/// Every filter returns exactly [`Filter::outputs`] volumes, which is what the callers ask for.
pub(crate) fn into_array<T, const N: usize>(outputs: Vec<T>) -> [T; N] {
    // Invariant: plans and CPU references make `Filter::outputs` volumes, and each caller asks
    // for the count of its own filter.
    outputs
        .try_into()
        .unwrap_or_else(|v: Vec<T>| unreachable!("{N} outputs expected, {} made", v.len()))
}

/// How the terms of a filter become its outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Combine {
    /// Each term is an output.
    Each,
    /// One output: the sum of the terms.
    Sum,
    /// One output: the square root of the sum of the squared terms.
    Norm,
}

/// One kernel (or none: the axis is left as it is) per axis.
pub(crate) type Term = [Option<AxisKernel>; 3];

/// The terms of `filter` under `opts`, and how they combine. Laplace and gradient magnitude
/// follow scipy's `generic_laplace` / `generic_gradient_magnitude`: term `i` uses the mode of
/// axis `i` on every axis.
pub(crate) fn terms(opts: &BlurOptions, filter: Filter) -> Result<(Vec<Term>, Combine), BlurError> {
    let opts = opts.validated()?;
    if filter != Filter::Gaussian && opts.orders_per_axis() != [0; 3] {
        return Err(BlurError::OrderWithDerivatives {
            filter: filter.name(),
        });
    }
    let modes = opts.modes_per_axis();
    let term = |orders: [u32; 3], modes: [Mode; 3]| -> Result<Term, BlurError> {
        Ok([
            opts.axis_kernel(0, orders[0], modes[0])?,
            opts.axis_kernel(1, orders[1], modes[1])?,
            opts.axis_kernel(2, orders[2], modes[2])?,
        ])
    };
    let unit = |axis: usize, order: u32| {
        let mut o = [0; 3];
        o[axis] = order;
        o
    };
    let filtered: Vec<usize> = (0..3).filter(|&a| opts.axes_filtered()[a]).collect();
    Ok(match filter {
        Filter::Gaussian => (vec![term(opts.orders_per_axis(), modes)?], Combine::Each),
        Filter::Laplace | Filter::GradientMagnitude => {
            let (order, combine) = if filter == Filter::Laplace {
                (2, Combine::Sum)
            } else {
                (1, Combine::Norm)
            };
            let terms = filtered
                .iter()
                .map(|&a| term(unit(a, order), [modes[a]; 3]))
                .collect::<Result<_, _>>()?;
            (terms, combine)
        }
        Filter::Gradient => (
            (0..3)
                .map(|a| term(unit(a, 1), modes))
                .collect::<Result<_, _>>()?,
            Combine::Each,
        ),
        Filter::Hessian => (
            [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]
                .into_iter()
                .map(|(i, j)| {
                    let mut o = unit(i, 1);
                    o[j] += 1;
                    term(o, modes)
                })
                .collect::<Result<_, _>>()?,
            Combine::Each,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_found_by_their_names() {
        for f in Filter::ALL {
            assert_eq!(Filter::from_name(f.name()), Some(f));
        }
        assert_eq!(Filter::from_name("gaussian"), None);
    }
}
