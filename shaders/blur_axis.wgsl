// blur3d: the CPU family of passes: one 1D Gaussian pass along one axis of a 3D volume.
//
// Each invocation computes a run of RUN consecutive outputs of one line from a window of inputs
// that slides along the line in registers, so each input is loaded about once per run rather
// than once per tap.
//
// Variants: with VEC4_VIEWS (devices with 7 storage bindings per stage or more), the vec4 views
// of `vec4_views.wgsl`, the `interior_aligned` entry point for contiguous lines and the extra
// outputs of fused passes; without (WebGPU's downlevel limits have 4), every run loads and
// stores voxel by voxel and passes are never fused.
//
// Two entry points split every line: `interior` covers the runs whose taps all fall inside the
// axis (direct loads, no boundary logic); `border` covers the rest, mapping each load through the
// mode like `src/boundary.rs`. Neither has divergent control flow: surplus invocations redo the
// last run instead of returning early, and the mode is uniform. On SIMD backends (llvmpipe) that
// is what lets the whole workgroup run as one vector program.

#import common
#ifdef VEC4_VIEWS
#import vec4_views
#endif

// Outputs per invocation. A constant, not an override, since it shapes the code below;
// `kernels::params::RUN` mirrors it (a test checks).
const RUN: u32 = 32u;
// Outputs per invocation of `interior_long`; `kernels::params::RUN_LONG` mirrors it.
const RUN_LONG: u32 = 64u;
// Positions pos .. pos + 4 of the line at `base`. `aligned` (only with the vec4 views): the line
// is contiguous (stride 1) and base + pos a multiple of 4, so one vec4 load does (on llvmpipe, a
// load is a loop over the invocations: one loop instead of four).
fn quad(base: u32, pos: i32, mapped: bool, aligned: bool) -> real4 {
#ifdef VEC4_VIEWS
    if (aligned) {
        return src4[(base + u32(pos)) / 4u];
    }
#endif
    return vec4(load(base, pos, mapped), load(base, pos + 1, mapped), load(base, pos + 2, mapped), load(base, pos + 3, mapped));
}

