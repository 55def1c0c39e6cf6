//! The Gaussian kernel, computed once on the host in f64 and shared by the GPU and CPU paths.
//!
//! This is exactly `scipy.ndimage._filters._gaussian_kernel1d`: the Gaussian sampled at the
//! integer offsets `-radius..=radius` and divided by the sum of the samples, times, for a
//! derivative of order `n`, the polynomial of scipy's recurrence.

/// Default `truncate`: the kernel reaches 4 sigma on each side, as in scipy.
pub const DEFAULT_TRUNCATE: f64 = 4.0;

/// The largest kernel radius blur3d accepts on an axis.
pub const MAX_RADIUS: usize = 65_535;

/// The highest derivative order blur3d accepts on an axis. scipy sets no bound; far below this
/// one the polynomial's coefficients already overflow f64 for any useful sigma.
pub const MAX_ORDER: u32 = 1_000;

/// scipy's radius rule: `floor(truncate * sigma + 0.5)`.
///
/// Returns `None` when the product is not a finite, non-negative number that fits a `usize`
/// (callers have already rejected negative or non-finite sigma and truncate).
#[must_use]
pub fn radius_for(sigma: f64, truncate: f64) -> Option<usize> {
    let r = (truncate * sigma + 0.5).floor();
    // `usize::MAX as f64` rounds up, so compare against a bound that converts exactly.
    (r.is_finite() && r >= 0.0 && r < 2f64.powi(52)).then_some(r as usize)
}

/// Weights of the Gaussian with standard deviation `sigma` at offsets `-radius..=radius`,
/// normalised to sum 1. `sigma == 0` gives the identity kernel of that radius.
///
/// The weights are symmetric, so correlation (what scipy computes) and convolution agree.
#[must_use]
pub fn gaussian_weights(sigma: f64, radius: usize) -> Vec<f64> {
    if sigma == 0.0 {
        let mut w = vec![0.0; 2 * radius + 1];
        w[radius] = 1.0;
        return w;
    }
    // Same expression as scipy, so the f64 weights agree to the last bits.
    let scale = -0.5 / (sigma * sigma);
    let r = radius as f64;
    let raw: Vec<f64> = (0..=2 * radius)
        .map(|i| {
            let x = i as f64 - r;
            (scale * x * x).exp()
        })
        .collect();
    let sum: f64 = raw.iter().sum();
    raw.into_iter().map(|w| w / sum).collect()
}

/// scipy's `_gaussian_kernel1d(sigma, order, radius)`: the `order`-th derivative of the Gaussian
/// with standard deviation `sigma` at offsets `-radius..=radius`, as the normalised Gaussian
/// times the polynomial `q` of the recurrence `q <- q' + q p'` with `p' = -x / sigma^2`,
/// starting from `q = 1`. Order 0 is [`gaussian_weights`].
///
/// The kernel is indexed by offset (index `radius` is offset 0). scipy *convolves* with it
/// (`correlate1d` with the kernel reversed), which matters for odd orders: the first
/// derivative of an increasing ramp is positive.
#[must_use]
pub fn gaussian_kernel(sigma: f64, order: u32, radius: usize) -> Vec<f64> {
    let phi = gaussian_weights(sigma, radius);
    if order == 0 {
        return phi;
    }
    let order = order as usize;
    let sigma2 = sigma * sigma;
    // Coefficients of q, lowest power first. q' + q p': the derivative shifts down (times the
    // power), p' = -x / sigma^2 shifts up.
    let mut q = vec![0.0; order + 1];
    q[0] = 1.0;
    for _ in 0..order {
        let mut next = vec![0.0; order + 1];
        for (i, n) in next.iter_mut().enumerate() {
            let derivative = if i < order {
                (i + 1) as f64 * q[i + 1]
            } else {
                0.0
            };
            let times_p = if i > 0 { q[i - 1] / -sigma2 } else { 0.0 };
            *n = derivative + times_p;
        }
        q = next;
    }
    let r = radius as f64;
    phi.iter()
        .enumerate()
        .map(|(i, &w)| {
            let x = i as f64 - r;
            // scipy evaluates (x ** powers) . q: the same sum, in the same order.
            let poly: f64 = q
                .iter()
                .enumerate()
                .map(|(power, &c)| x.powi(power as i32) * c)
                .sum();
            poly * w
        })
        .collect()
}

