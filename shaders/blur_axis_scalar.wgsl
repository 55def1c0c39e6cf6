// blur3d: the part of `blur_axis.wgsl` for devices with fewer than 7 storage bindings per stage
// (WebGPU's downlevel limits have 4): no vec4 views, so every run loads and stores voxel by
// voxel, and no fused passes. Appended to it.

// Positions pos .. pos + 4 of the line at `base`.
fn quad(base: u32, pos: i32, mapped: bool, aligned: bool) -> vec4<f32> {
    return vec4(load(base, pos, mapped), load(base, pos + 1, mapped), load(base, pos + 2, mapped), load(base, pos + 3, mapped));
}

// Never called: fused passes (KERNELS > 1) need the bindings of `blur_axis_vec4.wgsl`.
fn store_extra(k: u32, i: u32, v: f32) {}

// Never called: runs are only `aligned` through the vec4 views.
fn store_quads(k: u32, o: u32, a0: vec4<f32>, a1: vec4<f32>, a2: vec4<f32>, a3: vec4<f32>, a4: vec4<f32>, a5: vec4<f32>, a6: vec4<f32>, a7: vec4<f32>) {}
