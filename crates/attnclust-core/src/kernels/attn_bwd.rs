//! The fused small-`d` attention backward in `f32` (`dk, dv ≤` [`MAX_D`]): FlashAttention-2's
//! backward (Dao 2023, algorithm 2) on tiles of [`BR`] queries × [`BC`] keys, with no general tile
//! product and no `L × L` matrix.
//!
//! Per tile `(i, j)`, from the forward's statistics (row maximum `m_i`, normaliser `z_i`,
//! dominant key `a_i`, `rest_i = O_i − V_{a_i}`; see [`crate::models::attention::flash::Stats`]):
//!
//! ```text
//! S  = λ Q_i K_jᵀ (+ β_j, masks)          the score contract: crate::kernels::attn::score_block itself
//! P  = e^{S − m} ⊗ (1/z)                   the forward's exponential (V16::exp_nonpos)
//! dP = dO_i V_jᵀ
//! dS = P ⊙ ((dP − c) − e),  dS_{i a_i} = −(P_{i a_i} e_i)     c_i = ⟨dO_i, V_{a_i}⟩, e_i = ⟨dO_i, rest_i⟩
//! dV_j += Pᵀ dO_i,   dK_j += dSᵀ Q_i,   dQ_i += dS K_j
//! ```
//!
//! and at the end `dQ ⊕= λ ⊗ dQ`, `dK ⊕= λ ⊗ dK`, `dV ⊕= dV` into the caller's arrays. `D_i = Σ_j
//! P_ij dP_ij` is never formed: it is `c_i + e_i`, and `dP − D` is taken as `(dP − c) − e`, so a
//! saturated row (`P_{i a_i} → 1`) keeps a gradient accurate to a few ulps of its own size at any
//! `λ` (issue 9, item 6; the module doc of [`crate::models::attention::flash`]).
//!
//! **Kernels.** `S` and `dP` are computed by blocks of `R` query rows × `16·NV` keys held in
//! registers (keys in lanes, `Kᵀ` and `Vᵀ` packed per key tile); `P` and `dS` are stored in two
//! `BR × BC` tiles (L1/L2). The three products are one register-blocked kernel
//! ([`acc_block`]): `MR` output rows × `NG` vectors of 16 features held in registers, one
//! broadcast per row and one load per vector at each step of the reduction, which runs in
//! increasing order of its index (query rows for `dV`, `dK`; keys for `dQ`).
//!
//! **Same bits for any thread count.** Each output element is a chain of `fma`s in a fixed order:
//! `dK_j`, `dV_j` over the query tiles `i = 0, 1, …` (rows in order within a tile), `dQ_i` over the
//! key tiles `j = 0, 1, …`. One pass ([`kv_block`] with `dQ`) runs the key tiles in order and
//! updates `dQ` in memory; the parallel form runs [`kv_block`] per key tile and [`q_block`] per
//! query tile (recomputing `S`, `P`, `dP`, `dS`: 14 instead of 10 `L²d` flop); both perform the
//! very same operations on every element, so their results are identical, and the choice between
//! them is free. Tiles that a causal mask hides entirely are skipped: they would only add zeros.
//!
//! **Symmetric form** (one pass, `Q`, `K` and `V` one and the same matrix — identity attention,
//! model C with identity `W_Q`, `W_K`, `W_V` — no key bias, no causal mask): `S` is symmetric, so
//! for each pair of tiles `lo < hi` one register block of `S = λ Q_lo K_hiᵀ` gives `P_(lo, hi)` and
//! `P_(hi, lo)ᵀ` (the queries of tile `hi` in lanes, their `m`, `1/z` loaded per lane), and
//! `dP_(hi, lo)ᵀ = V_lo dO_hiᵀ` is the score block on `dOᵀ` (packed per tile) with `λ = 1`: `S` is
//! computed once per pair instead of twice (about 9 instead of 10 `L²d` flop). Each element of
//! `S`, `P`, `dP`, `dS` is the very operation of the general form (`λ⟨x_i, x_j⟩` and `⟨x_j, x_i⟩`
//! are the same `fma` chain, products commuted; `e^x`, `⊗ 1` and the rest lane by lane), and the
//! pairs run row by row (`lo = 0, 1, …`; `hi = lo, lo + 1, …`), which hands every `dK_j`, `dV_j`
//! its query tiles and every `dQ_i` its key tiles in increasing order, as the one-pass form does:
//! the results are the general form's, bit for bit (tested against the two-pass form, which never
//! takes it). Its `dQ`, `dK`, `dV` accumulators span the head (`3·L·d` values, in L2); `P` and
//! `dS` of a pair share two tiles (`dS` written over `P`).

use crate::kernels::attn::{score_block, Portable, LANES, MAX_D, V16};
#[cfg(target_arch = "x86_64")]
use crate::kernels::attn::{Avx2, Avx512};
use std::borrow::Cow;

/// Queries per tile.
pub const BR: usize = 64;
/// Keys per tile (equal to [`BR`]: the symmetric form pairs query tile `t` with key tile `t`).
pub const BC: usize = 64;
const _: () = assert!(BR == BC);
/// `arg` of a row that sees no key.
const NONE: u32 = u32::MAX;

/// One head's inputs to the fused backward, row-major, as in
/// [`crate::models::attention::flash::Head`] and its [`crate::models::attention::flash::Stats`].
pub struct Input<'a> {
    pub q: &'a [f32],
    pub k: &'a [f32],
    pub v: &'a [f32],
    /// `dO`, `l × dv`.
    pub d_o: &'a [f32],
    pub l: usize,
    pub dk: usize,
    pub dv: usize,
    pub lambda: f32,
    pub bias: Option<&'a [f32]>,
    pub causal: bool,
    pub no_self: bool,
    /// The forward's `m_i`, `z_i`, `a_i` and `rest_i` (`l × dv`).
    pub max: &'a [f32],
    pub norm: &'a [f32],
    pub arg: &'a [u32],
    pub rest: &'a [f32],
}

