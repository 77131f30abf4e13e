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
//! So a chunk of tokens `X` (`n × d`) needs, per token, `‖x‖²` and `p = Θx`, scalars in `f64` with
//! the sums `M_hg += α_h a_g`, `B_h += β_h`, and then `S = CᵀX` (`C_ih = α_h + β_h` of token `i`), a
//! tile product (SIMD by the `gemm` crate); the chunk's gradient is `S_h − Σ_g M_hg θ_g − B_h θ_h`.
//!
//! Paths (`H ≤ 4`, chosen at run time by [`crate::kernels::simd::isa`]):
//! - **vectorised across tokens** (AVX2/FMA, the scalars on AVX-512F when the CPU has it): per
//!   block of `BLOCK` (256) tokens, `‖x‖²` and `Θx` eight rows at a time (sixteen, two per 16-lane
//!   vector, on AVX-512F when `d` is a multiple of 8) into per-token arrays (the same bits as row by
//!   row), then the scalars four (AVX2) or eight (AVX-512F) tokens per `f64`
//!   vector, the exponential by a polynomial within 2 ulp of libm's
//!   ([`crate::kernels::simd::exp_nonpositive_f64x4`], `…x8`), the sums kept per lane (four lanes;
//!   an eight-lane vector adds its halves in token order, so both instruction sets give the same
//!   bits) and added in a fixed order at the end of the block; then, for `f32`, `S += CᵀX` over the
//!   block while it is in cache, the next block prefetched meanwhile
//!   ([`crate::kernels::simd::ctx_add_prefetching_f32`]; the data are read from memory once), for
//!   `f64` `S = CᵀX` over the chunk ([`crate::kernels::real::Real::ctx`]). For `H = 2` one
//!   exponential per token (the larger score's is 1). For `f32` on AVX-512F the three steps run
//!   per group of 16 tokens instead (`block_fused_avx512`): each row is read from memory once and
//!   used twice while it is in L1, the next group asked for meanwhile — the same operations in the
//!   same order, so the same bits. The result differs
//!   from the token-by-token path in the last bits (tested to 1e-12 relative in `f64`), and is the
//!   same for any thread count and instruction set;
//! - **token by token** (portable, and the reference of the vectorised path), `exp` from libm.
//!
//! `H > 4` takes a general token-by-token path.

use crate::kernels::real::Real;
#[cfg(target_arch = "x86_64")]
use crate::kernels::simd::{
    ctx_add_prefetching_f32, ctx_rows_avx512, exp_nonpositive_f64x4, exp_nonpositive_f64x8, isa, norms_and_dots_rows_avx2, rows16_avx512, Isa,
};
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

/// The chunk: per token one pass for `‖x‖²` and `P = XΘᵀ`, the scalars (with `H` known at compile
/// time for `H ≤ 4`, so they live in registers), then `S = CᵀX`, a tile product.
fn chunk_body<T: Real>(layer: &Layer<T>, gram: &[f64], xs: &[T], out: &mut ChunkSums<T>, ws: &mut ChunkScratch<T>) {
    match layer.heads {
        1 => chunk_fixed::<T, 1>(layer, gram, xs, out, ws),
        2 => chunk_fixed::<T, 2>(layer, gram, xs, out, ws),
        3 => chunk_fixed::<T, 3>(layer, gram, xs, out, ws),
        4 => chunk_fixed::<T, 4>(layer, gram, xs, out, ws),
        _ => chunk_general(layer, gram, xs, out, &mut ws.coef),
    }
}

/// Work space of the chunk kernel: the per-token coefficients and, for the vectorised path, a
/// block's per-token norms, inner products and coefficients in `f64`. Reused from call to call
/// (no allocation, no zeroing, once grown).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub struct ChunkScratch<T> {
    coef: Vec<T>,
    nn: Vec<f64>,
    pp: Vec<f64>,
    cf: Vec<f64>,
}

