// blur3d: the type the passes compute and store in: f32, or f64 in the F64 variant (adapters
// with SHADER_F64: Vulkan and DX12 on GPUs with float64 units, lavapipe). Imported (`#import
// real`) by every shader that touches voxels.
#ifdef F64
alias real = f64;
#else
alias real = f32;
#endif
alias real4 = vec4<real>;
