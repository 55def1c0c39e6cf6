//! Volumes larger than one storage buffer, cut into slabs along axis 0 and, when planes are
//! too large for a slab of the halo's depth, into tiles along axis 1: blocks of planes x rows,
//! every column.
//!
//! Each piece holds the outputs it is responsible for plus a halo of the radius on each side,
//! so that the pass along that axis reads exactly what it would read in the whole volume. Halo
//! planes (rows) beyond the volume's true edges are the ones the mode maps them to (so a radius
//! longer than the axis is handled like everywhere else), except in constant mode, where the
//! piece stops at the edge and the shader supplies the constant, as it does for a volume in one
//! piece. Each pass's valid region shrinks only along its own axis, so a block's outputs are
//! exact whatever order the passes run in. Passes along axis 2 work row by row, so blocks need
//! nothing more for them.

use std::ops::Range;

use crate::Mode;
use crate::boundary::source_index;

/// The halo pieces need along an axis: the radius of the widest kernel along it, and the mode
/// that maps planes (rows) beyond the volume's edges. `Mode::Constant` stops slabs at the edges, where each
/// pass applies its own mode; that is right for every mode but wrap, since a slab holds more
/// than twice the radius in planes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Halo {
    pub radius: usize,
    pub mode: Mode,
}

impl Halo {
    /// The halo of an axis in one piece (no halo needed).
    pub(crate) fn whole() -> Self {
        Halo {
            radius: 0,
            mode: Mode::Reflect,
        }
    }
}

/// `planes` as a range, when they are one run of consecutive indices.
pub(crate) fn run_of(planes: &[usize]) -> Option<std::ops::Range<usize>> {
    let first = *planes.first()?;
    planes
        .iter()
        .enumerate()
        .all(|(i, &p)| p == first + i)
        .then_some(first..first + planes.len())
}

/// One slab: which planes of the volume it holds, in order, and which output planes it yields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Slab {
    /// Source plane of each plane of the slab.
    pub planes: Vec<usize>,
    /// Output planes of the volume this slab yields.
    pub out: Range<usize>,
    /// Index within the slab of the plane that becomes `out.start`.
    pub first: usize,
}

/// Cuts `n` planes (or rows) into pieces that yield `step` outputs each (the last fewer), each
/// with `halo`'s radius on both sides mapped through its mode. An axis of at most `step` is one
/// piece without halo.
pub(crate) fn cut(n: usize, step: usize, halo: Halo) -> Vec<Slab> {
    if n <= step {
        return vec![Slab {
            planes: (0..n).collect(),
            out: 0..n,
            first: 0,
        }];
    }
    let Halo { radius: r, mode } = halo;
    (0..n)
        .step_by(step.max(1))
        .map(|z0| {
            let z1 = (z0 + step).min(n);
            let halo = z0 as i64 - r as i64..(z1 + r) as i64;
            let planes: Vec<usize> = match mode {
                Mode::Constant(_) => halo
                    .filter_map(|p| usize::try_from(p).ok().filter(|&p| p < n))
                    .collect(),
                _ => halo.filter_map(|p| source_index(p, n, mode)).collect(),
            };
            let first = match mode {
                Mode::Constant(_) => z0 - z0.saturating_sub(r),
                _ => r,
            };
            Slab {
                planes,
                out: z0..z1,
                first,
            }
        })
        .collect()
}

/// How many outputs a piece of at most `fit` planes (or rows) yields along an axis of `n` with
/// halos of `radius`, preferring multiples of `align`, and the work it costs per output (halo
/// included; 1 for an axis in one piece, 2 more when the step is not a multiple of `align`).
/// `None` when `fit` cannot hold the halo and one output.
pub(crate) fn step(
    n: usize,
    fit: usize,
    radius: usize,
    align: Option<usize>,
) -> Option<(usize, f64)> {
    if fit >= n {
        return Some((n, 1.0));
    }
    let mut step = fit.checked_sub(2 * radius).filter(|&s| s > 0)?;
    let mut penalty = 0.0;
    if let Some(a) = align.filter(|&a| a > 0) {
        if step >= a {
            step = step / a * a;
        } else {
            penalty = 2.0;
        }
    }
    Some((step, (step + 2 * radius) as f64 / step as f64 + penalty))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel(radius: usize, mode: Mode) -> Halo {
        Halo { radius, mode }
    }

    #[test]
    fn a_volume_that_fits_is_one_slab() {
        let slabs = cut(10, 10, kernel(3, Mode::Reflect));
        assert_eq!(
            slabs,
            vec![Slab {
                planes: (0..10).collect(),
                out: 0..10,
                first: 0
            }]
        );
    }

    #[test]
    fn halos_follow_the_mode_at_the_true_edges() {
        // 6 planes, one output plane per slab, radius 2.
        let slabs = cut(6, 1, kernel(2, Mode::Reflect));
        assert_eq!(slabs.len(), 6);
        assert_eq!(slabs[0].planes, vec![1, 0, 0, 1, 2]);
        assert_eq!(slabs[5].planes, vec![3, 4, 5, 5, 4]);
        assert!(slabs.iter().all(|s| s.first == 2 && s.out.len() == 1));
        let wrap = cut(6, 1, kernel(2, Mode::Wrap));
        assert_eq!(wrap[0].planes, vec![4, 5, 0, 1, 2]);
        let constant = cut(6, 1, kernel(2, Mode::Constant(1.0)));
        assert_eq!(
            (constant[0].planes.clone(), constant[0].first),
            (vec![0, 1, 2], 0)
        );
        assert_eq!(
            (constant[5].planes.clone(), constant[5].first),
            (vec![3, 4, 5], 2)
        );
    }

    #[test]
    fn every_output_plane_comes_from_exactly_one_slab() {
        for n in 1..30 {
            for r in 0..5 {
                for fit in (2 * r + 1)..(2 * r + 8) {
                    let (step, _) = step(n, fit, r, None).unwrap();
                    let slabs = cut(n, step, kernel(r, Mode::Mirror));
                    let outs: Vec<usize> = slabs.iter().flat_map(|s| s.out.clone()).collect();
                    assert_eq!(outs, (0..n).collect::<Vec<_>>());
                    assert!(slabs.iter().all(|s| s.planes.len() <= fit));
                }
            }
        }
    }

    #[test]
    fn steps_hold_the_halo_and_prefer_the_alignment() {
        assert_eq!(step(100, 4, 2, None), None);
        assert_eq!(step(100, 5, 2, None), Some((1, 5.0)));
        assert_eq!(step(100, 100, 2, None), Some((100, 1.0)));
        // 80 planes with halos of 8 yield 64, a whole chunk of 64; 79 yield 63, not aligned.
        assert_eq!(step(1000, 90, 8, Some(64)), Some((64, 1.25)));
        let (s, cost) = step(1000, 79, 8, Some(64)).unwrap();
        assert_eq!(s, 63);
        assert!(cost > 3.0);
    }
}
