//! Identity attention with distance scores formed from differences (any float type; the caller runs
//! it in `f64`): the kernel for prompts whose spread `λ·max_i‖x_i‖²` is too large for the key-bias form of the online kernels.
//!
//! **Why.** The online kernels score distances as `λ⟨x_i, x_j⟩ − λ‖x_j‖²/2` (the row constant
//! `−λ‖x_i‖²/2` dropped), two terms of size `λ‖x‖²` whose difference, the part that matters, may be
//! far smaller: the exponent then carries an absolute error of a few `λ·‖x‖²·ε`. In `f64` at
//! `λ = 10²⁰` on tokens of norm 1 that is about `10⁴`, and the softmax picks garbage instead of the
//! nearest neighbours.
//!
//! **Maths.** Row `i` (queries and keys are the tokens `x_j`, `j < L`) computes
//!
//! ```text
//! δ_j = Σ_f (x_if − x_jf)²              (f in order; δ_i = +∞ when the diagonal is masked)
//! a   = the first j with δ_j = min_j δ_j (the dominant key),
//! w_j = exp(−(λ/2)·(δ_j − δ_a))        (j ≠ a; 0 when the product overflows),
//! ℓ'  = Σ_{j≠a} w_j,   U = Σ_{j≠a} w_j x_j,   O_i = (x_a + U)/(1 + ℓ'),
//! ```
//!
//! which is `softmax_j(−λ‖x_i − x_j‖²/2)·X` with the maximum subtracted exactly (the
//! online-softmax bookkeeping of [`crate::models::attention::online`], in one pass over a row of
//! `δ`). Each exponent is within a few ulps of `λ·(δ_j + δ_a)` of the exact one — the size of the
//! scores themselves, not of `λ‖x‖²` — and nothing overflows at any finite `λ` (an overflowing
//! `(λ/2)(δ_j − δ_a)` is a weight of 0, which it is to every digit). Saturated rows (`λ → ∞`) give
//! their nearest neighbour, or the mean of exactly equidistant ones. A row that sees no key
//! (every `δ_j = +∞`) is 0, as in the online kernels.
//!
//! **Order.** `δ` of a row is accumulated coordinate by coordinate over all keys at once (the keys
//! transposed, `d × L`, so the inner loop runs over keys and vectorises); the sums over `j` run in
//! key order. Each row is computed alone in a fixed order, so results do not depend on threads.

use crate::kernels::par::Par;
use crate::kernels::real::Real;

/// Query rows per parallel task.
const ROWS: usize = 64;

/// The allocations of [`attend`], kept between the prompts of one thread.
pub struct DiffBufs<T> {
    /// `xᵀ`, `d × l`.
    xt: Vec<T>,
    /// The row of `δ`, `l` (one-thread calls).
    row: Vec<T>,
}

impl<T> Default for DiffBufs<T> {
    fn default() -> Self {
        DiffBufs { xt: Vec::new(), row: Vec::new() }
    }
}

/// Values of [`attend`]'s buffers for a prompt of `l` tokens of `d` coordinates: `xᵀ`
/// (`l·d`) and one row of `δ` (`l`).
pub fn scratch(l: usize, d: usize) -> f64 {
    l as f64 * d as f64 + l as f64
}

/// `y := softmax_rows(S) x` with `S_ij = −λ‖x_i − x_j‖²/2` (and `S_ii = −∞` with `exclude_self`),
/// for the prompt `x` (`l × d`, row-major) into `y` (`l × d`), by the differences of the module
/// documentation. With `Par::Rayon` blocks of query rows run in parallel, with the same bits.
///
/// # Panics
/// When `d = 0` or `x` and `y` are not `l × d` for some `l`.
pub fn attend<T: Real>(x: &[T], y: &mut [T], d: usize, lambda: f64, exclude_self: bool, par: Par, bufs: &mut DiffBufs<T>) {
    assert!(d >= 1 && x.len().is_multiple_of(d) && y.len() == x.len(), "attend: x and y of l × d values");
    let l = x.len() / d;
    let xt = &mut bufs.xt;
    xt.clear();
    xt.resize(l * d, T::zero());
    for (j, r) in x.chunks_exact(d).enumerate() {
        for (f, &v) in r.iter().enumerate() {
            xt[f * l + j] = v;
        }
    }
    let xt = &bufs.xt[..];
    let half = T::of(0.5 * lambda);
    let par = par.above(l * l * (2 * d + 1), 1 << 18);
    if par == Par::Seq {
        let row = &mut bufs.row;
        row.clear();
        row.resize(l, T::zero());
        for (i, out) in y.chunks_exact_mut(d).enumerate() {
            attend_row(x, xt, l, d, i, half, exclude_self, row, out);
        }
    } else {
        par.chunks_mut(y, ROWS * d, |c, yb| {
            let mut row = vec![T::zero(); l];
            for (r, out) in yb.chunks_exact_mut(d).enumerate() {
                attend_row(x, xt, l, d, c * ROWS + r, half, exclude_self, &mut row, out);
            }
        });
    }
}

