// blur3d: a pass along one axis in double-single arithmetic (the DS variant, for adapters
// without f64): one output per invocation, its taps summed as pairs of f32
// (`double_single.wgsl`), loads beyond the axis mapped by the mode (`axis.wgsl`). Volumes and
// weights are arrays of (hi, lo) pairs; each kernel's weights follow a vec4 of pairs whose first
// holds the constant mode's value.

#import axis
#import double_single

@group(0) @binding(1) var<storage, read> weights: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> src: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> dst: array<vec2<f32>>;

// The value at position `pos` of the line at `base`, through the mode when `mapped`.
fn load_ds(base: u32, pos: i32, mapped: bool) -> vec2<f32> {
    if (!mapped) {
        return src[base + u32(pos) * p.stride];
    }
    let n = i32(p.len);
    let j = source_index(pos, n);
    let v = src[base + u32(clamp(j, 0, n - 1)) * p.stride];
    return select(weights[p.weight_offset - 4u], v, j >= 0);
}

@compute @workgroup_size(WORKGROUP)
fn pass_ds(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    zero = p.pad;
    let t = item(gid, groups, p.gpu_invocations);
    let inner = t % p.stride;
    let rest = t / p.stride;
    let i = i32(rest % p.len);
    let base = line_base(rest / p.len, inner);
    let r = i32(p.radius);
    let mapped = i - r < 0 || i + r >= i32(p.len);
    var acc = vec2(0.0, 0.0);
    var plain = 0.0;
    for (var k = 0; k <= 2 * r; k++) {
        let w = weights[p.weight_offset + u32(k)];
        let v = load_ds(base, i - r + k, mapped);
        acc = ds_add(acc, ds_mul(w, v));
        plain += w.x * v.x;
    }
    var out = ds_or_plain(acc, plain);
    if (TRUNCATE) {
        out = ds_trunc(out);
    }
    dst[base + u32(i) * p.stride] = out;
}