// Outputs start .. start + RUN of the line at `base`, of each of the pass's KERNELS. Eight vec4s
// hold the window and eight the sums of each kernel (no arrays, so everything stays in
// registers on every backend). Outputs at or past the end of the line (only on lines shorter
// than RUN) are not written.
fn run(base: u32, start: i32, mapped: bool, aligned: bool) {
    var pos = start - i32(p.radius);
    var v0 = quad(base, pos + 0, mapped, aligned);
    var v1 = quad(base, pos + 4, mapped, aligned);
    var v2 = quad(base, pos + 8, mapped, aligned);
    var v3 = quad(base, pos + 12, mapped, aligned);
    var v4 = quad(base, pos + 16, mapped, aligned);
    var v5 = quad(base, pos + 20, mapped, aligned);
    var v6 = quad(base, pos + 24, mapped, aligned);
    var v7 = quad(base, pos + 28, mapped, aligned);
    pos += 32;
    var a0 = real4();
    var a1 = real4();
    var a2 = real4();
    var a3 = real4();
    var a4 = real4();
    var a5 = real4();
    var a6 = real4();
    var a7 = real4();
    // The sums of the second and third kernels of a fused pass.
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
    // Taps four at a time while four remain: the window then moves by a whole vec4, so the
    // shifts inside a step are only renamings. The last taps go one at a time.
    let taps = 2u * p.radius + 1u;
    var k = 0u;
    for (; k + 4u <= taps; k += 4u) {
        let w = weights[(p.weight_offset + k) / 4u];
        let v8 = quad(base, pos, mapped, aligned);
        pos += 4;
        a0 = step4(a0, w, v0, v1);
        a1 = step4(a1, w, v1, v2);
        a2 = step4(a2, w, v2, v3);
        a3 = step4(a3, w, v3, v4);
        a4 = step4(a4, w, v4, v5);
        a5 = step4(a5, w, v5, v6);
        a6 = step4(a6, w, v6, v7);
        a7 = step4(a7, w, v7, v8);
        if (KERNELS > 1u) {
            let w = weights[(p.weight_offset_b + k) / 4u];
            b0 = step4(b0, w, v0, v1);
            b1 = step4(b1, w, v1, v2);
            b2 = step4(b2, w, v2, v3);
            b3 = step4(b3, w, v3, v4);
            b4 = step4(b4, w, v4, v5);
            b5 = step4(b5, w, v5, v6);
            b6 = step4(b6, w, v6, v7);
            b7 = step4(b7, w, v7, v8);
        }
        if (KERNELS > 2u) {
            let w = weights[(p.weight_offset_c + k) / 4u];
            c0 = step4(c0, w, v0, v1);
            c1 = step4(c1, w, v1, v2);
            c2 = step4(c2, w, v2, v3);
            c3 = step4(c3, w, v3, v4);
            c4 = step4(c4, w, v4, v5);
            c5 = step4(c5, w, v5, v6);
            c6 = step4(c6, w, v6, v7);
            c7 = step4(c7, w, v7, v8);
        }
        v0 = v1;
        v1 = v2;
        v2 = v3;
        v3 = v4;
        v4 = v5;
        v5 = v6;
        v6 = v7;
        v7 = v8;
    }
    if (k < taps) {
        let w4 = weights[(p.weight_offset + k) / 4u];
        var w4b = real4();
        var w4c = real4();
        if (KERNELS > 1u) {
            w4b = weights[(p.weight_offset_b + k) / 4u];
        }
        if (KERNELS > 2u) {
            w4c = weights[(p.weight_offset_c + k) / 4u];
        }
        for (var c = 0u; c < taps - k; c++) {
            let w = w4[c];
            a0 += w * v0;
            a1 += w * v1;
            a2 += w * v2;
            a3 += w * v3;
            a4 += w * v4;
            a5 += w * v5;
            a6 += w * v6;
            a7 += w * v7;
            if (KERNELS > 1u) {
                let w = w4b[c];
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
                let w = w4c[c];
                c0 += w * v0;
                c1 += w * v1;
                c2 += w * v2;
                c3 += w * v3;
                c4 += w * v4;
                c5 += w * v5;
                c6 += w * v6;
                c7 += w * v7;
            }
            let next = load(base, pos, mapped);
            pos += 1;
            v0 = vec4(v0.yzw, v1.x);
            v1 = vec4(v1.yzw, v2.x);
            v2 = vec4(v2.yzw, v3.x);
            v3 = vec4(v3.yzw, v4.x);
            v4 = vec4(v4.yzw, v5.x);
            v5 = vec4(v5.yzw, v6.x);
            v6 = vec4(v6.yzw, v7.x);
            v7 = vec4(v7.yzw, next);
        }
    }
    store_run(0u, base, start, aligned, a0, a1, a2, a3, a4, a5, a6, a7);
    if (KERNELS > 1u) {
        store_run(1u, base, start, aligned, b0, b1, b2, b3, b4, b5, b6, b7);
    }
    if (KERNELS > 2u) {
        store_run(2u, base, start, aligned, c0, c1, c2, c3, c4, c5, c6, c7);
    }
}
// The sums of a run, truncated when TRUNCATE, into output `k` of the pass (0: `dst`).
fn store_run(k: u32, base: u32, start: i32, aligned: bool, a0: real4, a1: real4, a2: real4, a3: real4, a4: real4, a5: real4, a6: real4, a7: real4) {
#ifdef VEC4_VIEWS
    if (aligned) {
        // An interior run: every output lies inside the line.
        store_quads(k, (base + u32(start)) / 4u, stored(a0), stored(a1), stored(a2), stored(a3), stored(a4), stored(a5), stored(a6), stored(a7));
        return;
    }
#endif
    let s = p.stride;
    let n = i32(p.len);
    for (var j = 0; j < 4; j++) {
        let l = start + j;
        let out = base + u32(l) * s;
        if (l < n) { store_to(k, out, stored(a0)[j]); }
        if (l + 4 < n) { store_to(k, out + 4u * s, stored(a1)[j]); }
        if (l + 8 < n) { store_to(k, out + 8u * s, stored(a2)[j]); }
        if (l + 12 < n) { store_to(k, out + 12u * s, stored(a3)[j]); }
        if (l + 16 < n) { store_to(k, out + 16u * s, stored(a4)[j]); }
        if (l + 20 < n) { store_to(k, out + 20u * s, stored(a5)[j]); }
        if (l + 24 < n) { store_to(k, out + 24u * s, stored(a6)[j]); }
        if (l + 28 < n) { store_to(k, out + 28u * s, stored(a7)[j]); }
    }
}

