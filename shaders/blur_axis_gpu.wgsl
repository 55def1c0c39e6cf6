// blur3d: the pass family for discrete GPUs. Imports the parameters, bindings, mode mapping and
// `step4` of `common.wgsl` and the vec4 views of `vec4_views.wgsl`.
//
// On a GPU, neighbouring invocations must touch neighbouring addresses (coalescing). The runs
// of `blur_axis.wgsl` give each invocation 32 consecutive outputs, which along the contiguous
// axis puts neighbouring invocations 128 bytes apart. Here:
// - `rows4` (the contiguous axis, rows of a multiple of 4 voxels): one invocation per 4
//   consecutive outputs, neighbours on neighbouring vec4s; the window slides a vec4 at a time
//   over aligned vec4 loads, realigned by a shift that is the same for every invocation.
// - `cols4` (the other axes, rows of a multiple of 4 voxels): one invocation per 4 neighbouring
//   columns and RUN_GPU consecutive outputs along the axis; each vec4 holds the 4 columns, so
//   loads and stores are coalesced, and the window of RUN_GPU positions slides in registers.
// Positions outside the axis go through the mode (`source_index`: the mode fixed by the
// pipeline's MODE when the kernel is shorter than the axis, else MODE_ANY, any kernel length);
// only invocations at the axis's ends take that path. Fused passes (KERNELS 2 and 3) keep sums
// of each kernel beside the first's, from the same window.

#import common
#import vec4_views

// Outputs along the axis per `cols4` invocation; `kernels::params::RUN_GPU` mirrors it.
const RUN_GPU: u32 = 8u;

// The 4 positions from `e` on of the 8 in `a` then `b`. Selects, not a switch: CPU adapters
// run every case of a switch.
fn shifted(a: real4, b: real4, e: u32) -> real4 {
    let s1 = vec4(a.yzw, b.x);
    let s2 = vec4(a.zw, b.xy);
    let s3 = vec4(a.w, b.xyz);
    return select(select(select(s3, s2, e == 2u), s1, e == 1u), a, e == 0u);
}

// Positions pos .. pos + 4 of the row at `base`, mapped through the mode.
fn quad_mapped(base: u32, pos: i32) -> real4 {
    return vec4(load_mapped(base, pos), load_mapped(base, pos + 1), load_mapped(base, pos + 2), load_mapped(base, pos + 3));
}

@compute @workgroup_size(WORKGROUP)
fn rows4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let t = item(gid, groups, p.gpu_invocations);
    let base = (t / p.quads) * p.outer_stride;
    let x = i32((t % p.quads) * 4u);
    let n = i32(p.len);
    let r = i32(p.radius);
    let taps = 2u * p.radius + 1u;
    // The window starts at x - r; vec4 loads start at the multiple of 4 below it, `e` earlier
    // (the same for every invocation: x is a multiple of 4).
    let start = x - r;
    let mapped = start < 0 || x + 3 + r >= n;
    // start = x - r with x a multiple of 4 (no remainder of a negative number: GLSL leaves it
    // undefined).
    let e = (4u - p.radius % 4u) % 4u;
    let q = (base + u32(max(start, 0))) / 4u;
    var lo = real4();
    var hi = real4();
    var win = real4();
    var next = real4();
    if (mapped) {
        win = quad_mapped(base, start);
        next = quad_mapped(base, start + 4);
    } else {
        lo = src4[q];
        hi = src4[q + 1u];
        win = shifted(lo, hi, e);
        lo = hi;
        hi = src4[q + 2u];
        next = shifted(lo, hi, e);
    }
    var acc = real4();
    var acc_b = real4();
    var acc_c = real4();
    var k = 0u;
    var pos = start + 8;
    for (; k + 4u <= taps; k += 4u) {
        acc = step4(acc, weights[(p.weight_offset + k) / 4u], win, next);
        if (KERNELS > 1u) {
            acc_b = step4(acc_b, weights[(p.weight_offset_b + k) / 4u], win, next);
        }
        if (KERNELS > 2u) {
            acc_c = step4(acc_c, weights[(p.weight_offset_c + k) / 4u], win, next);
        }
        win = next;
        if (mapped) {
            next = quad_mapped(base, pos);
        } else {
            lo = hi;
            hi = src4[(base + u32(pos - i32(e))) / 4u + 1u];
            next = shifted(lo, hi, e);
        }
        pos += 4;
    }
    // The last taps one at a time: no weight multiplies a voxel outside the kernel (a NaN
    // there must not reach this output).
    let w4 = weights[(p.weight_offset + k) / 4u];
    let w4b = weights[(p.weight_offset_b + k) / 4u];
    let w4c = weights[(p.weight_offset_c + k) / 4u];
    for (var c = 0u; c < taps - k; c++) {
        let v = shifted(win, next, c);
        acc += w4[c] * v;
        if (KERNELS > 1u) {
            acc_b += w4b[c] * v;
        }
        if (KERNELS > 2u) {
            acc_c += w4c[c] * v;
        }
    }
    let o = (base + u32(x)) / 4u;
    store4(0u, o, stored(acc));
    if (KERNELS > 1u) {
        store4(1u, o, stored(acc_b));
    }
    if (KERNELS > 2u) {
        store4(2u, o, stored(acc_c));
    }
}

