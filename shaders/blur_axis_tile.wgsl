// blur3d: the tile family of passes, for discrete GPUs, rows of any length. Imports the
// parameters, bindings, mode mapping and stores of `common.wgsl`, and with VEC4_VIEWS the extra
// outputs of fused passes of `vec4_views.wgsl`.
//
// A workgroup loads a tile of the volume into workgroup memory (its outputs' positions along the
// axis and both aprons; every load issued before one barrier, neighbouring invocations on
// neighbouring addresses, through the mode only beyond the axis's ends), then computes its
// outputs from the tile, each input read once from memory per tile instead of once per tap:
// - `row_tile` (contiguous lines): a segment of `p.tile` outputs of one line, or several whole
//   short lines; invocation i computes outputs i, i + WORKGROUP, ... (neighbours on neighbouring
//   words of the tile and of the output).
// - `col_tile` (strided lines): COLS neighbouring columns (128 bytes) times `p.tile` outputs
//   along the axis; the invocations of a column take runs of RUN_TILE consecutive outputs whose
//   window slides in registers over the tile, as `cols4`'s over memory.
// - `plane_tile` (the in-plane pair): the pass along axis 1 then the pass along axis 2 in one
//   dispatch, through a tile of PAIR_ROWS x PAIR_COLS outputs of one plane: the inputs with both
//   aprons loaded, the first pass's sums kept in workgroup memory (as the buffer between two
//   passes would hold them), the second's written out. A blur in two volume passes, not three.
// Loads and stores are of single voxels: rows of any length. Every output sums its taps in the
// same order, wherever its tile starts: one voxel's value does not depend on how the volume is
// cut. Fused passes (KERNELS 2 and 3) keep each kernel's sums beside the first's.
//
// The tile is 16 KiB, the workgroup memory every device has (WebGPU's minimum).

#import common
#ifdef VEC4_VIEWS
#import vec4_views
#endif

#ifdef F64
const TILE_LEN: u32 = 2048u;
const COLS: u32 = 16u;
#else
const TILE_LEN: u32 = 4096u;
const COLS: u32 = 32u;
#endif
// Consecutive outputs per `col_tile` run; `kernels::params::RUN_TILE` mirrors it.
const RUN_TILE: u32 = 8u;

var<workgroup> tile: array<real, TILE_LEN>;

// The workgroup's item across a 2D dispatch, the same for all its invocations; surplus
// workgroups redo the last (`p.gpu_invocations` counts whole workgroups).
fn group_item(wg: vec3<u32>, groups: vec3<u32>) -> u32 {
    return min(wg.x + wg.y * groups.x, p.gpu_invocations / WORKGROUP - 1u);
}

// Weight `k` of the kernel whose weights start at `offset` (a multiple of 4).
fn weight(offset: u32, k: u32) -> real {
    return weights[offset / 4u + k / 4u][k % 4u];
}

fn stored1(a: real) -> real {
    if (TRUNCATE) {
        return trunc(a);
    }
    return a;
}

// Loads positions `start` .. `start + count` of the line at `base` into the tile, position i at
// `tile[i * step + lane]`, invocations `first`, `first + every`, ... taking one each.
fn fill(base: u32, start: i32, count: u32, step: u32, lane: u32, first: u32, every: u32) {
    let n = i32(p.len);
    for (var i = first; i < count; i += every) {
        let pos = start + i32(i);
        tile[i * step + lane] = load(base, pos, pos < 0 || pos >= n);
    }
}

