// blur3d: what both pass families share beyond `axis.wgsl`: the bindings of the volume in
// `real` (f32, or f64 in the F64 variant), loads through the mode, and the stores of a pass's
// outputs. Imported (`#import common`) by `blur_axis.wgsl` and `blur_axis_gpu.wgsl`.

#import real
#import axis

// Kernels one pass applies to its input: 1, or 2 or 3 of the same radius and mode (a fused
// pass, in either family: the window is loaded once for all of them, and each kernel's sums go
// to its own output, `dst` then `store_extra`'s and `store4`'s). Fixed when the pipeline is made,
// so that the sums of kernels a pipeline lacks compile away.
override KERNELS: u32 = 1u;

// Each axis's weights start at a multiple of 4 and are read as vec4s, after a vec4 holding its
// constant mode's value (in `real`, so that f64 passes extend with scipy's f64 `cval`).
@group(0) @binding(1) var<storage, read> weights: array<real4>;
@group(0) @binding(2) var<storage, read> src: array<real>;
@group(0) @binding(3) var<storage, read_write> dst: array<real>;

// The value outside the axis in constant mode.
fn cval() -> real {
    return weights[p.weight_offset / 4u - 1u].x;
}

// The value at position `pos` of the line starting at `base`, extended as the mode says.
fn load_mapped(base: u32, pos: i32) -> real {
    let n = i32(p.len);
    let j = source_index(pos, n);
    // Always load (from a valid index), then choose: no branch.
    let v = src[base + u32(clamp(j, 0, n - 1)) * p.stride];
    return select(cval(), v, j >= 0);
}

fn load(base: u32, pos: i32, mapped: bool) -> real {
    if (mapped) {
        return load_mapped(base, pos);
    }
    return src[base + u32(pos) * p.stride];
}

// `a` as the pass stores it: truncated toward zero when TRUNCATE (scipy's passes into an
// integer output), else as it is.
fn stored(a: real4) -> real4 {
    if (TRUNCATE) {
        return trunc(a);
    }
    return a;
}

// Element `i` of output `k` of the pass: `dst`, or a fused pass's others.
fn store_to(k: u32, i: u32, v: real) {
    if (k == 0u) {
        dst[i] = v;
    }
#ifdef VEC4_VIEWS
    else {
        store_extra(k, i, v);
    }
#endif
}

// Four taps `w` on the sums `a` of outputs whose window is `v`, followed by `u`.
fn step4(a: real4, w: real4, v: real4, u: real4) -> real4 {
    var s = a + w.x * v;
    s += w.y * vec4(v.yzw, u.x);
    s += w.z * vec4(v.zw, u.xy);
    s += w.w * vec4(v.w, u.xyz);
    return s;
}

