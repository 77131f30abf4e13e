//! One attention head, tiled with an online softmax: the `L × L` score matrix is never stored.
//!
//! For `Q ∈ R^{L×dk}`, `K ∈ R^{L×dk}`, `V ∈ R^{L×dv}`, an optional per-key bias `β ∈ Rᴸ` and a mask,
//!
//! ```text
//! S = λ Q Kᵀ + 1 βᵀ + mask,   P = softmax_rows(S),   O = P V,   lse_i = log Σ_j exp S_ij
//! ```
//!
//! **Forward** (per block of [`BR`] queries): for each block of [`BC`] keys, `S_blk = λ Q_blk K_blkᵀ`
//! (a tile product), then per row the running maximum `m`, the running sum `ℓ` and the output
//! accumulator are updated: `m' = max(m, max_j S_ij)`, `ℓ' = ℓ·e^{m−m'} + Σ_j e^{S_ij − m'}`,
//! `O_i' = O_i·e^{m−m'} + Σ_j e^{S_ij − m'} V_j`; at the end `O_i /= ℓ`, `lse_i = m + log ℓ`.
//!
//! **Backward**, given `dO`: with `D_i = ⟨dO_i, O_i⟩` and `P_ij = exp(S_ij − lse_i)` recomputed
//! block by block,
//!
//! ```text
//! dV += Pᵀ dO,   dP = dO Vᵀ,   dS = P ⊙ (dP − D 1ᵀ),   dQ += λ dS K,   dK += λ dSᵀ Q
//! ```
//!
//! (the bias is treated as a constant). Every block is computed by one task in a fixed order, so
//! results do not depend on the thread count.

use crate::kernels::par::Par;
use crate::kernels::real::Real;
use crate::kernels::tile::{matmul, View};

/// Queries per block.
pub const BR: usize = 64;
/// Keys per block.
pub const BC: usize = 128;

/// Which scores are excluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mask {
    #[default]
    None,
    /// Query `i` sees keys `j ≤ i`.
    Causal,
    /// Query `i` sees every key but itself.
    NoSelf,
}

/// One head's inputs, all row-major and contiguous.
#[derive(Clone, Copy)]
pub struct Head<'a, T> {
    pub q: &'a [T],
    pub k: &'a [T],
    pub v: &'a [T],
    pub l: usize,
    pub dk: usize,
    pub dv: usize,
    pub lambda: T,
    pub mask: Mask,
    /// Added to every score of key `j` (length `l`).
    pub key_bias: Option<&'a [T]>,
}

impl<'a, T: Real> Head<'a, T> {
    /// Keys `[0, end)` that query block `[i0, i0 + rows)` may see.
    fn key_end(&self, i0: usize, rows: usize) -> usize {
        match self.mask {
            Mask::Causal => (i0 + rows).min(self.l),
            _ => self.l,
        }
    }

    /// `s := λ Q_blk K_blkᵀ + bias + mask` for queries `[i0, i0+rows)` and keys `[j0, j0+cols)`.
    fn scores(&self, s: &mut [T], i0: usize, rows: usize, j0: usize, cols: usize) {
        let (dk, l) = (self.dk, self.l);
        matmul(
            &mut s[..rows * cols],
            cols,
            View::rows(&self.q[i0 * dk..l * dk], rows, dk, dk),
            View::transposed(&self.k[j0 * dk..l * dk], dk, cols, dk),
            false,
            self.lambda,
        );
        if let Some(bias) = self.key_bias {
            for r in 0..rows {
                for (v, &b) in s[r * cols..(r + 1) * cols].iter_mut().zip(&bias[j0..j0 + cols]) {
                    *v = *v + b;
                }
            }
        }
        let masked = |i: usize, j: usize| match self.mask {
            Mask::None => false,
            Mask::Causal => j > i,
            Mask::NoSelf => j == i,
        };
        if self.mask != Mask::None {
            for r in 0..rows {
                for c in 0..cols {
                    if masked(i0 + r, j0 + c) {
                        s[r * cols + c] = T::neg_infinity();
                    }
                }
            }
        }
    }

    /// Forward for queries `[i0, i0 + rows)`: writes their `rows × dv` outputs to `o` and their
    /// log-sum-exp to `lse`. `s` is a work buffer of at least `rows · min(BC, l)` values.
    pub fn forward_rows(&self, i0: usize, rows: usize, o: &mut [T], lse: &mut [T], s: &mut [T]) {
        let dv = self.dv;
        let mut m = [T::neg_infinity(); BR];
        let mut sum = [T::zero(); BR];
        o[..rows * dv].iter_mut().for_each(|v| *v = T::zero());
        let end = self.key_end(i0, rows);
        let mut j0 = 0;
        while j0 < end {
            let cols = BC.min(end - j0);
            self.scores(s, i0, rows, j0, cols);
            for r in 0..rows {
                let row = &mut s[r * cols..(r + 1) * cols];
                let bm = row.iter().copied().fold(T::neg_infinity(), T::max);
                let mnew = m[r].max(bm);
                if mnew == T::neg_infinity() {
                    row.iter_mut().for_each(|v| *v = T::zero());
                    continue;
                }
                let scale = if m[r] == T::neg_infinity() { T::zero() } else { (m[r] - mnew).exp() };
                let block_sum = T::exp_sub_sum(row, mnew);
                sum[r] = sum[r] * scale + block_sum;
                if scale != T::one() {
                    o[r * dv..(r + 1) * dv].iter_mut().for_each(|v| *v = *v * scale);
                }
                m[r] = mnew;
            }
            matmul(
                &mut o[..rows * dv],
                dv,
                View::rows(&s[..rows * cols], rows, cols, cols),
                View::rows(&self.v[j0 * dv..self.l * dv], cols, dv, dv),
                true,
                T::one(),
            );
            j0 += cols;
        }
        for r in 0..rows {
            if sum[r] > T::zero() {
                let inv = T::one() / sum[r];
                o[r * dv..(r + 1) * dv].iter_mut().for_each(|v| *v = *v * inv);
                lse[r] = m[r] + sum[r].ln();
            } else {
                lse[r] = T::neg_infinity();
            }
        }
    }