/// One head prepared for the tiles: rows padded to whole tiles and features to whole vectors of
/// 16 (zeros; borrowed as they are when they need no padding), `Kᵀ`, `Vᵀ` packed per key tile
/// (once when `V` is `K`), and the per-row constants.
pub struct Prep<'a> {
    pub l: usize,
    pub dk: usize,
    pub dv: usize,
    /// `dk`, `dv` rounded up to a multiple of 16.
    pub dkp: usize,
    pub dvp: usize,
    pub lambda: f32,
    pub causal: bool,
    pub no_self: bool,
    /// `Q`, `dO`: `lq × dkp`, `lq × dvp` (`lq` = `l` rounded up to [`BR`]).
    q: Cow<'a, [f32]>,
    d_o: Cow<'a, [f32]>,
    /// `K`: `lk × dkp` (`lk` = `l` rounded up to [`BC`]).
    k: Cow<'a, [f32]>,
    /// Per key tile `t`: `Kᵀ` (`dk × BC`) at `t·dk·BC`, `Vᵀ` (`dv × BC`) at `t·dv·BC`; `vt` is
    /// `None` when `V` is `K` (identity attention).
    kt: Vec<f32>,
    vt: Option<Vec<f32>>,
    /// The symmetric form (module doc): `Q`, `K` and `V` are one matrix, no key bias, no causal
    /// mask, and the one-pass form runs. `dOᵀ` is then packed per tile like `Kᵀ` (`dv × BR` at
    /// `t·dv·BR`).
    sym: bool,
    dot: Option<Vec<f32>>,
    /// `lk` key biases (zeros past `l`).
    bias: Option<Vec<f32>>,
    /// Per query row (`lq`): `m_i` (`+∞` for a row that sees no key, so that its `P` is 0),
    /// `1/z_i` (0 for such a row), `c_i`, `e_i`, `a_i`.
    m: Vec<f32>,
    inv_z: Vec<f32>,
    c: Vec<f32>,
    e: Vec<f32>,
    arg: Vec<u32>,
}

/// Largest buffer (values) a thread keeps between calls: the packed keys and the `dQ` accumulator
/// of prompts up to 4096 tokens at `d = 64` (a larger call amortises its own allocations).
const KEEP: usize = 1 << 18;
/// Most buffers a thread keeps: the symmetric form takes five per head.
const POOLED: usize = 6;

thread_local! {
    /// This thread's large work buffers of earlier calls (at most [`POOLED`] of at most [`KEEP`] values),
    /// so that a batch of prompts does not fault fresh pages in for every head.
    static POOL: std::cell::RefCell<Vec<Vec<f32>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `n` zeros, in a buffer this thread gave back earlier when there is one.
fn take(n: usize) -> Vec<f32> {
    let mut v = POOL.with(|p| p.borrow_mut().pop()).unwrap_or_default();
    v.clear();
    v.resize(n, 0.0);
    v
}

/// Gives `v` back for a later [`take`] on this thread.
fn give(v: Vec<f32>) {
    if v.capacity() <= KEEP {
        POOL.with(|p| {
            let mut p = p.borrow_mut();
            if p.len() < POOLED {
                p.push(v);
            }
        });
    }
}

/// `m × n` row-major into `rows × np` (zero-padded), borrowed when that is `a` itself.
fn pad(a: &[f32], m: usize, n: usize, rows: usize, np: usize) -> Cow<'_, [f32]> {
    if n == np && m == rows {
        return Cow::Borrowed(&a[..m * n]);
    }
    let mut out = vec![0.0f32; rows * np];
    for (o, r) in out.chunks_exact_mut(np).zip(a[..m * n].chunks_exact(n.max(1))) {
        o[..n].copy_from_slice(r);
    }
    Cow::Owned(out)
}

/// `m × n` row-major into tiles of [`BC`] rows, each transposed (`n × BC`, zero-padded).
fn pack_tiles(a: &[f32], m: usize, n: usize) -> Vec<f32> {
    let tiles = m.div_ceil(BC);
    let mut out = take(tiles * n * BC);
    for (r, row) in a[..m * n].chunks_exact(n).enumerate() {
        let base = (r / BC) * n * BC + r % BC;
        for (f, &x) in row.iter().enumerate() {
            out[base + f * BC] = x;
        }
    }
    out
}

impl<'a> Prep<'a> {
    /// Pads and packs `inp` (for the symmetric form when it applies and `one_pass`); the per-row
    /// constants `c_i`, `e_i` are plain sums in feature order.
    ///
    /// # Panics
    /// On sizes outside `1 ≤ dk, dv ≤` [`MAX_D`] or slices shorter than their shapes.
    pub fn new(inp: &Input<'a>, one_pass: bool) -> Prep<'a> {
        let (l, dk, dv) = (inp.l, inp.dk, inp.dv);
        assert!((1..=MAX_D).contains(&dk) && (1..=MAX_D).contains(&dv) && l < NONE as usize);
        assert!(inp.q.len() >= l * dk && inp.k.len() >= l * dk && inp.v.len() >= l * dv && inp.d_o.len() >= l * dv);
        assert!(inp.max.len() >= l && inp.norm.len() >= l && inp.arg.len() >= l && inp.rest.len() >= l * dv);
        assert!(inp.bias.is_none_or(|b| b.len() >= l));
        let (dkp, dvp) = (dk.div_ceil(LANES) * LANES, dv.div_ceil(LANES) * LANES);
        let (lq, lk) = (l.div_ceil(BR) * BR, l.div_ceil(BC) * BC);
        let same_kv = std::ptr::eq(inp.k.as_ptr(), inp.v.as_ptr()) && dk == dv;
        let sym = one_pass && same_kv && std::ptr::eq(inp.q.as_ptr(), inp.k.as_ptr()) && inp.bias.is_none() && !inp.causal;
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).fold(0.0f32, |s, (&x, &y)| s + x * y);
        let (mut m, mut inv_z, mut c, mut e, mut arg) = (vec![f32::INFINITY; lq], vec![0.0f32; lq], vec![0.0f32; lq], vec![0.0f32; lq], vec![NONE; lq]);
        for i in 0..l {
            let a = inp.arg[i];
            if a == NONE {
                continue;
            }
            let doi = &inp.d_o[i * dv..(i + 1) * dv];
            m[i] = inp.max[i];
            inv_z[i] = if inp.norm[i] > 0.0 { 1.0 / inp.norm[i] } else { 0.0 };
            c[i] = dot(doi, &inp.v[a as usize * dv..(a as usize + 1) * dv]);
            e[i] = dot(doi, &inp.rest[i * dv..(i + 1) * dv]);
            arg[i] = a;
        }
        Prep {
            l,
            dk,
            dv,
            dkp,
            dvp,
            lambda: inp.lambda,
            causal: inp.causal,
            no_self: inp.no_self,
            q: pad(inp.q, l, dk, lq, dkp),
            d_o: pad(inp.d_o, l, dv, lq, dvp),
            k: pad(inp.k, l, dk, lk, dkp),
            kt: pack_tiles(inp.k, l, dk),
            vt: if same_kv { None } else { Some(pack_tiles(inp.v, l, dv)) },
            sym,
            dot: if sym { Some(pack_tiles(inp.d_o, l, dv)) } else { None },
            bias: inp.bias.map(|b| {
                let mut p = vec![0.0f32; lk];
                p[..l].copy_from_slice(&b[..l]);
                p
            }),
            m,
            inv_z,
            c,
            e,
            arg,
        }
    }

