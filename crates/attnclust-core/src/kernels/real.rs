//! The floating-point types the kernels are generic over.

use num_traits::Float;
use std::fmt::Debug;
use std::iter::Sum;

/// `f32` or `f64`. Conversions go through `f64`; reductions that must be exact across thread
/// counts are done per fixed chunk in `f64` and combined in chunk order.
pub trait Real: Float + Sum + Send + Sync + Debug + Default + 'static {
    /// The type's name in messages: `"f32"` or `"f64"`.
    const NAME: &'static str;
    /// `v` rounded to this type (`as` conversion: nearest, `±∞` beyond the range).
    fn of(v: f64) -> Self;
    /// The value widened to `f64` (exact).
    fn f64(self) -> f64;
    /// `s_j := exp(s_j − m)` for every `j`, returning `Σ_j s_j` (vectorised for `f32`).
    fn exp_sub_sum(s: &mut [Self], m: Self) -> Self;
    /// Standard normals from as many 32-bit words (`out.len()` even), by Box–Muller
    /// (`data::normals`).
    fn normals(words: &[u32], out: &mut [Self]);
    /// `⟨a, b⟩` (AVX2 for `f32` when present).
    fn dot_fast(a: &[Self], b: &[Self]) -> Self;
    /// `y := y + αx` (AVX2 for `f32` when present).
    fn axpy_fast(alpha: Self, x: &[Self], y: &mut [Self]);
    /// `out[0] = ‖x‖²`, `out[1 + h] = ⟨x, θ_h⟩` (one pass, AVX2 for `f32` when present).
    fn norm_and_dots(x: &[Self], thetas: &[Self], out: &mut [Self]) {
        let d = x.len();
        out[0] = Self::dot_fast(x, x);
        for h in 0..out.len() - 1 {
            out[1 + h] = Self::dot_fast(x, &thetas[h * d..(h + 1) * d]);
        }
    }
    /// `S = CᵀX`: `s[g·d + j] = Σ_i c[g·n + i] · x[i·d + j]` for `H = h` rows of per-row
    /// coefficients `c` (`H × n`), `xs` `n × d`; `s` (`H × d`) is overwritten. A tile product
    /// (the `gemm` crate), or for `f32` with AVX2 a register-blocked loop ([`crate::kernels::simd::ctx_f32`]).
    fn ctx(c: &[Self], h: usize, xs: &[Self], d: usize, s: &mut [Self]) {
        let n = c.len().checked_div(h).unwrap_or(0);
        crate::kernels::tile::matmul(s, d, crate::kernels::tile::View::rows(c, h, n, n), crate::kernels::tile::View::rows(xs, n, d, d), false, Self::one());
    }
    /// [`Real::norm_and_dots`] for every row of `xs` (`n × d`, `n = nn.len()`), widened to `f64`, in
    /// per-row arrays: `nn[i] = ‖x_i‖²`, `pp[g·n + i] = ⟨x_i, θ_g⟩` (`H = pp.len() / n`). The same
    /// values as row by row, bit for bit (AVX2 eight rows at a time for `f32`).
    /// `s` itself when `Self` is `f32` (the small-`d` attention kernels are `f32` only).
    fn as_f32(_s: &[Self]) -> Option<&[f32]> {
        None
    }
    /// `s` itself when `Self` is `f32`.
    fn as_f32_mut(_s: &mut [Self]) -> Option<&mut [f32]> {
        None
    }
    /// Per row `x_i` of `xs` (`n × d`): `nn[i] = ‖x_i‖²` and `pp[h·n + i] = ⟨x_i, θ_h⟩` for the `H`
    /// rows of `thetas` (`H × d`), accumulated in `f64`.
    fn norms_and_dots_rows(xs: &[Self], d: usize, thetas: &[Self], nn: &mut [f64], pp: &mut [f64]) {
        let n = nn.len();
        let h = pp.len().checked_div(n).unwrap_or(0);
        let (mut small, mut large) = ([Self::zero(); 5], Vec::new());
        let out: &mut [Self] = if h < 5 {
            &mut small[..h + 1]
        } else {
            large.resize(h + 1, Self::zero());
            &mut large
        };
        for i in 0..n {
            Self::norm_and_dots(&xs[i * d..(i + 1) * d], thetas, out);
            nn[i] = out[0].f64();
            for g in 0..h {
                pp[g * n + i] = out[1 + g].f64();
            }
        }
    }
}