impl<T> Default for ChunkScratch<T> {
    fn default() -> Self {
        ChunkScratch { coef: Vec::new(), nn: Vec::new(), pp: Vec::new(), cf: Vec::new() }
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

/// `λ‖θ_g‖²/2` (distance scores) or 0 (dot scores) into `out[g]`, from the Gram matrix.
fn offsets_into<T: Real>(layer: &Layer<T>, gram: &[f64], out: &mut [f64]) {
    let (h, lambda) = (layer.heads, layer.lambda.f64());
    for (g, o) in out.iter_mut().enumerate().take(h) {
        *o = match layer.scores {
            Scores::Dot => 0.0,
            Scores::Distance => 0.5 * lambda * gram[g * h + g],
        };
    }
}

fn chunk_fixed<T: Real, const H: usize>(layer: &Layer<T>, gram: &[f64], xs: &[T], out: &mut ChunkSums<T>, ws: &mut ChunkScratch<T>) {
    let mut off = [0.0f64; 4];
    offsets_into(layer, gram, &mut off);
    let mut gr = [0.0f64; 16];
    gr[..H * H].copy_from_slice(&gram[..H * H]);
    #[cfg(target_arch = "x86_64")]
    if isa() != Isa::Portable {
        return chunk_fixed_simd::<T, H>(isa(), layer, &gr, &off, xs, out, ws);
    }
    chunk_fixed_portable::<T, H>(layer, &gr, &off, xs, out, &mut ws.coef)
}

/// The chunk token by token (the portable path, and the reference of the vectorised one).
fn chunk_fixed_portable<T: Real, const H: usize>(layer: &Layer<T>, gr: &[f64; 16], off: &[f64; 4], xs: &[T], out: &mut ChunkSums<T>, coef: &mut Vec<T>) {
    let d = layer.dim;
    let count = xs.len() / d;
    let lambda = layer.lambda.f64();
    let off = &off[..H];
    let (mut m, mut b) = ([0.0f64; 16], [0.0f64; 4]);
    coef.resize(count * H, T::zero());
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
        loss += token_scalars(H, lambda, off, &gr[..H * H], dots[0].f64(), &p[..H], &mut a[..H], &mut c[..H], &mut cf[..H], &mut m[..H * H], &mut b[..H]);
        for g in 0..H {
            coef[i * H + g] = T::of(cf[g]);
        }
    }
    out.loss += loss;
    out.m.iter_mut().zip(&m[..H * H]).for_each(|(o, v)| *o += v);
    out.b.iter_mut().zip(&b[..H]).for_each(|(o, v)| *o += v);
    matmul(&mut out.s, d, View::transposed(coef, H, count, H), View::rows(xs, count, d, d), false, T::one());
}

/// Tokens per block of the vectorised chunk kernel. The lane sums of the per-token scalars are
/// reduced at the end of each block, so the block is part of the arithmetic: changing it changes
/// the last bits of `M`, `B` and the loss.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const BLOCK: usize = 256;

/// The chunk with the per-token work vectorised across tokens (AVX2, or AVX-512F for the scalars),
/// per block of [`BLOCK`] tokens: `‖x‖²` and `p = Θx` into per-token arrays
/// ([`Real::norms_and_dots_rows`]), then the scalars four or eight tokens per `f64` vector
/// ([`scalars_avx2`], [`scalars_avx512`]: the same bits), then for `f32` `S += CᵀX` over the block
/// while it is still in cache, the next block being prefetched meanwhile
/// ([`ctx_add_prefetching_f32`]: the sums continue over the rows in order, so the
/// same bits as one product over the chunk); for `f64`, `S = CᵀX` over the chunk at the end.
/// For `f32` on AVX-512F the block goes to [`block_fused_avx512`] (per group of 16 tokens, the
/// same bits).
#[cfg(target_arch = "x86_64")]
fn chunk_fixed_simd<T: Real, const H: usize>(
    isa: Isa,
    layer: &Layer<T>,
    gram: &[f64; 16],
    off: &[f64; 4],
    xs: &[T],
    out: &mut ChunkSums<T>,
    ws: &mut ChunkScratch<T>,
) {
    assert!(isa != Isa::Portable && isa.available());
    let d = layer.dim;
    let count = xs.len() / d;
    let lambda = layer.lambda.f64();
    let (mut m, mut b) = ([0.0f64; 16], [0.0f64; 4]);
    if isa == Isa::Avx512 {
        if let (Some(x32), Some(t32), Some(s32)) = (T::as_f32(xs), T::as_f32(layer.params), T::as_f32_mut(&mut out.s)) {
            let mut loss = 0.0;
            for start in (0..count).step_by(BLOCK) {
                // SAFETY: the CPU has AVX-512F (asserted above); rows start … start + len lie in
                // the chunk, θ holds H rows and S H × d values.
                loss += unsafe { block_fused_avx512::<H>(lambda, off, gram, t32, x32, d, start, BLOCK.min(count - start), s32, &mut m, &mut b) };
            }
            out.loss += loss;
            out.m.iter_mut().zip(&m[..H * H]).for_each(|(o, v)| *o += v);
            out.b.iter_mut().zip(&b[..H]).for_each(|(o, v)| *o += v);
            return;
        }
    }
    // the per-block arrays are grown once and then only overwritten (no zeroing per call)
    for (v, len) in [(&mut ws.nn, BLOCK), (&mut ws.pp, 4 * BLOCK), (&mut ws.cf, 4 * BLOCK)] {
        if v.len() < len {
            v.resize(len, 0.0);
        }
    }
    let fused = T::as_f32(xs).is_some();
    let coef_len = if fused { H * BLOCK.min(count) } else { H * count };
    if ws.coef.len() != coef_len {
        ws.coef.resize(coef_len, T::zero());
    }
    let mut loss = 0.0;
    for start in (0..count).step_by(BLOCK) {
        let len = BLOCK.min(count - start);
        let block = &xs[start * d..(start + len) * d];
        let (nn, pp, cf) = (&mut ws.nn[..len], &mut ws.pp[..H * len], &mut ws.cf[..H * len]);
        T::norms_and_dots_rows(block, d, layer.params, nn, pp);
        loss += match isa {
            // SAFETY: the CPU has AVX-512F (asserted above); `pp` and `cf` hold H · len values.
            Isa::Avx512 => unsafe { scalars_avx512::<H>(lambda, off, gram, nn, pp, cf, &mut m, &mut b) },
            // SAFETY: the CPU has AVX2 and FMA (asserted above); as above.
            _ => unsafe { scalars_avx2::<H>(lambda, off, gram, nn, pp, cf, &mut m, &mut b) },
        };
        if fused {
            // the block's coefficients, H × len, then S += CᵀX while the block is in cache
            for (c, &v) in ws.coef[..H * len].iter_mut().zip(cf.iter()) {
                *c = T::of(v);
            }
            let (c32, x32, s32) = (T::as_f32(&ws.coef[..H * len]), T::as_f32(block), T::as_f32_mut(&mut out.s));
            // (and the next block of the chunk is fetched meanwhile)
            let next = T::as_f32(&xs[(start + len) * d..(start + len + BLOCK).min(count) * d]);
            if let (Some(c32), Some(x32), Some(s32), Some(next)) = (c32, x32, s32, next) {
                ctx_add_prefetching_f32(c32, H, x32, d, s32, next);
            }
        } else {
            for g in 0..H {
                for (c, &v) in ws.coef[g * count + start..g * count + start + len].iter_mut().zip(&cf[g * len..(g + 1) * len]) {
                    *c = T::of(v);
                }
            }
        }
    }
    out.loss += loss;
    out.m.iter_mut().zip(&m[..H * H]).for_each(|(o, v)| *o += v);
    out.b.iter_mut().zip(&b[..H]).for_each(|(o, v)| *o += v);
    if !fused {
        T::ctx(&ws.coef, H, xs, d, &mut out.s);
    }
}

/// Rows ahead of the current group of tokens that [`block_fused_avx512`] asks for: the next group,
/// every 64-byte line of it by `prefetcht2`, in [`PREFETCH_PARTS`] parts spread over the current
/// group's work (a hint only: no effect on the result). Measured with `profile_w5` (2 threads,
/// process CPU time per pass, the loaded 2-core machine, builds alternated run after run):
/// `prefetcht1` 64 rows ahead in one burst per group (before) 36–39 ms, no hint 36–37 ms;
/// `prefetcht2` in one burst: 16 rows ahead 30–31 ms, 32–64 rows 31–33 ms, 128–256 rows 32–34 ms,
/// 1024 rows 36 ms (`prefetcht0` 39–41, `prefetchnta` 65); spread in six parts: 16 rows ahead
/// 26.3–27.8 ms, 8, 12, 20 and 32 rows 36, 32, 28.5 and 33 ms; two and four parts 30–33 and
/// 29–31.5 ms, all 64 lines within the `‖x‖²`, `Θx` pass 29 ms; `prefetcht0` or `prefetcht1`
/// instead, in four parts, about the same as `prefetcht2`. (A pure read of the sample: 19.5–20.5 ms.)
/// Asking for the next group as the current one is computed keeps line fills in flight behind the
/// arithmetic without a burst of hints stalling it.
#[cfg(target_arch = "x86_64")]
const PREFETCH_ROWS: usize = 16;

/// The parts in which [`block_fused_avx512`] asks for the next group's lines (see [`PREFETCH_ROWS`]).
#[cfg(target_arch = "x86_64")]
const PREFETCH_PARTS: usize = 6;

/// One block (rows `start … start + len` of the chunk `xs`, `f32`, AVX-512F) with every token row
/// read from memory once and used while it is in L1: per group of 16 tokens, `‖x‖²` and `Θx`
/// ([`rows16_avx512`] for `d` a multiple of 8, else [`norms_and_dots_rows_avx2`]), the scalars
/// ([`tokens8`] twice), the coefficients rounded to `f32` and `S += CᵀX` over the group's rows
/// ([`ctx_rows_avx512`]), the next group asked for meanwhile ([`PREFETCH_ROWS`]); the last
/// `len mod 16` tokens as [`scalars_avx512`] ends a block. The same operations in the same order
/// as [`chunk_fixed_simd`]'s block by block path (`norms_and_dots_rows`, [`scalars_avx512`],
/// `ctx_add_prefetching_f32`): the same bits. Adds to `s` (`H × d`), `m` and `b`; returns the
/// block's loss.
///
/// # Safety
/// The CPU must support AVX-512F, AVX2 and FMA; `H ≤ 4`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn block_fused_avx512<const H: usize>(
    lambda: f64,
    off: &[f64; 4],
    gram: &[f64; 16],
    thetas: &[f32],
    xs: &[f32],
    d: usize,
    start: usize,
    len: usize,
    s: &mut [f32],
    m: &mut [f64; 16],
    b: &mut [f64; 4],
) -> f64 {
    use std::arch::x86_64::*;
    let rows = xs.len() / d;
    assert!(H <= 4 && start + len <= rows && thetas.len() >= H * d && s.len() >= H * d);
    let (px, pt, ps) = (xs.as_ptr(), thetas.as_ptr(), s.as_mut_ptr());
    let zero = _mm256_setzero_pd();
    let mut acc = Lanes4 { loss: zero, m: [zero; 16], b: [zero; 4] };
    let (mut nn, mut pp, mut cf, mut c32) = ([0.0f64; 16], [0.0f64; 64], [0.0f64; 64], [0.0f32; 64]);
    let full = len / 16 * 16;
    let mut i = 0;
    while i < full {
        let r0 = start + i;
        // the group PREFETCH_ROWS rows ahead, within the chunk: one hint per 64-byte line, in
        // PREFETCH_PARTS parts spread over this group's work
        let (from, to) = ((r0 + PREFETCH_ROWS).min(rows) * d, (r0 + PREFETCH_ROWS + 16).min(rows) * d);
        let lines = (to - from).div_ceil(16);
        let ask = |part: usize| {
            for l in lines * part / PREFETCH_PARTS..lines * (part + 1) / PREFETCH_PARTS {
                // SAFETY: from + 16 l < to ≤ xs.len().
                _mm_prefetch::<_MM_HINT_T2>(px.add(from + 16 * l).cast());
            }
        };
        ask(0);
        if d == 64 {
            // (the same call with d a constant: its loops unrolled, θ's loads shared by the row
            // pairs; 3 % less CPU time on W5 than with d at run time, alternating builds)
            // SAFETY: as below.
            rows16_avx512::<H>(px.add(r0 * 64), 64, pt, nn.as_mut_ptr(), pp.as_mut_ptr(), 16);
        } else if d.is_multiple_of(8) {
            // SAFETY: rows r0 … r0 + 15 < rows; nn holds 16 values, pp H · 16.
            rows16_avx512::<H>(px.add(r0 * d), d, pt, nn.as_mut_ptr(), pp.as_mut_ptr(), 16);
        } else {
            norms_and_dots_rows_avx2::<H>(&xs[r0 * d..(r0 + 16) * d], d, thetas, &mut nn, &mut pp[..H * 16]);
        }
        ask(1);
        tokens8::<H>(lambda, off, gram, &nn, &pp[..H * 16], &mut cf[..H * 16], 0, &mut acc);
        ask(2);
        tokens8::<H>(lambda, off, gram, &nn, &pp[..H * 16], &mut cf[..H * 16], 8, &mut acc);
        for k in 0..2 * H {
            // SAFETY: 8k + 8 ≤ 16H ≤ 64 values of both arrays.
            _mm256_storeu_ps(c32.as_mut_ptr().add(8 * k), _mm512_cvtpd_ps(_mm512_loadu_pd(cf.as_ptr().add(8 * k))));
        }
        ask(3);
        // S += CᵀX over rows r0 … r0 + 7, then r0 + 8 … r0 + 15 (the sums go on over the rows in
        // order, so the same bits as over the sixteen at once)
        // SAFETY: c32 holds H rows of 16 coefficients, rows r0 … r0 + 15 lie in xs, s holds H · d.
        ctx_rows_avx512::<H>(c32.as_ptr(), 16, 8, px.add(r0 * d), d, ps);
        ask(4);
        // SAFETY: as above, from coefficient 8 and row r0 + 8 on.
        ctx_rows_avx512::<H>(c32.as_ptr().add(8), 16, 8, px.add((r0 + 8) * d), d, ps);
        ask(5);
        i += 16;
    }
    // the last len mod 16 tokens: eight, then four at a time, then one by one, as `scalars_avx512`
    let (t, r0) = (len - full, start + full);
    let (nn, pp, cf) = (&mut nn[..t], &mut pp[..H * t], &mut cf[..H * t]);
    if t > 0 {
        norms_and_dots_rows_avx2::<H>(&xs[r0 * d..(r0 + t) * d], d, thetas, nn, pp);
    }
    let mut k = 0;
    if t >= 8 {
        tokens8::<H>(lambda, off, gram, nn, pp, cf, 0, &mut acc);
        k = 8;
    }
    if k + 4 <= t {
        tokens4::<H>(lambda, off, gram, nn, pp, cf, k, &mut acc);
        k += 4;
    }
    let loss = finish_block::<H>(&acc, k, lambda, off, gram, nn, pp, cf, m, b);
    for (c, &v) in c32.iter_mut().zip(cf.iter()) {
        *c = v as f32;
    }
    // SAFETY: c32 holds H rows of t coefficients, rows r0 … r0 + t − 1 lie in xs.
    ctx_rows_avx512::<H>(c32.as_ptr(), t, t, px.add(r0 * d), d, ps);
    loss
}

