// blur3d: the vec4 views of a pass's volumes and the extra outputs of fused passes, for devices
// with 7 storage bindings per stage or more. Imported by both pass families (`#import
// vec4_views`; the CPU family only with VEC4_VIEWS).

// `src` and `dst` again, four voxels at a time, for lines that are contiguous and 16-byte
// aligned (`interior_aligned` only; devices with only 4 storage bindings per stage go without).
@group(0) @binding(4) var<storage, read> src4: array<real4>;
@group(0) @binding(5) var<storage, read_write> dst4: array<real4>;
// The second and third outputs of a fused pass (KERNELS 2 and 3), as vec4s; passes of one
// kernel bind `dst` here too and never write them.
@group(0) @binding(6) var<storage, read_write> dst_b4: array<real4>;
@group(0) @binding(7) var<storage, read_write> dst_c4: array<real4>;

// Element `i` of output `k` (1 or 2) of a fused pass.
fn store_extra(k: u32, i: u32, v: real) {
    if (k == 1u) {
        dst_b4[i / 4u][i % 4u] = v;
    } else {
        dst_c4[i / 4u][i % 4u] = v;
    }
}

// Vec4 `o` of output `k` (0: `dst`) of the pass.
fn store4(k: u32, o: u32, v: real4) {
    switch k {
        case 0u: {
            dst4[o] = v;
        }
        case 1u: {
            dst_b4[o] = v;
        }
        default: {
            dst_c4[o] = v;
        }
    }
}
// Stores the sums of a run from vec4 `o` of output `k` on (`aligned` runs only).
fn store_quads(k: u32, o: u32, a0: real4, a1: real4, a2: real4, a3: real4, a4: real4, a5: real4, a6: real4, a7: real4) {
    store4(k, o, a0);
    store4(k, o + 1u, a1);
    store4(k, o + 2u, a2);
    store4(k, o + 3u, a3);
    store4(k, o + 4u, a4);
    store4(k, o + 5u, a5);
    store4(k, o + 6u, a6);
    store4(k, o + 7u, a7);
}
