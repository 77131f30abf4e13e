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

/// Rows per chunk of [`max_row_norm`] (a chunk's maximum does not depend on the thread count).
const NORM_CHUNK: usize = 4096;

/// The largest Euclidean row norm `max_i ‖x_i‖` of the row-major `n × d` array `x` (trailing
/// values short of a row are ignored; 0 for no rows or `d = 0`; NaN when a row holds a NaN):
/// the input of the overflow bounds the TypeScript layer plans with. Each row's `Σ x_ij²` is summed
/// in `f64`; a row whose sum overflows or is below `1e-280` is measured again scaled by its
/// largest entry, so the norm is accurate over the whole `f64` range. Chunks of `NORM_CHUNK` (4096) rows
/// run on `par`'s threads; a maximum does not depend on their order.
pub fn max_row_norm<T: Real>(x: &[T], d: usize, par: crate::Par) -> f64 {
    if d == 0 {
        return 0.0;
    }
    let rows = x.len() / d;
    let chunks = rows.div_ceil(NORM_CHUNK);
    let par = par.above(rows * d, 1 << 16);
    let part = |c: usize| {
        let mut m = 0.0f64;
        for row in x[c * NORM_CHUNK * d..(((c + 1) * NORM_CHUNK).min(rows)) * d].chunks_exact(d) {
            let s = sum_sq(row);
            let r = if s.is_finite() && s > 1e-280 { s.sqrt() } else { scaled_norm(row) };
            if r.is_nan() {
                return f64::NAN;
            }
            m = m.max(r);
        }
        m
    };
    par.map(chunks, part).into_iter().fold(0.0, |m, r| if m.is_nan() || r.is_nan() { f64::NAN } else { m.max(r) })
}

/// `Σ row_j²` in `f64`, in four interleaved partial sums (no dependency chain through every term).
#[inline]
fn sum_sq<T: Real>(row: &[T]) -> f64 {
    let mut p = [0.0f64; 4];
    let mut it = row.chunks_exact(4);
    for c in &mut it {
        for (acc, v) in p.iter_mut().zip(c) {
            *acc += v.f64() * v.f64();
        }
    }
    for (acc, v) in p.iter_mut().zip(it.remainder()) {
        *acc += v.f64() * v.f64();
    }
    (p[0] + p[1]) + (p[2] + p[3])
}

/// `‖row‖` computed as `a·‖row/a‖` with `a = max|row_j|` (no overflow or underflow in the squares).
fn scaled_norm<T: Real>(row: &[T]) -> f64 {
    let a = row.iter().fold(0.0f64, |a, v| if v.f64().is_nan() || a.is_nan() { f64::NAN } else { a.max(v.f64().abs()) });
    if a.is_nan() || a == 0.0 || a.is_infinite() {
        return a;
    }
    a * row.iter().map(|v| (v.f64() / a).powi(2)).sum::<f64>().sqrt()
}

#[cfg(test)]
mod norm_tests {
    use super::*;
    use crate::Par;

    fn plain(x: &[f64], d: usize) -> f64 {
        x.chunks_exact(d).map(|r| r.iter().map(|v| v * v).sum::<f64>().sqrt()).fold(0.0, f64::max)
    }

    #[test]
    fn max_row_norm_matches_the_plain_loop_and_survives_the_range_edges() {
        let x: Vec<f64> = (0..3 * NORM_CHUNK * 5 + 7).map(|i| ((i * 37 % 101) as f64 - 50.0) / 7.0).collect();
        for d in [1, 2, 5, 16] {
            let want = plain(&x, d);
            for par in [Par::Seq, Par::Rayon] {
                let got = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap().install(|| max_row_norm(&x, d, par));
                assert!((got - want).abs() <= 1e-14 * want, "d {d}: {got} vs {want}");
            }
            let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            assert!((max_row_norm(&xf, d, Par::Seq) - want).abs() <= 1e-6 * want);
        }
        assert_eq!(max_row_norm::<f64>(&[], 3, Par::Seq), 0.0);
        assert_eq!(max_row_norm(&[1.0f64, 2.0], 0, Par::Seq), 0.0);
        // squares that overflow, and that underflow
        assert!((max_row_norm(&[3e200f64, 4e200, 1.0, 1.0], 2, Par::Seq) - 5e200).abs() <= 1e186);
        assert!((max_row_norm(&[3e-300f64, 4e-300], 2, Par::Seq) - 5e-300).abs() <= 1e-314);
        assert!(max_row_norm(&[1.0f64, f64::NAN, 2.0, 2.0], 2, Par::Seq).is_nan());
        assert_eq!(max_row_norm(&[1.0f64, f64::INFINITY], 2, Par::Seq), f64::INFINITY);
    }
}