    /// Gives this head's packed buffers back to the thread's pool.
    fn release(self) {
        give(self.kt);
        for v in [self.vt, self.dot].into_iter().flatten() {
            give(v);
        }
    }

    /// Number of query tiles and of key tiles.
    pub fn tiles(&self) -> (usize, usize) {
        (self.l.div_ceil(BR), self.l.div_ceil(BC))
    }

    /// Whether tile `(it, jt)` has a key some query of it sees (a causal mask hides the tiles above
    /// the diagonal).
    pub fn live(&self, it: usize, jt: usize) -> bool {
        !self.causal || jt * BC < ((it + 1) * BR).min(self.l)
    }
}

/// Scratch values of the fused backward of one head (`f32` values, `1 ≤ dk, dv ≤` [`MAX_D`], else 0):
/// the padded `Q`, `dO`, `K`, the packed `Kᵀ`, `Vᵀ` (or, in the symmetric form, `dOᵀ`), the key
/// biases, five per-row constants, the one-pass `dQ` accumulator, the `dK`, `dV` accumulators of
/// the whole head (symmetric form; a key tile's otherwise) and two `P`, `dS` tiles.
pub fn scratch(elem: usize, l: usize, dk: usize, dv: usize) -> f64 {
    if elem != 4 || !(1..=MAX_D).contains(&dk) || !(1..=MAX_D).contains(&dv) {
        return 0.0;
    }
    let (dkp, dvp) = (dk.div_ceil(LANES) * LANES, dv.div_ceil(LANES) * LANES);
    let (lq, lk) = (l.div_ceil(BR) * BR, l.div_ceil(BC) * BC);
    (lq * (2 * dkp + dvp + 5) + lk * (dkp + dk + dv + 1) + lk * (dkp + dvp) + 2 * BR * BC) as f64
}

/// Lanes of key vector `[base, base + 16)` that query `i` sees.
#[inline(always)]
fn keep_bits(p: &Prep, i: usize, base: usize) -> u32 {
    let mut keep: u32 = if base + LANES > p.l { (1u32 << p.l.saturating_sub(base)) - 1 } else { 0xffff };
    if p.causal && base + LANES - 1 > i {
        keep &= if i >= base { (2u32 << (i - base)) - 1 } else { 0 };
    }
    if p.no_self && i >= base && i < base + LANES {
        keep &= !(1u32 << (i - base));
    }
    keep
}

/// `P` and `dS` of rows `[i, i + R)` (tile rows `[tr, tr + R)`) and key vectors `[v0, v0 + NV)` of
/// key tile `jt`, into the tiles `pt`, `ds` (`BR × BC`, row-major).
///
/// # Safety
/// The CPU has `V`'s features; `i + R` within the padded rows, `v0 + NV ≤ BC / 16`, `tr + R ≤ BR`.
#[inline(always)]
unsafe fn tile_block<V: V16, const R: usize, const NV: usize>(p: &Prep, i: usize, tr: usize, jt: usize, v0: usize, pt: *mut f32, ds: *mut f32) {
    let (dk, dv, dkp, dvp) = (p.dk, p.dv, p.dkp, p.dvp);
    let kb = jt * BC + LANES * v0;
    // S: the contract scores, keys in lanes
    let kt = p.kt.as_ptr().add(jt * dk * BC + LANES * v0);
    let q = p.q.as_ptr().add(i * dkp);
    let bias = p.bias.as_ref().map(|b| b.as_ptr().add(kb));
    let s = score_block::<V, R, NV>(q, dkp, dk, kt, BC, p.lambda, bias);
    let edge = kb + LANES * NV > p.l || (p.causal && kb + LANES * NV > i + 1) || (p.no_self && kb < i + R && kb + LANES * NV > i);
    for (r, sr) in s.iter().enumerate() {
        let (mv, zv) = (V::splat(p.m[i + r]), V::splat(p.inv_z[i + r]));
        for (v, &x) in sr.iter().enumerate() {
            let mut y = x;
            if edge {
                let keep = keep_bits(p, i + r, kb + LANES * v);
                if keep != 0xffff {
                    y = y.keep(keep);
                }
            }
            y.sub(mv).exp_nonpos().mul(zv).store(pt.add((tr + r) * BC + LANES * (v0 + v)));
        }
    }
    // dP = dO Vᵀ, then dS = P ⊙ ((dP − c) − e)
    let vt = p.vt.as_ref().unwrap_or(&p.kt).as_ptr().add(jt * dv * BC + LANES * v0);
    let d_o = p.d_o.as_ptr().add(i * dvp);
    let mut dp = [[V::splat(0.0); NV]; R];
    for f in 0..dv {
        let row = vt.add(f * BC);
        let mut vv = [V::splat(0.0); NV];
        for (v, x) in vv.iter_mut().enumerate() {
            *x = V::load(row.add(LANES * v));
        }
        for (r, dr) in dp.iter_mut().enumerate() {
            let ov = V::splat(*d_o.add(r * dvp + f));
            for v in 0..NV {
                dr[v] = V::fma(ov, vv[v], dr[v]);
            }
        }
    }
    for (r, dr) in dp.iter().enumerate() {
        let (cv, ev) = (V::splat(p.c[i + r]), V::splat(p.e[i + r]));
        for (v, x) in dr.iter().enumerate() {
            let at = (tr + r) * BC + LANES * (v0 + v);
            V::load(pt.add(at)).mul(x.sub(cv).sub(ev)).store(ds.add(at));
        }
        // the dominant key: exactly −P e
        let a = p.arg[i + r] as usize;
        if p.arg[i + r] != NONE && a >= kb && a < kb + LANES * NV {
            let at = (tr + r) * BC + (a - jt * BC);
            *ds.add(at) = -(*pt.add(at) * p.e[i + r]);
        }
    }
}

