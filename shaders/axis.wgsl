// blur3d: a pass along one axis, in any pass family and element type: its parameters, the
// boundary modes and their index mapping, and how invocations find their item. Imported (`#import
// axis`) by `common.wgsl` and `blur_axis_ds.wgsl`.
//
// The volume (standard layout) is seen as [outer, len, stride]: `len` voxels along the blurred
// axis, `stride` apart in memory.

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
    quads: u32,                // GPU family: vec4s per row (`rows4`), column quads per group (`cols4`);
                               // tile family: segments per line (`row_tile`), column blocks per group
    runs: u32,                 // `cols4`: runs of RUN_GPU outputs per line; `col_tile`: tiles per line
    gpu_invocations: u32,      // GPU and tile families, double-single: invocations of the entry point
    weight_offset_b: u32,      // fused passes: first weight of the second kernel
    weight_offset_c: u32,      // fused passes: first weight of the third kernel
    pad: u32,                  // 0 (double-single's `zero`)
    tile: u32,                 // tile family: outputs along the axis per workgroup
    pair_len: u32,             // `plane_tile`: the second pass, along axis 2: voxels along it,
    pair_radius: u32,          // its radius,
    pair_mode: u32,            // its mode
    pair_weight_offset: u32,   // and its first weight (the pass above is the first, along axis 1)
    lines: u32,                // `row_tile`: lines of the volume
    pad2: u32,
    pad3: u32,
    pad4: u32,
}

override WORKGROUP: u32 = 64u;
// Whether outputs are truncated toward zero (scipy's passes into an integer output). Fixed when
// the pipeline is made, so passes without it carry no cost.
override TRUNCATE: bool = false;
@group(0) @binding(0) var<uniform> p: Params;

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

// `source_index` for any position and mode.
fn source_index_any(i: i32, n: i32) -> i32 {
    return source_index_in(i, n, p.mode);
}

// `source_index` for any position, in `mode`. Remainders are only taken of non-negative
// numbers: GLSL leaves `%` of a negative operand undefined, and the GL backend passes `%`
// through.
fn source_index_in(i: i32, n: i32, mode: u32) -> i32 {
    switch mode {
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

// Invocation index across a 2D dispatch (2D keeps each dimension within the device's limit),
// clamped so that surplus invocations redo the last item rather than diverge.
fn item(gid: vec3<u32>, groups: vec3<u32>, count: u32) -> u32 {
    return min(gid.x + gid.y * groups.x * WORKGROUP, count - 1u);
}

// First element of line (outer, inner).
fn line_base(outer: u32, inner: u32) -> u32 {
    return outer * p.outer_stride + inner;
}
