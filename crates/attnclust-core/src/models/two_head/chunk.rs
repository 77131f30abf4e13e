//! The fast risk-and-gradient kernel of model A over a chunk of tokens.
//!
//! With `p_h = ⟨x, θ_h⟩`, `n = ‖x‖²`, the Gram matrix `G = ΘΘᵀ` and `a = softmax(s)`, every
//! per-token quantity of [`crate::models::two_head`] is a scalar function of `(n, p)`:
//!
//! ```text
//! q_h = Σ_g a_g G_gh = ⟨T, θ_h⟩,   ‖x − T‖² = n − 2 Σ_h a_h p_h + Σ_h a_h q_h,   c_h = p_h − q_h
//! α_h = −2 a_h,   β_h = −2 a_h λ (c_h − c̄)
//! ∇_{θ_h} = α_h (x − T) + β_h x            = (α_h + β_h) x − Σ_g (α_h a_g) θ_g         ('dot')
//! ∇_{θ_h} = α_h (x − T) + β_h (x − θ_h)    = the same − β_h θ_h                        ('distance')
//! ```
//!
//! So a chunk of tokens `X` (`n × d`) needs, per token, `‖x‖²` and `p = Θx` (one pass over `x`, AVX2
//! for `f32`, [`crate::kernels::simd`]), scalars in `f64` with the sums `M_hg += α_h a_g`, `B_h += β_h`, and
//! then `S = CᵀX` (`C_ih = α_h + β_h` of token `i`), a tile product (SIMD by the `gemm` crate); the
//! chunk's gradient is `S_h − Σ_g M_hg θ_g − B_h θ_h`.

use crate::kernels::real::Real;
use crate::kernels::tile::{matmul, View};
use crate::models::two_head::{Layer, Scores};

/// Sums over one chunk of tokens.
pub struct ChunkSums<T> {
    /// `S_h`, `H × d`.
    pub s: Vec<T>,
    /// `M_hg`, `H × H`.
    pub m: Vec<f64>,
    /// `B_h`.
    pub b: Vec<f64>,
    /// `Σ ‖x − T‖²`.
    pub loss: f64,
}

/// The chunk as three passes: `P = X Θᵀ` (a tile product), the per-token scalars, and
/// `S = Cᵀ X` with `C_ih = α_h + β_h` of token `i` (a tile product).
/// The chunk: per token one pass for `‖x‖²` and `P = XΘᵀ`, the scalars (with `H` known at compile
/// time for `H ≤ 4`, so they live in registers), then `S = CᵀX`, a tile product.
fn chunk_body<T: Real>(layer: &Layer<T>, gram: &[f64], xs: &[T], out: &mut ChunkSums<T>) {
    match layer.heads {
        1 => chunk_fixed::<T, 1>(layer, gram, xs, out),
        2 => chunk_fixed::<T, 2>(layer, gram, xs, out),
        3 => chunk_fixed::<T, 3>(layer, gram, xs, out),
        4 => chunk_fixed::<T, 4>(layer, gram, xs, out),
        _ => chunk_general(layer, gram, xs, out),
    }
}

/// The per-token scalars of one token from `n = ‖x‖²` and `p`: adds to the loss, `M` and `B`, and
/// writes `C_h = α_h + β_h` to `coef`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn token_scalars(
    h: usize,
    lambda: f64,
    offsets: &[f64],
    gram: &[f64],
    n: f64,
    p: &[f64],
    a: &mut [f64],
    c: &mut [f64],
    coef: &mut [f64],
    out_m: &mut [f64],
    out_b: &mut [f64],
) -> f64 {
    let mut mx = f64::NEG_INFINITY;
    for g in 0..h {
        a[g] = lambda * p[g] - offsets[g];
        mx = mx.max(a[g]);
    }
    let mut z = 0.0;
    for g in 0..h {
        // exp(0) = 1 exactly: the largest score needs no call (one of two for H = 2).
        a[g] = if a[g] == mx { 1.0 } else { (a[g] - mx).exp() };
        z += a[g];
    }
    let inv = 1.0 / z;
    for g in 0..h {
        a[g] *= inv;
    }
    let (mut xt, mut tt, mut cbar) = (0.0, 0.0, 0.0);
    for g in 0..h {
        let mut q = 0.0;
        for k in 0..h {
            q += a[k] * gram[k * h + g];
        }
        xt += a[g] * p[g];
        tt += a[g] * q;
        c[g] = p[g] - q;
        cbar += a[g] * c[g];
    }
    for g in 0..h {
        let alpha = -2.0 * a[g];
        let beta = alpha * lambda * (c[g] - cbar);
        coef[g] = alpha + beta;
        for k in 0..h {
            out_m[g * h + k] += alpha * a[k];
        }
        out_b[g] += beta;
    }
    (n - 2.0 * xt + tt).max(0.0)
}

