//! The small grammars of the command line: lengths with units (`--sigma`, `--fwhm`), per-axis
//! lists (`--radius`, `--mode`) and data types (`--dtype`).

use blur3d::Mode;

use crate::units;
use crate::volume::DType;

/// FWHM = 2 sqrt(2 ln 2) sigma.
pub const FWHM_PER_SIGMA: f64 = 2.354_820_045_030_949_3;

/// The unit of a length given on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Voxels,
    Millimetres,
}

/// A length along one axis, in voxels or millimetres.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Length {
    pub value: f64,
    pub unit: Unit,
}

/// What `--sigma` or `--fwhm` said: one length for every axis, or one per axis in the file's
/// axis order.
#[derive(Clone, Debug, PartialEq)]
pub struct LengthSpec {
    /// The option's name and the text given, for messages: `--sigma "1.5mm"`.
    pub origin: String,
    pub lengths: [Length; 3],
}

impl LengthSpec {
    /// The sigma in voxels per axis (file order), through `spacing` (mm per voxel, file order)
    /// for lengths in mm. `per_sigma` is 1 for `--sigma` and [`FWHM_PER_SIGMA`] for `--fwhm`.
    pub fn to_voxels(
        &self,
        per_sigma: f64,
        spacing: Option<[f64; 3]>,
        axis_names: [&str; 3],
        why_no_spacing: &str,
    ) -> Result<[f64; 3], String> {
        let mut out = [0.0; 3];
        for (axis, length) in self.lengths.iter().enumerate() {
            let voxels = match length.unit {
                Unit::Voxels => length.value,
                Unit::Millimetres => {
                    let Some(spacing) = spacing else {
                        return Err(format!(
                            "{} needs the voxel spacing, but {why_no_spacing}: give it in voxels",
                            self.origin
                        ));
                    };
                    let s = spacing[axis];
                    if !(s.is_finite() && s > 0.0) {
                        return Err(format!(
                            "{} needs the voxel spacing, but the spacing along {} in the header is {s}: \
                             give it in voxels",
                            self.origin, axis_names[axis]
                        ));
                    }
                    length.value / s
                }
            };
            out[axis] = voxels / per_sigma;
        }
        Ok(out)
    }
}

/// Parses `2`, `1,2,2`, `2x1x1vox`, `1.5mm`, `1mm,1mm,3mm`, `0.8um`: one number or three
/// (separated by commas, or by `x` as c3d writes them), each with an optional unit (`vox`, `mm`
/// or `um`, kept as mm). A number without a unit takes the unit at the end of the list, or
/// voxels.
pub fn parse_lengths(option: &str, text: &str) -> Result<LengthSpec, String> {
    let origin = format!("{option} {text:?}");
    let trimmed = text.trim();
    let parts: Vec<&str> = if trimmed.contains(',') {
        trimmed.split(',').collect()
    } else {
        // c3d's 2x1x1vox: the unit ends the whole list, and 'x' separates the numbers.
        let (numbers, unit) = split_unit(trimmed);
        let mut parts: Vec<&str> = numbers.split('x').collect();
        if let Some(last) = parts.last_mut() {
            // Put the unit back on the last number; it is parsed below like any other.
            *last = &trimmed[numbers.len() - last.len()..numbers.len() + unit.len()];
        }
        parts
    };
    let parsed: Vec<(f64, Option<(Unit, f64)>)> = parts
        .iter()
        .map(|p| parse_one(p.trim()).map_err(|e| format!("{origin}: {e}")))
        .collect::<Result<_, _>>()?;
    let default_unit = parsed
        .last()
        .and_then(|&(_, u)| u)
        .unwrap_or((Unit::Voxels, 1.0));
    let lengths: Vec<Length> = parsed
        .iter()
        .map(|&(value, unit)| {
            let (unit, scale) = unit.unwrap_or(default_unit);
            Length {
                value: value * scale,
                unit,
            }
        })
        .collect();
    let lengths = match lengths[..] {
        [l] => [l; 3],
        [a, b, c] => [a, b, c],
        _ => {
            return Err(format!(
                "{origin}: give one value, or three (one per axis), not {}",
                lengths.len()
            ));
        }
    };
    Ok(LengthSpec { origin, lengths })
}

/// `(number, unit)` of a text ending with letters: `"2x1x1vox"` gives `("2x1x1", "vox")`.
fn split_unit(text: &str) -> (&str, &str) {
    let start = text
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphabetic() || *c == 'µ')
        .last()
        .map_or(text.len(), |(i, _)| i);
    text.split_at(start)
}