    /// Forward for all queries: `o` (`l × dv`) and `lse` (`l`). With `Par::Rayon` the query blocks
    /// run in parallel.
    pub fn forward(&self, o: &mut [T], lse: &mut [T], par: Par) {
        let (l, dv) = (self.l, self.dv);
        assert!(o.len() >= l * dv && lse.len() >= l);
        let blocks: Vec<(&mut [T], &mut [T])> = o[..l * dv].chunks_mut(BR * dv).zip(lse[..l].chunks_mut(BR)).collect();
        let mut blocks = blocks;
        let par = par.above(l * l * (self.dk + dv), 1 << 18);
        par.chunks_mut(&mut blocks, 1, |bi, item| {
            let (ob, lb) = &mut item[0];
            // A tile no larger than the prompt: a short prompt's call is not an allocation of BR × BC.
            let mut s = vec![T::zero(); BR.min(l) * BC.min(l)];
            self.forward_rows(bi * BR, lb.len(), ob, lb, &mut s);
        });
    }

    /// Backward: adds the gradients to `dq` (`l × dk`), `dk` (`l × dk`) and `dv` (`l × dv`), given
    /// the forward's `o` and `lse` and the upstream `d_o` (`l × dv`).
    pub fn backward(&self, o: &[T], lse: &[T], d_o: &[T], dq: &mut [T], dk_out: &mut [T], dv_out: &mut [T]) {
        let (l, dk, dv) = (self.l, self.dk, self.dv);
        let dsum: Vec<T> =
            (0..l).map(|i| o[i * dv..(i + 1) * dv].iter().zip(&d_o[i * dv..(i + 1) * dv]).map(|(&a, &b)| a * b).fold(T::zero(), |s, x| s + x)).collect();
        let tile = BR.min(l) * BC.min(l);
        let mut p = vec![T::zero(); tile];
        let mut ds = vec![T::zero(); tile];
        let mut j0 = 0;
        while j0 < l {
            // A chunk boundary: a long backward pass stops here when its call is cancelled.
            crate::kernels::cancel::checkpoint();
            let cols = BC.min(l - j0);
            let mut i0 = if self.mask == Mask::Causal { j0 - j0 % BR } else { 0 };
            while i0 < l {
                let rows = BR.min(l - i0);
                self.scores(&mut p, i0, rows, j0, cols);
                for r in 0..rows {
                    let row = &mut p[r * cols..(r + 1) * cols];
                    if lse[i0 + r] == T::neg_infinity() {
                        row.iter_mut().for_each(|v| *v = T::zero());
                    } else {
                        T::exp_sub_sum(row, lse[i0 + r]);
                    }
                }
                let pv = &p[..rows * cols];
                let doi = &d_o[i0 * dv..l * dv];
                // dV_j += Pᵀ dO_i
                matmul(&mut dv_out[j0 * dv..l * dv], dv, View::transposed(pv, cols, rows, cols), View::rows(doi, rows, dv, dv), true, T::one());
                // dP = dO_i V_jᵀ, then dS = P ⊙ (dP − D_i)
                matmul(&mut ds[..rows * cols], cols, View::rows(doi, rows, dv, dv), View::transposed(&self.v[j0 * dv..l * dv], dv, cols, dv), false, T::one());
                for r in 0..rows {
                    let d = dsum[i0 + r];
                    for c in 0..cols {
                        let idx = r * cols + c;
                        ds[idx] = pv[idx] * (ds[idx] - d);
                    }
                }
                let dsv = &ds[..rows * cols];
                // dQ_i += λ dS K_j
                matmul(&mut dq[i0 * dk..l * dk], dk, View::rows(dsv, rows, cols, cols), View::rows(&self.k[j0 * dk..l * dk], cols, dk, dk), true, self.lambda);
                // dK_j += λ dSᵀ Q_i
                matmul(
                    &mut dk_out[j0 * dk..l * dk],
                    dk,
                    View::transposed(dsv, cols, rows, cols),
                    View::rows(&self.q[i0 * dk..l * dk], rows, dk, dk),
                    true,
                    self.lambda,
                );
                i0 += rows;
            }
            j0 += cols;
        }
    }
}
