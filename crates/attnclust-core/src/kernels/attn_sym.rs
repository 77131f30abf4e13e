//! Symmetric identity attention in `f32` (`d ≤` [`MAX_D`]): each pair of tokens `{i, j}` is
//! scored and exponentiated once and serves row `i` and row `j` alike.
//!
//! **Maths.** With `a_i = λ‖x_i‖²/2`, the exponent
//!
//! ```text
//! e_ij = λ⟨x_i, x_j⟩ − a_i − a_j = −λ‖x_i − x_j‖²/2 ≤ 0
//! ```
//!
//! is symmetric, and `w_ij = e^{e_ij}` (`w_ii = 1` exactly). Distance scores `S_ij = e_ij + a_i` and
//! dot scores `S_ij = e_ij + a_i + a_j` give the softmax weights of row `i`
//!
//! ```text
//! P_ij ∝ w_ij g_j,   g_j = 1 (distance),   g_j = e^{a_j} (dot),
//! O_i = Σ_j w_ij y_j / Σ_j w_ij g_j,   y_j = g_j x_j,
//! ```
//!
//! so one `w_ij` adds `w_ij (y_j, g_j)` to row `i`'s sums and `w_ij (y_i, g_i)` to row `j`'s. The
//! stabiliser of row `i` is thus `a_i` (distance: `a_i`, the exact row maximum `S_ii`; dot:
//! `S_ii − a_i`): no running maximum and no rescaling.
//!
//! **Where it is exact.** The kernel is taken only when the *spread* `λ·max_i‖x_i‖²` is at most
//! [`MAX_SPREAD`]: then every `e_ij ≥ −2·MAX_SPREAD` (no weight underflows: `e^{−64}` is a normal
//! `f32`), every `g_j ≤ e^{MAX_SPREAD/2}` (no sum overflows), and the rounding error of `e_ij`, a
//! few ulps of `λ‖x‖²`, is at most about `1e-5` relative on a weight. Beyond it (saturated `λ`,
//! far-apart tokens) the caller runs the fused online-softmax kernel of [`super::attn`], which
//! tracks each row's maximum.
//!
//! **Order.** Tokens are processed in micro-blocks of `R` query rows `i` against key vectors of 16
//! keys `j > i` (keys in lanes, as in [`super::attn`]): row `i` accumulates its pairs with later
//! keys in lane sums (reduced at the end by the fixed tree of [`V16::hsum`]); key `j` accumulates
//! its pairs with earlier rows in a per-key column sum, added in row order. Every sum runs in a
//! fixed order that depends only on the prompt, so results do not depend on threads.

use super::attn::{LANES, MAX_D, V16};

/// Largest `λ·max_i‖x_i‖²` the symmetric kernel takes (module doc).
pub const MAX_SPREAD: f64 = 32.0;
/// Largest prompt the symmetric kernel takes (its column sums, `(d + 1)·L` values, stay in L2).
pub const MAX_L: usize = 1024;
/// Query rows per micro-block (divides [`LANES`]).
const R: usize = 4;
/// Largest key block, in lane vectors.
const NB: usize = 4;

/// One prompt packed for [`rows`], in reusable allocations.
#[derive(Default)]
pub struct SymBufs {
    /// `xᵀ`, `d × lp` (keys in lanes, zero-padded).
    xt: Vec<f32>,
    /// `(y, g)ᵀ`, `(d + 1) × lp`.
    yt: Vec<f32>,
    /// `(y, g)` row-major, `lp × (d + 1)` (zero rows past `l`).
    y: Vec<f32>,
    /// `a`, `lp`.
    a: Vec<f32>,
    /// Queries, `lp × d` (zero rows past `l`).
    q: Vec<f32>,
    /// Column sums, `(d + 1) × lp`.
    col: Vec<f32>,
    /// Row lane sums of a micro-block, `R × (d + 1) × 16`.
    row: Vec<f32>,
    /// Reduced row sums, `(d + 1)` per row of a micro-block.
    red: Vec<f32>,
}

/// Whether the symmetric kernel is exact (module doc) on a prompt of `l` tokens of `d`
/// coordinates at this `λ` (`max_sq = max_i‖x_i‖²`).
pub fn fits(l: usize, d: usize, lambda: f64, max_sq: f64) -> bool {
    (1..=MAX_D).contains(&d) && l <= MAX_L && lambda * max_sq <= MAX_SPREAD
}