/// The `P` and `dS` tiles of query tile `it` and key tile `jt`.
///
/// # Safety
/// The CPU has `V`'s features; `R` divides [`BR`] or leaves a multiple of 4, `NV` divides `BC / 16`.
#[inline(always)]
unsafe fn tile<V: V16, const R: usize, const NV: usize>(p: &Prep, it: usize, jt: usize, pt: &mut [f32], ds: &mut [f32]) {
    assert!(pt.len() >= BR * BC && ds.len() >= BR * BC && (BR % R).is_multiple_of(4) && (BC / LANES).is_multiple_of(NV));
    let rows = BR.min(p.l - it * BR);
    let mut r0 = 0;
    while r0 < rows {
        // blocks of R rows, then of 4 where R rows would pass the tile
        let step = if r0 + R <= BR { R } else { 4 };
        let mut v0 = 0;
        while v0 < BC / LANES {
            if step == R {
                tile_block::<V, R, NV>(p, it * BR + r0, r0, jt, v0, pt.as_mut_ptr(), ds.as_mut_ptr());
            } else {
                tile_block::<V, 4, NV>(p, it * BR + r0, r0, jt, v0, pt.as_mut_ptr(), ds.as_mut_ptr());
            }
            v0 += NV;
        }
        r0 += step;
    }
}

/// `C[m] += Σ_k A(m, k) · B[k]` for `MR` rows of `C` (stride `cs`) and `NG` vectors of 16 columns:
/// `A(m, k)` at `a + m·am + k·ak` (broadcast), row `k` of `B` at `b + k·bk`, `k = 0 … kc − 1` in
/// order, one `fma` each.
///
/// # Safety
/// Every address above is readable (`C` writable) for the vectors read; the CPU has `V`'s features.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn acc_block<V: V16, const MR: usize, const NG: usize>(
    c: *mut f32,
    cs: usize,
    a: *const f32,
    am: usize,
    ak: usize,
    b: *const f32,
    bk: usize,
    kc: usize,
) {
    let mut acc = [[V::splat(0.0); NG]; MR];
    for (m, row) in acc.iter_mut().enumerate() {
        for (n, x) in row.iter_mut().enumerate() {
            *x = V::load(c.add(m * cs + LANES * n));
        }
    }
    for k in 0..kc {
        let bp = b.add(k * bk);
        let mut bv = [V::splat(0.0); NG];
        for (n, x) in bv.iter_mut().enumerate() {
            *x = V::load(bp.add(LANES * n));
        }
        let ap = a.add(k * ak);
        for (m, row) in acc.iter_mut().enumerate() {
            let av = V::splat(*ap.add(m * am));
            for n in 0..NG {
                row[n] = V::fma(av, bv[n], row[n]);
            }
        }
    }
    for (m, row) in acc.iter().enumerate() {
        for (n, x) in row.iter().enumerate() {
            x.store(c.add(m * cs + LANES * n));
        }
    }
}

/// [`acc_block`] with `ng ≤ 4` vectors.
///
/// # Safety
/// As [`acc_block`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn acc_ng<V: V16, const MR: usize>(ng: usize, c: *mut f32, cs: usize, a: *const f32, am: usize, ak: usize, b: *const f32, bk: usize, kc: usize) {
    match ng {
        4 => acc_block::<V, MR, 4>(c, cs, a, am, ak, b, bk, kc),
        3 => acc_block::<V, MR, 3>(c, cs, a, am, ak, b, bk, kc),
        2 => acc_block::<V, MR, 2>(c, cs, a, am, ak, b, bk, kc),
        _ => acc_block::<V, MR, 1>(c, cs, a, am, ak, b, bk, kc),
    }
}

/// [`acc_block`] over `rows` rows of `C` and `nf` vectors of columns: blocks of up to `MR` rows
/// (`MR ≤ 8`) and up to `NG` vectors (each element's chain is the same whatever the block).
///
/// # Safety
/// As [`acc_block`] for every block.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn acc_rows<V: V16, const MR: usize, const NG: usize>(
    c: *mut f32,
    cs: usize,
    rows: usize,
    nf: usize,
    a: *const f32,
    am: usize,
    ak: usize,
    b: *const f32,
    bk: usize,
    kc: usize,
) {
    let mut n0 = 0;
    while n0 < nf {
        let ng = NG.min(nf - n0);
        let mut m0 = 0;
        while m0 < rows {
            let mr = MR.min(rows - m0);
            let (cp, ap, bp) = (c.add(m0 * cs + LANES * n0), a.add(m0 * am), b.add(LANES * n0));
            match mr {
                8 => acc_ng::<V, 8>(ng, cp, cs, ap, am, ak, bp, bk, kc),
                7 => acc_ng::<V, 7>(ng, cp, cs, ap, am, ak, bp, bk, kc),
                6 => acc_ng::<V, 6>(ng, cp, cs, ap, am, ak, bp, bk, kc),
                5 => acc_ng::<V, 5>(ng, cp, cs, ap, am, ak, bp, bk, kc),
                4 => acc_ng::<V, 4>(ng, cp, cs, ap, am, ak, bp, bk, kc),
                3 => acc_ng::<V, 3>(ng, cp, cs, ap, am, ak, bp, bk, kc),
                2 => acc_ng::<V, 2>(ng, cp, cs, ap, am, ak, bp, bk, kc),
                _ => acc_ng::<V, 1>(ng, cp, cs, ap, am, ak, bp, bk, kc),
            }
            m0 += mr;
        }
        n0 += ng;
    }
}

/// `C = Aᵀ B` in `f32` (`A`: `k × m`, `B`: `k × n`, `C`: `m × n`, all row-major and dense; `C` is
/// overwritten) by the register-blocked product of the backward ([`acc_block`]): each element is one
/// chain of `fma`s over `k` in increasing order. Model C's weight gradients `X_bᵀ dQ`, `Oᵀ dY_b`.
///
/// # Panics
/// When `n` is not a multiple of 16 or a slice is shorter than its shape.
///
/// # Safety
/// The CPU has `V`'s features.
#[inline(always)]
unsafe fn at_b<V: V16, const MR: usize, const NG: usize>(c: &mut [f32], a: &[f32], b: &[f32], k: usize, m: usize, n: usize) {
    assert!(n.is_multiple_of(LANES) && a.len() >= k * m && b.len() >= k * n && c.len() >= m * n);
    c[..m * n].iter_mut().for_each(|x| *x = 0.0);
    if k == 0 || m == 0 || n == 0 {
        return;
    }
    // A(row, step) = a[step·m + row], B rows of n values, C rows of n values
    acc_rows::<V, MR, NG>(c.as_mut_ptr(), n, m, n / LANES, a.as_ptr(), 1, m, b.as_ptr(), n, k);
}

