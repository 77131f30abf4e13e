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
//! **Weights.** `a_i = (0.5 ⊗ λ) ⊗ ‖x_i‖²` (the squares summed by `fma` in feature order). Wide
//! kernel: the exponent in base 2, `t_ij = e_ij·log₂e`, from `c = λ ⊗ log₂e`, the queries
//! `q_i = c ⊗ x_i` (feature by feature) and `h_i = a_i ⊗ log₂e`: `t = (−h_i) ⊖ h_j`, then
//! `t = fma(q_if, x_jf, t)` over the features in order, and `w_ij = 2^t` by [`V16::exp2_keep`]
//! (`n = round_even(t)`, the degree-6 Taylor polynomial of `2^{t ⊖ n}`, times `2ⁿ`; every `t` is
//! in its range, `≥ −2·MAX_SPREAD·log₂e` − a few ulps): no `⊗ λ` per score, and the range
//! reduction is one exact subtraction. Narrow kernel: `s_ij = λ⟨x_i, x_j⟩` by the score contract
//! of [`super::attn`] (`fma` over the features in order, then `⊗ λ`), `e_ij = s_ij ⊖ (a_i ⊕ a_j)`,
//! `w_ij` the exponential of [`super::attn`]. `g_j` (dot scores; 1 for distance) is
//! `1 ⊘ e^{−a_j}` with the exponential of [`super::attn`] in the wide kernel and `e^{a_j}` in
//! `f64` rounded to `f32` in the narrow one; `y_j = g_j ⊗ x_j`.
//!
//! **Order, wide kernel** (`d >` [`NARROW_D`]). The prompt is cut into blocks of 64 tokens (a prompt of at most 64 tokens is one
//! block). For each block `I` in order and each block `J ≥ I` in order: phase 1 computes
//! `W_IJ` (`w_ij` for `i ∈ I`, `j ∈ J`, `j > i`; 0 elsewhere) into a tile in L1, in register
//! blocks of rows × up to 64 keys (keys in lanes), adding `w_ij g_j` to row `i`'s 16 lane sums
//! (lane `t`: the keys `j ≡ t mod 16`, in increasing order) and `w_ij g_i` to key `j`'s column
//! sum (rows in increasing order); phase 2 adds `U_i ← fma(w_ij, y_j, U_i)` for the rows of `I`
//! (keys of `J` in increasing order), then `U_j ← fma(w_ij, y_i, U_j)` for the keys of `J` (rows
//! of `I` in increasing order), features in lanes. So token `t` of block `T` receives, in this
//! order: its column terms from blocks `0, 1, …, T − 1`; on the diagonal pair its row terms (later
//! keys of `T`), then its column terms (earlier rows of `T`); then its row terms from blocks
//! `T + 1, …`. Terms that are 0 (pairs `j ≤ i` of a diagonal tile) may be skipped: adding `+0` to a
//! sum that started at `+0` changes no bit. At the end `z_i = (hsum(lane sums) ⊕ column sum) ⊕ g_i`
//! (`hsum` the fixed tree of [`V16::hsum`]; no `⊕ g_i` with `excludeSelf`) and
//! `O_i = (U_i ⊕ y_i) ⊗ (1 ⊘ z_i)` (no `⊕ y_i` with `excludeSelf`). The register blocks differ by
//! instruction set, but each sum's order does not: every path gives the same bits, and each prompt
//! of at most [`MAX_L`] tokens runs on one thread, so results do not depend on threads.
//!
//! **Long prompts** (`L >` [`MAX_L`], wide kernel). The row blocks are dealt to [`SLICES`] = 2
//! fixed slices, blocks `0, 1, 2, 3, …` to slices `0, 1, 1, 0, 0, 1, 1, 0, …` (each slice gets
//! half of the block pairs, to a block), whatever the threads. Each slice has its own sums (`U`,
//! lane sums, column sums), all from 0, and takes its row blocks [`GROUP`] at a time in increasing
//! order; for a group, each key block `J` from the group's first block on in order, then each row
//! block `I ≤ J` of the group in order, the pair `(I, J)` as above (so a key block's `xᵀ`, `y` and
//! `U` serve the group's rows from cache). Token `t` thus receives in each slice the terms of the
//! pairs of that slice in the order above (columns from earlier blocks, the diagonal pair, rows
//! of later blocks: a sub-sequence of the one-slice order). At the end each sum is slice 0's
//! `⊕` slice 1's (a token's lane sums are all in its own block's slice, the other adds `+0`),
//! then `z_i` and `O_i` as above. The slices run on up to 2 threads; the bits do not depend on
//! how many.
//!
//! **Order, narrow kernel** (`d ≤` [`NARROW_D`], where `y` would fill a small part of a lane
//! vector). Tokens are processed in micro-blocks of 4 query rows `i` against key vectors of 16 keys
//! `j > i` (keys in lanes throughout): row `i` accumulates its pairs with later keys, `(y_j, g_j)`,
//! in lane sums (reduced at the end by the fixed tree of [`V16::hsum`]); key `j` accumulates its
//! pairs with earlier rows, `(y_i, g_i)`, in a per-key column sum, added in row order; then
//! `O_i = ((row ⊕ column) ⊕ y_i) ⊗ (1 ⊘ z_i)`, `z_i` alike. The same bits on every path and thread
//! count, for the same reasons.

use super::attn::{LANES, MAX_D, PANEL, V16};

/// Largest `d` taken by the narrow kernel (module doc): keys in lanes throughout.
pub const NARROW_D: usize = 8;
/// Query rows per micro-block of the narrow kernel (divides [`LANES`]).
const R: usize = 4;
/// Largest key block of the narrow kernel, in lane vectors.
const NB: usize = 4;