fn offsets<T: Real>(layer: &Layer<T>, gram: &[f64]) -> Vec<f64> {
    let (h, lambda) = (layer.heads, layer.lambda.f64());
    (0..h)
        .map(|g| match layer.scores {
            Scores::Dot => 0.0,
            Scores::Distance => 0.5 * lambda * gram[g * h + g],
        })
        .collect()
}

fn chunk_fixed<T: Real, const H: usize>(layer: &Layer<T>, gram: &[f64], xs: &[T], out: &mut ChunkSums<T>) {
    let d = layer.dim;
    let count = xs.len() / d;
    let lambda = layer.lambda.f64();
    let off = offsets(layer, gram);
    let mut gr = [0.0f64; 16];
    gr[..H * H].copy_from_slice(&gram[..H * H]);
    let (mut m, mut b) = ([0.0f64; 16], [0.0f64; 4]);
    let mut coef = vec![T::zero(); count * H];
    let mut dots = [T::zero(); 5];
    let mut loss = 0.0;
    for i in 0..count {
        let x = &xs[i * d..(i + 1) * d];
        T::norm_and_dots(x, layer.params, &mut dots[..H + 1]);
        let mut p = [0.0f64; 4];
        for g in 0..H {
            p[g] = dots[1 + g].f64();
        }
        let (mut a, mut c, mut cf) = ([0.0f64; 4], [0.0f64; 4], [0.0f64; 4]);
        loss += token_scalars(H, lambda, &off, &gr[..H * H], dots[0].f64(), &p[..H], &mut a[..H], &mut c[..H], &mut cf[..H], &mut m[..H * H], &mut b[..H]);
        for g in 0..H {
            coef[i * H + g] = T::of(cf[g]);
        }
    }
    out.loss += loss;
    out.m.iter_mut().zip(&m[..H * H]).for_each(|(o, v)| *o += v);
    out.b.iter_mut().zip(&b[..H]).for_each(|(o, v)| *o += v);
    matmul(&mut out.s, d, View::transposed(&coef, H, count, H), View::rows(xs, count, d, d), false, T::one());
}

fn chunk_general<T: Real>(layer: &Layer<T>, gram: &[f64], xs: &[T], out: &mut ChunkSums<T>) {
    let (h, d) = (layer.heads, layer.dim);
    let count = xs.len() / d;
    let lambda = layer.lambda.f64();
    let off = offsets(layer, gram);
    let mut coef = vec![T::zero(); count * h];
    let mut dots = vec![T::zero(); h + 1];
    let (mut p, mut a, mut c, mut cf) = (vec![0.0; h], vec![0.0; h], vec![0.0; h], vec![0.0; h]);
    for i in 0..count {
        let x = &xs[i * d..(i + 1) * d];
        T::norm_and_dots(x, layer.params, &mut dots);
        for g in 0..h {
            p[g] = dots[1 + g].f64();
        }
        out.loss += token_scalars(h, lambda, &off, gram, dots[0].f64(), &p, &mut a, &mut c, &mut cf, &mut out.m, &mut out.b);
        for g in 0..h {
            coef[i * h + g] = T::of(cf[g]);
        }
    }
    matmul(&mut out.s, d, View::transposed(&coef, h, count, h), View::rows(xs, count, d, d), false, T::one());
}