/// [`at_b`] on AVX-512F.
///
/// # Safety
/// The CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub unsafe fn at_b_avx512(c: &mut [f32], a: &[f32], b: &[f32], k: usize, m: usize, n: usize) {
    at_b::<Avx512, 6, 4>(c, a, b, k, m, n)
}

/// [`at_b`] on AVX2 and FMA.
///
/// # Safety
/// The CPU has AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub unsafe fn at_b_avx2(c: &mut [f32], a: &[f32], b: &[f32], k: usize, m: usize, n: usize) {
    at_b::<Avx2, 6, 1>(c, a, b, k, m, n)
}

/// [`at_b`] on the portable lanes.
pub fn at_b_portable(c: &mut [f32], a: &[f32], b: &[f32], k: usize, m: usize, n: usize) {
    // SAFETY: the portable lanes need no CPU feature.
    unsafe { at_b::<Portable, 4, 2>(c, a, b, k, m, n) }
}

/// What a block of one pass accumulates: for [`kv_block`], `dK` and `dV` of its key tile
/// (`BC × dkp`, `BC × dvp`) and optionally `dQ` of the whole head (`lq × dkp`); for [`q_block`],
/// `dQ` of its query tile (`BR × dkp`). All start at zero.
pub struct Acc<'a> {
    pub dk: &'a mut [f32],
    pub dv: &'a mut [f32],
    pub dq: Option<&'a mut [f32]>,
}

/// Key tile `jt`: `dK_j`, `dV_j` over every live query tile in order, and, when `acc.dq` is given,
/// `dQ_i += dS K_j` (the one-pass form, key tiles called in order).
///
/// # Safety
/// The CPU has `V`'s features.
#[inline(always)]
unsafe fn kv_block<V: V16, const R: usize, const NV: usize, const MR: usize, const NG: usize>(p: &Prep, jt: usize, acc: Acc) {
    let (dkp, dvp, l) = (p.dkp, p.dvp, p.l);
    let (nfk, nfv) = (dkp / LANES, dvp / LANES);
    assert!(acc.dk.len() >= BC * dkp && acc.dv.len() >= BC * dvp);
    let mut pt = vec![0.0f32; BR * BC];
    let mut ds = vec![0.0f32; BR * BC];
    let keys = BC.min(l - jt * BC);
    let (nq, _) = p.tiles();
    let mut dq = acc.dq;
    for it in 0..nq {
        if !p.live(it, jt) {
            continue;
        }
        tile::<V, R, NV>(p, it, jt, &mut pt, &mut ds);
        let rows = BR.min(l - it * BR);
        // dV_j += Pᵀ dO_i: A(key, r) = P[r][key]
        acc_rows::<V, MR, NG>(acc.dv.as_mut_ptr(), dvp, keys, nfv, pt.as_ptr(), 1, BC, p.d_o.as_ptr().add(it * BR * dvp), dvp, rows);
        // dK_j += dSᵀ Q_i
        acc_rows::<V, MR, NG>(acc.dk.as_mut_ptr(), dkp, keys, nfk, ds.as_ptr(), 1, BC, p.q.as_ptr().add(it * BR * dkp), dkp, rows);
        if let Some(dq) = dq.as_deref_mut() {
            assert!(dq.len() >= (it * BR + rows) * dkp);
            // dQ_i += dS K_j: A(r, key) = dS[r][key]
            acc_rows::<V, MR, NG>(dq.as_mut_ptr().add(it * BR * dkp), dkp, rows, nfk, ds.as_ptr(), BC, 1, p.k.as_ptr().add(jt * BC * dkp), dkp, keys);
        }
    }
}

/// Query tile `it`: `dQ_i += dS K_j` over every live key tile in order (the same operations on
/// `dQ` as the one-pass form).
///
/// # Safety
/// The CPU has `V`'s features.
#[inline(always)]
unsafe fn q_block<V: V16, const R: usize, const NV: usize, const MR: usize, const NG: usize>(p: &Prep, it: usize, dq: &mut [f32]) {
    let (dkp, l) = (p.dkp, p.l);
    let nfk = dkp / LANES;
    let rows = BR.min(l - it * BR);
    assert!(dq.len() >= rows * dkp);
    let mut pt = vec![0.0f32; BR * BC];
    let mut ds = vec![0.0f32; BR * BC];
    let (_, nk) = p.tiles();
    for jt in 0..nk {
        if !p.live(it, jt) {
            continue;
        }
        tile::<V, R, NV>(p, it, jt, &mut pt, &mut ds);
        let keys = BC.min(l - jt * BC);
        acc_rows::<V, MR, NG>(dq.as_mut_ptr(), dkp, rows, nfk, ds.as_ptr(), BC, 1, p.k.as_ptr().add(jt * BC * dkp), dkp, keys);
    }
}

/// The two tiles of a pair of the symmetric form (`BR × BC` each, row-major): tile `(lo, hi)` and
/// tile `(hi, lo)` transposed (row `r` holds key `lo·BC + r` against the queries `hi·BR + c` in its
/// columns). Each holds `P` first, then `dS` written over it.
struct Tiles {
    t: Vec<f32>,
    tt: Vec<f32>,
}