/// The number and its unit, if any, with the unit's size in mm or voxels (`um` is 0.001 mm).
/// The units of length are those of [`units::length`].
fn parse_one(text: &str) -> Result<(f64, Option<(Unit, f64)>), String> {
    // "inf", "-inf" and "NaN" are numbers (not allowed ones), not units.
    let (number, unit) = if text.parse::<f64>().is_ok() {
        (text, "")
    } else {
        split_unit(text)
    };
    if number.trim().is_empty() {
        return Err(format!("{text:?} is not a number"));
    }
    // Lengths are kept in mm, through the one table of units of length.
    let unit = match unit.to_lowercase().as_str() {
        "" => None,
        "vox" | "voxel" | "voxels" | "vx" => Some((Unit::Voxels, 1.0)),
        other => match units::length(other) {
            Some(length) => Some((Unit::Millimetres, length.mm)),
            None => {
                return Err(format!(
                    "unknown unit {unit:?}: use vox (voxels, the default) or a length ({})",
                    units::USUAL
                ));
            }
        },
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{number:?} is not a number"))?;
    if !(value.is_finite() && value >= 0.0) {
        return Err(format!(
            "{value} is not allowed: it must be a finite number >= 0 (0 leaves that axis as it is)"
        ));
    }
    Ok((value, unit))
}

/// One item for every axis, or three separated by commas.
fn per_axis<T: Copy>(
    option: &str,
    text: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<[T; 3], String> {
    let items: Vec<T> = text
        .split(',')
        .map(|p| parse(p.trim()).map_err(|e| format!("{option} {text:?}: {e}")))
        .collect::<Result<_, _>>()?;
    match items[..] {
        [a] => Ok([a; 3]),
        [a, b, c] => Ok([a, b, c]),
        _ => Err(format!(
            "{option} {text:?}: give one value, or three (one per axis), not {}",
            items.len()
        )),
    }
}

/// `--radius 3` or `--radius 2,3,3`, in voxels.
pub fn parse_radius(text: &str) -> Result<[usize; 3], String> {
    per_axis("--radius", text, |p| {
        p.parse::<usize>()
            .map_err(|_| format!("{p:?} is not a whole number of voxels >= 0"))
    })
}

/// `--order 1` or `--order 0,0,2`: derivative orders.
pub fn parse_orders(text: &str) -> Result<[u32; 3], String> {
    per_axis("--order", text, |p| {
        p.parse::<u32>()
            .map_err(|_| format!("{p:?} is not a derivative order (a whole number >= 0)"))
    })
}

/// `--mode nearest` or `--mode reflect,reflect,wrap`.
pub fn parse_modes(text: &str) -> Result<[Mode; 3], String> {
    per_axis("--mode", text, |p| {
        p.parse::<Mode>().map_err(|e| e.to_string())
    })
}

/// `--axes 0,2,3`: three different axes of a 4D array, and the one left out (the series).
pub fn parse_axes(text: &str) -> Result<([usize; 3], usize), String> {
    let axes = per_axis("--axes", text, |p| {
        p.parse::<usize>()
            .ok()
            .filter(|&a| a < 4)
            .ok_or_else(|| format!("{p:?} is not an axis of a 4D array (0 to 3)"))
    })?;
    let [a, b, c] = axes;
    if a == b || b == c || a == c {
        return Err(format!("--axes {text:?}: name three different axes"));
    }
    let series = (0..4).find(|i| !axes.contains(i)).unwrap_or(0);
    Ok((axes, series))
}

/// What `--dtype` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DTypeChoice {
    /// The input's type.
    Same,
    Given(DType),
}

pub fn parse_dtype(text: &str) -> Result<DTypeChoice, String> {
    let t = text.trim().to_ascii_lowercase();
    if t == "same" {
        return Ok(DTypeChoice::Same);
    }
    DType::ALL
        .into_iter()
        .find(|d| d.name() == t || d.numpy_name() == t)
        .map(DTypeChoice::Given)
        .ok_or_else(|| {
            format!(
                "--dtype {text:?}: unknown type: use same, f32, f64, u8, i8, u16, i16, u32, i32, \
                 u64 or i64"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> Vec<(f64, Unit)> {
        parse_lengths("--sigma", text)
            .unwrap()
            .lengths
            .iter()
            .map(|l| (l.value, l.unit))
            .collect()
    }

    #[test]
    fn lengths_in_every_spelling() {
        use Unit::{Millimetres as Mm, Voxels as V};
        assert_eq!(values("2"), [(2.0, V); 3]);
        assert_eq!(values("1,2,2"), [(1.0, V), (2.0, V), (2.0, V)]);
        assert_eq!(values("2x1x1vox"), [(2.0, V), (1.0, V), (1.0, V)]);
        assert_eq!(values("2x1x1mm"), [(2.0, Mm), (1.0, Mm), (1.0, Mm)]);
        assert_eq!(values("1.5mm"), [(1.5, Mm); 3]);
        assert_eq!(values("1,1,2mm"), [(1.0, Mm), (1.0, Mm), (2.0, Mm)]);
        assert_eq!(values("1vox, 2mm, 3"), [(1.0, V), (2.0, Mm), (3.0, V)]);
        assert_eq!(values("1e-1MM"), [(0.1, Mm); 3]);
        assert_eq!(values("0"), [(0.0, V); 3]);
        assert_eq!(values("500um"), [(0.5, Mm); 3]);
        assert_eq!(values("2x2x4µm"), [(0.002, Mm), (0.002, Mm), (0.004, Mm)]);
        assert_eq!(values("2cm"), [(20.0, Mm); 3]);
        assert_eq!(values("1,1,2nm"), [(1e-6, Mm), (1e-6, Mm), (2e-6, Mm)]);
    }

    #[test]
    fn bad_lengths_say_what_is_wrong() {
        let err = |t| parse_lengths("--sigma", t).unwrap_err();
        assert!(err("-1").contains("finite number >= 0"), "{}", err("-1"));
        assert!(err("abc").contains("not a number"), "{}", err("abc"));
        assert!(err("2px").contains("unknown unit \"px\""), "{}", err("2px"));
        assert!(err("1,2").contains("not 2"), "{}", err("1,2"));
        assert!(err("inf").contains("finite number"), "{}", err("inf"));
        assert!(err("-inf").contains("finite number"), "{}", err("-inf"));
        assert!(err("nan").contains("finite number"), "{}", err("nan"));
        assert!(err("").contains("not a number"), "{}", err(""));
    }

    #[test]
    fn millimetres_go_through_the_spacing() {
        let spec = parse_lengths("--sigma", "3mm").unwrap();
        let names = ["x", "y", "z"];
        let v = spec.to_voxels(1.0, Some([1.0, 1.0, 3.0]), names, "-");
        assert_eq!(v, Ok([3.0, 3.0, 1.0]));
        assert!(spec.to_voxels(1.0, None, names, "no spacing").is_err());
        assert!(
            spec.to_voxels(1.0, Some([1.0, 0.0, 1.0]), names, "-")
                .unwrap_err()
                .contains("along y")
        );
        let fwhm = parse_lengths("--fwhm", "2.354820045030949").unwrap();
        let v = fwhm.to_voxels(FWHM_PER_SIGMA, None, names, "-").unwrap();
        assert!((v[0] - 1.0).abs() < 1e-12);
    }

    #[test]
    fn lists_and_types() {
        assert_eq!(parse_orders("2"), Ok([2; 3]));
        assert_eq!(parse_orders("0,1,2"), Ok([0, 1, 2]));
        assert!(parse_orders("-1").unwrap_err().contains("derivative order"));
        assert!(parse_orders("1,2").is_err());
        assert_eq!(parse_radius("3"), Ok([3; 3]));
        assert_eq!(parse_radius("1,2,3"), Ok([1, 2, 3]));
        assert!(parse_radius("-1").is_err());
        assert_eq!(
            parse_modes("constant=2,wrap,nearest"),
            Ok([Mode::Constant(2.0), Mode::Wrap, Mode::Nearest])
        );
        assert!(parse_modes("bogus").is_err());
        assert_eq!(parse_dtype("same"), Ok(DTypeChoice::Same));
        assert_eq!(parse_dtype("float32"), Ok(DTypeChoice::Given(DType::F32)));
        assert_eq!(parse_dtype("u16"), Ok(DTypeChoice::Given(DType::U16)));
        assert!(parse_dtype("f16").is_err());
        assert_eq!(parse_axes("0,2,3"), Ok(([0, 2, 3], 1)));
        assert_eq!(parse_axes("3, 2, 1"), Ok(([3, 2, 1], 0)));
        assert!(parse_axes("0,0,1").unwrap_err().contains("three different"));
        assert!(parse_axes("1,2,4").unwrap_err().contains("0 to 3"));
        assert!(parse_axes("1,2").is_err());
    }
}
