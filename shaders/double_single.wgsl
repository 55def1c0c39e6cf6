// blur3d: double-single arithmetic: a value is a pair of f32 (hi, lo), hi + lo, hi the f32
// nearest the sum; sums and products are error-free transformations (Knuth's two-sum, Dekker's
// split product: no fma, which GL need not fuse), about 48 bits of precision. Imported by the DS
// variant's shaders (`blur_axis_ds.wgsl`, `combine_ds.wgsl`).
//
// Values must stay below about 2^115 in magnitude (the split multiplies by 4097); the host
// scales volumes by a power of two, which is exact, so that their largest lies in [1, 2).
//
// A compiler free to simplify floating-point algebra (Mesa's NIR is, for GLSL and SPIR-V
// without `precise`; so is Metal's fast math) would fold (a + b) - a to b and the error terms to
// 0. Each rounded intermediate an error term is taken from therefore goes through `opaque`, an
// identity the compiler cannot see through (an integer xor with a zero it reads at run time).

// 0, set by each entry point from its uniforms before any arithmetic.
var<private> zero: u32;

fn opaque(x: f32) -> f32 {
    return bitcast<f32>(bitcast<u32>(x) ^ zero);
}

// a + b as (sum, error), exactly.
fn two_sum(a: f32, b: f32) -> vec2<f32> {
    let s = opaque(a + b);
    let v = opaque(s - a);
    return vec2(s, (a - opaque(s - v)) + (b - v));
}

// a + b as (sum, error) when |a| >= |b|.
fn quick_two_sum(a: f32, b: f32) -> vec2<f32> {
    let s = opaque(a + b);
    return vec2(s, b - opaque(s - a));
}

// a as hi + lo, each of 12 significant bits, so that their products are exact.
fn split(a: f32) -> vec2<f32> {
    let c = opaque(4097.0 * a);
    let hi = opaque(c - opaque(c - a));
    return vec2(hi, a - hi);
}

// a * b as (product, error), exactly.
fn two_prod(a: f32, b: f32) -> vec2<f32> {
    let p = opaque(a * b);
    let x = split(a);
    let y = split(b);
    return vec2(p, ((x.x * y.x - p) + x.x * y.y + x.y * y.x) + x.y * y.y);
}

fn ds_add(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
    let s = two_sum(a.x, b.x);
    let t = two_sum(a.y, b.y);
    let u = quick_two_sum(s.x, s.y + t.x);
    return quick_two_sum(u.x, u.y + t.y);
}

fn ds_mul(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
    let p = two_prod(a.x, b.x);
    return quick_two_sum(p.x, p.y + (a.x * b.y + a.y * b.x));
}

// The square root, one Newton step from f32's.
fn ds_sqrt(a: vec2<f32>) -> vec2<f32> {
    let x = sqrt(a.x);
    if (!(a.x > 0.0) || !is_finite(x)) {
        return vec2(x, 0.0);
    }
    let p = two_prod(x, x);
    return quick_two_sum(x, (((a.x - p.x) - p.y) + a.y) * 0.5 / x);
}

// Whether `x` is neither infinite nor NaN, by its bits (a compiler may fold `x - x`).
fn is_finite(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

// The pair for a result `a` whose plain f32 sum was `plain`: where that is infinite or NaN (the
// error terms then are NaN), the plain sum, as f64 arithmetic would give it.
fn ds_or_plain(a: vec2<f32>, plain: f32) -> vec2<f32> {
    return select(vec2(plain, 0.0), a, is_finite(plain));
}

// `a` truncated toward zero. When hi is not an integer, lo is smaller than its distance to the
// nearest one; when it is, lo decides, unless it lies within the pair's own rounding error of 0
// (2^-44 of the value, where f64 arithmetic would have rounded to the integer itself): a sum
// of integers that is one exactly must not truncate to the integer below.
fn ds_trunc(a: vec2<f32>) -> vec2<f32> {
    let hi = trunc(a.x);
    if (hi != a.x || abs(a.y) <= abs(a.x) * 5.684341886080802e-14) {
        return vec2(hi, 0.0);
    }
    let lo = select(ceil(a.y), floor(a.y), a.x > 0.0);
    return quick_two_sum(hi, lo);
}
