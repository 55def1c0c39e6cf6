//! The units of length blur3d understands, in one table: on the command line (`--sigma 0.8um`),
//! in ImageJ's TIFF descriptions (`unit=micron`) and in OME-Zarr axes (`"unit": "micrometer"`).
//! Each has the names and abbreviations tools write, its size in millimetres, and the name the
//! OME-NGFF specification gives it (which blur3d writes).

/// A unit of length.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Length {
    /// Millimetres per unit.
    pub mm: f64,
    /// The OME-NGFF name: "micrometer", "millimeter"...
    pub ome: &'static str,
}

/// `(spellings, mm per unit, OME-NGFF name)`; spellings are compared in lower case.
const LENGTHS: &[(&[&str], f64, &str)] = &[
    (
        &["angstrom", "angstroms", "ångström", "ångströms", "å"],
        1e-7,
        "angstrom",
    ),
    (
        &["pm", "picometer", "picometers", "picometre", "picometres"],
        1e-9,
        "picometer",
    ),
    (
        &["nm", "nanometer", "nanometers", "nanometre", "nanometres"],
        1e-6,
        "nanometer",
    ),
    (
        &[
            "um",
            "µm",
            "μm",
            "micron",
            "microns",
            "micrometer",
            "micrometers",
            "micrometre",
            "micrometres",
        ],
        1e-3,
        "micrometer",
    ),
    (
        &[
            "mm",
            "millimeter",
            "millimeters",
            "millimetre",
            "millimetres",
        ],
        1.0,
        "millimeter",
    ),
    (
        &[
            "cm",
            "centimeter",
            "centimeters",
            "centimetre",
            "centimetres",
        ],
        10.0,
        "centimeter",
    ),
    (
        &["dm", "decimeter", "decimeters", "decimetre", "decimetres"],
        100.0,
        "decimeter",
    ),
    (&["m", "meter", "meters", "metre", "metres"], 1e3, "meter"),
    (
        &["km", "kilometer", "kilometers", "kilometre", "kilometres"],
        1e6,
        "kilometer",
    ),
    (&["in", "inch", "inches"], 25.4, "inch"),
    (&["ft", "foot", "feet"], 304.8, "foot"),
    (&["yd", "yard", "yards"], 914.4, "yard"),
    (&["mi", "mile", "miles"], 1_609_344.0, "mile"),
];

/// The unit of length `name` (`"um"`, `"µm"`, `"micron"`, `"micrometer"`...), if it is one.
/// ImageJ's escaped micro sign (`\u00B5m`) is read as `µm`.
pub fn length(name: &str) -> Option<Length> {
    let name = name
        .trim()
        .replace("\\u00B5", "µ")
        .replace("\\u00b5", "µ")
        .to_lowercase();
    LENGTHS
        .iter()
        .find(|(spellings, _, _)| spellings.contains(&name.as_str()))
        .map(|&(_, mm, ome)| Length { mm, ome })
}

/// The usual abbreviations, for messages.
pub const USUAL: &str = "mm, um (or µm, micron), nm, cm, m";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abbreviations_and_names_are_the_same_unit() {
        for (names, mm, ome) in [
            (
                &["um", "µm", "μm", "UM", "micron", "micrometer", "micrometre"][..],
                1e-3,
                "micrometer",
            ),
            (
                &["mm", "MM", "millimeter", "millimetres"],
                1.0,
                "millimeter",
            ),
            (&["nm", "nanometer"], 1e-6, "nanometer"),
            (&["cm"], 10.0, "centimeter"),
            (&["m", "meter", "metre"], 1000.0, "meter"),
            (&["inch", "in"], 25.4, "inch"),
            (&["Å", "angstrom"], 1e-7, "angstrom"),
            (&["\\u00B5m", " um "], 1e-3, "micrometer"),
        ] {
            for n in names {
                assert_eq!(length(n), Some(Length { mm, ome }), "{n}");
            }
        }
        for not in ["", "vox", "pixel", "s", "second", "mm2", "furlong"] {
            assert_eq!(length(not), None, "{not}");
        }
        // Every OME name is a spelling of its own unit.
        for &(_, mm, ome) in LENGTHS {
            assert_eq!(length(ome), Some(Length { mm, ome }));
        }
    }
}