@compute @workgroup_size(WORKGROUP)
fn row_tile(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    // Segments of a line fastest (`p.quads` per line), then groups of `p.runs` lines (more than
    // one when a line is one segment), each line's segment and aprons after the last's.
    let g = group_item(wg, groups);
    let first = (g / p.quads) * p.runs;
    let lines = min(p.runs, p.lines - first);
    let x0 = (g % p.quads) * p.tile;
    let width = p.tile + 2u * p.radius;
    let n = i32(p.len);
    for (var i = lid; i < lines * width; i += WORKGROUP) {
        let pos = i32(x0 + i % width) - i32(p.radius);
        tile[i] = load((first + i / width) * p.outer_stride, pos, pos < 0 || pos >= n);
    }
    workgroupBarrier();
    let taps = 2u * p.radius + 1u;
    for (var i = lid; i < lines * p.tile; i += WORKGROUP) {
        let m = i % p.tile;
        if (x0 + m >= p.len) {
            continue;
        }
        let at = (i / p.tile) * width + m;
        var acc = real();
        var acc_b = real();
        var acc_c = real();
        for (var k = 0u; k < taps; k++) {
            let v = tile[at + k];
            acc += weight(p.weight_offset, k) * v;
            if (KERNELS > 1u) {
                acc_b += weight(p.weight_offset_b, k) * v;
            }
            if (KERNELS > 2u) {
                acc_c += weight(p.weight_offset_c, k) * v;
            }
        }
        let o = (first + i / p.tile) * p.outer_stride + x0 + m;
        store_to(0u, o, stored1(acc));
        if (KERNELS > 1u) {
            store_to(1u, o, stored1(acc_b));
        }
        if (KERNELS > 2u) {
            store_to(2u, o, stored1(acc_c));
        }
    }
}