/// Whether it is faster than the fused online-softmax kernel, as measured on AVX-512 (one thread,
/// CPU time per prompt, `examples/attn_small.rs --path sym|online`, dot scores, λ = 0.3): the pairs
/// it saves are the scores and exponentials, while both kernels spend `2d` fused multiply-adds per
/// pair on `P·V`, so it wins where the exponentials dominate: `d ≤ 4` from 32 tokens (×1.3 at
/// `L = 64`, ×2.2–2.8 at `L = 256, 1024`; at `L = 16` ×1.3 for `d = 2`, a tie for `d = 4`), `d = 8`
/// from 256 tokens (×1.6 at `L = 256`, ×1.2 at `L = 1024`; ×0.9 below); at `d = 16` it loses
/// (×0.6–0.8) and at `d ≥ 32` more (×0.5).
pub fn pays(l: usize, d: usize) -> bool {
    (d <= 4 && l >= 32) || (d <= 8 && l >= 256)
}

/// Values of [`SymBufs`] for a prompt of `l` tokens of `d` coordinates when [`pays`] (else 0):
/// `xᵀ`, `(y, g)ᵀ`, `(y, g)`, the queries and the column sums (`lp·(5d + 4)`, `lp` = `l` rounded
/// up to 16), `a` (`lp`) and a micro-block's row sums (`R·(d + 1)·17`).
pub fn scratch(l: usize, d: usize) -> f64 {
    if !pays(l, d) || l > MAX_L {
        return 0.0;
    }
    let lp = l.div_ceil(LANES) * LANES;
    (lp * (5 * d + 5) + R * (d + 1) * (LANES + 1)) as f64
}

fn refill(v: &mut Vec<f32>, n: usize) {
    v.clear();
    v.resize(n, 0.0);
}

/// Identity attention of one prompt `x` (`l × d`) into `o` (`l × d`): `dot` scores or distance
/// scores, `no_self` masks the diagonal (`l ≥ 2`). Prior checks assumed: [`fits`] holds.
///
/// # Safety
/// The CPU has `V`'s features.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub unsafe fn rows<V: V16>(x: &[f32], o: &mut [f32], l: usize, d: usize, lambda: f32, dot: bool, no_self: bool, b: &mut SymBufs) {
    assert!(x.len() >= l * d && o.len() >= l * d && (1..=MAX_D).contains(&d));
    if l == 0 {
        return;
    }
    let (lp, dy) = (l.div_ceil(LANES) * LANES, d + 1);
    refill(&mut b.xt, d * lp);
    refill(&mut b.yt, dy * lp);
    refill(&mut b.y, lp * dy);
    refill(&mut b.a, lp);
    refill(&mut b.q, lp * d);
    refill(&mut b.col, dy * lp);
    refill(&mut b.row, R * dy * LANES);
    refill(&mut b.red, R * dy);
    b.q[..l * d].copy_from_slice(&x[..l * d]);
    for (j, xj) in x[..l * d].chunks_exact(d).enumerate() {
        let sq = xj.iter().fold(0.0f32, |s, &v| v.mul_add(v, s));
        let a = 0.5 * lambda * sq;
        let g = if dot { f64::from(a).exp() as f32 } else { 1.0 };
        b.a[j] = a;
        for (f, &v) in xj.iter().enumerate() {
            b.xt[f * lp + j] = v;
            let y = g * v;
            b.y[j * dy + f] = y;
            b.yt[f * lp + j] = y;
        }
        b.y[j * dy + d] = g;
        b.yt[d * lp + j] = g;
    }
    for i in (0..l).step_by(R) {
        // the row sums start in the first key block; keys from the vector holding row i
        let mut kb = i - i % LANES;
        let mut first = true;
        while kb < l {
            let nv = (l - kb).div_ceil(LANES).min(NB);
            match nv {
                4 => block::<V, 4>(b, i, kb, l, lp, d, lambda, first),
                3 => block::<V, 3>(b, i, kb, l, lp, d, lambda, first),
                2 => block::<V, 2>(b, i, kb, l, lp, d, lambda, first),
                _ => block::<V, 1>(b, i, kb, l, lp, d, lambda, first),
            }
            first = false;
            kb += LANES * nv;
        }
        // row sums of rows i … i + R: the lane sums reduced, then the finished rows
        let n = R * dy;
        let mut t = 0;
        while t + LANES <= n {
            V::hsum16(b.row.as_ptr().add(t * LANES), b.red.as_mut_ptr().add(t));
            t += LANES;
        }
        for c in t..n {
            b.red[c] = V::load(b.row.as_ptr().add(c * LANES)).hsum();
        }
        for r in 0..R.min(l - i) {
            let ii = i + r;
            let red = &b.red[r * dy..(r + 1) * dy];
            // rows i' < ii reached ii as a column (col); the diagonal adds w_ii (y_ii, g_ii), w_ii = 1
            let diag = if no_self { 0.0 } else { 1.0 };
            let z = red[d] + b.col[d * lp + ii] + diag * b.y[ii * dy + d];
            let inv = 1.0 / z;
            for c in 0..d {
                o[ii * d + c] = (red[c] + b.col[c * lp + ii] + diag * b.y[ii * dy + c]) * inv;
            }
        }
    }
}