/// Largest `λ·max_i‖x_i‖²` the symmetric kernel takes (module doc).
pub const MAX_SPREAD: f64 = 32.0;
/// Largest prompt of the narrow kernel, and of the one-slice schedule of the wide kernel (its
/// sums, `(d + 17)·L` values, stay in L2); a longer prompt of `d >` [`NARROW_D`] takes the long
/// schedule (module doc).
pub const MAX_L: usize = 1024;
/// Slices of the long schedule (module doc): a fixed number, whatever the threads.
pub const SLICES: usize = 2;
/// Row blocks taken together by the long schedule (module doc).
const GROUP: usize = 8;
/// Rows (of the tile) and keys (past its columns) that phase 2's micro-blocks may run over.
const TPAD: usize = 16;
/// Row stride of the weight tile (a block's keys, then zeros).
const TS: usize = PANEL + TPAD;

/// One prompt packed for [`rows`], in reusable allocations.
#[derive(Default)]
pub struct SymBufs {
    /// `xᵀ` in panels of a block's `pw` keys (64, or `lp` when `l ≤ 64`): panel `p` holds
    /// `xᵀ[f][p·pw … p·pw + pw − 1]` for every feature `f`, contiguous (keys in lanes, zero-padded).
    xt: Vec<f32>,
    /// `y` row-major, `(lp + 16) × dp` (`dp` = `d` rounded up to 16; zero rows past `l`).
    y: Vec<f32>,
    /// `g`, `lp + 16`.
    g: Vec<f32>,
    /// `h = a ⊗ log₂e`, `lp + 16` (zeros past `l`).
    h: Vec<f32>,
    /// Queries `q_i = (λ ⊗ log₂e) ⊗ x_i`, `(lp + 16) × d` (zero rows past `l`).
    q: Vec<f32>,
    /// `U`, `(lp + 16) × dp`.
    u: Vec<f32>,
    /// Lane sums of `Σ_j w_ij g_j` over keys `j > i`, `lp × 16`.
    zr: Vec<f32>,
    /// Column sums `Σ_i w_ij g_i` over rows `i < j`, `lp`.
    zc: Vec<f32>,
    /// The weight tile `W_IJ`, `(64 + 32) × TS`.
    w: Vec<f32>,
    /// Those of the narrow kernel.
    narrow: NarrowBufs,
    /// Those of the [`SLICES`] slices of a long prompt.
    pub long: Vec<SymBufs>,
}

/// The buffers of [`rows_narrow`].
#[derive(Default)]
struct NarrowBufs {
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
    (1..=MAX_D).contains(&d) && (l <= MAX_L || d > NARROW_D) && lambda * max_sq <= MAX_SPREAD
}

/// Whether it is faster than the fused online-softmax kernel, as measured on AVX-512 (one thread,
/// best wall time per prompt, `examples/attn_small.rs --path sym|online`, dot scores, λ = 0.3). The
/// pairs it saves are the scores and exponentials, while both kernels spend `2d` fused
/// multiply-adds per pair on `P·V`. Narrow kernel (`d ≤` [`NARROW_D`]): `d ≤ 4` from 32 tokens
/// (×1.3 at `L = 64`, ×1.9–2.8 at `L = 256, 1024`; at `L = 16` ×0.8), `d = 8` from 256 tokens (×1.6
/// at `L = 256`, ×1.2 at `L = 1024`; ×0.9 below). Wide kernel (two sweeps, best of 3 each):
/// `d = 16` from 256 tokens (×1.12–1.25 at `L = 256`, ×1.12–1.19 at `L = 1024`; a tie, ×0.98–1.03,
/// at 64; ×0.83 at 16); `d = 32` and `64` only at `L = 1024` (×1.11–1.16; at 256 ×0.99–1.05 for
/// `d = 32`, ×0.83 for `d = 64`; ×0.65–0.8 below). Long prompts (`L >` [`MAX_L`], thread CPU
/// time, shared machine, two runs): `d = 64`, `L = 16384` ×1.19–1.27; `d = 32`, `L = 4096`
/// ×1.03–1.13; `d = 16`, `L = 4096` ×0.95–1.37; `d = 9`, `L = 2048` ×1.27–1.36. Those wide-kernel
/// figures are from a Zen 4 machine with the older exponent; on an Intel Xeon with AVX-512 (2
/// shared cores, thread CPU time, medians of 3–4 runs, the base-2 exponent) the wide kernel wins
/// wherever the short kernel does not take the prompt (`L > 128`): `d = 16` ×1.77 at `L = 144`,
/// ×1.75 at 192; `d = 32` ×1.47 at 144, ×1.44 at 256, ×1.83 at 512; `d = 64` ×1.25 at 144, ×1.45 at
/// 200, ×1.57 at 256, ×1.51 at 512 (the old kernel there: ×1.35 at `d = 32`, `L = 256`). So the
/// wide kernel takes every `d > 8` from 129 tokens.
pub fn pays(l: usize, d: usize) -> bool {
    (d <= 4 && l >= 32) || (d <= NARROW_D && l >= 256) || (d > NARROW_D && l > 128)
}

