//! Every WGSL file parses and validates with naga, without a GPU, and the Rust mirrors of WGSL
//! structs have naga's layout.

use std::path::Path;

use super::passes::{
    BLUR_AXIS_SCALAR_WGSL, BLUR_AXIS_WGSL, COMBINE_WGSL, CombineParams, PassParams, WIDEN_WGSL,
    WidenParams,
};

fn module(source: &str) -> (naga::Module, naga::valid::ModuleInfo) {
    let module = naga::front::wgsl::parse_str(source)
        .unwrap_or_else(|e| panic!("{}", e.emit_to_string(source)));
    let info = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::empty(),
    )
    .validate(&module)
    .unwrap_or_else(|e| panic!("{}", e.emit_to_string(source)));
    (module, info)
}

/// Every WGSL file validates: whole modules alone, `blur_axis_*.wgsl` appended to
/// `blur_axis.wgsl` (and `blur_axis_gpu.wgsl` to `blur_axis_vec4.wgsl` too), as the crate
/// builds them.
#[test]
fn every_shader_validates() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "wgsl") {
            let name = path.file_name().unwrap().to_str().unwrap();
            let source = read(name);
            if name == "blur_axis_gpu.wgsl" {
                module(&(read("blur_axis.wgsl") + &read("blur_axis_vec4.wgsl") + &source));
            } else if name.starts_with("blur_axis_") {
                module(&(read("blur_axis.wgsl") + &source));
            } else if name != "blur_axis.wgsl" {
                module(&source);
            }
            count += 1;
        }
    }
    assert!(count >= 7, "shaders missing from {}", dir.display());
}

#[test]
fn embedded_shaders_are_the_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    assert_eq!(
        read("blur_axis.wgsl") + &read("blur_axis_vec4.wgsl") + &read("blur_axis_gpu.wgsl"),
        BLUR_AXIS_WGSL
    );
    assert_eq!(
        read("blur_axis.wgsl") + &read("blur_axis_scalar.wgsl"),
        BLUR_AXIS_SCALAR_WGSL
    );
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
        BLUR_AXIS_WGSL,
        "Params",
        size_of::<PassParams>(),
        &offsets!(PassParams: len, stride, radius, mode, weight_offset, cval, interior_runs,
            left_runs, right_runs, interior_invocations, border_invocations, interior_start,
            outer_stride, interior_run, quads, runs, gpu_invocations, weight_offset_b,
            weight_offset_c, pad),
    );
    assert_layout(
        WIDEN_WGSL,
        "Widen",
        size_of::<WidenParams>(),
        &offsets!(WidenParams: count, bits, signed, pad),
    );
    assert_layout(
        COMBINE_WGSL,
        "Combine",
        size_of::<CombineParams>(),
        &offsets!(CombineParams: quads, inputs, pad1, pad2),
    );
}