/// The per-lane sums of a block's scalars (four tokens per lane set), reduced at the block's end.
#[cfg(target_arch = "x86_64")]
struct Lanes4 {
    loss: std::arch::x86_64::__m256d,
    m: [std::arch::x86_64::__m256d; 16],
    b: [std::arch::x86_64::__m256d; 4],
}

/// [`token_scalars`] for tokens `i … i + 3` of a block of `n` (`pp`, `cf`: `pp[g·n + i]`), adding
/// to the lane sums.
///
/// # Safety
/// AVX2 and FMA; `i + 4 ≤ n`, `pp` and `cf` hold `H · n` values, `nn` `n`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn tokens4<const H: usize>(lambda: f64, off: &[f64; 4], gram: &[f64; 16], nn: &[f64], pp: &[f64], cf: &mut [f64], i: usize, acc: &mut Lanes4) {
    use std::arch::x86_64::*;
    let n = nn.len();
    let set = _mm256_set1_pd;
    let (lam, zero, two, minus_two) = (set(lambda), _mm256_setzero_pd(), set(2.0), set(-2.0));
    let (mut p, mut a, mut c) = ([zero; 4], [zero; 4], [zero; 4]);
    // SAFETY (all loads and stores): i + 4 ≤ n, and row g < H of `pp` and `cf` spans [g·n, (g + 1)·n).
    for g in 0..H {
        p[g] = _mm256_loadu_pd(pp.as_ptr().add(g * n + i));
        a[g] = _mm256_sub_pd(_mm256_mul_pd(lam, p[g]), set(off[g]));
    }
    let mut mx = a[0];
    for g in 1..H {
        mx = _mm256_max_pd(mx, a[g]);
    }
    let mut z = zero;
    if H == 2 {
        // one exponential for two heads (see `tokens8`): the same values as the loop below
        let first = _mm256_cmp_pd::<_CMP_GT_OQ>(a[0], a[1]);
        let (d0, d1) = (_mm256_sub_pd(a[0], mx), _mm256_sub_pd(a[1], mx));
        let e = exp_nonpositive_f64x4(_mm256_blendv_pd(d0, d1, first));
        let one = _mm256_add_pd(_mm256_blendv_pd(d1, d0, first), set(1.0));
        a[0] = _mm256_blendv_pd(e, one, first);
        a[1] = _mm256_blendv_pd(one, e, first);
        z = _mm256_add_pd(_mm256_add_pd(z, a[0]), a[1]);
    } else {
        for g in 0..H {
            a[g] = exp_nonpositive_f64x4(_mm256_sub_pd(a[g], mx));
            z = _mm256_add_pd(z, a[g]);
        }
    }
    let inv = _mm256_div_pd(set(1.0), z);
    for g in 0..H {
        a[g] = _mm256_mul_pd(a[g], inv);
    }
    let (mut xt, mut tt, mut cbar) = (zero, zero, zero);
    for g in 0..H {
        let mut q = zero;
        for k in 0..H {
            q = _mm256_add_pd(q, _mm256_mul_pd(a[k], set(gram[k * H + g])));
        }
        xt = _mm256_add_pd(xt, _mm256_mul_pd(a[g], p[g]));
        tt = _mm256_add_pd(tt, _mm256_mul_pd(a[g], q));
        c[g] = _mm256_sub_pd(p[g], q);
        cbar = _mm256_add_pd(cbar, _mm256_mul_pd(a[g], c[g]));
    }
    for g in 0..H {
        let alpha = _mm256_mul_pd(minus_two, a[g]);
        let beta = _mm256_mul_pd(_mm256_mul_pd(alpha, lam), _mm256_sub_pd(c[g], cbar));
        _mm256_storeu_pd(cf.as_mut_ptr().add(g * n + i), _mm256_add_pd(alpha, beta));
        for k in 0..H {
            acc.m[g * H + k] = _mm256_add_pd(acc.m[g * H + k], _mm256_mul_pd(alpha, a[k]));
        }
        acc.b[g] = _mm256_add_pd(acc.b[g], beta);
    }
    let l = _mm256_add_pd(_mm256_sub_pd(_mm256_loadu_pd(nn.as_ptr().add(i)), _mm256_mul_pd(two, xt)), tt);
    // (max returns its second operand, 0, for a NaN lane, as `f64::max` in `token_scalars`)
    acc.loss = _mm256_add_pd(acc.loss, _mm256_max_pd(l, zero));
}