/// Values of [`SymBufs`] for a prompt of `l` tokens of `d` coordinates when [`pays`] (else 0). Wide
/// kernel: `xᵀ`, the queries, `y`, `U`, the lane sums, `g`, `a` and the column sums
/// (`(lp + 16)·(d + 2dp + 18)`, `lp` = `l` and `dp` = `d` rounded up to 16) and the tile (`96 × 80`);
/// narrow kernel (`d ≤` [`NARROW_D`]): `xᵀ`, `(y, g)ᵀ`, `(y, g)`, the queries and the column sums
/// (`lp·(5d + 4)`), `a` (`lp`) and a micro-block's row sums (`4·(d + 1)·17`). A long prompt (wide
/// kernel, `l >` [`MAX_L`]) has those of the wide kernel once per slice ([`SLICES`]).
pub fn scratch(l: usize, d: usize) -> f64 {
    if !pays(l, d) || (l > MAX_L && d <= NARROW_D) {
        return 0.0;
    }
    let (lp, dp) = (l.div_ceil(LANES) * LANES, d.div_ceil(LANES) * LANES);
    if d <= NARROW_D {
        // narrow: xᵀ, (y, g)ᵀ, (y, g), the queries and the column sums, a, a micro-block's row sums
        return (lp * (5 * d + 5) + R * (d + 1) * (LANES + 1)) as f64;
    }
    let slices = if l > MAX_L { SLICES } else { 1 };
    (slices * ((lp + TPAD) * (d + 2 * dp + LANES + 2) + (PANEL + 2 * TPAD) * TS)) as f64
}

fn refill(v: &mut Vec<f32>, n: usize) {
    v.clear();
    v.resize(n, 0.0);
}

/// At least `n` values (old ones kept).
fn grow(v: &mut Vec<f32>, n: usize) {
    if v.len() < n {
        v.resize(n, 0.0);
    }
}

/// Identity attention of one prompt `x` (`l × d`, `l ≤` [`MAX_L`]) into `o` (`l × d`) by the wide
/// kernel (the `rows_*` entry points take the narrow one for `d ≤` [`NARROW_D`]; a longer prompt
/// takes [`slice`] and [`finish`]): `dot` scores or distance scores, `no_self` masks the diagonal
/// (`l ≥ 2`). Phase 1 in micro-blocks of `RA` rows × a block's keys, phase 2 in micro-blocks whose
/// `U` fills `RW` vector registers (as [`super::attn::rows`]); the values do not depend on `RA` or
/// `RW` (module doc). Prior checks assumed: [`fits`] holds.
///
/// # Safety
/// The CPU has `V`'s features.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub unsafe fn rows<V: V16, const RA: usize, const RW: usize>(
    x: &[f32],
    o: &mut [f32],
    l: usize,
    d: usize,
    lambda: f32,
    dot: bool,
    no_self: bool,
    b: &mut SymBufs,
) {
    assert!(x.len() >= l * d && o.len() >= l * d && (1..=MAX_D).contains(&d) && RA <= TPAD && l <= MAX_L);
    if l == 0 {
        return;
    }
    pack::<V>(x, l, d, lambda, dot, b);
    pairs::<V, RA, RW>(b, l, d, None);
    finish_sums::<V>(o, l, d, no_self, b);
}

/// Slice `s` (`< SLICES`) of a long prompt (`l >` [`MAX_L`], module doc): `x` packed into `b`, then
/// the block pairs of the slice, whose sums stay in `b` for [`finish`].
///
/// # Safety
/// The CPU has `V`'s features.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub unsafe fn slice<V: V16, const RA: usize, const RW: usize>(x: &[f32], l: usize, d: usize, lambda: f32, dot: bool, s: usize, b: &mut SymBufs) {
    assert!(x.len() >= l * d && (NARROW_D + 1..=MAX_D).contains(&d) && RA <= TPAD && l > MAX_L && s < SLICES);
    pack::<V>(x, l, d, lambda, dot, b);
    pairs::<V, RA, RW>(b, l, d, Some(s));
}

/// The output `o` (`l × d`) of a long prompt from its [`SLICES`] slices (`slices[s]` the buffers of
/// [`slice`] `s`): the sums added in slice order, then as a prompt of one slice.
///
/// # Safety
/// The CPU has `V`'s features.
#[inline(always)]
pub unsafe fn finish<V: V16>(o: &mut [f32], l: usize, d: usize, no_self: bool, slices: &mut [SymBufs]) {
    assert!(o.len() >= l * d && slices.len() == SLICES && l > MAX_L);
    let (first, rest) = slices.split_first_mut().expect("slices");
    for other in rest.iter() {
        for (sum, part) in [(&mut first.u, &other.u), (&mut first.zr, &other.zr), (&mut first.zc, &other.zc)] {
            assert_eq!(sum.len(), part.len());
            sum.iter_mut().zip(part).for_each(|(a, &p)| *a += p);
        }
    }
    finish_sums::<V>(o, l, d, no_self, first);
}

/// The packed prompt in `b` (`xᵀ`, `y`, `g`, `a`, the queries; zero padding) and its sums set to 0.
///
/// # Safety
/// The CPU has `V`'s features.
#[inline(always)]
unsafe fn pack<V: V16>(x: &[f32], l: usize, d: usize, lambda: f32, dot: bool, b: &mut SymBufs) {
    let (lp, dp) = (l.div_ceil(LANES) * LANES, d.div_ceil(LANES) * LANES);
    let n = lp + TPAD;
    // the sums start at 0; of the packed values only the padding needs zeros (the rest is written)
    refill(&mut b.u, n * dp);
    refill(&mut b.zr, n * LANES);
    refill(&mut b.zc, lp);
    let pw = block_len(l);
    let np = l.div_ceil(pw);
    grow(&mut b.xt, np * pw * d);
    grow(&mut b.y, n * dp);
    grow(&mut b.g, n);
    grow(&mut b.h, n);
    grow(&mut b.q, n * d);
    // the padding keys of the last panel
    let last = (np - 1) * pw * d;
    for f in 0..d {
        b.xt[last + f * pw + (l - (np - 1) * pw)..last + (f + 1) * pw].fill(0.0);
    }
    b.y[l * dp..n * dp].fill(0.0);
    b.g[l..n].fill(0.0);
    b.h[l..n].fill(0.0);
    b.q[l * d..n * d].fill(0.0);
    // (the tile is written before it is read)
    if b.w.len() < (PANEL + 2 * TPAD) * TS {
        b.w.resize((PANEL + 2 * TPAD) * TS, 0.0);
    }
    // the queries q_i = c ⊗ x_i, c = λ ⊗ log₂e
    let c = lambda * std::f32::consts::LOG2_E;
    b.q[..l * d].iter_mut().zip(&x[..l * d]).for_each(|(q, &v)| *q = c * v);
    // SAFETY: the caller of `pack` guarantees V's features
    unsafe { pack_tokens::<V>(x, l, d, pw, dp, lambda, dot, b) };
}

