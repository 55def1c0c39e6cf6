// blur3d: a plain copy of one storage buffer into another, one voxel per invocation.
// The floor any blur pass is measured against: a pass cannot cost less than this on the same
// adapter, buffers and dispatch shape. Bindings match `blur_axis.wgsl` (same pipeline layout).

override WORKGROUP: u32 = 64u;

@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;
// The same buffers four voxels at a time (devices with 5 storage bindings per stage or more).
@group(0) @binding(4) var<storage, read> src4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> dst4: array<vec4<f32>>;

@compute @workgroup_size(WORKGROUP)
fn copy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    // Surplus invocations copy the last voxel again rather than diverge.
    let i = min(gid.x + gid.y * groups.x * WORKGROUP, arrayLength(&dst) - 1u);
    dst[i] = src[i];
}

// The copy four voxels per invocation: the floor for passes that load and store vec4s.
@compute @workgroup_size(WORKGROUP)
fn copy4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = min(gid.x + gid.y * groups.x * WORKGROUP, arrayLength(&dst4) - 1u);
    dst4[i] = src4[i];
}
