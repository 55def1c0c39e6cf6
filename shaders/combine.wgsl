// blur3d: combines the terms of a filter of the Gaussian family, voxel by voxel, four voxels
// per invocation: their sum (Laplacian) or the square root of the sum of their squares
// (gradient magnitude). One to three inputs; unused bindings repeat the first input.

#import real

struct Combine {
    quads: u32,  // vec4s to write
    inputs: u32, // 1, 2 or 3
    pad1: u32,
    pad2: u32,
}

override WORKGROUP: u32 = 64u;
// Square each term and take the square root of the sum; otherwise add the terms.
override NORM: bool = false;

@group(0) @binding(0) var<uniform> c: Combine;
@group(0) @binding(1) var<storage, read> t0: array<real4>;
@group(0) @binding(2) var<storage, read> t1: array<real4>;
@group(0) @binding(3) var<storage, read> t2: array<real4>;
@group(0) @binding(4) var<storage, read_write> out: array<real4>;

fn term(v: real4) -> real4 {
    return select(v, v * v, NORM);
}

@compute @workgroup_size(WORKGROUP)
fn combine(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    // Surplus invocations redo the last vec4 rather than diverge.
    let i = min(gid.x + gid.y * groups.x * WORKGROUP, c.quads - 1u);
    // `inputs` is uniform: these branches do not diverge.
    var s = term(t0[i]);
    if (c.inputs > 1u) {
        s += term(t1[i]);
    }
    if (c.inputs > 2u) {
        s += term(t2[i]);
    }
    out[i] = select(s, sqrt(s), NORM);
}