// Columns c .. c + 4 (the vec4 at `base`) at position `pos` along the axis, mapped through the
// mode when `mapped`.
fn columns(base: u32, pos: i32, mapped: bool) -> real4 {
    if (!mapped) {
        return src4[(base + u32(pos) * p.stride) / 4u];
    }
    let n = i32(p.len);
    let j = source_index(pos, n);
    let v = src4[(base + u32(clamp(j, 0, n - 1)) * p.stride) / 4u];
    return select(real4(cval()), v, j >= 0);
}

@compute @workgroup_size(WORKGROUP)
fn cols4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let t = item(gid, groups, p.gpu_invocations);
    // Column quads fastest, then runs, then groups of lines: a warp shares its run, so the
    // mapped path is taken (or not) by all of it.
    let c = t % p.quads;
    let rest = t / p.quads;
    let s = i32((rest % p.runs) * RUN_GPU);
    let base = (rest / p.runs) * p.outer_stride + 4u * c;
    let n = i32(p.len);
    let r = i32(p.radius);
    let mapped = s - r < 0 || s + i32(RUN_GPU) - 1 + r >= n;
    var pos = s - r;
    var v0 = columns(base, pos, mapped);
    var v1 = columns(base, pos + 1, mapped);
    var v2 = columns(base, pos + 2, mapped);
    var v3 = columns(base, pos + 3, mapped);
    var v4 = columns(base, pos + 4, mapped);
    var v5 = columns(base, pos + 5, mapped);
    var v6 = columns(base, pos + 6, mapped);
    var v7 = columns(base, pos + 7, mapped);
    pos += 8;
    var a0 = real4();
    var a1 = real4();
    var a2 = real4();
    var a3 = real4();
    var a4 = real4();
    var a5 = real4();
    var a6 = real4();
    var a7 = real4();
    var b0 = real4();
    var b1 = real4();
    var b2 = real4();
    var b3 = real4();
    var b4 = real4();
    var b5 = real4();
    var b6 = real4();
    var b7 = real4();
    var c0 = real4();
    var c1 = real4();
    var c2 = real4();
    var c3 = real4();
    var c4 = real4();
    var c5 = real4();
    var c6 = real4();
    var c7 = real4();
    let taps = 2u * p.radius + 1u;
    for (var k = 0u; k < taps; k++) {
        let w = weights[(p.weight_offset + k) / 4u][k % 4u];
        a0 += w * v0;
        a1 += w * v1;
        a2 += w * v2;
        a3 += w * v3;
        a4 += w * v4;
        a5 += w * v5;
        a6 += w * v6;
        a7 += w * v7;
        if (KERNELS > 1u) {
            let w = weights[(p.weight_offset_b + k) / 4u][k % 4u];
            b0 += w * v0;
            b1 += w * v1;
            b2 += w * v2;
            b3 += w * v3;
            b4 += w * v4;
            b5 += w * v5;
            b6 += w * v6;
            b7 += w * v7;
        }
        if (KERNELS > 2u) {
            let w = weights[(p.weight_offset_c + k) / 4u][k % 4u];
            c0 += w * v0;
            c1 += w * v1;
            c2 += w * v2;
            c3 += w * v3;
            c4 += w * v4;
            c5 += w * v5;
            c6 += w * v6;
            c7 += w * v7;
        }
        v0 = v1;
        v1 = v2;
        v2 = v3;
        v3 = v4;
        v4 = v5;
        v5 = v6;
        v6 = v7;
        // One position past the window is loaded on the last tap and not used.
        v7 = columns(base, pos, mapped || pos >= n);
        pos += 1;
    }
    let out = base / 4u;
    store_columns(0u, out, s, a0, a1, a2, a3, a4, a5, a6, a7);
    if (KERNELS > 1u) {
        store_columns(1u, out, s, b0, b1, b2, b3, b4, b5, b6, b7);
    }
    if (KERNELS > 2u) {
        store_columns(2u, out, s, c0, c1, c2, c3, c4, c5, c6, c7);
    }
}

// The sums of a `cols4` run from position `s` on, truncated when TRUNCATE, into output `k` of the
// pass from vec4 `out` on.
fn store_columns(k: u32, out: u32, s: i32, a0: real4, a1: real4, a2: real4, a3: real4, a4: real4, a5: real4, a6: real4, a7: real4) {
    let n = i32(p.len);
    let s4 = p.stride / 4u;
    let o = u32(s);
    if (s + 0 < n) { store4(k, out + (o + 0u) * s4, stored(a0)); }
    if (s + 1 < n) { store4(k, out + (o + 1u) * s4, stored(a1)); }
    if (s + 2 < n) { store4(k, out + (o + 2u) * s4, stored(a2)); }
    if (s + 3 < n) { store4(k, out + (o + 3u) * s4, stored(a3)); }
    if (s + 4 < n) { store4(k, out + (o + 4u) * s4, stored(a4)); }
    if (s + 5 < n) { store4(k, out + (o + 5u) * s4, stored(a5)); }
    if (s + 6 < n) { store4(k, out + (o + 6u) * s4, stored(a6)); }
    if (s + 7 < n) { store4(k, out + (o + 7u) * s4, stored(a7)); }
}
