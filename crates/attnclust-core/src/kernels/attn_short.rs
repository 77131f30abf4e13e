//! Identity attention of a short prompt in `f32` (`L ≤` [`MAX_L`], `d ≤` [`MAX_D`]): the packed
//! prompt and the probabilities of 16 rows in L1, each row's exact maximum over all its keys at
//! once (its scores in registers), no key panels, no online rescaling.
//!
//! **Maths.** For query `i` the scores `s_ij` are the score contract of [`super::attn`]
//! (`score_block`: `fma` over the features in order, `⊗ λ`, then `⊕ β_j` with a key bias), with
//! `β_j = −((0.5 ⊗ λ) ⊗ ‖x_j‖²)` (the squares summed by `fma` in feature order) for distance scores
//! (the key-bias form of `crate::models::identity`, taken there only up to its `f32` spread bound)
//! and no bias for dot scores; with `excludeSelf`, `s_ii = −∞`. Then
//!
//! ```text
//! m_i = max_j s_ij,   p_ij = e^{s_ij − m_i},   z_i = Σ_j p_ij,   O_i = (Σ_j p_ij x_j) ⊗ (1 ⊘ z_i)
//! ```
//!
//! `m_i` is the true maximum of the row's computed scores, so for dot scores the kernel is exact
//! (to the rounding of the `f32` scores, as every `f32` path) at any `λ` (saturated rows included:
//! `p_ij = 1` at the maximum, 0 where `s_ij − m_i < −87.3`), and for distance scores within the
//! spread bound of the key-bias form;
//! `z_i ≥ 1` whenever `m_i` is finite. When some row's `z_i` is not `≥ 1` (a score that overflowed to
//! `±∞`, so `s − m` is NaN) the kernel reports it and the caller attends the prompt on the
//! online-softmax kernel, whose dominant-key form keeps such rows.
//!
//! **Order.** The prompt is packed once: `xᵀ` (`d × lp`, keys in lanes, `lp` = 16, 32, 64 or 128,
//! the first at least `L`, zero-padded, by 16 × 16 transposes) and `x` with rows of `dp` values (`d` rounded up to 16,
//! zero-padded; `x` itself when `d` and `L` are multiples of 16). Rows go in
//! blocks of 16. Phase 1, per row: the scores against all `lp` keys in registers (keys in lanes;
//! keys `≥ L` and, with `excludeSelf`, the row's own key masked to `−∞`), `m_i` (a maximum: exact
//! in any order), `p_ij` by the exponential of [`super::attn`] (the same bits as its
//! `exp_nonpos`), written to a `16 × lp` tile in L1; `z_i` is the lane vector sum
//! `((p_{0..15} + p_{16..31}) + p_{32..47}) + …` (key vectors in order) reduced by the fixed tree of
//! [`V16::hsum`]. Phase 2: `U_ic ← fma(p_ij, x_jc, U_ic)` for `j = 0, 1, …, L − 1` in order
//! (features in lanes, `U` in registers for a micro-block of rows), then `O_i = U_i ⊗ (1 ⊘ z_i)`.
//!
//! Each row's arithmetic depends on that row alone, never on the micro-block shapes (which differ
//! by instruction set), and every operation is the same IEEE operation on each implementation of
//! [`V16`] (AVX-512F, AVX2/FMA, portable): the same bits on every path, and, each prompt running
//! on one thread, on any thread count. They are not the bits of the online-softmax kernel (whose
//! sums leave the dominant key out and rescale), only as close to the exact softmax.
//!
//! The dispatch (which path runs) is in [`crate::kernels::simd`].

use super::attn::{score_block, LANES, MAX_D, V16};

/// Longest prompt the kernel takes (its scores, `⌈L/16⌉` lane vectors a row, stay in registers).
pub const MAX_L: usize = 128;
/// Rows of a block (phase 1 fills their tile, phase 2 consumes it).
const RB: usize = LANES;

/// One prompt packed for [`prompt`], in reusable allocations (grown, never shrunk).
#[derive(Default)]
pub struct ShortBufs {
    /// `xᵀ`, `d × lp`.
    xt: Vec<f32>,
    /// `x` with rows of `dp` values, `lp × dp`.
    xp: Vec<f32>,
    /// `β`, `lp` (distance scores).
    bias: Vec<f32>,
    /// The `p` tile of a row block, `16 × lp`.
    p: Vec<f32>,
}

/// Whether the kernel takes a prompt of `l` tokens of `d` coordinates.
pub fn takes(l: usize, d: usize) -> bool {
    (1..=MAX_L).contains(&l) && (1..=MAX_D).contains(&d)
}