/// Row `i` of [`attend`] into `out` (`d`), with `row` (`l`) as work space; `half = λ/2`.
#[allow(clippy::too_many_arguments)]
fn attend_row<T: Real>(x: &[T], xt: &[T], l: usize, d: usize, i: usize, half: T, exclude_self: bool, row: &mut [T], out: &mut [T]) {
    let xi = &x[i * d..(i + 1) * d];
    row.iter_mut().for_each(|v| *v = T::zero());
    for (f, &c) in xi.iter().enumerate() {
        for (s, &v) in row.iter_mut().zip(&xt[f * l..(f + 1) * l]) {
            let t = c - v;
            *s = *s + t * t;
        }
    }
    if exclude_self {
        row[i] = T::infinity();
    }
    // the dominant key: the first nearest
    let (mut a, mut da) = (l, T::infinity());
    for (j, &v) in row.iter().enumerate() {
        if v < da {
            (a, da) = (j, v);
        }
    }
    out.iter_mut().for_each(|v| *v = T::zero());
    if a == l {
        return;
    }
    row[a] = T::infinity();
    let mut others = T::zero();
    for (j, &s) in row.iter().enumerate() {
        // (a tie is weight 1 even where `λ/2` overflows `T`)
        let e = s - da;
        let w = if e == T::zero() { T::one() } else { (-(half * e)).exp() };
        if w > T::zero() {
            others = others + w;
            for (o, &v) in out.iter_mut().zip(&x[j * d..(j + 1) * d]) {
                *o = *o + w * v;
            }
        }
    }
    let inv = T::one() / (T::one() + others);
    for (o, &v) in out.iter_mut().zip(&x[a * d..(a + 1) * d]) {
        *o = (*o + v) * inv;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same maths written out plainly: all `δ_ij`, the softmax of `−λ/2·(δ_ij − min_j δ_ij)`
    /// (exact exponents rounded once when the `δ` are exact).
    fn plain(x: &[f64], d: usize, lambda: f64, exclude_self: bool) -> Vec<f64> {
        let l = x.len() / d;
        let mut y = vec![0.0; l * d];
        for i in 0..l {
            let delta: Vec<f64> = (0..l)
                .map(|j| if exclude_self && i == j { f64::INFINITY } else { (0..d).map(|f| (x[i * d + f] - x[j * d + f]).powi(2)).sum::<f64>() })
                .collect();
            let min = delta.iter().cloned().fold(f64::INFINITY, f64::min);
            let s: Vec<f64> = delta.iter().map(|&v| if v == min { 0.0 } else { -0.5 * lambda * (v - min) }).collect();
            let z: f64 = s.iter().map(|v| v.exp()).sum();
            for j in 0..l {
                let w = s[j].exp() / z;
                for f in 0..d {
                    y[i * d + f] += w * x[j * d + f];
                }
            }
        }
        y
    }

    #[test]
    fn matches_the_plain_softmax_on_one_and_two_threads() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        for l in [1, 2, 17, 65, 200] {
            for d in [1, 2, 3, 17] {
                // multiples of 2⁻⁹: every δ_ij is exact
                let x: Vec<f64> = (0..l * d).map(|i: usize| ((i.wrapping_mul(2654435761) % 1000) as f64 - 500.0) / 512.0).collect();
                for lambda in [1e-3, 0.7, 30.0, 1e4, 1e8, 1e20] {
                    for exclude_self in [false, true] {
                        if exclude_self && l < 2 {
                            continue;
                        }
                        let mut y1 = vec![f64::NAN; l * d];
                        attend(&x, &mut y1, d, lambda, exclude_self, Par::Seq, &mut DiffBufs::default());
                        let mut y2 = vec![f64::NAN; l * d];
                        pool.install(|| attend(&x, &mut y2, d, lambda, exclude_self, Par::Rayon, &mut DiffBufs::default()));
                        assert_eq!(y1, y2, "l={l} d={d} λ={lambda}: thread count");
                        for (a, e) in y1.iter().zip(plain(&x, d, lambda, exclude_self)) {
                            assert!((a - e).abs() <= 1e-13 * (1.0 + e.abs()), "l={l} d={d} λ={lambda} {exclude_self}: {a} vs {e}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn overflowing_lambda_gives_the_nearest_neighbour() {
        // λ/2·(δ_j − δ_a) overflows to +∞ for every other key: weight 0, and the row is its
        // nearest neighbour exactly (the mean of the two when they tie)
        let x = [0.0, 1.0, 3.0, 7.0, 5.0];
        let mut y = [0.0; 5];
        attend(&x, &mut y, 1, f64::MAX, true, Par::Seq, &mut DiffBufs::default());
        assert_eq!(y, [1.0, 0.0, 3.0, 5.0, 5.0]);
        attend(&x, &mut y, 1, f64::MAX, false, Par::Seq, &mut DiffBufs::default());
        assert_eq!(y, x);
    }
}
