// blur3d: widens integer voxels (u8, u16, i16), uploaded as they are and packed in 32-bit
// words, to the `real` the blur passes work on (f32, f64 or a double-single pair), exactly. Little-endian packing, as WGSL storage is:
// voxel i sits in word i / per_word at bit (i % per_word) * bits.

#import real

struct Widen {
    count: u32,  // voxels to write
    bits: u32,   // 8 or 16
    signed: u32, // 1 for i16
    pad: u32,
}

override WORKGROUP: u32 = 64u;

@group(0) @binding(0) var<uniform> w: Widen;
@group(0) @binding(1) var<storage, read> packed: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<real>;

@compute @workgroup_size(WORKGROUP)
fn widen(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    // Surplus invocations redo the last voxel rather than diverge.
    let i = min(gid.x + gid.y * groups.x * WORKGROUP, w.count - 1u);
    let per_word = 32u / w.bits;
    let shift = (i % per_word) * w.bits;
    let word = packed[i / per_word];
    // Move the voxel to the top bits, then shift back down: arithmetic for signed, logical
    // otherwise.
    let top = word << (32u - w.bits - shift);
    let unsigned = f32(top >> (32u - w.bits));
    let signed = f32(bitcast<i32>(top) >> (32u - w.bits));
    dst[i] = to_real(select(unsigned, signed, w.signed == 1u));
}