/// Whether the kernel is preferred to the symmetric one of [`super::attn_sym`] for a prompt of `l`
/// tokens of `d` coordinates (where that one takes it; the fused online-softmax kernel of
/// [`super::attn`] is slower on every prompt this kernel takes). Measured on AVX-512 (one thread,
/// CPU time per prompt, 64 prompts a call in cache, `examples/attn_small.rs --path short|online|sym
/// --b 64`, dot scores, λ = 0.3), short / online / symmetric in µs: `L = 16`: `d = 2` 0.29 / 0.46 /
/// 0.45, `d = 8` 0.32 / 0.54 / 0.88; `L = 32`: `d = 2` 0.79 / 1.68 / 0.93, `d = 16` 0.91 / 2.01 /
/// 2.00, `d = 64` 2.09 / 4.97 / 6.69; `L = 64`: `d = 2` 2.54 / 3.70 / 2.25, `d = 4` 2.74 / 3.97 /
/// 2.89, `d = 16` 2.92 / 4.50 / 5.04; `L = 128`: `d = 2` 9.7 / 13.0 / 6.0, `d = 4` 10.0 / 14.1 /
/// 7.7, `d = 8` 10.0 / 14.9 / 12.1, `d = 32` 18.0 / 27.9 / 22.2, `d = 64` 34.7 / 45.7 / 48.4.
/// With the keys padded to 16, 32, 64 or 128: `L = 48`, `d = 16` 2.07 / 2.96; `L = 80`, `d = 16`
/// 7.3 / 7.4 (a tie: 128 keys swept for 80). So: every prompt it takes except `d ≤ 4` past 64
/// tokens.
pub fn pays(l: usize, d: usize) -> bool {
    takes(l, d) && !(d <= 4 && l > 64)
}

/// Values of [`ShortBufs`] for a prompt of `l` tokens of `d` coordinates: `lp·(d + dp + 17)`.
pub fn scratch(l: usize, d: usize) -> f64 {
    let (lp, dp) = (padded(l), d.div_ceil(LANES) * LANES);
    (lp * (d + dp + 1 + RB)) as f64
}

/// The keys of a prompt of `l` tokens as the kernel pads them: 16, 32, 64 or 128 (four register
/// shapes, not eight: the code of each is large; keys past `l` are masked).
fn padded(l: usize) -> usize {
    l.div_ceil(LANES).next_power_of_two() * LANES
}

/// At least `n` values (old ones kept).
fn grow(v: &mut Vec<f32>, n: usize) {
    if v.len() < n {
        v.resize(n, 0.0);
    }
}

/// Identity attention of prompt `x` (`l × d`) into `o` (`l × d`): `dot` scores or distance scores
/// (key-bias form), `no_self` masks the diagonal (`l ≥ 2`). Phase 1 in micro-blocks of rows whose
/// scores fill about `RW` vector registers, phase 2 likewise (the values do not depend on them,
/// module doc). Returns `false`, with `o` partly written, when a row's `z_i` is not `≥ 1` (a score
/// overflowed): the caller attends the prompt another way.
///
/// # Safety
/// The CPU has `V`'s features.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub unsafe fn prompt<V: V16, const RW: usize>(x: &[f32], o: &mut [f32], l: usize, d: usize, lambda: f32, dot: bool, no_self: bool, b: &mut ShortBufs) -> bool {
    assert!(takes(l, d) && x.len() >= l * d && o.len() >= l * d && (!no_self || l >= 2));
    let (lp, dp) = (padded(l), d.div_ceil(LANES) * LANES);
    grow(&mut b.xt, d * lp);
    grow(&mut b.xp, lp * dp);
    grow(&mut b.bias, lp);
    grow(&mut b.p, RB * lp);
    // x with rows of dp values, lp rows (zero-padded): x itself when it has that shape; then xᵀ
    // from it by 16 × 16 blocks
    let xp = if d == dp && l == lp {
        x.as_ptr()
    } else {
        for (j, xj) in x[..l * d].chunks_exact(d).enumerate() {
            b.xp[j * dp..j * dp + d].copy_from_slice(xj);
            b.xp[j * dp + d..(j + 1) * dp].fill(0.0);
        }
        b.xp[l * dp..lp * dp].fill(0.0);
        b.xp.as_ptr()
    };
    let xt = b.xt.as_mut_ptr();
    for kb in (0..lp).step_by(LANES) {
        for fb in (0..d).step_by(LANES) {
            V::transpose16(xp.add(kb * dp + fb), dp, xt.add(fb * lp + kb), lp, LANES.min(d - fb));
        }
    }
    if !dot {
        // β_j = −((0.5 ⊗ λ) ⊗ ‖x_j‖²), the squares by fma in feature order (keys in lanes)
        let hl = V::splat(0.5 * lambda);
        for kb in (0..lp).step_by(LANES) {
            let mut sq = V::splat(0.0);
            for f in 0..d {
                let v = V::load(xt.add(f * lp + kb));
                sq = V::fma(v, v, sq);
            }
            V::splat(0.0).sub(hl.mul(sq)).store(b.bias.as_mut_ptr().add(kb));
        }
    }
    match lp / LANES {
        1 => blocks::<V, RW, 1>(xp, o, l, d, lambda, dot, no_self, b),
        2 => blocks::<V, RW, 2>(xp, o, l, d, lambda, dot, no_self, b),
        4 => blocks::<V, RW, 4>(xp, o, l, d, lambda, dot, no_self, b),
        _ => blocks::<V, RW, 8>(xp, o, l, d, lambda, dot, no_self, b),
    }
}