/// [`tokens4`] for tokens `i … i + 7` in eight-lane vectors: the same operations lane by lane, and
/// each sum takes tokens `i … i + 3`, then `i + 4 … i + 7`, into the four-lane sums, as two calls
/// of [`tokens4`] would: the same bits.
///
/// # Safety
/// AVX-512F; `i + 8 ≤ n`, `pp` and `cf` hold `H · n` values, `nn` `n`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn tokens8<const H: usize>(lambda: f64, off: &[f64; 4], gram: &[f64; 16], nn: &[f64], pp: &[f64], cf: &mut [f64], i: usize, acc: &mut Lanes4) {
    use std::arch::x86_64::*;
    let n = nn.len();
    let set = _mm512_set1_pd;
    let (lam, zero, two, minus_two) = (set(lambda), _mm512_setzero_pd(), set(2.0), set(-2.0));
    let add_halves = |s: __m256d, v: __m512d| _mm256_add_pd(_mm256_add_pd(s, _mm512_castpd512_pd256(v)), _mm512_extractf64x4_pd::<1>(v));
    let (mut p, mut a, mut c) = ([zero; 4], [zero; 4], [zero; 4]);
    // SAFETY (all loads and stores): i + 8 ≤ n, and row g < H of `pp` and `cf` spans [g·n, (g + 1)·n).
    for g in 0..H {
        p[g] = _mm512_loadu_pd(pp.as_ptr().add(g * n + i));
        a[g] = _mm512_sub_pd(_mm512_mul_pd(lam, p[g]), set(off[g]));
    }
    let mut mx = a[0];
    for g in 1..H {
        mx = _mm512_max_pd(mx, a[g]);
    }
    let mut z = zero;
    if H == 2 {
        // One exponential for two heads: the larger score's is exp(mx − mx), that is 1 (NaN when
        // mx is not finite), computed as (mx − mx) + 1; the other's by the polynomial. Where
        // s_0 > s_1 (false for NaN), max returned s_0 — the same values as the loop below.
        let first = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(a[0], a[1]);
        let (d0, d1) = (_mm512_sub_pd(a[0], mx), _mm512_sub_pd(a[1], mx));
        let e = exp_nonpositive_f64x8(_mm512_mask_blend_pd(first, d0, d1));
        let one = _mm512_add_pd(_mm512_mask_blend_pd(first, d1, d0), set(1.0));
        a[0] = _mm512_mask_blend_pd(first, e, one);
        a[1] = _mm512_mask_blend_pd(first, one, e);
        z = _mm512_add_pd(_mm512_add_pd(z, a[0]), a[1]);
    } else {
        for g in 0..H {
            a[g] = exp_nonpositive_f64x8(_mm512_sub_pd(a[g], mx));
            z = _mm512_add_pd(z, a[g]);
        }
    }
    let inv = _mm512_div_pd(set(1.0), z);
    for g in 0..H {
        a[g] = _mm512_mul_pd(a[g], inv);
    }
    let (mut xt, mut tt, mut cbar) = (zero, zero, zero);
    for g in 0..H {
        let mut q = zero;
        for k in 0..H {
            q = _mm512_add_pd(q, _mm512_mul_pd(a[k], set(gram[k * H + g])));
        }
        xt = _mm512_add_pd(xt, _mm512_mul_pd(a[g], p[g]));
        tt = _mm512_add_pd(tt, _mm512_mul_pd(a[g], q));
        c[g] = _mm512_sub_pd(p[g], q);
        cbar = _mm512_add_pd(cbar, _mm512_mul_pd(a[g], c[g]));
    }
    for g in 0..H {
        let alpha = _mm512_mul_pd(minus_two, a[g]);
        let beta = _mm512_mul_pd(_mm512_mul_pd(alpha, lam), _mm512_sub_pd(c[g], cbar));
        _mm512_storeu_pd(cf.as_mut_ptr().add(g * n + i), _mm512_add_pd(alpha, beta));
        for k in 0..H {
            acc.m[g * H + k] = add_halves(acc.m[g * H + k], _mm512_mul_pd(alpha, a[k]));
        }
        acc.b[g] = add_halves(acc.b[g], beta);
    }
    let l = _mm512_add_pd(_mm512_sub_pd(_mm512_loadu_pd(nn.as_ptr().add(i)), _mm512_mul_pd(two, xt)), tt);
    acc.loss = add_halves(acc.loss, _mm512_max_pd(l, zero));
}

