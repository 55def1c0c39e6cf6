// blur3d: what both pass families share: the parameters of a pass along one axis, the
// bindings, the override constants, the boundary modes and the index mapping, loads through the
// mode, and the stores of a pass's outputs. Imported (`#import common`) by `blur_axis.wgsl` and
// `blur_axis_gpu.wgsl`.
//
// The volume (standard layout, `real`: f32, or f64 in the F64 variant) is seen as [outer, len, stride]: `len` voxels along the
// blurred axis, `stride` apart in memory.

#import real

struct Params {
    len: u32,                  // voxels along the axis
    stride: u32,               // distance in elements between neighbours along the axis
    radius: u32,
    mode: u32,                 // 0 reflect, 1 mirror, 2 nearest, 3 wrap, 4 constant
    weight_offset: u32,        // first weight of this axis in `weights`; the constant mode's value
                               // is the first element of the vec4 before it
    interior_runs: u32,        // runs per line starting at `interior_start`, RUN apart
    left_runs: u32,            // border runs per line starting at 0, RUN apart
    right_runs: u32,           // border runs per line ending at `len`, RUN apart
    interior_invocations: u32, // lines * interior_runs
    border_invocations: u32,   // lines * (left_runs + right_runs)
    interior_start: u32,       // first output of the first interior run: RUN * left_runs
    outer_stride: u32,         // distance in elements between consecutive `outer` line groups
    interior_run: u32,         // outputs per interior run: RUN, or RUN_LONG for `interior_long`
    quads: u32,                // GPU family: vec4s per row (`rows4`), column quads per group (`cols4`)
    runs: u32,                 // `cols4`: runs of RUN_GPU outputs per line
    gpu_invocations: u32,      // GPU family: invocations of its entry point
    weight_offset_b: u32,      // fused passes: first weight of the second kernel
    weight_offset_c: u32,      // fused passes: first weight of the third kernel
    pad: u32,
    pad2: u32,
}

override WORKGROUP: u32 = 64u;
// Whether outputs are truncated toward zero (scipy's passes into an integer output). Fixed when
// the pipeline is made, so passes without it carry no cost.
override TRUNCATE: bool = false;
// Kernels one pass applies to its input: 1, or 2 or 3 of the same radius and mode (a fused
// pass, in either family: the window is loaded once for all of them, and each kernel's sums go
// to its own output, `dst` then `store_extra`'s and `store4`'s). Fixed when the pipeline is made,
// so that the sums of kernels a pipeline lacks compile away.
override KERNELS: u32 = 1u;

@group(0) @binding(0) var<uniform> p: Params;
// Each axis's weights start at a multiple of 4 and are read as vec4s, after a vec4 holding its
// constant mode's value (in `real`, so that f64 passes extend with scipy's f64 `cval`).
@group(0) @binding(1) var<storage, read> weights: array<real4>;
@group(0) @binding(2) var<storage, read> src: array<real>;
@group(0) @binding(3) var<storage, read_write> dst: array<real>;

const MODE_REFLECT: u32 = 0u;
const MODE_MIRROR: u32 = 1u;
const MODE_NEAREST: u32 = 2u;
const MODE_WRAP: u32 = 3u;
const MODE_CONSTANT: u32 = 4u;

// How border runs map positions, fixed when the pipeline is made so that the mapping compiles
// to a few selects (llvmpipe runs every case of a switch and every branch, masked). MODE is
// one of the modes above, and the kernel is shorter than the axis (radius < len), so one
// reflection or period reaches every position a tap reads; or MODE_ANY: the mode from `p`, for
// kernels of any length.
override MODE: u32 = MODE_ANY;
const MODE_ANY: u32 = 5u;

// The value outside the axis in constant mode.
fn cval() -> real {
    return weights[p.weight_offset / 4u - 1u].x;
}

// Index along the axis that position `i` reads, or -1 for the constant. Twin of
// `boundary::source_index`.
fn source_index(i: i32, n: i32) -> i32 {
    switch MODE {
        case MODE_REFLECT: {
            return select(select(i, 2 * n - 1 - i, i >= n), -1 - i, i < 0);
        }
        case MODE_MIRROR: {
            return select(select(i, 2 * n - 2 - i, i >= n), -i, i < 0);
        }
        case MODE_NEAREST: {
            return clamp(i, 0, n - 1);
        }
        case MODE_WRAP: {
            return select(select(i, i - n, i >= n), i + n, i < 0);
        }
        case MODE_CONSTANT: {
            return select(-1, i, i >= 0 && i < n);
        }
        default: {
            return source_index_any(i, n);
        }
    }
}

// `source_index` for any position and mode. Remainders are only taken of non-negative
// numbers: GLSL leaves `%` of a negative operand undefined, and the GL backend passes `%`
// through.
fn source_index_any(i: i32, n: i32) -> i32 {
    switch p.mode {
        case MODE_REFLECT: {
            // Symmetric about -1/2: position -1 - k reads k. Then the period is 2 n.
            let m = select(i, -1 - i, i < 0) % (2 * n);
            return select(2 * n - 1 - m, m, m < n);
        }
        case MODE_MIRROR: {
            // Symmetric about 0: position -k reads k. Then the period is 2 n - 2.
            let period = max(2 * n - 2, 1);
            let m = abs(i) % period;
            return select(period - m, m, m < n);
        }
        case MODE_NEAREST: {
            return clamp(i, 0, n - 1);
        }
        case MODE_WRAP: {
            return select(i % n, n - 1 - (-1 - i) % n, i < 0);
        }
        default: {
            return select(-1, i, i >= 0 && i < n);
        }
    }
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

// Invocation index across a 2D dispatch (2D keeps each dimension within the device's limit),
// clamped so that surplus invocations redo the last item rather than diverge.
fn item(gid: vec3<u32>, groups: vec3<u32>, count: u32) -> u32 {
    return min(gid.x + gid.y * groups.x * WORKGROUP, count - 1u);
}

// First element of line (outer, inner).
fn line_base(outer: u32, inner: u32) -> u32 {
    return outer * p.outer_stride + inner;
}