/// The symmetric form's `P` of rows `[r0, r0 + R)` of query tile `lo` and key vectors
/// `[v0, v0 + NV)` of key tile `hi` (`lo < hi`): one score block `S = λ Q_lo K_hiᵀ` serves
/// `P_(lo, hi)` (row constants `m`, `1/z` broadcast) and, as `S_(hi, lo)ᵀ`, `P_(hi, lo)ᵀ` (the
/// queries of tile `hi` in lanes, their constants loaded per lane): the operations of
/// [`tile_block`] on each element.
///
/// # Safety
/// The CPU has `V`'s features; `p.sym`; `r0 + R ≤ BR`, `v0 + NV ≤ BC / 16`, `lo < hi`.
#[inline(always)]
unsafe fn pair_p<V: V16, const R: usize, const NV: usize>(p: &Prep, lo: usize, hi: usize, r0: usize, v0: usize, t: &mut Tiles) {
    let (dk, dkp) = (p.dk, p.dkp);
    let i = lo * BR + r0;
    let kb = hi * BC + LANES * v0;
    let (pt, ptt) = (t.t.as_mut_ptr(), t.tt.as_mut_ptr());
    let s = score_block::<V, R, NV>(p.q.as_ptr().add(i * dkp), dkp, dk, p.kt.as_ptr().add(hi * dk * BC + LANES * v0), BC, p.lambda, None);
    // keys past the prompt (no causal mask here; a `no_self` mask never meets two tiles)
    let edge = kb + LANES * NV > p.l;
    for (r, sr) in s.iter().enumerate() {
        let (mv, zv) = (V::splat(p.m[i + r]), V::splat(p.inv_z[i + r]));
        for (v, &x) in sr.iter().enumerate() {
            let at = (r0 + r) * BC + LANES * (v0 + v);
            // (hi, lo): queries in lanes (past the prompt: m = +∞, 1/z = 0, so P = 0)
            let (mq, zq) = (V::load(p.m.as_ptr().add(kb + LANES * v)), V::load(p.inv_z.as_ptr().add(kb + LANES * v)));
            x.sub(mq).exp_nonpos().mul(zq).store(ptt.add(at));
            let mut y = x;
            if edge {
                let keep = keep_bits(p, i + r, kb + LANES * v);
                if keep != 0xffff {
                    y = y.keep(keep);
                }
            }
            y.sub(mv).exp_nonpos().mul(zv).store(pt.add(at));
        }
    }
}

/// The symmetric form's `dS` over `P` for the block of [`pair_p`]: `dP_(lo, hi) = dO_lo V_hiᵀ` as
/// in [`tile_block`] and `dP_(hi, lo)ᵀ = V_lo dO_hiᵀ` by the score block on the packed `dOᵀ` with
/// `λ = 1` (each element the chain of [`tile_block`]'s, its products commuted), then
/// `dS = P ⊙ ((dP − c) − e)` and the dominant-key correction of `(lo, hi)`'s rows.
///
/// # Safety
/// As [`pair_p`], after it.
#[inline(always)]
unsafe fn pair_ds<V: V16, const R: usize, const NV: usize>(p: &Prep, lo: usize, hi: usize, r0: usize, v0: usize, t: &mut Tiles) {
    let (dv, dkp, dvp) = (p.dv, p.dkp, p.dvp);
    let i = lo * BR + r0;
    let kb = hi * BC + LANES * v0;
    let (pt, ptt) = (t.t.as_mut_ptr(), t.tt.as_mut_ptr());
    let vt = p.kt.as_ptr().add(hi * dv * BC + LANES * v0);
    let d_o = p.d_o.as_ptr().add(i * dvp);
    let mut dp = [[V::splat(0.0); NV]; R];
    for f in 0..dv {
        let row = vt.add(f * BC);
        let mut vv = [V::splat(0.0); NV];
        for (v, x) in vv.iter_mut().enumerate() {
            *x = V::load(row.add(LANES * v));
        }
        for (r, dr) in dp.iter_mut().enumerate() {
            let ov = V::splat(*d_o.add(r * dvp + f));
            for v in 0..NV {
                dr[v] = V::fma(ov, vv[v], dr[v]);
            }
        }
    }
    for (r, dr) in dp.iter().enumerate() {
        let (cv, ev) = (V::splat(p.c[i + r]), V::splat(p.e[i + r]));
        let a = p.arg[i + r] as usize;
        let dom = p.arg[i + r] != NONE && a >= kb && a < kb + LANES * NV;
        // the dominant key's P, before dS is written over it
        let pa = if dom { *pt.add((r0 + r) * BC + (a - hi * BC)) } else { 0.0 };
        for (v, x) in dr.iter().enumerate() {
            let at = (r0 + r) * BC + LANES * (v0 + v);
            V::load(pt.add(at)).mul(x.sub(cv).sub(ev)).store(pt.add(at));
        }
        if dom {
            *pt.add((r0 + r) * BC + (a - hi * BC)) = -(pa * p.e[i + r]);
        }
    }
    let dot = p.dot.as_ref().expect("the symmetric form packs dOᵀ").as_ptr().add(hi * dv * BC + LANES * v0);
    let dpt = score_block::<V, R, NV>(p.k.as_ptr().add(i * dkp), dkp, dv, dot, BC, 1.0, None);
    for (r, dr) in dpt.iter().enumerate() {
        for (v, x) in dr.iter().enumerate() {
            let at = (r0 + r) * BC + LANES * (v0 + v);
            let (cq, eq) = (V::load(p.c.as_ptr().add(kb + LANES * v)), V::load(p.e.as_ptr().add(kb + LANES * v)));
            V::load(ptt.add(at)).mul(x.sub(cq).sub(eq)).store(ptt.add(at));
        }
    }
}

/// `f` over the blocks of a pair: `R` rows (then 4 where `R` would pass the tile) × `NV` key vectors.
#[inline(always)]
unsafe fn pair_blocks<const R: usize, const NV: usize>(mut f: impl FnMut(usize, usize, bool)) {
    let mut r0 = 0;
    while r0 < BR {
        let full = r0 + R <= BR;
        let mut v0 = 0;
        while v0 < BC / LANES {
            f(r0, v0, full);
            v0 += NV;
        }
        r0 += if full { R } else { 4 };
    }
}

/// What the symmetric form accumulates: `dQ`, `dK`, `dV` of the whole head (`lq × dkp`,
/// `lk × dkp`, `lk × dvp`), starting at zero.
pub struct SymAcc<'a> {
    pub dq: &'a mut [f32],
    pub dk: &'a mut [f32],
    pub dv: &'a mut [f32],
}