/// The end of a block: the lane sums reduced in a fixed order into `m`, `b` and the returned loss,
/// and tokens `from … n` one by one ([`token_scalars`]).
///
/// # Safety
/// AVX2 and FMA; lengths as [`tokens4`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn finish_block<const H: usize>(
    acc: &Lanes4,
    from: usize,
    lambda: f64,
    off: &[f64; 4],
    gram: &[f64; 16],
    nn: &[f64],
    pp: &[f64],
    cf: &mut [f64],
    m: &mut [f64; 16],
    b: &mut [f64; 4],
) -> f64 {
    use std::arch::x86_64::*;
    let n = nn.len();
    let hsum = |v: __m256d| {
        let mut l = [0.0f64; 4];
        _mm256_storeu_pd(l.as_mut_ptr(), v);
        (l[0] + l[1]) + (l[2] + l[3])
    };
    let mut loss = hsum(acc.loss);
    for k in 0..H * H {
        m[k] += hsum(acc.m[k]);
    }
    for g in 0..H {
        b[g] += hsum(acc.b[g]);
    }
    for i in from..n {
        let (mut p, mut a, mut c, mut cfl) = ([0.0f64; 4], [0.0f64; 4], [0.0f64; 4], [0.0f64; 4]);
        for g in 0..H {
            p[g] = pp[g * n + i];
        }
        loss += token_scalars(H, lambda, &off[..H], &gram[..H * H], nn[i], &p[..H], &mut a[..H], &mut c[..H], &mut cfl[..H], &mut m[..H * H], &mut b[..H]);
        for g in 0..H {
            cf[g * n + i] = cfl[g];
        }
    }
    loss
}