/// Tokens per block: 64; a short prompt is one block of its own length (rounded up to 16).
#[inline(always)]
fn block_len(l: usize) -> usize {
    if l > PANEL {
        PANEL
    } else {
        l.div_ceil(LANES) * LANES
    }
}

/// Whether row block `i` (of 64 tokens) belongs to slice `s` of a long prompt: the blocks go to
/// slices 0, 1, 1, 0, 0, 1, 1, 0, … (block `i` has `nb − i` block pairs `(i, J ≥ i)`: each
/// slice gets half of them, to a block).
#[inline(always)]
fn owns(s: usize, i: usize) -> bool {
    [0, 1, 1, 0][i % 4] == s
}

/// The block pairs `(I, J ≥ I)` of the packed prompt in `b`: all of them, row block by row block
/// (`slice = None`), or those of the row blocks of slice `s` (`Some(s)`, [`owns`]), taken
/// [`GROUP`] row blocks at a time, key block by key block (module doc).
#[inline(always)]
unsafe fn pairs<V: V16, const RA: usize, const RW: usize>(b: &mut SymBufs, l: usize, d: usize, slice: Option<usize>) {
    let pw = block_len(l);
    let nb = l.div_ceil(pw);
    let group = if slice.is_some() { GROUP } else { 1 };
    let mut blocks = [0usize; GROUP];
    let mut next = 0;
    loop {
        // the next group: up to `group` row blocks of the slice, in increasing order
        let mut n = 0;
        while next < nb && n < group {
            if slice.is_none_or(|s| owns(s, next)) {
                blocks[n] = next;
                n += 1;
            }
            next += 1;
        }
        if n == 0 {
            return;
        }
        for jb in blocks[0]..nb {
            // a long prompt stops here when its call is cancelled (a few block pairs per check;
            // without a token the check is one thread-local read)
            crate::kernels::cancel::checkpoint();
            for &ib in blocks[..n].iter().take_while(|&&ib| ib <= jb) {
                pair::<V, RA, RW>(b, ib * pw, jb * pw, pw, l, d);
            }
        }
    }
}

/// The block pair of rows `[ib, ib + pw)` and keys `[kb, kb + pw)` (`kb ≥ ib`; cut at `l`).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn pair<V: V16, const RA: usize, const RW: usize>(b: &mut SymBufs, ib: usize, kb: usize, pw: usize, l: usize, d: usize) {
    let dp = d.div_ceil(LANES) * LANES;
    let ni = pw.min(l - ib);
    let (nk, diag) = (pw.min(l - kb), kb == ib);
    let nv = nk.div_ceil(LANES);
    // phase 1: W_IJ into the tile, the sums of g
    let mut r0 = 0;
    // (helpers are functions, not closures: a closure does not inherit the caller's target features)
    while r0 < ni {
        // on the diagonal block, key vectors wholly at or before row r0 hold no pair: 0 in the tile
        let v0 = if diag { r0 / LANES } else { 0 };
        for r in r0..r0 + RA {
            b.w[r * TS..r * TS + LANES * v0].fill(0.0);
        }
        let c0 = LANES * v0;
        match nv - v0 {
            4 => weights::<V, RA, 4>(b, ib, r0, ni, kb + c0, c0, l, pw, d),
            3 => weights::<V, RA, 3>(b, ib, r0, ni, kb + c0, c0, l, pw, d),
            2 => weights::<V, RA, 2>(b, ib, r0, ni, kb + c0, c0, l, pw, d),
            _ => weights::<V, RA, 1>(b, ib, r0, ni, kb + c0, c0, l, pw, d),
        }
        r0 += RA;
    }
    // zero rows below the written ones, for phase 2's last micro-blocks
    for r in r0..r0 + TPAD {
        b.w[r * TS..r * TS + LANES * nv + TPAD].fill(0.0);
    }
    // phase 2: U_I += W_IJ·Y_J, then U_J += W_IJᵀ·Y_I
    match (dp / LANES, RW >= 32) {
        (4, true) => pv::<V, 6, 4>(b, ib, ni, kb, nk, diag),
        (3, true) => pv::<V, 8, 3>(b, ib, ni, kb, nk, diag),
        (2, true) => pv::<V, 12, 2>(b, ib, ni, kb, nk, diag),
        (_, true) => pv::<V, 16, 1>(b, ib, ni, kb, nk, diag),
        (4, false) => pv::<V, 1, 4>(b, ib, ni, kb, nk, diag),
        (3, false) => pv::<V, 2, 3>(b, ib, ni, kb, nk, diag),
        (2, false) => pv::<V, 3, 2>(b, ib, ni, kb, nk, diag),
        (_, false) => pv::<V, 6, 1>(b, ib, ni, kb, nk, diag),
    }
}