/// Rows `[i, i + R)` against keys `[kb, kb + 16·NV)`, each pair with `j > i'` once: `w` into the
/// row lane sums (`first`: they start here) and into the column sums of the keys.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn block<V: V16, const NV: usize>(b: &mut SymBufs, i: usize, kb: usize, l: usize, lp: usize, d: usize, lambda: f32, first: bool) {
    let dy = d + 1;
    // scores λ⟨x_i', x_j⟩ (R × 16·NV, in registers)
    let mut w = [[V::splat(0.0); NV]; R];
    for f in 0..d {
        let row = b.xt.as_ptr().add(f * lp + kb);
        let mut kv = [V::splat(0.0); NV];
        for (v, k) in kv.iter_mut().enumerate() {
            *k = V::load(row.add(LANES * v));
        }
        for (r, wr) in w.iter_mut().enumerate() {
            let qv = V::splat(*b.q.as_ptr().add((i + r) * d + f));
            for v in 0..NV {
                wr[v] = V::fma(qv, kv[v], wr[v]);
            }
        }
    }
    // e = λ⟨x_i', x_j⟩ − (a_i' + a_j), masked to keys j > i' below l, then w = e^e
    let lv = V::splat(lambda);
    let edge = kb < i + R || kb + LANES * NV > l;
    for (r, wr) in w.iter_mut().enumerate() {
        let ai = V::splat(*b.a.as_ptr().add(i + r));
        for (v, x) in wr.iter_mut().enumerate() {
            let base = kb + LANES * v;
            let mut e = x.mul(lv).sub(ai.add(V::load(b.a.as_ptr().add(base))));
            if edge {
                // lanes t with base + t > i + r and base + t < l
                let above = if base > i + r {
                    0xffff
                } else if i + r + 1 - base >= LANES {
                    0
                } else {
                    0xffffu32 << (i + r + 1 - base) & 0xffff
                };
                let below = if base + LANES <= l { 0xffff } else { (1u32 << (l - base)) - 1 };
                let keep = above & below;
                if keep != 0xffff {
                    e = e.keep(keep);
                }
            }
            *x = e.exp_nonpos();
        }
    }
    let (yt, y) = (b.yt.as_ptr(), b.y.as_ptr());
    let (row, col) = (b.row.as_mut_ptr(), b.col.as_mut_ptr());
    for c in 0..dy {
        // row i' += Σ_j w_i'j (y_j, g_j), in lanes
        let mut yv = [V::splat(0.0); NV];
        for (v, x) in yv.iter_mut().enumerate() {
            *x = V::load(yt.add(c * lp + kb + LANES * v));
        }
        for (r, wr) in w.iter().enumerate() {
            let p = row.add((r * dy + c) * LANES);
            let mut acc = if first { V::splat(0.0) } else { V::load(p) };
            for v in 0..NV {
                acc = V::fma(wr[v], yv[v], acc);
            }
            acc.store(p);
        }
        // key j += Σ_i' w_i'j (y_i', g_i'), rows in order
        for v in 0..NV {
            let p = col.add(c * lp + kb + LANES * v);
            let mut acc = V::load(p);
            for (r, wr) in w.iter().enumerate() {
                acc = V::fma(V::splat(*y.add((i + r) * dy + c)), wr[v], acc);
            }
            acc.store(p);
        }
    }
}

/// # Safety
/// The CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
pub unsafe fn rows_avx512(x: &[f32], o: &mut [f32], l: usize, d: usize, lambda: f32, dot: bool, no_self: bool, b: &mut SymBufs) {
    rows::<super::attn::Avx512>(x, o, l, d, lambda, dot, no_self, b)
}

/// # Safety
/// The CPU has AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub unsafe fn rows_avx2(x: &[f32], o: &mut [f32], l: usize, d: usize, lambda: f32, dot: bool, no_self: bool, b: &mut SymBufs) {
    rows::<super::attn::Avx2>(x, o, l, d, lambda, dot, no_self, b)
}

#[allow(clippy::too_many_arguments)]
pub fn rows_portable(x: &[f32], o: &mut [f32], l: usize, d: usize, lambda: f32, dot: bool, no_self: bool, b: &mut SymBufs) {
    // SAFETY: the portable lanes need no CPU feature.
    unsafe { rows::<super::attn::Portable>(x, o, l, d, lambda, dot, no_self, b) }
}
