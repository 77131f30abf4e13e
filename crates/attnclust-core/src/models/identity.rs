//! Model B: identity attention, `Y = softmax_rows(S) X` with `W_Q = W_K = W_V = I`.
//!
//! For a prompt `X ∈ R^{L×d}` the scores are
//!
//! ```text
//! S_ij = λ⟨x_i, x_j⟩                (Scores::Dot)
//! S_ij = −λ‖x_i − x_j‖²/2           (Scores::Distance)
//! ```
//!
//! and, with `exclude_self`, `S_ii = −∞`. The distance scores are computed as
//! `λ⟨x_i, x_j⟩ − λ‖x_j‖²/2`: the dropped `−λ‖x_i‖²/2` is constant along row `i` and cancels in the
//! softmax. `depth = m` applies the layer `m` times; with `residual` each application is
//! `X ← X + Attn(X)` (the transformer residual), without it `X ← Attn(X)` (one mean-shift step when
//! the scores are distances).
//!
//! It runs on the online-softmax kernels of model C ([`crate::models::attention::flash`]: in `f32`
//! with `d ≤ 64` the fused small-`d` kernel of [`crate::kernels::attn`], else the tiled one): the
//! `L × L` matrix is never stored.

use crate::error::{ensure, finite_tensor, values, Error, Result};
use crate::kernels::par::Par;
use crate::kernels::real::{dot, Real};
use crate::models::attention::flash::{Head, Mask};
use crate::models::two_head::{check_lambda, Scores};

/// Settings of identity attention (SPEC §3; the JavaScript defaults are `λ = 1/√d`, dot scores,
/// no self-exclusion, depth 1, no residual).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Options {
    /// Inverse temperature `λ > 0` (reciprocal squared data units).
    pub lambda: f64,
    /// Dot scores `λ⟨x_i, x_j⟩` or distance scores `−λ‖x_i − x_j‖²/2`.
    pub scores: Scores,
    /// Mask the diagonal (`S_ii = −∞`): a token does not attend to itself. Needs `L ≥ 2`.
    pub exclude_self: bool,
    /// Applications of the layer, `1 ≤ depth ≤` [`MAX_DEPTH`].
    pub depth: usize,
    /// `X ← X + Attn(X)` at each application instead of `X ← Attn(X)`.
    pub residual: bool,
}

/// Largest `depth` accepted.
pub const MAX_DEPTH: usize = 4096;

/// One application of the layer (no residual) to prompt `x` (`L × d`), written into `y`: the tiled kernel of
/// [`crate::models::attention::flash`] with `Q = K = V = X`, the distance term as a per-key bias and
/// `excludeSelf` as the no-self mask.
pub fn apply_prompt<T: Real>(x: &[T], y: &mut [T], d: usize, opts: &Options, par: Par) {
    let l = x.len() / d;
    let lambda = T::of(opts.lambda);
    let half = T::of(0.5);
    let bias: Option<Vec<T>> = match opts.scores {
        Scores::Dot => None,
        Scores::Distance => Some(x.chunks(d).map(|r| -(lambda * half * dot(r, r))).collect()),
    };
    let head = Head { q: x, k: x, v: x, l, dk: d, dv: d, lambda, mask: if opts.exclude_self { Mask::NoSelf } else { Mask::None }, key_bias: bias.as_deref() };
    let mut lse = vec![T::zero(); l];
    head.forward(y, &mut lse, par);
}

/// Checks the options against a prompt length `l`.
///
/// # Errors
/// [`crate::ErrorKind::Range`] when `lambda` is not positive and finite, `depth` is outside
/// `[1, MAX_DEPTH]`, or `exclude_self` is set with `l < 2`.
pub fn check(opts: &Options, l: usize) -> Result<()> {
    check_lambda(opts.lambda)?;
    ensure(opts.depth >= 1 && opts.depth <= MAX_DEPTH, || Error::range("depth", format!("an integer in [1, {MAX_DEPTH}]"), opts.depth))?;
    ensure(!opts.exclude_self || l >= 2, || {
        Error::range("exclude_self", "false for prompts of one token (each token would attend to nothing)", format!("true with prompts of length {l}"))
    })?;
    Ok(())
}