/// `o` from the sums in `b` (all of them added in): `O_i = (U_i ⊕ y_i) ⊗ (1 ⊘ z_i)` (module doc).
#[inline(always)]
unsafe fn finish_sums<V: V16>(o: &mut [f32], l: usize, d: usize, no_self: bool, b: &SymBufs) {
    let dp = d.div_ceil(LANES) * LANES;
    // the diagonal adds w_ii (y_i, g_i), w_ii = 1
    // O_i = (U_i ⊕ y_i) ⊗ (1 ⊘ z_i), z_i = (hsum(lane sums) ⊕ column sum) ⊕ g_i (without excludeSelf)
    let (up, yp, op) = (b.u.as_ptr(), b.y.as_ptr(), o.as_mut_ptr());
    let mut red = [0.0f32; LANES];
    for i in 0..l {
        if i % LANES == 0 {
            // the lane sums of rows i … i + 15 (lp is a multiple of 16)
            V::hsum16(b.zr.as_ptr().add(i * LANES), red.as_mut_ptr());
        }
        let mut z = red[i % LANES] + b.zc[i];
        if !no_self {
            z += b.g[i];
        }
        let inv = 1.0 / z;
        let (ui, yi, oi) = (up.add(i * dp), yp.add(i * dp), op.add(i * d));
        if d == dp {
            let iv = V::splat(inv);
            for c in (0..d).step_by(LANES) {
                let mut s = V::load(ui.add(c));
                if !no_self {
                    s = s.add(V::load(yi.add(c)));
                }
                s.mul(iv).store(oi.add(c));
            }
        } else {
            for c in 0..d {
                let s = if no_self { *ui.add(c) } else { *ui.add(c) + *yi.add(c) };
                *oi.add(c) = s * inv;
            }
        }
    }
}

/// The tokens of [`pack`]: `xᵀ` in panels of `pw` keys (token `j`, feature `f` at
/// `(j / pw)·pw·d + f·pw + j mod pw`), then 16 tokens at a time (tokens in lanes) `‖x_j‖²`
/// (`fma` over the features in order), `a_j = (0.5 ⊗ λ) ⊗ ‖x_j‖²`, `h_j = a_j ⊗ log₂e` and
/// `g_j = 1 ⊘ e^{−a_j}` (dot scores; 1 for distance), then `y_j = g_j ⊗ x_j` (zeros to `dp`). The
/// padding past `l` (`xᵀ`, `h`, `g` 0) is left as [`pack`] wrote it.
///
/// # Safety
/// The CPU has `V`'s features; `pw` is a multiple of 16.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn pack_tokens<V: V16>(x: &[f32], l: usize, d: usize, pw: usize, dp: usize, lambda: f32, dot: bool, b: &mut SymBufs) {
    let (xp, xtp, yp, hp, gp) = (x.as_ptr(), b.xt.as_mut_ptr(), b.y.as_mut_ptr(), b.h.as_mut_ptr(), b.g.as_mut_ptr());
    // token j0's 16-key run of feature f (j0 a multiple of 16: the run stays in one panel)
    let at = |j0: usize, f: usize| (j0 / pw) * pw * d + f * pw + j0 % pw;
    let mut j0 = 0;
    while j0 < l {
        let t = at(j0, 0);
        if d.is_multiple_of(LANES) && j0 + LANES <= l {
            // 16 tokens × 16 features at a time
            for f0 in (0..d).step_by(LANES) {
                V::transpose16(xp.add(j0 * d + f0), d, xtp.add(t + f0 * pw), pw, LANES);
            }
        } else {
            for j in j0..l.min(j0 + LANES) {
                for f in 0..d {
                    *xtp.add(t + f * pw + j - j0) = *xp.add(j * d + f);
                }
            }
        }
        j0 += LANES;
    }
    let half = V::splat(0.5 * lambda);
    let mut j0 = 0;
    while j0 < l {
        let mut sq = V::splat(0.0);
        for f in 0..d {
            let v = V::load(xtp.add(at(j0, f)));
            sq = V::fma(v, v, sq);
        }
        let a = half.mul(sq);
        let n = LANES.min(l - j0);
        let mut hv = [0.0f32; LANES];
        a.mul(V::splat(std::f32::consts::LOG2_E)).store(hv.as_mut_ptr());
        std::ptr::copy_nonoverlapping(hv.as_ptr(), hp.add(j0), n);
        if dot {
            // e^{−a} (−a ≤ 0), then its reciprocal
            let mut ev = [0.0f32; LANES];
            V::splat(0.0).sub(a).exp_nonpos().store(ev.as_mut_ptr());
            for t in 0..n {
                *gp.add(j0 + t) = 1.0 / ev[t];
            }
        } else {
            std::slice::from_raw_parts_mut(gp.add(j0), n).fill(1.0);
        }
        j0 += LANES;
    }
    for j in 0..l {
        let (xj, yj, g) = (xp.add(j * d), yp.add(j * dp), V::splat(*gp.add(j)));
        let mut c = 0;
        while c + LANES <= d {
            V::load(xj.add(c)).mul(g).store(yj.add(c));
            c += LANES;
        }
        let gs = *gp.add(j);
        for f in c..d {
            *yj.add(f) = gs * *xj.add(f);
        }
        for f in d..dp {
            *yj.add(f) = 0.0;
        }
    }
}

