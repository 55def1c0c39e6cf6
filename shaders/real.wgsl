// blur3d: the type the passes compute and store in: f32; f64 in the F64 variant (adapters with
// SHADER_F64: Vulkan and DX12 on GPUs with float64 units, lavapipe); a pair of f32 (hi, lo)
// holding hi + lo in the DS variant (double-single, `double_single.wgsl`, for adapters without
// f64: GL, Metal). Imported (`#import real`) by every shader that touches voxels.
#ifdef F64
alias real = f64;
#else
#ifdef DS
alias real = vec2<f32>;
#else
alias real = f32;
#endif
#endif
#ifndef DS
alias real4 = vec4<real>;
#endif

// `x`, an f32 that holds its value exactly, as a `real`.
fn to_real(x: f32) -> real {
#ifdef DS
    return vec2(x, 0.0);
#else
    return real(x);
#endif
}