/// Applies the layer `depth` times to each of the `b` prompts of `x` (`b × l × d`, row-major),
/// returning `Y` of the same shape (identity attention of arXiv 2505.13112, SPEC §3). Each prompt
/// is attended independently, by the tiled online-softmax kernel (FlashAttention-2, Dao 2023), so
/// the `L × L` scores are never stored; the result is the same for any `par` and thread count.
///
/// # Errors
/// [`crate::ErrorKind::Type`] when `x.len() ≠ b·l·d`; [`crate::ErrorKind::Range`] when `d = 0`, a value of
/// `x` is not finite, or the options fail [`check`].
pub fn identity_attention<T: Real>(x: &[T], b: usize, l: usize, d: usize, opts: &Options, par: Par) -> Result<Vec<T>> {
    ensure(d >= 1, || Error::range("x", "tokens of at least one coordinate", "0 coordinates"))?;
    if x.len() != b * l * d {
        return Err(Error::type_("x", format!("B × L × d = {b} × {l} × {d} values"), values(x.len())));
    }
    let shape: &[usize] = if b == 1 { &[l, d] } else { &[b, l, d] };
    finite_tensor("x", x, shape)?;
    check(opts, l)?;
    let size = l * d;
    if size == 0 {
        return Ok(x.to_vec());
    }
    // The first application reads `x` itself; a second buffer is allocated only for `depth > 1`.
    let mut next = vec![T::zero(); x.len()];
    let mut cur: Vec<T> = Vec::new();
    for step in 0..opts.depth {
        let src: &[T] = if step == 0 { x } else { &cur };
        // Parallel over prompts when there are enough, else over query blocks within each prompt;
        // either way every output row is computed the same way.
        let (outer, inner) = if par == Par::Rayon && b >= 2 * rayon::current_num_threads() { (Par::Rayon, Par::Seq) } else { (Par::Seq, par) };
        outer.chunks_mut(&mut next, size, |p, out| {
            apply_prompt(&src[p * size..(p + 1) * size], out, d, opts, inner);
        });
        if opts.residual {
            next.iter_mut().zip(src).for_each(|(n, &c)| *n = *n + c);
        }
        if step + 1 < opts.depth {
            std::mem::swap(&mut cur, &mut next);
            if next.len() != x.len() {
                next = vec![T::zero(); x.len()];
            }
        }
    }
    Ok(next)
}