// `run` for interior runs of RUN_LONG outputs (lines not along the last axis, long kernels):
// the window is loaded about once per run, so longer runs load fewer inputs per output (2
// instead of 3 at radius 32), at the price of more sums to spill. No mapping, no guards:
// interior runs lie inside their line.
fn run_long(base: u32, start: i32) {
    let s = p.stride;
    var pos = start - i32(p.radius);
    var v0 = quad(base, pos + 0, false, false);
    var v1 = quad(base, pos + 4, false, false);
    var v2 = quad(base, pos + 8, false, false);
    var v3 = quad(base, pos + 12, false, false);
    var v4 = quad(base, pos + 16, false, false);
    var v5 = quad(base, pos + 20, false, false);
    var v6 = quad(base, pos + 24, false, false);
    var v7 = quad(base, pos + 28, false, false);
    var v8 = quad(base, pos + 32, false, false);
    var v9 = quad(base, pos + 36, false, false);
    var v10 = quad(base, pos + 40, false, false);
    var v11 = quad(base, pos + 44, false, false);
    var v12 = quad(base, pos + 48, false, false);
    var v13 = quad(base, pos + 52, false, false);
    var v14 = quad(base, pos + 56, false, false);
    var v15 = quad(base, pos + 60, false, false);
    pos += 64;
    var a0 = real4();
    var a1 = real4();
    var a2 = real4();
    var a3 = real4();
    var a4 = real4();
    var a5 = real4();
    var a6 = real4();
    var a7 = real4();
    var a8 = real4();
    var a9 = real4();
    var a10 = real4();
    var a11 = real4();
    var a12 = real4();
    var a13 = real4();
    var a14 = real4();
    var a15 = real4();
    let taps = 2u * p.radius + 1u;
    var k = 0u;
    for (; k + 4u <= taps; k += 4u) {
        let w = weights[(p.weight_offset + k) / 4u];
        let v16 = quad(base, pos, false, false);
        pos += 4;
        a0 = step4(a0, w, v0, v1);
        a1 = step4(a1, w, v1, v2);
        a2 = step4(a2, w, v2, v3);
        a3 = step4(a3, w, v3, v4);
        a4 = step4(a4, w, v4, v5);
        a5 = step4(a5, w, v5, v6);
        a6 = step4(a6, w, v6, v7);
        a7 = step4(a7, w, v7, v8);
        a8 = step4(a8, w, v8, v9);
        a9 = step4(a9, w, v9, v10);
        a10 = step4(a10, w, v10, v11);
        a11 = step4(a11, w, v11, v12);
        a12 = step4(a12, w, v12, v13);
        a13 = step4(a13, w, v13, v14);
        a14 = step4(a14, w, v14, v15);
        a15 = step4(a15, w, v15, v16);
        v0 = v1;
        v1 = v2;
        v2 = v3;
        v3 = v4;
        v4 = v5;
        v5 = v6;
        v6 = v7;
        v7 = v8;
        v8 = v9;
        v9 = v10;
        v10 = v11;
        v11 = v12;
        v12 = v13;
        v13 = v14;
        v14 = v15;
        v15 = v16;
    }
    if (k < taps) {
        let w4 = weights[(p.weight_offset + k) / 4u];
        for (var c = 0u; c < taps - k; c++) {
            let w = w4[c];
            a0 += w * v0;
            a1 += w * v1;
            a2 += w * v2;
            a3 += w * v3;
            a4 += w * v4;
            a5 += w * v5;
            a6 += w * v6;
            a7 += w * v7;
            a8 += w * v8;
            a9 += w * v9;
            a10 += w * v10;
            a11 += w * v11;
            a12 += w * v12;
            a13 += w * v13;
            a14 += w * v14;
            a15 += w * v15;
            let next = load(base, pos, false);
            pos += 1;
            v0 = vec4(v0.yzw, v1.x);
            v1 = vec4(v1.yzw, v2.x);
            v2 = vec4(v2.yzw, v3.x);
            v3 = vec4(v3.yzw, v4.x);
            v4 = vec4(v4.yzw, v5.x);
            v5 = vec4(v5.yzw, v6.x);
            v6 = vec4(v6.yzw, v7.x);
            v7 = vec4(v7.yzw, v8.x);
            v8 = vec4(v8.yzw, v9.x);
            v9 = vec4(v9.yzw, v10.x);
            v10 = vec4(v10.yzw, v11.x);
            v11 = vec4(v11.yzw, v12.x);
            v12 = vec4(v12.yzw, v13.x);
            v13 = vec4(v13.yzw, v14.x);
            v14 = vec4(v14.yzw, v15.x);
            v15 = vec4(v15.yzw, next);
        }
    }
    let out = base + u32(start) * s;
    for (var j = 0u; j < 4u; j++) {
        dst[out + (0u + j) * s] = stored(a0)[j];
        dst[out + (4u + j) * s] = stored(a1)[j];
        dst[out + (8u + j) * s] = stored(a2)[j];
        dst[out + (12u + j) * s] = stored(a3)[j];
        dst[out + (16u + j) * s] = stored(a4)[j];
        dst[out + (20u + j) * s] = stored(a5)[j];
        dst[out + (24u + j) * s] = stored(a6)[j];
        dst[out + (28u + j) * s] = stored(a7)[j];
        dst[out + (32u + j) * s] = stored(a8)[j];
        dst[out + (36u + j) * s] = stored(a9)[j];
        dst[out + (40u + j) * s] = stored(a10)[j];
        dst[out + (44u + j) * s] = stored(a11)[j];
        dst[out + (48u + j) * s] = stored(a12)[j];
        dst[out + (52u + j) * s] = stored(a13)[j];
        dst[out + (56u + j) * s] = stored(a14)[j];
        dst[out + (60u + j) * s] = stored(a15)[j];
    }
}
@compute @workgroup_size(WORKGROUP)
fn interior(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let t = item(gid, groups, p.interior_invocations);
    let inner = t % p.stride;
    let rest = t / p.stride;
    let r = rest % p.interior_runs;
    run(line_base(rest / p.interior_runs, inner), i32(p.interior_start + r * RUN), false, false);
}

