// blur3d: one 1D Gaussian pass along one axis of a 3D volume.
//
// The volume (standard layout, f32) is seen as [outer, len, stride]: `len` voxels along the
// blurred axis, `stride` apart in memory. Each invocation writes a run of RUN consecutive outputs
// of one line. Outputs whose taps all fall inside the axis take the interior loop (no boundary
// logic at all); the few near the ends take the border loop, which maps every tap through the
// mode exactly like `src/boundary.rs`.

struct Params {
    len: u32,           // voxels along the axis
    stride: u32,        // distance in elements between neighbours along the axis
    runs: u32,          // runs per line: ceil(len / RUN)
    invocations: u32,   // outer * stride * runs
    radius: u32,
    mode: u32,          // 0 reflect, 1 mirror, 2 nearest, 3 wrap, 4 constant
    weight_offset: u32, // first weight of this axis in `weights`
    cval: f32,
}

override RUN: u32 = 16u;
override WORKGROUP: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> weights: array<f32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

const MODE_REFLECT: u32 = 0u;
const MODE_MIRROR: u32 = 1u;
const MODE_NEAREST: u32 = 2u;
const MODE_WRAP: u32 = 3u;

// Index along the axis that position `i` reads, or -1 for the constant. Twin of
// `boundary::source_index`.
fn source_index(i: i32, n: i32) -> i32 {
    if (i >= 0 && i < n) {
        return i;
    }
    switch p.mode {
        case MODE_REFLECT: {
            let period = 2 * n;
            var m = i % period;
            if (m < 0) { m += period; }
            return select(period - 1 - m, m, m < n);
        }
        case MODE_MIRROR: {
            if (n == 1) { return 0; }
            let period = 2 * n - 2;
            var m = i % period;
            if (m < 0) { m += period; }
            return select(period - m, m, m < n);
        }
        case MODE_NEAREST: {
            return clamp(i, 0, n - 1);
        }
        case MODE_WRAP: {
            var m = i % n;
            if (m < 0) { m += n; }
            return m;
        }
        default: {
            return -1;
        }
    }
}

fn border_output(base: u32, l: i32) -> f32 {
    let n = i32(p.len);
    let r = i32(p.radius);
    var acc = 0.0;
    for (var k = -r; k <= r; k++) {
        let j = source_index(l + k, n);
        var v = p.cval;
        if (j >= 0) {
            v = src[base + u32(j) * p.stride];
        }
        acc += weights[p.weight_offset + u32(k + r)] * v;
    }
    return acc;
}

@compute @workgroup_size(WORKGROUP)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    // 2D dispatches keep every dimension within the device's limit; flatten them back.
    let t = gid.x + gid.y * groups.x * WORKGROUP;
    if (t >= p.invocations) {
        return;
    }
    let inner = t % p.stride;
    let rest = t / p.stride;
    let run = rest % p.runs;
    let outer = rest / p.runs;
    let base = outer * p.len * p.stride + inner;

    let n = i32(p.len);
    let r = i32(p.radius);
    let first = i32(run * RUN);
    let end = min(first + i32(RUN), n);
    // Interior outputs [lo, hi): every tap l - r ..= l + r lies inside the axis.
    let lo = clamp(r, first, end);
    let hi = max(lo, min(end, n - r));

    for (var l = first; l < lo; l++) {
        dst[base + u32(l) * p.stride] = border_output(base, l);
    }
    let taps = u32(2 * r + 1);
    for (var l = lo; l < hi; l++) {
        var idx = base + u32(l - r) * p.stride;
        var acc = 0.0;
        for (var k = 0u; k < taps; k++) {
            acc += weights[p.weight_offset + k] * src[idx];
            idx += p.stride;
        }
        dst[base + u32(l) * p.stride] = acc;
    }
    for (var l = hi; l < end; l++) {
        dst[base + u32(l) * p.stride] = border_output(base, l);
    }
}
