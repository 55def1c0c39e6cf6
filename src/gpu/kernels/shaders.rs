//! The WGSL sources and how they are composed: `#import name` includes a shared part once,
//! `#ifdef NAME` / `#ifndef NAME` / `#else` / `#endif` keep or drop lines by the variant's
//! defines. A few lines in the manner of vello's shader preprocessor; every variant the crate
//! builds is validated by naga in a test.

/// The parts `#import` names, by name: `shaders/<name>.wgsl`.
const PARTS: [(&str, &str); 5] = [
    ("real", include_str!("../../../shaders/real.wgsl")),
    ("axis", include_str!("../../../shaders/axis.wgsl")),
    (
        "double_single",
        include_str!("../../../shaders/double_single.wgsl"),
    ),
    ("common", include_str!("../../../shaders/common.wgsl")),
    (
        "vec4_views",
        include_str!("../../../shaders/vec4_views.wgsl"),
    ),
];

/// The CPU family of passes (`shaders/blur_axis.wgsl`).
pub(crate) const BLUR_AXIS: &str = include_str!("../../../shaders/blur_axis.wgsl");
/// The GPU family of passes (`shaders/blur_axis_gpu.wgsl`).
pub(crate) const BLUR_AXIS_GPU: &str = include_str!("../../../shaders/blur_axis_gpu.wgsl");
/// The tile family of passes (`shaders/blur_axis_tile.wgsl`).
pub(crate) const BLUR_AXIS_TILE: &str = include_str!("../../../shaders/blur_axis_tile.wgsl");
/// The passes in double-single arithmetic (`shaders/blur_axis_ds.wgsl`).
pub(crate) const BLUR_AXIS_DS: &str = include_str!("../../../shaders/blur_axis_ds.wgsl");
/// The plain copy that benchmarks measure passes against.
pub(crate) const COPY: &str = include_str!("../../../shaders/copy.wgsl");
/// The conversion of integer voxels to the passes' element type.
pub(crate) const WIDEN: &str = include_str!("../../../shaders/widen.wgsl");
/// The voxel-by-voxel combination of a filter's terms.
pub(crate) const COMBINE: &str = include_str!("../../../shaders/combine.wgsl");
/// The combination in double-single arithmetic.
pub(crate) const COMBINE_DS: &str = include_str!("../../../shaders/combine_ds.wgsl");

/// The define of the variants that have the vec4 views and the fused passes' extra outputs
/// (`shaders/vec4_views.wgsl`).
pub(crate) const VEC4_VIEWS: &str = "VEC4_VIEWS";

/// The define of the variants that compute and store in f64 (`shaders/real.wgsl`), for devices
/// with `SHADER_F64`.
pub(crate) const F64: &str = "F64";

/// The define of the variants whose `real` is a double-single pair (`shaders/real.wgsl`).
pub(crate) const DS: &str = "DS";

/// `source` with its imports included (each part once) and its conditional lines kept or
/// dropped as `defines` say. Lines of other directives pass through (naga then rejects them).
pub(crate) fn compose(source: &str, defines: &[&str]) -> String {
    let mut out = String::with_capacity(source.len() * 2);
    let mut imported = Vec::new();
    append(&mut out, source, defines, &mut imported);
    out
}

fn append<'a>(out: &mut String, source: &'a str, defines: &[&str], imported: &mut Vec<&'a str>) {
    // One entry per open `#ifdef`: whether its lines are kept.
    let mut keep: Vec<bool> = Vec::new();
    for line in source.lines() {
        let active = keep.iter().all(|&k| k);
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("#ifdef"), Some(name)) => keep.push(defines.contains(&name)),
            (Some("#ifndef"), Some(name)) => keep.push(!defines.contains(&name)),
            (Some("#else"), None) => {
                if let Some(k) = keep.last_mut() {
                    *k = !*k;
                }
            }
            (Some("#endif"), None) => {
                keep.pop();
            }
            (Some("#import"), Some(name)) if active => {
                if let Some(&(name, part)) = PARTS.iter().find(|(n, _)| *n == name)
                    && !imported.contains(&name)
                {
                    imported.push(name);
                    append(out, part, defines, imported);
                }
            }
            _ if active => {
                out.push_str(line);
                out.push('\n');
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_come_once_and_conditions_follow_the_defines() {
        let source = "#import common\n#ifdef A\na\n#ifndef B\nnot b\n#else\nb\n#endif\n#else\nnot a\n#endif\n#import common\nend";
        let common = |defines: &[&str]| compose("#import common", defines);
        assert!(common(&[]).contains("struct Params {"));
        assert_eq!(compose(source, &["A"]), common(&["A"]) + "a\nnot b\nend\n");
        assert_eq!(
            compose(source, &["A", "B"]),
            common(&["A", "B"]) + "a\nb\nend\n"
        );
        assert_eq!(compose(source, &[]), common(&[]) + "not a\nend\n");
        // The part's own conditions follow the defines too.
        assert!(common(&[VEC4_VIEWS]).contains("store_extra(k, i, v)"));
        assert!(!common(&[]).contains("store_extra(k, i, v)"));
        // Imports inside a dropped branch are not taken.
        assert_eq!(compose("#ifdef X\n#import common\n#endif\nx", &[]), "x\n");
    }
}