/// The row blocks of a packed prompt of `16·NV` padded keys.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn blocks<V: V16, const RW: usize, const NV: usize>(
    xp: *const f32,
    o: &mut [f32],
    l: usize,
    d: usize,
    lambda: f32,
    dot: bool,
    no_self: bool,
    b: &mut ShortBufs,
) -> bool {
    let dp = d.div_ceil(LANES) * LANES;
    let mut zinv = [0.0f32; RB];
    let mut zl = [0.0f32; RB * LANES];
    let mut ok = true;
    let mut i0 = 0;
    while i0 < l {
        let rows = RB.min(l - i0);
        // phase 1: p and 1/z of the block's rows (micro-blocks of RA rows; RA divides 16)
        let mut r0 = 0;
        while r0 < rows {
            match (RW >= 32, NV) {
                (true, 1 | 2) => phase1::<V, 8, NV>(b, xp, &mut zl, i0, r0, l, d, lambda, dot, no_self),
                (true, 3 | 4) => phase1::<V, 4, NV>(b, xp, &mut zl, i0, r0, l, d, lambda, dot, no_self),
                (true, _) => phase1::<V, 2, NV>(b, xp, &mut zl, i0, r0, l, d, lambda, dot, no_self),
                (false, 1 | 2) => phase1::<V, 2, NV>(b, xp, &mut zl, i0, r0, l, d, lambda, dot, no_self),
                (false, _) => phase1::<V, 1, NV>(b, xp, &mut zl, i0, r0, l, d, lambda, dot, no_self),
            }
            r0 += match (RW >= 32, NV) {
                (true, 1 | 2) => 8,
                (true, 3 | 4) => 4,
                (true, _) | (false, 1 | 2) => 2,
                (false, _) => 1,
            };
        }
        // z_i by the tree of V16::hsum, 16 rows at once; a row whose z is not ≥ 1 declines the prompt
        let mut zs = [0.0f32; RB];
        V::hsum16(zl.as_ptr(), zs.as_mut_ptr());
        for (&z, inv) in zs.iter().zip(zinv.iter_mut()).take(rows) {
            ok &= z >= 1.0;
            *inv = 1.0 / z;
        }
        // phase 2: O = (P·X) ⊗ (1/z), micro-blocks of R rows (R divides 16)
        match (dp / LANES, RW >= 32) {
            (4, true) => phase2::<V, 4, 4>(b, xp, o, &zinv, i0, rows, l, d, NV),
            (3, true) => phase2::<V, 8, 3>(b, xp, o, &zinv, i0, rows, l, d, NV),
            (2, true) => phase2::<V, 8, 2>(b, xp, o, &zinv, i0, rows, l, d, NV),
            (_, true) => phase2::<V, 16, 1>(b, xp, o, &zinv, i0, rows, l, d, NV),
            (4, false) => phase2::<V, 1, 4>(b, xp, o, &zinv, i0, rows, l, d, NV),
            (3, false) => phase2::<V, 2, 3>(b, xp, o, &zinv, i0, rows, l, d, NV),
            (2, false) => phase2::<V, 2, 2>(b, xp, o, &zinv, i0, rows, l, d, NV),
            (_, false) => phase2::<V, 4, 1>(b, xp, o, &zinv, i0, rows, l, d, NV),
        }
        i0 += RB;
    }
    ok
}

