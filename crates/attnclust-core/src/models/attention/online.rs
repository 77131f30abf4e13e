//! The running state of the online softmax of one block of query rows, around each row's dominant
//! key (used by [`super::flash`]; written apart so that other kernels can share it).
//!
//! Per row: the running maximum `m`, its key `a` (the first maximum), `ℓ' = Σ_{j≠a} e^{S_j − m}`,
//! and the caller's accumulator `U = Σ_{j≠a} e^{S_j − m} V_j`. A new maximum `m'` at key `a'` first
//! folds the old dominant term into the others and rescales: `U ← (U + V_a) e^{m−m'}`,
//! `ℓ' ← (ℓ' + 1) e^{m−m'}`; key `a'` is then left out of the block's sums. At the end
//! `O = (V_a + U)/(1 + ℓ')`, `lse = m + log1p(ℓ')`, `O − V_a = (U − ℓ' V_a)/(1 + ℓ')`.

use super::flash::{BR, NONE};
use crate::kernels::real::Real;

/// The online-softmax state of a block of up to [`BR`] query rows (see the module documentation).
pub struct Rows<T> {
    /// The running maximum `m` of each row (`−∞` before any key).
    pub m: [T; BR],
    /// `ℓ' = Σ_{j≠a} e^{S_j − m}` of each row.
    pub others: [T; BR],
    /// The dominant key `a` of each row ([`NONE`] before any key).
    pub dom: [u32; BR],
}

/// Where [`Rows::finish`] writes, for the block's rows (see [`super::flash::Stats`]).
pub struct Out<'a, T> {
    /// The accumulators `U` on entry, the outputs `O` on return (`rows × dv`).
    pub o: &'a mut [T],
    /// `lse_i = m_i + log1p(ℓ'_i)` (`rows`; `−∞` for a row that saw no key), when wanted.
    pub lse: Option<&'a mut [T]>,
    /// The dominant key of each row (`rows`), when wanted.
    pub arg: Option<&'a mut [u32]>,
    /// `O_i − V_{a_i}` (`rows × dv`), when the backward needs it.
    pub rest: Option<&'a mut [T]>,
    /// `(m_i, 1 + ℓ'_i)` pairs.
    pub mz: Option<&'a mut [T]>,
}

impl<T: Real> Default for Rows<T> {
    fn default() -> Self {
        Rows { m: [T::neg_infinity(); BR], others: [T::zero(); BR], dom: [NONE; BR] }
    }
}

impl<T: Real> Rows<T> {
    /// Row `r` saw the block maximum `bm` at key `j`: when it beats the running maximum, the old
    /// dominant term joins the others (`orow` is the row's accumulator `U`), `j` becomes dominant,
    /// and `true` is returned (the caller then leaves key `j` out of its sums).
    #[inline(always)]
    pub fn offer(&mut self, r: usize, bm: T, j: usize, orow: &mut [T], v: &[T], dv: usize) -> bool {
        if bm <= self.m[r] || bm == T::neg_infinity() {
            return false;
        }
        if self.dom[r] != NONE {
            let scale = (self.m[r] - bm).exp();
            let a = self.dom[r] as usize;
            orow.iter_mut().zip(&v[a * dv..(a + 1) * dv]).for_each(|(x, &y)| *x = (*x + y) * scale);
            self.others[r] = (self.others[r] + T::one()) * scale;
        }
        self.m[r] = bm;
        self.dom[r] = j as u32;
        true
    }

    /// Normalises the `rows` accumulators of `out.o` and writes the statistics.
    pub fn finish(&self, rows: usize, v: &[T], dv: usize, out: Out<T>) {
        let Out { o, mut lse, mut arg, mut rest, mz } = out;
        if let Some(mz) = mz {
            for r in 0..rows {
                mz[2 * r] = self.m[r];
                mz[2 * r + 1] = T::one() + self.others[r];
            }
        }
        for r in 0..rows {
            if let Some(arg) = arg.as_deref_mut() {
                arg[r] = self.dom[r];
            }
            let orow = &mut o[r * dv..(r + 1) * dv];
            if self.dom[r] == NONE {
                if let Some(lse) = lse.as_deref_mut() {
                    lse[r] = T::neg_infinity();
                }
                orow.iter_mut().for_each(|x| *x = T::zero());
                if let Some(rest) = rest.as_deref_mut() {
                    rest[r * dv..(r + 1) * dv].iter_mut().for_each(|x| *x = T::zero());
                }
                continue;
            }
            let va = &v[self.dom[r] as usize * dv..(self.dom[r] as usize + 1) * dv];
            let (others, inv) = (self.others[r], T::one() / (T::one() + self.others[r]));
            if let Some(rest) = rest.as_deref_mut() {
                for ((x, &u), &y) in rest[r * dv..(r + 1) * dv].iter_mut().zip(orow.iter()).zip(va) {
                    *x = (u - others * y) * inv;
                }
            }
            orow.iter_mut().zip(va).for_each(|(x, &y)| *x = (*x + y) * inv);
            if let Some(lse) = lse.as_deref_mut() {
                lse[r] = self.m[r] + others.ln_1p();
            }
        }
    }
}
