// blur3d: `combine.wgsl` in double-single arithmetic (the DS variant): the sum of a filter's
// terms, or the square root of the sum of their squares, one voxel per invocation.

#import double_single

struct Combine {
    quads: u32,  // voxels to write (vec4s in `combine.wgsl`)
    inputs: u32, // 1, 2 or 3
    pad1: u32,   // 0 (`zero` of `double_single.wgsl`)
    pad2: u32,
}

override WORKGROUP: u32 = 64u;
override NORM: bool = false;

@group(0) @binding(0) var<uniform> c: Combine;
@group(0) @binding(1) var<storage, read> t0: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> t1: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read> t2: array<vec2<f32>>;
@group(0) @binding(4) var<storage, read_write> out: array<vec2<f32>>;

fn term(v: vec2<f32>) -> vec2<f32> {
    if (NORM) {
        return ds_mul(v, v);
    }
    return v;
}

@compute @workgroup_size(WORKGROUP)
fn combine(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    zero = c.pad1;
    let i = min(gid.x + gid.y * groups.x * WORKGROUP, c.quads - 1u);
    var s = term(t0[i]);
    var plain = select(t0[i].x, t0[i].x * t0[i].x, NORM);
    if (c.inputs > 1u) {
        s = ds_add(s, term(t1[i]));
        plain += select(t1[i].x, t1[i].x * t1[i].x, NORM);
    }
    if (c.inputs > 2u) {
        s = ds_add(s, term(t2[i]));
        plain += select(t2[i].x, t2[i].x * t2[i].x, NORM);
    }
    s = ds_or_plain(s, plain);
    if (NORM) {
        s = ds_sqrt(s);
    }
    out[i] = s;
}