/// [`token_scalars`] for the `n = nn.len()` tokens of a block, four at a time in `f64` vectors
/// (the exponential by [`exp_nonpositive_f64x4`]); inputs and the coefficients `C` are per-token
/// arrays (`pp[g·n + i]`, `cf[g·n + i]`). Adds to `m` and `b`, returns the block's loss. Lanes are
/// reduced in a fixed order and the last `n mod 4` tokens go through [`token_scalars`].
///
/// # Safety
/// The CPU must support AVX2 and FMA; `pp` and `cf` hold `H · n` values, `H ≤ 4`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn scalars_avx2<const H: usize>(
    lambda: f64,
    off: &[f64; 4],
    gram: &[f64; 16],
    nn: &[f64],
    pp: &[f64],
    cf: &mut [f64],
    m: &mut [f64; 16],
    b: &mut [f64; 4],
) -> f64 {
    use std::arch::x86_64::*;
    let n = nn.len();
    assert!(H <= 4 && pp.len() == H * n && cf.len() == H * n);
    let zero = _mm256_setzero_pd();
    let mut acc = Lanes4 { loss: zero, m: [zero; 16], b: [zero; 4] };
    let mut i = 0;
    while i + 4 <= n {
        tokens4::<H>(lambda, off, gram, nn, pp, cf, i, &mut acc);
        i += 4;
    }
    finish_block::<H>(&acc, i, lambda, off, gram, nn, pp, cf, m, b)
}