// `interior` in runs of RUN_LONG (chosen by the host for long kernels off the last axis).
@compute @workgroup_size(WORKGROUP)
fn interior_long(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let t = item(gid, groups, p.interior_invocations);
    let inner = t % p.stride;
    let rest = t / p.stride;
    let r = rest % p.interior_runs;
    run_long(line_base(rest / p.interior_runs, inner), i32(p.interior_start + r * RUN_LONG));
}

@compute @workgroup_size(WORKGROUP)
fn border(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let t = item(gid, groups, p.border_invocations);
    let runs = p.left_runs + p.right_runs;
    let inner = t % p.stride;
    let rest = t / p.stride;
    let r = rest % runs;
    let n = i32(p.len);
    // Left runs start at 0 (the last one no later than len - RUN), right runs end at len; runs
    // may overlap each other or interior runs, and then write the same values.
    let left = min(i32(r * RUN), max(n - i32(RUN), 0));
    let right = n - i32((r - p.left_runs + 1u) * RUN);
    run(line_base(rest / runs, inner), select(right, left, r < p.left_runs), true, false);
}

#ifdef VEC4_VIEWS
// `interior` for contiguous lines (the last axis) whose windows start 16-byte aligned: the line
// length and the radius are multiples of 4.
@compute @workgroup_size(WORKGROUP)
fn interior_aligned(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let t = item(gid, groups, p.interior_invocations);
    let r = t % p.interior_runs;
    run((t / p.interior_runs) * p.outer_stride, i32(p.interior_start + r * RUN), false, true);
}
#endif