impl Real for f32 {
    const NAME: &'static str = "f32";
    #[inline(always)]
    fn of(v: f64) -> Self {
        v as f32
    }
    #[inline(always)]
    fn f64(self) -> f64 {
        f64::from(self)
    }
    fn exp_sub_sum(s: &mut [f32], m: f32) -> f32 {
        crate::kernels::exp::exp_sub_sum_f32(s, m)
    }
    fn normals(words: &[u32], out: &mut [f32]) {
        crate::data::normals::normals_f32(words, out)
    }
    fn dot_fast(a: &[f32], b: &[f32]) -> f32 {
        crate::kernels::simd::dot_f32(a, b)
    }
    fn axpy_fast(alpha: f32, x: &[f32], y: &mut [f32]) {
        crate::kernels::simd::axpy_f32(alpha, x, y)
    }
    fn norm_and_dots(x: &[f32], thetas: &[f32], out: &mut [f32]) {
        crate::kernels::simd::norm_and_dots_f32(x, thetas, out)
    }
    fn norms_and_dots_rows(xs: &[f32], d: usize, thetas: &[f32], nn: &mut [f64], pp: &mut [f64]) {
        crate::kernels::simd::norms_and_dots_rows_f32(xs, d, thetas, nn, pp)
    }
    fn ctx(c: &[f32], h: usize, xs: &[f32], d: usize, s: &mut [f32]) {
        crate::kernels::simd::ctx_f32(c, h, xs, d, s)
    }
    fn as_f32(s: &[f32]) -> Option<&[f32]> {
        Some(s)
    }
    fn as_f32_mut(s: &mut [f32]) -> Option<&mut [f32]> {
        Some(s)
    }
}

impl Real for f64 {
    const NAME: &'static str = "f64";
    #[inline(always)]
    fn of(v: f64) -> Self {
        v
    }
    #[inline(always)]
    fn f64(self) -> f64 {
        self
    }
    fn exp_sub_sum(s: &mut [f64], m: f64) -> f64 {
        crate::kernels::exp::exp_sub_sum_f64(s, m)
    }
    fn normals(words: &[u32], out: &mut [f64]) {
        crate::data::normals::normals_f64(words, out)
    }
    fn dot_fast(a: &[f64], b: &[f64]) -> f64 {
        dot(a, b)
    }
    fn axpy_fast(alpha: f64, x: &[f64], y: &mut [f64]) {
        axpy(alpha, x, y)
    }
}

/// `⟨a, b⟩`, with four independent accumulators so the compiler can vectorise it.
#[inline]
pub fn dot<T: Real>(a: &[T], b: &[T]) -> T {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [T::zero(); 4];
    let chunks = a.len() / 4;
    for c in 0..chunks {
        for l in 0..4 {
            acc[l] = acc[l] + a[4 * c + l] * b[4 * c + l];
        }
    }
    let mut s = (acc[0] + acc[2]) + (acc[1] + acc[3]);
    for i in 4 * chunks..a.len() {
        s = s + a[i] * b[i];
    }
    s
}

/// `‖a − b‖²`.
#[inline]
pub fn dist2<T: Real>(a: &[T], b: &[T]) -> T {
    a.iter().zip(b).map(|(&x, &y)| (x - y) * (x - y)).sum()
}

/// `y := y + α·x`.
#[inline]
pub fn axpy<T: Real>(alpha: T, x: &[T], y: &mut [T]) {
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi = *yi + alpha * xi;
    }
}
