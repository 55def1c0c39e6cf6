//! Every WGSL file parses and validates with naga, without a GPU, and the Rust mirrors of WGSL
//! structs have naga's layout.

use std::path::Path;

use super::kernels::shaders;
use super::kernels::{CombineParams, PassParams, WidenParams};

fn module(source: &str) -> (naga::Module, naga::valid::ModuleInfo) {
    let module = naga::front::wgsl::parse_str(source)
        .unwrap_or_else(|e| panic!("{}", e.emit_to_string(source)));
    let info = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        // SHADER_F64, for the F64 variants; the others use no capability.
        naga::valid::Capabilities::FLOAT64,
    )
    .validate(&module)
    .unwrap_or_else(|e| panic!("{}", e.emit_to_string(source)));
    (module, info)
}

/// Every module the crate builds validates, in every variant it composes: the three pass
/// families with the vec4 views, the CPU and tile families without (devices of 4 storage
/// bindings per stage), and
/// the copy, the widening and the combination, each in f32 and (but the copy) in f64 and in
/// double-single; and every WGSL file is part of one of them.
#[test]
fn every_variant_validates() {
    use shaders::{DS, F64, VEC4_VIEWS};
    let variants: [(&str, &str, &[&str]); 18] = [
        ("blur_axis", shaders::BLUR_AXIS, &[VEC4_VIEWS]),
        ("blur_axis", shaders::BLUR_AXIS, &[]),
        ("blur_axis", shaders::BLUR_AXIS, &[VEC4_VIEWS, F64]),
        ("blur_axis", shaders::BLUR_AXIS, &[F64]),
        ("blur_axis_gpu", shaders::BLUR_AXIS_GPU, &[VEC4_VIEWS]),
        ("blur_axis_gpu", shaders::BLUR_AXIS_GPU, &[VEC4_VIEWS, F64]),
        ("blur_axis_tile", shaders::BLUR_AXIS_TILE, &[VEC4_VIEWS]),
        ("blur_axis_tile", shaders::BLUR_AXIS_TILE, &[]),
        (
            "blur_axis_tile",
            shaders::BLUR_AXIS_TILE,
            &[VEC4_VIEWS, F64],
        ),
        ("blur_axis_tile", shaders::BLUR_AXIS_TILE, &[F64]),
        ("copy", shaders::COPY, &[]),
        ("widen", shaders::WIDEN, &[]),
        ("widen", shaders::WIDEN, &[F64]),
        ("combine", shaders::COMBINE, &[]),
        ("combine", shaders::COMBINE, &[F64]),
        ("blur_axis_ds", shaders::BLUR_AXIS_DS, &[DS]),
        ("widen", shaders::WIDEN, &[DS]),
        ("combine_ds", shaders::COMBINE_DS, &[DS]),
    ];
    let mut entry_points = Vec::new();
    for (name, source, defines) in variants {
        let composed = shaders::compose(source, defines);
        // The F64 variants hold f64 storage, the others none.
        assert_eq!(
            composed.contains("alias real = f64;"),
            defines.contains(&F64),
            "{name} {defines:?}"
        );
        let (module, _) = module(&composed);
        entry_points.push((name, defines.len(), module.entry_points.len()));
    }
    // The vec4 views' variant has one more entry point (`interior_aligned`).
    assert_eq!(entry_points[0].2, entry_points[1].2 + 1, "{entry_points:?}");
    // Every file is a module or a part one imports.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let composed: String = variants_sources().join("\n");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "wgsl") {
            let text = std::fs::read_to_string(&path).unwrap();
            let first = text.lines().next().unwrap_or_default();
            assert!(
                composed.contains(first),
                "{} is in no module the crate builds",
                path.display()
            );
        }
    }
}

/// Every module composed with every define, imports included.
fn variants_sources() -> Vec<String> {
    [
        shaders::BLUR_AXIS,
        shaders::BLUR_AXIS_GPU,
        shaders::BLUR_AXIS_TILE,
        shaders::COPY,
        shaders::WIDEN,
        shaders::COMBINE,
        shaders::BLUR_AXIS_DS,
        shaders::COMBINE_DS,
    ]
    .iter()
    .flat_map(|s| {
        [
            shaders::compose(s, &[shaders::VEC4_VIEWS]),
            shaders::compose(s, &[shaders::DS]),
        ]
    })
    .collect()
}

/// Asserts that WGSL struct `name` in `source` has `size` bytes and these member offsets.
#[track_caller]
fn assert_layout(source: &str, name: &str, size: usize, expected: &[(&str, usize)]) {
    let (module, _) = module(source);
    let (_, ty) = module
        .types
        .iter()
        .find(|(_, t)| t.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("struct {name} in the shader"));
    let naga::TypeInner::Struct { members, span } = &ty.inner else {
        panic!("{name} is not a struct")
    };
    assert_eq!(*span as usize, size, "size of {name}");
    let offsets: Vec<(String, usize)> = members
        .iter()
        .map(|m| (m.name.clone().unwrap_or_default(), m.offset as usize))
        .collect();
    let expected: Vec<(String, usize)> =
        expected.iter().map(|(n, o)| (n.to_string(), *o)).collect();
    assert_eq!(offsets, expected, "members of {name}");
}

macro_rules! offsets {
    ($t:ty: $($f:ident),*) => { [$((stringify!($f), std::mem::offset_of!($t, $f))),*] };
}

#[test]
fn rust_mirrors_match_the_wgsl_layouts() {
    assert_layout(
        &shaders::compose(shaders::BLUR_AXIS, &[]),
        "Params",
        size_of::<PassParams>(),
        &offsets!(PassParams: len, stride, radius, mode, weight_offset, interior_runs,
            left_runs, right_runs, interior_invocations, border_invocations, interior_start,
            outer_stride, interior_run, quads, runs, gpu_invocations, weight_offset_b,
            weight_offset_c, pad, tile, pair_len, pair_radius, pair_mode, pair_weight_offset,
            lines, pad2, pad3, pad4),
    );
    assert_layout(
        &shaders::compose(shaders::WIDEN, &[]),
        "Widen",
        size_of::<WidenParams>(),
        &offsets!(WidenParams: count, bits, signed, pad),
    );
    assert_layout(
        &shaders::compose(shaders::COMBINE, &[]),
        "Combine",
        size_of::<CombineParams>(),
        &offsets!(CombineParams: quads, inputs, pad1, pad2),
    );
}