/// `G = ΘΘᵀ` in `f64`.
pub fn gram<T: Real>(layer: &Layer<T>) -> Vec<f64> {
    let h = layer.heads;
    let mut g = vec![0.0; h * h];
    for i in 0..h {
        for j in 0..h {
            g[i * h + j] = layer.theta(i).iter().zip(layer.theta(j)).map(|(a, b)| a.f64() * b.f64()).sum();
        }
    }
    g
}

/// Sums of one chunk of tokens `xs` (`n × d`).
pub fn chunk_sums<T: Real>(layer: &Layer<T>, gram: &[f64], xs: &[T]) -> ChunkSums<T> {
    let (h, d) = (layer.heads, layer.dim);
    let mut out = ChunkSums { s: vec![T::zero(); h * d], m: vec![0.0; h * h], b: vec![0.0; h], loss: 0.0 };
    chunk_body(layer, gram, xs, &mut out);
    out
}

/// The chunk's loss and gradient (`H × d`, `f64`, summed, not averaged).
pub fn chunk_gradient<T: Real>(layer: &Layer<T>, sums: &ChunkSums<T>) -> (f64, Vec<f64>) {
    let (h, d) = (layer.heads, layer.dim);
    let mut grad: Vec<f64> = sums.s.iter().map(|v| v.f64()).collect();
    for g in 0..h {
        let row = &mut grad[g * d..(g + 1) * d];
        for k in 0..h {
            let w = sums.m[g * h + k];
            for (r, t) in row.iter_mut().zip(layer.theta(k)) {
                *r -= w * t.f64();
            }
        }
        if layer.scores == Scores::Distance {
            let w = sums.b[g];
            for (r, t) in row.iter_mut().zip(layer.theta(g)) {
                *r -= w * t.f64();
            }
        }
    }
    (sums.loss, grad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::two_head::Scratch;

    #[test]
    fn matches_the_per_token_formula() {
        for scores in [Scores::Dot, Scores::Distance] {
            for (h, d) in [(1, 1), (2, 7), (2, 8), (3, 9), (2, 16), (4, 17), (2, 64)] {
                let n = 37;
                let x: Vec<f64> = (0..n * d).map(|i| ((i * 7919 % 997) as f64 / 498.5 - 1.0) * 2.0).collect();
                let params: Vec<f64> = (0..h * d).map(|i| ((i * 31 % 13) as f64 / 6.5 - 1.0) * 0.8).collect();
                let layer = Layer::new(&params, h, d, 0.9, scores).unwrap();
                let (loss, grad) = chunk_gradient(&layer, &chunk_sums(&layer, &gram(&layer), &x));
                let mut s = Scratch::new(h, d);
                let mut g = vec![0.0; h * d];
                let l: f64 = x.chunks(d).map(|r| layer.loss_grad_one(r, &mut s, &mut g)).sum();
                assert!((loss - l).abs() <= 1e-10 * (1.0 + l), "{scores:?} {h}x{d}: {loss} vs {l}");
                for (a, b) in grad.iter().zip(&g) {
                    assert!((a - b).abs() <= 1e-10 * (1.0 + b.abs()), "{scores:?} {h}x{d}: {a} vs {b}");
                }
                // f32 against the f64 per-token formula
                let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
                let pf: Vec<f32> = params.iter().map(|&v| v as f32).collect();
                let lf = Layer::new(&pf, h, d, 0.9, scores).unwrap();
                let (loss32, grad32) = chunk_gradient(&lf, &chunk_sums(&lf, &gram(&lf), &xf));
                let gs = g.iter().fold(1.0f64, |m, v| m.max(v.abs()));
                assert!((loss32 - l).abs() <= 1e-4 * (1.0 + l));
                assert!(grad32.iter().zip(&g).all(|(a, b)| (a - b).abs() <= 1e-4 * gs));
            }
        }
    }
}