@compute @workgroup_size(WORKGROUP)
fn col_tile(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    // Blocks of COLS columns fastest (`p.quads` per group of lines), then tiles along the axis
    // (`p.runs` per line), then groups of lines.
    let g = group_item(wg, groups);
    let rest = g / p.quads;
    let s0 = (rest % p.runs) * p.tile;
    let lane = lid % COLS;
    let c = (g % p.quads) * COLS + lane;
    // Columns past the group's last load that one again (and store nothing).
    let base = (rest / p.runs) * p.outer_stride + min(c, p.stride - 1u);
    let rows = WORKGROUP / COLS;
    let count = p.tile + 2u * p.radius;
    fill(base, i32(s0) - i32(p.radius), count, COLS, lane, lid / COLS, rows);
    workgroupBarrier();
    if (c >= p.stride) {
        return;
    }
    let taps = 2u * p.radius + 1u;
    let last = count - 1u;
    for (var s = (lid / COLS) * RUN_TILE; s < p.tile && s0 + s < p.len; s += rows * RUN_TILE) {
        var v0 = tile[s * COLS + lane];
        var v1 = tile[(s + 1u) * COLS + lane];
        var v2 = tile[(s + 2u) * COLS + lane];
        var v3 = tile[(s + 3u) * COLS + lane];
        var v4 = tile[(s + 4u) * COLS + lane];
        var v5 = tile[(s + 5u) * COLS + lane];
        var v6 = tile[(s + 6u) * COLS + lane];
        var v7 = tile[min(s + 7u, last) * COLS + lane];
        var a0 = real();
        var a1 = real();
        var a2 = real();
        var a3 = real();
        var a4 = real();
        var a5 = real();
        var a6 = real();
        var a7 = real();
        var b0 = real();
        var b1 = real();
        var b2 = real();
        var b3 = real();
        var b4 = real();
        var b5 = real();
        var b6 = real();
        var b7 = real();
        var c0 = real();
        var c1 = real();
        var c2 = real();
        var c3 = real();
        var c4 = real();
        var c5 = real();
        var c6 = real();
        var c7 = real();
        for (var k = 0u; k < taps; k++) {
            let w = weight(p.weight_offset, k);
            a0 += w * v0;
            a1 += w * v1;
            a2 += w * v2;
            a3 += w * v3;
            a4 += w * v4;
            a5 += w * v5;
            a6 += w * v6;
            a7 += w * v7;
            if (KERNELS > 1u) {
                let w = weight(p.weight_offset_b, k);
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
                let w = weight(p.weight_offset_c, k);
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
            // One position past the window is read on the last tap and not used.
            v7 = tile[min(s + k + 8u, last) * COLS + lane];
        }
        let out = base + (s0 + s) * p.stride;
        store_run(0u, out, s0 + s, a0, a1, a2, a3, a4, a5, a6, a7);
        if (KERNELS > 1u) {
            store_run(1u, out, s0 + s, b0, b1, b2, b3, b4, b5, b6, b7);
        }
        if (KERNELS > 2u) {
            store_run(2u, out, s0 + s, c0, c1, c2, c3, c4, c5, c6, c7);
        }
    }
}

// The sums of a `col_tile` run of outputs from position `s` on (element `out`), truncated when
// TRUNCATE, into output `k` of the pass.
fn store_run(k: u32, out: u32, s: u32, a0: real, a1: real, a2: real, a3: real, a4: real, a5: real, a6: real, a7: real) {
    let st = p.stride;
    if (s + 0u < p.len) { store_to(k, out, stored1(a0)); }
    if (s + 1u < p.len) { store_to(k, out + st, stored1(a1)); }
    if (s + 2u < p.len) { store_to(k, out + 2u * st, stored1(a2)); }
    if (s + 3u < p.len) { store_to(k, out + 3u * st, stored1(a3)); }
    if (s + 4u < p.len) { store_to(k, out + 4u * st, stored1(a4)); }
    if (s + 5u < p.len) { store_to(k, out + 5u * st, stored1(a5)); }
    if (s + 6u < p.len) { store_to(k, out + 6u * st, stored1(a6)); }
    if (s + 7u < p.len) { store_to(k, out + 7u * st, stored1(a7)); }
}

#ifdef F64
const PAIR_COLS: u32 = 16u;
#else
const PAIR_COLS: u32 = 32u;
#endif
// Rows per `plane_tile`; `kernels::params::PAIR_ROWS` mirrors it (and PAIR_COLS).
const PAIR_ROWS: u32 = 16u;

@compute @workgroup_size(WORKGROUP)
fn plane_tile(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    // Tiles along a row fastest (`p.quads`), then along the plane's rows (`p.runs`), then
    // planes. `p` is the first pass's (axis 1: `p.stride` is a row's), `p.pair_*` the second's.
    let g = group_item(wg, groups);
    let rest = g / p.quads;
    let x0 = (g % p.quads) * PAIR_COLS;
    let y0 = (rest % p.runs) * PAIR_ROWS;
    let base = (rest / p.runs) * p.outer_stride;
    let n1 = i32(p.len);
    let n2 = i32(p.pair_len);
    let width = PAIR_COLS + 2u * p.pair_radius;
    let inputs = width * (PAIR_ROWS + 2u * p.radius);
    // The inputs with both aprons: rows through axis 1's mode, columns through axis 2's (a
    // column beyond a constant edge of axis 2 loads any column: its sums are replaced below).
    let cval1 = cval();
    for (var i = lid; i < inputs; i += WORKGROUP) {
        let jy = source_index_in(i32(y0 + i / width) - i32(p.radius), n1, p.mode);
        let jx = source_index_in(i32(x0 + i % width) - i32(p.pair_radius), n2, p.pair_mode);
        let v = src[base + u32(clamp(jy, 0, n1 - 1)) * p.stride + u32(clamp(jx, 0, n2 - 1))];
        tile[i] = select(cval1, v, jy >= 0);
    }
    workgroupBarrier();
    // The first pass, along axis 1, on the tile's rows and every column the second pass reads,
    // after the inputs; columns beyond a constant edge of axis 2 hold its constant, as the
    // second pass reads them from a buffer.
    let cval2 = weights[p.pair_weight_offset / 4u - 1u].x;
    for (var i = lid; i < PAIR_ROWS * width; i += WORKGROUP) {
        var acc = real();
        for (var k = 0u; k <= 2u * p.radius; k++) {
            acc += weight(p.weight_offset, k) * tile[i + k * width];
        }
        let jx = source_index_in(i32(x0 + i % width) - i32(p.pair_radius), n2, p.pair_mode);
        tile[inputs + i] = select(cval2, stored1(acc), jx >= 0);
    }
    workgroupBarrier();
    // The second pass, along axis 2.
    for (var i = lid; i < PAIR_ROWS * PAIR_COLS; i += WORKGROUP) {
        let row = i / PAIR_COLS;
        let col = i % PAIR_COLS;
        let y = y0 + row;
        let x = x0 + col;
        if (y < p.len && x < p.pair_len) {
            var acc = real();
            for (var k = 0u; k <= 2u * p.pair_radius; k++) {
                acc += weight(p.pair_weight_offset, k) * tile[inputs + row * width + col + k];
            }
            store_to(0u, base + y * p.stride + x, stored1(acc));
        }
    }
}