/// Phase 1 of rows `[i0 + r0, i0 + r0 + RA)` (the block's rows from `r0`): scores, masks, row
/// maxima, `p` into the tile, the lane sums of `z` into `zl` (16 a row). Rows past `l` (zero
/// padding) are computed and ignored.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn phase1<V: V16, const RA: usize, const NV: usize>(
    b: &mut ShortBufs,
    xp: *const f32,
    zl: &mut [f32; RB * LANES],
    i0: usize,
    r0: usize,
    l: usize,
    d: usize,
    lambda: f32,
    dot: bool,
    no_self: bool,
) {
    let lp = NV * LANES;
    let dp = d.div_ceil(LANES) * LANES;
    let i = i0 + r0;
    let bias = if dot { None } else { Some(b.bias.as_ptr()) };
    let mut s = score_block::<V, RA, NV>(xp.add(i * dp), dp, d, b.xt.as_ptr(), lp, lambda, bias);
    let pt = b.p.as_mut_ptr();
    for (r, sr) in s.iter_mut().enumerate() {
        let ir = i + r;
        // keys past l; the row's own key
        if l < lp {
            for (v, x) in sr.iter_mut().enumerate().skip(l / LANES) {
                let n = l.saturating_sub(LANES * v);
                *x = x.keep((1u32 << n) - 1);
            }
        }
        if no_self {
            let v = ir / LANES;
            if v < NV {
                sr[v] = sr[v].keep(!(1u32 << (ir % LANES)));
            }
        }
        let mut mx = sr[0];
        for x in &sr[1..] {
            mx = mx.max(*x);
        }
        let mv = V::splat(mx.hmax());
        let row = pt.add((r0 + r) * lp);
        let mut z = V::splat(0.0);
        for (v, x) in sr.iter().enumerate() {
            let e = x.sub(mv).exp_nonpos();
            z = z.add(e);
            e.store(row.add(LANES * v));
        }
        z.store(zl.as_mut_ptr().add((r0 + r) * LANES));
    }
}

/// Phase 2 of the block's `rows` rows from `i0`: `U = P·X` in micro-blocks of `R` rows (`U` in `DV`
/// lane vectors a row, in registers; keys in order), `O = U ⊗ (1 ⊘ z)` for rows below `l`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn phase2<V: V16, const R: usize, const DV: usize>(
    b: &ShortBufs,
    xp: *const f32,
    o: &mut [f32],
    zinv: &[f32; RB],
    i0: usize,
    rows: usize,
    l: usize,
    d: usize,
    nv: usize,
) {
    let (lp, dp) = (nv * LANES, DV * LANES);
    let (pt, op) = (b.p.as_ptr(), o.as_mut_ptr());
    let mut tmp = [0.0f32; LANES];
    let mut r0 = 0;
    while r0 < rows {
        let mut acc = [[V::splat(0.0); DV]; R];
        for j in 0..l {
            let mut xj = [V::splat(0.0); DV];
            for (c, x) in xj.iter_mut().enumerate() {
                *x = V::load(xp.add(j * dp + LANES * c));
            }
            for (r, ar) in acc.iter_mut().enumerate() {
                let p = V::splat(*pt.add((r0 + r) * lp + j));
                for c in 0..DV {
                    ar[c] = V::fma(p, xj[c], ar[c]);
                }
            }
        }
        for (r, ar) in acc.iter().enumerate().take(rows - r0) {
            let inv = V::splat(zinv[r0 + r]);
            let orow = op.add((i0 + r0 + r) * d);
            for (c, x) in ar.iter().enumerate() {
                let y = x.mul(inv);
                let n = d - LANES * c;
                if n >= LANES {
                    y.store(orow.add(LANES * c));
                } else {
                    y.store(tmp.as_mut_ptr());
                    std::ptr::copy_nonoverlapping(tmp.as_ptr(), orow.add(LANES * c), n);
                }
            }
        }
        r0 += R;
    }
}

/// # Safety
/// The CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
pub unsafe fn prompt_avx512(x: &[f32], o: &mut [f32], l: usize, d: usize, lambda: f32, dot: bool, no_self: bool, b: &mut ShortBufs) -> bool {
    prompt::<super::attn::Avx512, 32>(x, o, l, d, lambda, dot, no_self, b)
}

/// # Safety
/// The CPU has AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub unsafe fn prompt_avx2(x: &[f32], o: &mut [f32], l: usize, d: usize, lambda: f32, dot: bool, no_self: bool, b: &mut ShortBufs) -> bool {
    prompt::<super::attn::Avx2, 8>(x, o, l, d, lambda, dot, no_self, b)
}

#[allow(clippy::too_many_arguments)]
pub fn prompt_portable(x: &[f32], o: &mut [f32], l: usize, d: usize, lambda: f32, dot: bool, no_self: bool, b: &mut ShortBufs) -> bool {
    // SAFETY: the portable lanes need no CPU feature.
    // (the micro-blocks of AVX2: far less code than those of 32 registers, in plain arrays)
    unsafe { prompt::<super::attn::Portable, 8>(x, o, l, d, lambda, dot, no_self, b) }
}
