//! Volumes larger than one storage buffer, cut into slabs along axis 0.
//!
//! Each slab holds the output planes it is responsible for plus a halo of the axis-0 radius on
//! each side, so that the axis-0 pass of its own planes reads exactly what it would read in the
//! whole volume. Halo planes beyond the volume's true edges are the planes the mode maps them to
//! (so a radius longer than the axis is handled like everywhere else), except in constant mode,
//! where the slab stops at the edge and the shader supplies the constant, as it does for a
//! volume in one piece. Passes along axes 1 and 2 work plane by plane, so slabs need nothing
//! more for them.

use std::ops::Range;

use crate::boundary::source_index;
use crate::{BlurError, Mode};

/// The halo slabs need along axis 0: the radius of the widest axis-0 kernel, and the mode that
/// maps planes beyond the volume's edges. `Mode::Constant` stops slabs at the edges, where each
/// pass applies its own mode; that is right for every mode but wrap, since a slab holds more
/// than twice the radius in planes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Halo {
    pub radius: usize,
    pub mode: Mode,
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

/// Cuts `n0` planes of `plane_bytes` each into slabs of at most `max_bytes`, with halos of
/// `halo`'s radius mapped through its mode. A volume that fits is one slab without halo.
pub(crate) fn plan(
    n0: usize,
    plane_bytes: u64,
    max_bytes: u64,
    limit_name: &'static str,
    halo: Halo,
) -> Result<Vec<Slab>, BlurError> {
    if n0 as u64 * plane_bytes <= max_bytes {
        return Ok(vec![Slab {
            planes: (0..n0).collect(),
            out: 0..n0,
            first: 0,
        }]);
    }
    let Halo { radius: r, mode } = halo;
    let max_planes = (max_bytes / plane_bytes) as usize;
    if max_planes < 2 * r + 1 {
        return Err(BlurError::VolumeTooLarge {
            bytes: (2 * r + 1) as u64 * plane_bytes,
            limit: max_bytes,
            limit_name,
        });
    }
    let step = max_planes - 2 * r;
    let slabs = (0..n0)
        .step_by(step)
        .map(|z0| {
            let z1 = (z0 + step).min(n0);
            let halo = z0 as i64 - r as i64..(z1 + r) as i64;
            let planes: Vec<usize> = match mode {
                Mode::Constant(_) => halo
                    .filter_map(|p| usize::try_from(p).ok().filter(|&p| p < n0))
                    .collect(),
                _ => halo.filter_map(|p| source_index(p, n0, mode)).collect(),
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
        .collect();
    Ok(slabs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel(radius: usize, mode: Mode) -> Halo {
        Halo { radius, mode }
    }

    #[test]
    fn a_volume_that_fits_is_one_slab() {
        let slabs = plan(10, 4, 40, "limit", kernel(3, Mode::Reflect)).unwrap();
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
        // 6 planes of 1 byte, 5 planes per slab, radius 2: one output plane per slab.
        let slabs = plan(6, 1, 5, "limit", kernel(2, Mode::Reflect)).unwrap();
        assert_eq!(slabs.len(), 6);
        assert_eq!(slabs[0].planes, vec![1, 0, 0, 1, 2]);
        assert_eq!(slabs[5].planes, vec![3, 4, 5, 5, 4]);
        assert!(slabs.iter().all(|s| s.first == 2 && s.out.len() == 1));
        let wrap = plan(6, 1, 5, "limit", kernel(2, Mode::Wrap)).unwrap();
        assert_eq!(wrap[0].planes, vec![4, 5, 0, 1, 2]);
        let constant = plan(6, 1, 5, "limit", kernel(2, Mode::Constant(1.0))).unwrap();
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
        for n0 in 1..30 {
            for r in 0..5 {
                for max in (2 * r + 1)..(2 * r + 8) {
                    let slabs = plan(n0, 1, max as u64, "limit", kernel(r, Mode::Mirror)).unwrap();
                    let outs: Vec<usize> = slabs.iter().flat_map(|s| s.out.clone()).collect();
                    assert_eq!(outs, (0..n0).collect::<Vec<_>>());
                    assert!(slabs.iter().all(|s| s.planes.len() <= max));
                }
            }
        }
    }

    #[test]
    fn a_halo_larger_than_the_limit_is_an_error() {
        let err = plan(100, 1000, 4000, "limit", kernel(2, Mode::Reflect)).unwrap_err();
        assert_eq!(
            err,
            BlurError::VolumeTooLarge {
                bytes: 5000,
                limit: 4000,
                limit_name: "limit"
            }
        );
    }
}