/// Row `lo` of the symmetric form: the diagonal tile `(lo, lo)` as in [`kv_block`], then each pair
/// `(lo, hi)`, `hi > lo` in order: `dV_hi += Pᵀ dO_lo`, `dK_hi += dSᵀ Q_lo`, `dQ_lo += dS K_hi` from
/// tile `(lo, hi)`, and `dV_lo`, `dK_lo`, `dQ_hi` from tile `(hi, lo)`. Called for `lo = 0, 1, …`
/// in order, every accumulator receives its tiles in the order of the one-pass form (module doc).
///
/// # Safety
/// The CPU has `V`'s features; `p.sym`.
#[inline(always)]
unsafe fn sym_row<V: V16, const R: usize, const NV: usize, const MR: usize, const NG: usize>(p: &Prep, lo: usize, acc: SymAcc) {
    let (dkp, dvp, l) = (p.dkp, p.dvp, p.l);
    let (nfk, nfv) = (dkp / LANES, dvp / LANES);
    let (n, nk) = p.tiles();
    assert!(BR == BC && n == nk && p.sym && lo < n);
    assert!(acc.dq.len() >= n * BR * dkp && acc.dk.len() >= n * BC * dkp && acc.dv.len() >= n * BC * dvp);
    let (dq, dk, dv) = (acc.dq.as_mut_ptr(), acc.dk.as_mut_ptr(), acc.dv.as_mut_ptr());
    let (q, k, d_o) = (p.q.as_ptr(), p.k.as_ptr(), p.d_o.as_ptr());
    let mut pt = vec![0.0f32; BR * BC];
    let mut ds = vec![0.0f32; BR * BC];
    tile::<V, R, NV>(p, lo, lo, &mut pt, &mut ds);
    let rows = BR.min(l - lo * BR);
    acc_rows::<V, MR, NG>(dv.add(lo * BC * dvp), dvp, rows, nfv, pt.as_ptr(), 1, BC, d_o.add(lo * BR * dvp), dvp, rows);
    acc_rows::<V, MR, NG>(dk.add(lo * BC * dkp), dkp, rows, nfk, ds.as_ptr(), 1, BC, q.add(lo * BR * dkp), dkp, rows);
    acc_rows::<V, MR, NG>(dq.add(lo * BR * dkp), dkp, rows, nfk, ds.as_ptr(), BC, 1, k.add(lo * BC * dkp), dkp, rows);
    let mut t = Tiles { t: pt, tt: ds };
    let mut dom = [None; BR];
    assert!((BR % R).is_multiple_of(4) && (BC / LANES).is_multiple_of(NV) && (lo + 1 == n || (lo + 1) * BR <= l));
    for hi in lo + 1..n {
        let (keys, rows) = (BC.min(l - hi * BC), BR.min(l - hi * BR));
        // P of tiles (lo, hi) and (hi, lo)ᵀ, then the dV they serve
        pair_blocks::<R, NV>(|r0, v0, full| if full { pair_p::<V, R, NV>(p, lo, hi, r0, v0, &mut t) } else { pair_p::<V, 4, NV>(p, lo, hi, r0, v0, &mut t) });
        acc_rows::<V, MR, NG>(dv.add(hi * BC * dvp), dvp, keys, nfv, t.t.as_ptr(), 1, BC, d_o.add(lo * BR * dvp), dvp, BR);
        acc_rows::<V, MR, NG>(dv.add(lo * BC * dvp), dvp, BC, nfv, t.tt.as_ptr(), BC, 1, d_o.add(hi * BR * dvp), dvp, rows);
        // the P of tile (hi, lo)'s queries at their dominant keys when these are in tile lo
        for (c, pa) in dom.iter_mut().enumerate() {
            let a = p.arg.get(hi * BR + c).map_or(NONE, |&a| a) as usize;
            *pa = if hi * BR + c < l && a != NONE as usize && a >= lo * BC && a < lo * BC + BC { Some(t.tt[(a - lo * BC) * BC + c]) } else { None };
        }
        // dS over P, then the dominant keys of tile (hi, lo), then dK and dQ
        pair_blocks::<R, NV>(|r0, v0, full| if full { pair_ds::<V, R, NV>(p, lo, hi, r0, v0, &mut t) } else { pair_ds::<V, 4, NV>(p, lo, hi, r0, v0, &mut t) });
        for (c, pa) in dom.iter().enumerate() {
            if let Some(pa) = *pa {
                t.tt[(p.arg[hi * BR + c] as usize - lo * BC) * BC + c] = -(pa * p.e[hi * BR + c]);
            }
        }
        acc_rows::<V, MR, NG>(dk.add(hi * BC * dkp), dkp, keys, nfk, t.t.as_ptr(), 1, BC, q.add(lo * BR * dkp), dkp, BR);
        acc_rows::<V, MR, NG>(dq.add(lo * BR * dkp), dkp, BR, nfk, t.t.as_ptr(), BC, 1, k.add(hi * BC * dkp), dkp, keys);
        acc_rows::<V, MR, NG>(dk.add(lo * BC * dkp), dkp, BC, nfk, t.tt.as_ptr(), BC, 1, q.add(hi * BR * dkp), dkp, rows);
        acc_rows::<V, MR, NG>(dq.add(hi * BR * dkp), dkp, rows, nfk, t.tt.as_ptr(), 1, BC, k.add(lo * BC * dkp), dkp, BC);
    }
}

/// `out[r][f] ⊕= s ⊗ acc[r][f]` (`s = λ`) or `⊕= acc[r][f]` (`s = None`) for `rows` rows of `n`
/// values (`acc` rows of `np`).
fn write_out(out: &mut [f32], acc: &[f32], rows: usize, n: usize, np: usize, s: Option<f32>) {
    for (o, a) in out[..rows * n].chunks_exact_mut(n).zip(acc.chunks_exact(np)) {
        for (x, &y) in o.iter_mut().zip(&a[..n]) {
            *x += match s {
                Some(s) => s * y,
                None => y,
            };
        }
    }
}

/// The fused backward of one head on `isa`: adds `dQ` (`l × dk`), `dK` (`l × dk`) and `dV`
/// (`l × dv`) to `dq`, `dk`, `dv`. With `Par::Rayon` on a pool of several threads, the key tiles
/// run in parallel and then the query tiles (the two-pass form); else one pass. The same bits
/// either way (module doc).
///
/// # Panics
/// When `isa` is not available, on sizes outside `1 ≤ dk, dv ≤` [`MAX_D`] or on slices shorter
/// than their shapes.
pub fn backward(isa: crate::kernels::simd::Isa, inp: &Input, par: crate::kernels::par::Par, dq: &mut [f32], dk: &mut [f32], dv: &mut [f32]) {
    use crate::kernels::par::Par;
    let (l, dkn, dvn) = (inp.l, inp.dk, inp.dv);
    let par = par.above(l.saturating_mul(l).saturating_mul(dkn + dvn), 1 << 18);
    let pooled = rayon::current_thread_index().is_some() && rayon::current_num_threads() > 1;
    run(isa, inp, par, par == Par::Rayon && pooled && l > BC, dq, dk, dv);
}