/// Phase 1 of rows `[ib + r0, ib + r0 + RA)` against the keys `[kb, kb + 16·NV)` of block `J`
/// (tile columns from `c0`): `w_ij` for keys `j > i` below `l` and rows below `ib + ni` (0
/// elsewhere) into the tile (then 16 zeros), `w_ij g_j` into the row lane sums, `w_ij g_i` into the
/// column sums, rows in order.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn weights<V: V16, const RA: usize, const NV: usize>(
    b: &mut SymBufs,
    ib: usize,
    r0: usize,
    ni: usize,
    kb: usize,
    c0: usize,
    l: usize,
    pw: usize,
    d: usize,
) {
    let i = ib + r0;
    let iend = ib + ni;
    let (hp, gp, wp, zrp, zcp) = (b.h.as_ptr(), b.g.as_ptr(), b.w.as_mut_ptr(), b.zr.as_mut_ptr(), b.zc.as_mut_ptr());
    // keys kb … in the panel of `pw` keys that holds them
    let kt = b.xt.as_ptr().add((kb / pw) * pw * d + kb % pw);
    let mut w = exponents::<V, RA, NV>(b.q.as_ptr().add(i * d), hp.add(i), hp.add(kb), d, kt, pw);
    let edge = kb < i + RA || kb + LANES * NV > l || i + RA > iend;
    for (r, wr) in w.iter_mut().enumerate() {
        let ir = i + r;
        let zp = zrp.add(ir * LANES);
        let mut z = V::load(zp);
        let tr = wp.add((r0 + r) * TS + c0);
        for (v, x) in wr.iter_mut().enumerate() {
            let base = kb + LANES * v;
            // lanes t with base + t > ir and base + t < l, rows below iend
            let keep = if !edge {
                0xffff
            } else {
                let above = if base > ir {
                    0xffff
                } else if ir + 1 - base >= LANES {
                    0
                } else {
                    0xffffu32 << (ir + 1 - base) & 0xffff
                };
                let below = if base + LANES <= l { 0xffff } else { (1u32 << (l - base)) - 1 };
                if ir < iend {
                    above & below
                } else {
                    0
                }
            };
            // w = 2^t on those lanes, 0 on the others
            *x = if keep == 0xffff { x.exp2_keep(0xffff) } else { x.exp2_keep(keep) };
            x.store(tr.add(LANES * v));
            z = V::fma(*x, V::load(gp.add(base)), z);
        }
        V::splat(0.0).store(tr.add(LANES * NV));
        z.store(zp);
    }
    for v in 0..NV {
        let p = zcp.add(kb + LANES * v);
        let mut acc = V::load(p);
        for (r, wr) in w.iter().enumerate() {
            acc = V::fma(V::splat(*gp.add(i + r)), wr[v], acc);
        }
        acc.store(p);
    }
}

/// The base-2 exponents (module doc) of `R` query rows (feature `f` of row `r` at `qb + r·d + f`,
/// their `h` from `hi`) against `16·NV` keys (feature `f` of key vector `v` at `kt + f·ks + 16v`,
/// their `h` from `hj`): `t = (−h_i) ⊖ h_j`, then `fma(q_if, x_jf, t)` over the features in order.
///
/// # Safety
/// Those addresses hold `16·NV` values each, each query row `d`; the CPU has `V`'s features.
#[inline(always)]
unsafe fn exponents<V: V16, const R: usize, const NV: usize>(
    qb: *const f32,
    hi: *const f32,
    hj: *const f32,
    d: usize,
    kt: *const f32,
    ks: usize,
) -> [[V; NV]; R] {
    let mut hv = [V::splat(0.0); NV];
    for (v, h) in hv.iter_mut().enumerate() {
        *h = V::load(hj.add(LANES * v));
    }
    let mut t = [[V::splat(0.0); NV]; R];
    for (r, tr) in t.iter_mut().enumerate() {
        let nh = V::splat(-*hi.add(r));
        for v in 0..NV {
            tr[v] = nh.sub(hv[v]);
        }
    }
    for f in 0..d {
        let row = kt.add(f * ks);
        let mut kv = [V::splat(0.0); NV];
        for (v, k) in kv.iter_mut().enumerate() {
            *k = V::load(row.add(LANES * v));
        }
        for (r, tr) in t.iter_mut().enumerate() {
            let qv = V::splat(*qb.add(r * d + f));
            for v in 0..NV {
                tr[v] = V::fma(qv, kv[v], tr[v]);
            }
        }
    }
    t
}

/// Phase 2 of the block pair `(I, J)`: `U_i += Σ_j w_ij y_j` for the rows of `I` (keys in order),
/// in micro-blocks of `R` rows, then `U_j += Σ_i w_ij y_i` for the keys of `J` (rows in order), in
/// micro-blocks of `R` keys; `U` in registers (`DV` lane vectors a token). Terms the tile holds as
/// 0 (`j ≤ i` on the diagonal block) are skipped, which changes no bit.
#[inline(always)]
unsafe fn pv<V: V16, const R: usize, const DV: usize>(b: &mut SymBufs, ib: usize, ni: usize, kb: usize, nk: usize, diag: bool) {
    let dp = DV * LANES;
    let (yp, up, wp) = (b.y.as_ptr(), b.u.as_mut_ptr(), b.w.as_ptr());
    let mut r0 = 0;
    while r0 < ni {
        let ur = up.add((ib + r0) * dp);
        let mut acc = [[V::splat(0.0); DV]; R];
        for (r, ar) in acc.iter_mut().enumerate() {
            for (c, x) in ar.iter_mut().enumerate() {
                *x = V::load(ur.add(r * dp + LANES * c));
            }
        }
        let j1 = if diag { r0 + 1 } else { 0 };
        // (pointers stepped per key: the weights at fixed offsets from one register)
        let (mut wj, mut yjp) = (wp.add(r0 * TS + j1), yp.add((kb + j1) * dp));
        for _ in j1..nk {
            let (w, y) = (opaque(wj), opaque(yjp));
            let mut yj = [V::splat(0.0); DV];
            for (c, x) in yj.iter_mut().enumerate() {
                *x = V::load(y.add(LANES * c));
            }
            for (r, ar) in acc.iter_mut().enumerate() {
                let wr = V::splat(*w.add(r * TS));
                for c in 0..DV {
                    ar[c] = V::fma(wr, yj[c], ar[c]);
                }
            }
            wj = wj.add(1);
            yjp = yjp.add(dp);
        }
        for (r, ar) in acc.iter().enumerate() {
            for (c, x) in ar.iter().enumerate() {
                x.store(ur.add(r * dp + LANES * c));
            }
        }
        r0 += R;
    }
    let mut j0 = 0;
    while j0 < nk {
        let uc = up.add((kb + j0) * dp);
        let mut acc = [[V::splat(0.0); DV]; R];
        for (k, ak) in acc.iter_mut().enumerate() {
            for (c, x) in ak.iter_mut().enumerate() {
                *x = V::load(uc.add(k * dp + LANES * c));
            }
        }
        let (mut wip, mut yip) = (wp.add(j0), yp.add(ib * dp));
        for _ in 0..if diag { ni.min(j0 + R - 1) } else { ni } {
            let (wi, y) = (opaque(wip), opaque(yip));
            wip = wip.add(TS);
            yip = yip.add(dp);
            let mut yi = [V::splat(0.0); DV];
            for (c, x) in yi.iter_mut().enumerate() {
                *x = V::load(y.add(LANES * c));
            }
            for (k, ak) in acc.iter_mut().enumerate() {
                let wk = V::splat(*wi.add(k));
                for c in 0..DV {
                    ak[c] = V::fma(wk, yi[c], ak[c]);
                }
            }
        }
        for (k, ak) in acc.iter().enumerate() {
            for (c, x) in ak.iter().enumerate() {
                x.store(uc.add(k * dp + LANES * c));
            }
        }
        j0 += R;
    }
}