/// `weights` in f32 as the GPU takes them: each rounded to nearest, then, for a symmetric kernel
/// (even orders), nudged by whole ulps until the exact sum of the f32 weights is the f64
/// weights' sum as nearly as the nudges allow, pairs together so that the kernel stays
/// symmetric.
///
/// Rounding each weight on its own leaves their sum off by up to about `len * 3e-8`, a bias every
/// output voxel carries (a blur of a constant volume no longer returns it, a sum over the volume
/// drifts with its size); scipy's f64 weights sum to 1 within 1e-16. Only weights of at least
/// 2^-12 of the largest are nudged (a tail weight moved by a larger weight's error would change
/// the kernel's shape), at most 16 ulps at a time, in at most 64 rounds of `O(len)`: the sum
/// ends within about 1e-10 of the largest weight, at a cost of microseconds per kernel.
/// Antisymmetric kernels (odd orders) need nothing: rounding keeps them antisymmetric, so they
/// sum to 0 exactly.
pub(crate) fn f32_weights(weights: &[f64]) -> Vec<f32> {
    #[allow(clippy::cast_possible_truncation)] // rounding to f32 is the point
    let mut w: Vec<f32> = weights.iter().map(|&v| v as f32).collect();
    let n = w.len();
    if n < 2 || !(0..n / 2).all(|i| weights[i] == weights[n - 1 - i]) {
        return w;
    }
    let target: f64 = weights.iter().sum();
    let largest = w.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let movable: Vec<usize> = (0..=n / 2)
        .filter(|&i| w[i].abs() >= largest / 4096.0)
        .collect();
    for _ in 0..64 {
        let residual = target - w.iter().map(|&v| f64::from(v)).sum::<f64>();
        if residual == 0.0 {
            break;
        }
        let up = residual > 0.0;
        // The change of the sum when weight `i` (and its mirror) moves one ulp toward the target.
        let step = |i: usize| {
            let v = w[i];
            let moved = if up { v.next_up() } else { v.next_down() };
            let pair = if i == n - 1 - i { 1.0 } else { 2.0 };
            pair * (f64::from(moved) - f64::from(v)).abs()
        };
        // The largest move that does not pass the target, else the smallest that gets closer.
        let within = movable
            .iter()
            .map(|&i| (i, step(i)))
            .filter(|&(_, d)| d <= residual.abs())
            .max_by(|a, b| a.1.total_cmp(&b.1));
        let closer = movable
            .iter()
            .map(|&i| (i, step(i)))
            .filter(|&(_, d)| d < 2.0 * residual.abs())
            .min_by(|a, b| a.1.total_cmp(&b.1));
        let Some((i, d)) = within.or(closer) else {
            break;
        };
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let times = ((residual.abs() / d).floor() as usize).clamp(1, 16);
        let mirror = n - 1 - i;
        for j in [i, mirror]
            .into_iter()
            .take(if i == mirror { 1 } else { 2 })
        {
            for _ in 0..times {
                w[j] = if up { w[j].next_up() } else { w[j].next_down() };
            }
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    #[test]
    fn f32_weights_sum_as_the_f64_weights_and_stay_symmetric() {
        let cases = [
            (1.0, 0, 4),
            (0.6, 0, 2),
            (2.0, 0, 8),
            (8.0, 0, 32),
            (3.3, 2, 13),
            (1.5, 1, 6),
            (1.0, 2, 4),
            (1.5, 4, 6),
            (0.7, 2, 3),
            (2.0, 3, 8),
        ];
        for (sigma, order, radius) in cases {
            let w64 = gaussian_kernel(sigma, order, radius);
            let w32 = f32_weights(&w64);
            let exact: f64 = w32.iter().map(|&v| f64::from(v)).sum();
            let target: f64 = w64.iter().sum();
            // Antisymmetric kernels sum to 0 exactly; symmetric ones no further from the f64
            // sum than plain rounding leaves them, Gaussians within 1e-10.
            #[allow(clippy::cast_possible_truncation)]
            let plain: f64 = w64.iter().map(|&v| f64::from(v as f32)).sum();
            if order % 2 == 1 {
                assert_eq!(exact, 0.0, "sigma {sigma} order {order}");
            } else {
                let bound = if order == 0 {
                    1e-10
                } else {
                    (plain - target).abs()
                };
                assert!(
                    (exact - target).abs() <= bound,
                    "sigma {sigma} order {order}: {exact} vs {target} (rounded: {plain})"
                );
            }
            let n = w32.len();
            for i in 0..n {
                let mirrored = if order % 2 == 0 {
                    w32[n - 1 - i]
                } else {
                    -w32[n - 1 - i]
                };
                assert_eq!(
                    w32[i], mirrored,
                    "sigma {sigma} order {order}: symmetry at {i}"
                );
                // No weight moves by more than the rounding errors of all of them add up to.
                let moved = (f64::from(w32[i]) - w64[i]).abs();
                assert!(
                    moved <= 1e-7,
                    "sigma {sigma} order {order}: {i} moved {moved:e}"
                );
            }
        }
        // scipy's test of sum preservation, sigma 1: rounding alone leaves the weights' sum
        // 3.5e-8 off 1; corrected, it is 1 within 1e-10.
        let w64 = gaussian_weights(1.0, 4);
        #[allow(clippy::cast_possible_truncation)]
        let plain: f64 = w64.iter().map(|&v| f64::from(v as f32)).sum();
        let corrected: f64 = f32_weights(&w64).iter().map(|&v| f64::from(v)).sum();
        assert!((plain - 1.0).abs() > 1e-8, "{plain}");
        assert!((corrected - 1.0).abs() < 1e-10, "{corrected}");
    }

    #[test]
    fn radius_rule_matches_scipy() {
        assert_eq!(radius_for(1.0, 4.0), Some(4));
        assert_eq!(radius_for(2.0, 4.0), Some(8));
        assert_eq!(radius_for(0.5, 4.0), Some(2));
        assert_eq!(radius_for(0.375, 4.0), Some(2)); // 1.5 + 0.5 = 2.0
        assert_eq!(radius_for(0.36, 4.0), Some(1));
        assert_eq!(radius_for(3.0, 1.0), Some(3));
        assert_eq!(radius_for(0.0, 4.0), Some(0));
        assert_eq!(radius_for(1e300, 4.0), None);
    }

    #[test]
    fn weights_are_normalised_symmetric_and_unit_spaced() {
        let w = gaussian_weights(2.0, 8);
        assert_eq!(w.len(), 17);
        assert_relative_eq!(w.iter().sum::<f64>(), 1.0, epsilon = 1e-15);
        for k in 0..8 {
            assert_eq!(w[k], w[16 - k]);
        }
        // Unit spacing: neighbouring samples differ by exp(-(2x+1)/(2 sigma^2)).
        assert_relative_eq!(w[9] / w[8], (-1.0f64 / 8.0).exp(), epsilon = 1e-15);
        assert_relative_eq!(w[10] / w[8], (-4.0f64 / 8.0).exp(), epsilon = 1e-15);
    }

    #[test]
    fn sigma_one_matches_scipy_values() {
        // scipy.ndimage._filters._gaussian_kernel1d(1, 0, 4)
        let expected = [
            0.000_133_830_624_614_741_75,
            0.004_431_861_620_031_265_5,
            0.053_991_127_420_704_41,
            0.241_971_445_656_600_73,
            0.398_943_469_356_097_76,
        ];
        let w = gaussian_weights(1.0, 4);
        for (k, e) in expected.iter().enumerate() {
            assert_relative_eq!(w[k], *e, max_relative = 1e-14);
        }
    }

    #[test]
    fn derivative_kernels_match_scipy_values() {
        // scipy.ndimage._filters._gaussian_kernel1d(1.5, order, 3), order 1, 2, 3
        let expected: [[f64; 7]; 3] = [
            [
                0.04884379382559204,
                0.09891622975900875,
                0.09633125395720345,
                0.0,
                -0.09633125395720345,
                -0.09891622975900875,
                -0.04884379382559204,
            ],
            [
                0.04884379382559204,
                0.03846742268405896,
                -0.053517363309557475,
                -0.12030317755396736,
                -0.053517363309557475,
                0.03846742268405896,
                0.04884379382559204,
            ],
            [
                0.021708352811374242,
                -0.05373227295551093,
                -0.10941327609953973,
                0.0,
                0.10941327609953973,
                0.05373227295551093,
                -0.021708352811374242,
            ],
        ];
        for (order, e) in (1..=3).zip(expected) {
            let k = gaussian_kernel(1.5, order, 3);
            for (a, b) in k.iter().zip(e) {
                assert_relative_eq!(*a, b, max_relative = 1e-12, epsilon = 1e-17);
            }
        }
        assert_eq!(gaussian_kernel(2.0, 0, 8), gaussian_weights(2.0, 8));
    }

    #[test]
    fn sigma_zero_is_identity() {
        assert_eq!(gaussian_weights(0.0, 0), vec![1.0]);
        assert_eq!(gaussian_weights(0.0, 2), vec![0.0, 0.0, 1.0, 0.0, 0.0]);
    }
}
