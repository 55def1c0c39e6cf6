//! Where a tap outside the axis reads from, for each [`Mode`].
//!
//! The rules are scipy's `NI_ExtendLine`, which extends a line by repeating the reflection (or the
//! period) as often as needed, so a kernel longer than its axis is handled without special cases:
//!
//! | mode      | extension of `a b c d`        | period          |
//! |-----------|-------------------------------|-----------------|
//! | `Reflect` | `d c b a \| a b c d \| d c b a` | `2 n`           |
//! | `Mirror`  | `d c b \| a b c d \| c b a`     | `2 n - 2` (n=1: nearest) |
//! | `Nearest` | `a a a \| a b c d \| d d d`     | -               |
//! | `Wrap`    | `b c d \| a b c d \| a b c`     | `n`             |
//! | `Constant(v)` | `v v v \| a b c d \| v v v` | -               |
//!
//! `shaders/blur_axis.wgsl` implements the same function (`source_index`); tests check both.

use crate::Mode;

/// The in-bounds index that position `i` of an axis of length `len` reads, or `None` where
/// the mode supplies the constant value instead. `len` must be at least 1.
#[must_use]
pub fn source_index(i: i64, len: usize, mode: Mode) -> Option<usize> {
    let n = len as i64;
    if (0..n).contains(&i) {
        return Some(i as usize);
    }
    let m = match mode {
        Mode::Reflect => {
            let m = i.rem_euclid(2 * n);
            if m < n { m } else { 2 * n - 1 - m }
        }
        Mode::Mirror if n == 1 => 0,
        Mode::Mirror => {
            let period = 2 * n - 2;
            let m = i.rem_euclid(period);
            if m < n { m } else { period - m }
        }
        Mode::Nearest => i.clamp(0, n - 1),
        Mode::Wrap => i.rem_euclid(n),
        Mode::Constant(_) => return None,
    };
    Some(m as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Extends `0..len` by `pad` on each side and returns the indices read, like scipy's line buffer.
    fn extend(len: usize, pad: i64, mode: Mode) -> Vec<Option<usize>> {
        (-pad..len as i64 + pad)
            .map(|i| source_index(i, len, mode))
            .collect()
    }

    fn some(v: &[usize]) -> Vec<Option<usize>> {
        v.iter().map(|&i| Some(i)).collect()
    }

    #[test]
    fn reflect_repeats_half_sample_symmetry() {
        // abcd -> dcba|abcd|dcba, then abcd again beyond.
        assert_eq!(
            extend(4, 6, Mode::Reflect),
            some(&[2, 3, 3, 2, 1, 0, 0, 1, 2, 3, 3, 2, 1, 0, 0, 1])
        );
        assert_eq!(extend(1, 2, Mode::Reflect), some(&[0, 0, 0, 0, 0]));
    }

    #[test]
    fn mirror_repeats_whole_sample_symmetry() {
        // abcd -> dcb|abcd|cba: period 6.
        assert_eq!(
            extend(4, 6, Mode::Mirror),
            some(&[0, 1, 2, 3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 1, 2, 3])
        );
        assert_eq!(extend(2, 3, Mode::Mirror), some(&[1, 0, 1, 0, 1, 0, 1, 0]));
        assert_eq!(extend(1, 2, Mode::Mirror), some(&[0, 0, 0, 0, 0]));
    }

    #[test]
    fn nearest_wrap_constant() {
        assert_eq!(extend(3, 2, Mode::Nearest), some(&[0, 0, 0, 1, 2, 2, 2]));
        assert_eq!(
            extend(3, 4, Mode::Wrap),
            some(&[2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
        );
        assert_eq!(
            extend(2, 1, Mode::Constant(5.0)),
            vec![None, Some(0), Some(1), None]
        );
    }
}