/// Peak bytes of [`identity_attention`] on `b` prompts of `l × d` tokens of `elem` bytes each
/// (4 for `f32`, 8 for `f64`) on `threads` threads: the two work buffers (`cur`, `next`), and per
/// thread one score tile of [`crate::models::attention::flash::BR`] × `BC` values (or, on the fused
/// `f32` path, its scratch: [`crate::models::attention::flash::fused_scratch`]), the distance bias
/// and the log-sum-exp of a prompt (`2l`). In `f64`, so that no shape overflows it.
pub fn peak_bytes(b: usize, l: usize, d: usize, elem: usize, threads: usize) -> f64 {
    use crate::models::attention::flash::{fused_scratch, BC, BR};
    let n = b as f64 * l as f64 * d as f64;
    let scratch = fused_scratch(elem, l, d, d, true).max((BR * BC) as f64);
    elem as f64 * (2.0 * n + threads as f64 * (scratch + 2.0 * l as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain reference: the full `L × L` score matrix, softmax written out, in f64.
    fn reference(x: &[f64], l: usize, d: usize, o: &Options) -> Vec<f64> {
        let mut cur = x.to_vec();
        for _ in 0..o.depth {
            let mut s = vec![0.0; l * l];
            for i in 0..l {
                for j in 0..l {
                    let xi = &cur[i * d..(i + 1) * d];
                    let xj = &cur[j * d..(j + 1) * d];
                    s[i * l + j] = match o.scores {
                        Scores::Dot => o.lambda * xi.iter().zip(xj).map(|(a, b)| a * b).sum::<f64>(),
                        Scores::Distance => -0.5 * o.lambda * xi.iter().zip(xj).map(|(a, b)| (a - b) * (a - b)).sum::<f64>(),
                    };
                    if o.exclude_self && i == j {
                        s[i * l + j] = f64::NEG_INFINITY;
                    }
                }
            }
            let mut y = vec![0.0; l * d];
            for i in 0..l {
                let row = &s[i * l..(i + 1) * l];
                let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let z: f64 = row.iter().map(|v| (v - m).exp()).sum();
                for j in 0..l {
                    let w = (row[j] - m).exp() / z;
                    for k in 0..d {
                        y[i * d + k] += w * cur[j * d + k];
                    }
                }
            }
            if o.residual {
                y.iter_mut().zip(&cur).for_each(|(a, b)| *a += b);
            }
            cur = y;
        }
        cur
    }

    #[test]
    fn matches_reference_over_shapes() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        for (b, l, d) in [(1, 0, 3), (1, 1, 1), (2, 3, 2), (1, 17, 7), (3, 33, 8), (2, 65, 9), (1, 40, 16), (1, 300, 5)] {
            let x: Vec<f64> = (0..b * l * d).map(|i| ((i * 37 % 101) as f64 / 50.0 - 1.0) * 1.3).collect();
            for scores in [Scores::Dot, Scores::Distance] {
                for (exclude_self, depth, residual) in [(false, 1, false), (true, 1, false), (false, 3, true), (false, 2, false)] {
                    if exclude_self && l < 2 {
                        continue;
                    }
                    let o = Options { lambda: 0.7, scores, exclude_self, depth, residual };
                    let y = identity_attention(&x, b, l, d, &o, Par::Seq).unwrap();
                    let y2 = pool.install(|| identity_attention(&x, b, l, d, &o, Par::Rayon).unwrap());
                    assert_eq!(y, y2, "thread count changed the result");
                    for p in 0..b {
                        let r = reference(&x[p * l * d..(p + 1) * l * d], l, d, &o);
                        for (a, e) in y[p * l * d..(p + 1) * l * d].iter().zip(&r) {
                            assert!((a - e).abs() <= 1e-12 * (1.0 + e.abs()) * depth as f64 * 4.0, "{a} vs {e}");
                        }
                    }
                    let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
                    let yf = identity_attention(&xf, b, l, d, &o, Par::Rayon).unwrap();
                    for (a, e) in yf.iter().zip(&y) {
                        assert!((*a as f64 - e).abs() <= 1e-4 * (1.0 + e.abs()) * depth as f64, "f32 {a} vs {e}");
                    }
                }
            }
        }
    }

    #[test]
    fn large_lambda_and_bad_options() {
        let x = vec![1e3f64, 0.0, 0.0, 1e3, -1e3, 1.0];
        let o = Options { lambda: 1e6, scores: Scores::Dot, exclude_self: false, depth: 1, residual: false };
        assert!(identity_attention(&x, 1, 3, 2, &o, Par::Seq).unwrap().iter().all(|v| v.is_finite()));
        assert!(identity_attention(&x, 1, 3, 2, &Options { lambda: -1.0, ..o }, Par::Seq).is_err());
        assert!(identity_attention(&x, 1, 3, 2, &Options { depth: 0, ..o }, Par::Seq).is_err());
        assert!(identity_attention(&x[..2], 1, 1, 2, &Options { exclude_self: true, ..o }, Par::Seq).is_err());
        assert!(identity_attention(&x, 1, 2, 2, &o, Par::Seq).is_err());
    }
}