/// `p`, opaque to the optimiser: a pointer stepped by hand stays the base of its loads (their
/// offsets fixed), instead of becoming a base plus a scaled loop index, which costs an extra
/// micro-operation per fused load on x86 (measured: the `U += w·y` loops at ~60 % of the FMA peak
/// with indexed operands, ~80 % without).
#[inline(always)]
fn opaque(p: *const f32) -> *const f32 {
    #[cfg(target_arch = "x86_64")]
    {
        let mut p = p;
        // SAFETY: an empty instruction; the register keeps its value (no memory is read, hence
        // `nomem` with a pointer operand).
        #[allow(clippy::pointers_in_nomem_asm_block)]
        unsafe {
            std::arch::asm!("/* {0} */", inout(reg) p, options(pure, nomem, nostack, preserves_flags))
        };
        p
    }
    #[cfg(not(target_arch = "x86_64"))]
    p
}

/// [`rows`] for `d ≤` [`NARROW_D`] (module doc, narrow order).
///
/// # Safety
/// The CPU has `V`'s features.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn rows_narrow<V: V16>(x: &[f32], o: &mut [f32], l: usize, d: usize, lambda: f32, dot: bool, no_self: bool, b: &mut NarrowBufs) {
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

/// [`rows_narrow`]: rows `[i, i + R)` against keys `[kb, kb + 16·NV)`, each pair with `j > i'` once: `w` into the
/// row lane sums (`first`: they start here) and into the column sums of the keys.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn block<V: V16, const NV: usize>(b: &mut NarrowBufs, i: usize, kb: usize, l: usize, lp: usize, d: usize, lambda: f32, first: bool) {
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
    if d <= NARROW_D {
        rows_narrow::<super::attn::Avx512>(x, o, l, d, lambda, dot, no_self, &mut b.narrow)
    } else {
        rows::<super::attn::Avx512, 6, 32>(x, o, l, d, lambda, dot, no_self, b)
    }
}

/// # Safety
/// The CPU has AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub unsafe fn rows_avx2(x: &[f32], o: &mut [f32], l: usize, d: usize, lambda: f32, dot: bool, no_self: bool, b: &mut SymBufs) {
    if d <= NARROW_D {
        rows_narrow::<super::attn::Avx2>(x, o, l, d, lambda, dot, no_self, &mut b.narrow)
    } else {
        rows::<super::attn::Avx2, 1, 8>(x, o, l, d, lambda, dot, no_self, b)
    }
}

/// # Safety
/// The CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
pub unsafe fn slice_avx512(x: &[f32], l: usize, d: usize, lambda: f32, dot: bool, s: usize, b: &mut SymBufs) {
    slice::<super::attn::Avx512, 6, 32>(x, l, d, lambda, dot, s, b)
}

/// # Safety
/// The CPU has AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub unsafe fn slice_avx2(x: &[f32], l: usize, d: usize, lambda: f32, dot: bool, s: usize, b: &mut SymBufs) {
    slice::<super::attn::Avx2, 1, 8>(x, l, d, lambda, dot, s, b)
}

pub fn slice_portable(x: &[f32], l: usize, d: usize, lambda: f32, dot: bool, s: usize, b: &mut SymBufs) {
    // SAFETY: the portable lanes need no CPU feature.
    unsafe { slice::<super::attn::Portable, 6, 32>(x, l, d, lambda, dot, s, b) }
}

/// # Safety
/// The CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub unsafe fn finish_avx512(o: &mut [f32], l: usize, d: usize, no_self: bool, slices: &mut [SymBufs]) {
    finish::<super::attn::Avx512>(o, l, d, no_self, slices)
}

/// # Safety
/// The CPU has AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub unsafe fn finish_avx2(o: &mut [f32], l: usize, d: usize, no_self: bool, slices: &mut [SymBufs]) {
    finish::<super::attn::Avx2>(o, l, d, no_self, slices)
}

pub fn finish_portable(o: &mut [f32], l: usize, d: usize, no_self: bool, slices: &mut [SymBufs]) {
    // SAFETY: the portable lanes need no CPU feature.
    unsafe { finish::<super::attn::Portable>(o, l, d, no_self, slices) }
}