/// [`scalars_avx2`] eight tokens at a time ([`tokens8`]), then four, then one by one: the same bits.
///
/// # Safety
/// The CPU must support AVX-512F; `pp` and `cf` hold `H · n` values, `H ≤ 4`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn scalars_avx512<const H: usize>(
    lambda: f64,
    off: &[f64; 4],
    gram: &[f64; 16],
    nn: &[f64],
    pp: &[f64],
    cf: &mut [f64],
    m: &mut [f64; 16],
    b: &mut [f64; 4],
) -> f64 {
    use std::arch::x86_64::*;
    let n = nn.len();
    assert!(H <= 4 && pp.len() == H * n && cf.len() == H * n);
    let zero = _mm256_setzero_pd();
    let mut acc = Lanes4 { loss: zero, m: [zero; 16], b: [zero; 4] };
    let mut i = 0;
    while i + 8 <= n {
        tokens8::<H>(lambda, off, gram, nn, pp, cf, i, &mut acc);
        i += 8;
    }
    if i + 4 <= n {
        tokens4::<H>(lambda, off, gram, nn, pp, cf, i, &mut acc);
        i += 4;
    }
    finish_block::<H>(&acc, i, lambda, off, gram, nn, pp, cf, m, b)
}

/// Any `H` (allocates its per-token vectors of `H` values once per chunk).
fn chunk_general<T: Real>(layer: &Layer<T>, gram: &[f64], xs: &[T], out: &mut ChunkSums<T>, coef: &mut Vec<T>) {
    let (h, d) = (layer.heads, layer.dim);
    let count = xs.len() / d;
    let lambda = layer.lambda.f64();
    let mut off = vec![0.0; h];
    offsets_into(layer, gram, &mut off);
    coef.resize(count * h, T::zero());
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
    matmul(&mut out.s, d, View::transposed(coef, h, count, h), View::rows(xs, count, d, d), false, T::one());
}

/// `G = ΘΘᵀ` in `f64`.
pub fn gram<T: Real>(layer: &Layer<T>) -> Vec<f64> {
    let mut g = Vec::new();
    gram_into(layer, &mut g);
    g
}

/// `G = ΘΘᵀ` in `f64`, into `g` (resized to `H × H`).
pub fn gram_into<T: Real>(layer: &Layer<T>, g: &mut Vec<f64>) {
    let h = layer.heads;
    g.resize(h * h, 0.0);
    for i in 0..h {
        for j in 0..h {
            g[i * h + j] = layer.theta(i).iter().zip(layer.theta(j)).map(|(a, b)| a.f64() * b.f64()).sum();
        }
    }
}

impl<T: Real> ChunkSums<T> {
    /// Zero sums for `H` heads in dimension `d`.
    pub fn new(h: usize, d: usize) -> Self {
        ChunkSums { s: vec![T::zero(); h * d], m: vec![0.0; h * h], b: vec![0.0; h], loss: 0.0 }
    }

    fn reset(&mut self, h: usize, d: usize) {
        for (v, len) in [(&mut self.m, h * h), (&mut self.b, h)] {
            v.clear();
            v.resize(len, 0.0);
        }
        self.s.clear();
        self.s.resize(h * d, T::zero());
        self.loss = 0.0;
    }
}

/// Sums of one chunk of tokens `xs` (`n × d`).
pub fn chunk_sums<T: Real>(layer: &Layer<T>, gram: &[f64], xs: &[T]) -> ChunkSums<T> {
    let mut out = ChunkSums::new(layer.heads, layer.dim);
    chunk_body(layer, gram, xs, &mut out, &mut ChunkScratch::default());
    out
}

/// [`chunk_sums`] into `out` (overwritten), with its work space `ws`: no allocation once both have
/// grown to the chunk's size (for `H ≤ 4`).
pub fn chunk_sums_into<T: Real>(layer: &Layer<T>, gram: &[f64], xs: &[T], out: &mut ChunkSums<T>, ws: &mut ChunkScratch<T>) {
    out.reset(layer.heads, layer.dim);
    chunk_body(layer, gram, xs, out, ws);
}

/// The chunk's loss and gradient (`H × d`, `f64`, summed, not averaged).
pub fn chunk_gradient<T: Real>(layer: &Layer<T>, sums: &ChunkSums<T>) -> (f64, Vec<f64>) {
    let mut grad = vec![0.0; layer.heads * layer.dim];
    let loss = chunk_gradient_into(layer, sums, &mut grad);
    (loss, grad)
}