/// [`backward`] in the one-pass form or (`two_pass`) the parallel one, whose chunks `par` spreads.
pub(crate) fn run(isa: crate::kernels::simd::Isa, inp: &Input, par: crate::kernels::par::Par, two_pass: bool, dq: &mut [f32], dk: &mut [f32], dv: &mut [f32]) {
    use crate::kernels::simd::{attn_bwd_kv, attn_bwd_q, attn_bwd_sym};
    let (l, dkn, dvn) = (inp.l, inp.dk, inp.dv);
    assert!(dq.len() >= l * dkn && dk.len() >= l * dkn && dv.len() >= l * dvn);
    if l == 0 {
        return;
    }
    let p = Prep::new(inp, !two_pass);
    let (dkp, dvp, lam) = (p.dkp, p.dvp, p.lambda);
    let (nq, nk) = p.tiles();
    if p.sym {
        let (mut dq_acc, mut dk_acc, mut dv_acc) = (take(nq * BR * dkp), take(nk * BC * dkp), take(nk * BC * dvp));
        for lo in 0..nq {
            crate::kernels::cancel::checkpoint();
            attn_bwd_sym(isa, &p, lo, SymAcc { dq: &mut dq_acc, dk: &mut dk_acc, dv: &mut dv_acc });
        }
        write_out(dq, &dq_acc, l, dkn, dkp, Some(lam));
        write_out(dk, &dk_acc, l, dkn, dkp, Some(lam));
        write_out(dv, &dv_acc, l, dvn, dvp, None);
        for v in [dq_acc, dk_acc, dv_acc] {
            give(v);
        }
        p.release();
        return;
    }
    if !two_pass {
        let mut dq_acc = take(nq * BR * dkp);
        let (mut dk_acc, mut dv_acc) = (vec![0.0f32; BC * dkp], vec![0.0f32; BC * dvp]);
        for jt in 0..nk {
            // a chunk boundary: a long backward pass stops here when its call is cancelled
            crate::kernels::cancel::checkpoint();
            dk_acc.iter_mut().for_each(|x| *x = 0.0);
            dv_acc.iter_mut().for_each(|x| *x = 0.0);
            attn_bwd_kv(isa, &p, jt, Acc { dk: &mut dk_acc, dv: &mut dv_acc, dq: Some(&mut dq_acc) });
            let keys = BC.min(l - jt * BC);
            write_out(&mut dk[jt * BC * dkn..], &dk_acc, keys, dkn, dkp, Some(lam));
            write_out(&mut dv[jt * BC * dvn..], &dv_acc, keys, dvn, dvp, None);
        }
        write_out(dq, &dq_acc, l, dkn, dkp, Some(lam));
        give(dq_acc);
        p.release();
        return;
    }
    let mut kv: Vec<(&mut [f32], &mut [f32])> = dk[..l * dkn].chunks_mut(BC * dkn).zip(dv[..l * dvn].chunks_mut(BC * dvn)).collect();
    par.chunks_mut(&mut kv, 1, |jt, item| {
        let (dkb, dvb) = &mut item[0];
        let (mut dk_acc, mut dv_acc) = (vec![0.0f32; BC * dkp], vec![0.0f32; BC * dvp]);
        attn_bwd_kv(isa, &p, jt, Acc { dk: &mut dk_acc, dv: &mut dv_acc, dq: None });
        let keys = BC.min(l - jt * BC);
        write_out(dkb, &dk_acc, keys, dkn, dkp, Some(lam));
        write_out(dvb, &dv_acc, keys, dvn, dvp, None);
    });
    let mut qs: Vec<&mut [f32]> = dq[..l * dkn].chunks_mut(BR * dkn).collect();
    par.chunks_mut(&mut qs, 1, |it, item| {
        let mut dq_acc = vec![0.0f32; BR * dkp];
        attn_bwd_q(isa, &p, it, &mut dq_acc);
        write_out(&mut *item[0], &dq_acc, BR.min(l - it * BR), dkn, dkp, Some(lam));
    });
    p.release();
}

/// # Safety
/// The CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub unsafe fn kv_block_avx512(p: &Prep, jt: usize, acc: Acc) {
    kv_block::<Avx512, 6, 4, 6, 4>(p, jt, acc)
}

/// # Safety
/// The CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub unsafe fn q_block_avx512(p: &Prep, it: usize, dq: &mut [f32]) {
    q_block::<Avx512, 6, 4, 6, 4>(p, it, dq)
}

/// # Safety
/// The CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub unsafe fn sym_row_avx512(p: &Prep, lo: usize, acc: SymAcc) {
    sym_row::<Avx512, 6, 4, 6, 4>(p, lo, acc)
}

/// # Safety
/// The CPU has AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub unsafe fn sym_row_avx2(p: &Prep, lo: usize, acc: SymAcc) {
    sym_row::<Avx2, 2, 2, 6, 1>(p, lo, acc)
}

pub fn sym_row_portable(p: &Prep, lo: usize, acc: SymAcc) {
    // SAFETY: the portable lanes need no CPU feature.
    unsafe { sym_row::<Portable, 4, 4, 4, 2>(p, lo, acc) }
}

/// # Safety
/// The CPU has AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub unsafe fn kv_block_avx2(p: &Prep, jt: usize, acc: Acc) {
    kv_block::<Avx2, 2, 2, 6, 1>(p, jt, acc)
}

/// # Safety
/// The CPU has AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub unsafe fn q_block_avx2(p: &Prep, it: usize, dq: &mut [f32]) {
    q_block::<Avx2, 2, 2, 6, 1>(p, it, dq)
}

pub fn kv_block_portable(p: &Prep, jt: usize, acc: Acc) {
    // SAFETY: the portable lanes need no CPU feature.
    unsafe { kv_block::<Portable, 4, 4, 4, 2>(p, jt, acc) }
}

pub fn q_block_portable(p: &Prep, it: usize, dq: &mut [f32]) {
    // SAFETY: the portable lanes need no CPU feature.
    unsafe { q_block::<Portable, 4, 4, 4, 2>(p, it, dq) }
}