#[allow(clippy::too_many_arguments)]
pub fn rows_portable(x: &[f32], o: &mut [f32], l: usize, d: usize, lambda: f32, dot: bool, no_self: bool, b: &mut SymBufs) {
    // SAFETY: the portable lanes need no CPU feature.
    unsafe {
        if d <= NARROW_D {
            rows_narrow::<super::attn::Portable>(x, o, l, d, lambda, dot, no_self, &mut b.narrow)
        } else {
            rows::<super::attn::Portable, 6, 32>(x, o, l, d, lambda, dot, no_self, b)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::attn::{exp2_scalar, exp_nonpos_scalar};
    use super::*;
    use crate::kernels::simd::{self, Isa};

    /// The fixed tree of `V16::hsum`: lanes `t` and `t + 8`, then `t` and `t + 4`, …
    fn tree(l: &[f32; LANES]) -> f32 {
        let s8: Vec<f32> = (0..8).map(|t| l[t] + l[t + 8]).collect();
        let s4: Vec<f32> = (0..4).map(|t| s8[t] + s8[t + 4]).collect();
        (s4[0] + s4[2]) + (s4[1] + s4[3])
    }

    /// The wide kernel's sums in the order of the module doc, one scalar at a time.
    fn model(x: &[f32], l: usize, d: usize, lambda: f32, dot: bool, no_self: bool) -> Vec<f32> {
        let xr = |i: usize| &x[i * d..(i + 1) * d];
        let a: Vec<f32> = (0..l).map(|j| (0.5 * lambda) * xr(j).iter().fold(0.0f32, |s, &v| v.mul_add(v, s))).collect();
        let g: Vec<f32> = a.iter().map(|&a| if dot { 1.0 / exp_nonpos_scalar(0.0 - a) } else { 1.0 }).collect();
        let y: Vec<Vec<f32>> = (0..l).map(|j| xr(j).iter().map(|&v| g[j] * v).collect()).collect();
        // base 2: t = (−h_i ⊖ h_j), then fma(q_if, x_jf, t) over the features, w = 2^t
        let c = lambda * std::f32::consts::LOG2_E;
        let h: Vec<f32> = a.iter().map(|&a| a * std::f32::consts::LOG2_E).collect();
        let w = |i: usize, j: usize| {
            let t = xr(i).iter().zip(xr(j)).fold(-h[i] - h[j], |t, (&p, &q)| (c * p).mul_add(q, t));
            exp2_scalar(t)
        };
        let pw = if l > PANEL { PANEL } else { l.div_ceil(LANES) * LANES };
        let mut o = vec![0.0f32; l * d];
        for t in 0..l {
            let bt = t / pw * pw;
            let mut u = vec![0.0f32; d];
            let add = |u: &mut Vec<f32>, j: usize| {
                let wj = w(t.min(j), t.max(j));
                for (uc, yc) in u.iter_mut().zip(&y[j]) {
                    *uc = wj.mul_add(*yc, *uc);
                }
            };
            // column terms of earlier blocks, the diagonal block's row then column terms, later row terms
            (0..bt).for_each(|i| add(&mut u, i));
            (t + 1..l.min(bt + pw)).for_each(|j| add(&mut u, j));
            (bt..t).for_each(|i| add(&mut u, i));
            (bt + pw..l).for_each(|j| add(&mut u, j));
            let mut lanes = [0.0f32; LANES];
            for j in t + 1..l {
                lanes[j % LANES] = w(t, j).mul_add(g[j], lanes[j % LANES]);
            }
            let col = (0..t).fold(0.0f32, |s, i| g[i].mul_add(w(i, t), s));
            let mut z = tree(&lanes) + col;
            if !no_self {
                z += g[t];
            }
            let inv = 1.0 / z;
            for c in 0..d {
                let s = if no_self { u[c] } else { u[c] + y[t][c] };
                o[t * d + c] = s * inv;
            }
        }
        o
    }

    #[test]
    fn wide_kernel_follows_the_documented_order_bit_for_bit() {
        // lengths and widths on both sides of the 16-token lanes, the 64-token blocks and the
        // 16-feature vectors, on every instruction set
        let isas: Vec<Isa> = [Isa::Portable, Isa::Avx2, Isa::Avx512].into_iter().filter(|i| i.available()).collect();
        let mut bufs = SymBufs::default();
        for (l, d) in [(1, 9), (15, 16), (17, 17), (63, 16), (64, 31), (65, 16), (129, 33), (200, 48), (143, 64)] {
            let x: Vec<f32> = (0..l * d).map(|i: usize| (i.wrapping_mul(2654435761) % 1000) as f32 / 500.0 - 1.0).collect();
            let max_sq = x.chunks(d).map(|r| r.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>()).fold(0.0, f64::max);
            for lambda in [0.7f32, (MAX_SPREAD / max_sq * 0.999) as f32] {
                for (dot, no_self) in [(true, false), (false, false), (true, true)] {
                    if no_self && l < 2 {
                        continue;
                    }
                    let want: Vec<u32> = model(&x, l, d, lambda, dot, no_self).iter().map(|v| v.to_bits()).collect();
                    for &isa in &isas {
                        let mut o = vec![f32::NAN; l * d];
                        simd::attn_sym(isa, &x, &mut o, l, d, lambda, dot, no_self, crate::Par::Seq, &mut bufs);
                        let got: Vec<u32> = o.iter().map(|v| v.to_bits()).collect();
                        assert_eq!(got, want, "{isa:?} l={l} d={d} λ={lambda} dot={dot} no_self={no_self}");
                    }
                }
            }
        }
    }
}