/// [`chunk_gradient`] into `grad` (`H × d`, overwritten); returns the chunk's loss.
pub fn chunk_gradient_into<T: Real>(layer: &Layer<T>, sums: &ChunkSums<T>, grad: &mut [f64]) -> f64 {
    let (h, d) = (layer.heads, layer.dim);
    grad.iter_mut().zip(&sums.s).for_each(|(g, v)| *g = v.f64());
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
    sums.loss
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::two_head::Scratch;

    fn vectorised_matches_portable<T: Real>(tol_s: f64) {
        let mut ws = ChunkScratch::default();
        #[cfg(target_arch = "x86_64")]
        let isas: Vec<Isa> = [Isa::Avx2, Isa::Avx512].into_iter().filter(|i| i.available()).collect();
        for scores in [Scores::Dot, Scores::Distance] {
            for h in 1..=4 {
                for d in [1, 2, 7, 8, 9, 15, 16, 17, 63, 64, 65] {
                    for count in [0, 1, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 31, 255, 256, 257, 270, 1024] {
                        let x: Vec<T> = (0..count * d).map(|i| T::of(((i * 7919 % 997) as f64 / 498.5 - 1.0) * 2.0)).collect();
                        let params: Vec<T> = (0..h * d).map(|i| T::of(((i * 31 % 13) as f64 / 6.5 - 1.0) * 0.8)).collect();
                        // λ large enough that some heads' weights underflow
                        for lambda in [0.9, 40.0] {
                            let layer = Layer::new(&params, h, d, lambda, scores).unwrap();
                            let g = gram(&layer);
                            let (mut v, mut p) = (ChunkSums::new(h, d), ChunkSums::new(h, d));
                            chunk_sums_into(&layer, &g, &x, &mut v, &mut ws);
                            let mut gr = [0.0f64; 16];
                            gr[..h * h].copy_from_slice(&g);
                            let mut off = [0.0f64; 4];
                            offsets_into(&layer, &g, &mut off);
                            match h {
                                1 => chunk_fixed_portable::<T, 1>(&layer, &gr, &off, &x, &mut p, &mut ws.coef),
                                2 => chunk_fixed_portable::<T, 2>(&layer, &gr, &off, &x, &mut p, &mut ws.coef),
                                3 => chunk_fixed_portable::<T, 3>(&layer, &gr, &off, &x, &mut p, &mut ws.coef),
                                _ => chunk_fixed_portable::<T, 4>(&layer, &gr, &off, &x, &mut p, &mut ws.coef),
                            }
                            let at = format!("{} {scores:?} h={h} d={d} n={count} λ={lambda}", T::NAME);
                            let close = |a: f64, b: f64, scale: f64, tol: f64| (a - b).abs() <= tol * (scale + b.abs());
                            assert!(close(v.loss, p.loss, 1.0, 1e-12), "{at}: loss {} vs {}", v.loss, p.loss);
                            let ms = p.m.iter().chain(&p.b).fold(1.0f64, |m, x| m.max(x.abs()));
                            assert!(v.m.iter().zip(&p.m).all(|(a, b)| close(*a, *b, ms, 1e-12)), "{at}: M {:?} vs {:?}", v.m, p.m);
                            assert!(v.b.iter().zip(&p.b).all(|(a, b)| close(*a, *b, ms, 1e-12)), "{at}: B {:?} vs {:?}", v.b, p.b);
                            let ss = p.s.iter().fold(1.0f64, |m, x| m.max(x.f64().abs()));
                            assert!(v.s.iter().zip(&p.s).all(|(a, b)| close(a.f64(), b.f64(), ss, tol_s)), "{at}: S {:?} vs {:?}", v.s, p.s);
                            // every instruction set: the same bits as the dispatched one
                            #[cfg(target_arch = "x86_64")]
                            for &isa in &isas {
                                let mut w = ChunkSums::new(h, d);
                                match h {
                                    1 => chunk_fixed_simd::<T, 1>(isa, &layer, &gr, &off, &x, &mut w, &mut ws),
                                    2 => chunk_fixed_simd::<T, 2>(isa, &layer, &gr, &off, &x, &mut w, &mut ws),
                                    3 => chunk_fixed_simd::<T, 3>(isa, &layer, &gr, &off, &x, &mut w, &mut ws),
                                    _ => chunk_fixed_simd::<T, 4>(isa, &layer, &gr, &off, &x, &mut w, &mut ws),
                                }
                                let bits = |c: &ChunkSums<T>| {
                                    (
                                        c.loss.to_bits(),
                                        c.m.iter().chain(&c.b).map(|v| v.to_bits()).collect::<Vec<_>>(),
                                        c.s.iter().map(|v| v.f64().to_bits()).collect::<Vec<_>>(),
                                    )
                                };
                                assert_eq!(bits(&w), bits(&v), "{at}: {isa:?}");
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn vectorised_chunk_matches_the_token_by_token_chunk() {
        vectorised_matches_portable::<f64>(1e-12);
        // f32: the coefficients are rounded to f32 after f64 scalars that may differ in the last bit
        vectorised_matches_portable::<f32>(1e-5);
    }

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
