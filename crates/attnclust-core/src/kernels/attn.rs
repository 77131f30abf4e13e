//! Small-`d` attention in `f32` (`dk, dv ≤` [`MAX_D`]): one fused pass per block of query rows,
//! scores, online softmax around each row's dominant key, exponentials and `P·V` without a general
//! tile product and without storing more than one key panel's probabilities.
//!
//! **Layout.** Per head, `K` is packed once, transposed in panels of [`PANEL`] keys (panel `b` holds
//! `Kᵀ[f][64b … 64b + 63]` for every feature `f`, contiguous, zero-padded), so one 16-lane vector
//! holds one feature of 16 consecutive keys; `V` stays row-major (its rows zero-padded to a
//! multiple of 16 values when `dv` is not). For a block of query rows (64 in
//! [`crate::models::attention::flash`]) the key panels stream past in order; per panel, phase 1
//! runs micro-blocks of a few rows × up to 64 keys with the scores in registers (keys in lanes):
//! masks, the online softmax and the exponentials, writing `P` (rows × 64, in L1); phase 2 adds
//! `P·V` to `U` (rows × `dv`, features in lanes) in micro-blocks of rows whose `U` stays in
//! registers while the panel's keys go by, one broadcast `p_ij` times the row `V_j` each.
//!
//! **Score contract** (one home: the register-block function `score_block`, which the fused
//! forward, [`scores`] and the fused backward [`crate::kernels::attn_bwd`] all call; the same bits on
//! every instruction set): for query `i` and key `j`,
//!
//! ```text
//! acc = 0;  acc = fma(q_if, k_jf, acc) for f = 0, 1, …, dk − 1;  s = acc ⊗ λ;  s = s ⊕ β_j (with a key bias)
//! ```
//!
//! (`⊗`, `⊕`: one `f32` rounding each). The backward recomputes its scores with the same function,
//! so the row maxima and dominant keys the forward recorded are exactly those of its own scores.
//!
//! **Online softmax** (the semantics of [`crate::models::attention::online`]): per row the maximum
//! `m`, the first key `a` that reaches it, `ℓ' = Σ_{j≠a} e^{S_j − m}` and `U = Σ_{j≠a} e^{S_j − m} V_j`.
//! `ℓ'` is held as 16 lane partial sums (lane `t` sums the keys `j ≡ t mod 16` in increasing
//! order), reduced at the end by the fixed tree `l_t + l_{t+8}`, then `+4`, `+2`, `+1`. Each value
//! `U_c` is one running sum over the keys in increasing order: `U_c ← fma(p_j, V_jc, U_c)` (the
//! dominant key enters with `p_a = 0`). A key panel whose maximum beats `m` first folds
//! the old dominant term in and rescales: `U_c ← (U_c ⊕ V_ac) ⊗ e^{m−m'}`, `ℓ' ← (ℓ' + 1)·e^{m−m'}`
//! (the `+ 1` on lane 0), then leaves its new dominant key out of its sums (`p_a = 0`).
//!
//! **Exponential** `e^x` for `x ≤ 0`: `x_c = max(x, −87.3)`, `n = round_even(x_c ⊗ log₂e)`,
//! `r = fma(−n, ln2_hi, x_c)`, `r = fma(−n, ln2_lo, r)`, the degree-6 Taylor polynomial of `eʳ` by
//! Horner with `fma`, times `2ⁿ` built in the exponent bits; `x < −87.3` (and `−∞`, and NaN from a
//! row that has seen no key) gives 0. Relative error below 3e-7.
//!
//! Every operation above is the same IEEE operation in each implementation of [`V16`] — AVX-512F
//! (one `__m512`), AVX2/FMA (two `__m256`) and portable (`[f32; 16]` with `mul_add`) — so the scores
//! are identical on every path, and so are the forward's `m`, `a`, `ℓ'` and `U` (each row's
//! arithmetic depends on that row alone, not on the micro-block shapes, which differ by path).
//! The dispatch (which path runs) is in [`crate::kernels::simd`].

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Largest `dk` and `dv` the fused forward takes.
pub const MAX_D: usize = 64;
/// Lanes of a [`V16`].
pub const LANES: usize = 16;
/// Keys per panel of the packed `Kᵀ`, `Vᵀ`.
pub const PANEL: usize = 64;
/// `arg` of a row that has seen no key.
const NONE: u32 = u32::MAX;

const EXP_LO: f32 = -87.3;
const LN2_HI: f32 = 0.693_145_75;
const LN2_LO: f32 = 1.428_606_8e-6;
/// Horner coefficients of the degree-6 Taylor polynomial of `eʳ`, highest first.
const EXP_C: [f32; 7] = [1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0];
/// Horner coefficients of the degree-6 Taylor polynomial of `2^f = e^{f·ln 2}`, highest first:
/// `(ln 2)^k / k!` rounded to `f32`.
const EXP2_C: [f32; 7] = [
    1.540_353_039_338_160_6e-4_f64 as f32,
    1.333_355_814_642_844_1e-3_f64 as f32,
    9.618_129_107_628_477e-3_f64 as f32,
    5.550_410_866_482_157_6e-2_f64 as f32,
    0.240_226_506_959_100_7_f64 as f32,
    std::f64::consts::LN_2 as f32,
    1.0,
];

/// Sixteen `f32` lanes. Every method is one IEEE operation per lane (or an exact one: max, select,
/// compare), the same on every implementation.
///
/// # Safety
/// The methods of the SIMD implementations must only run on a CPU with their features; pointers
/// must address 16 readable (writable) `f32`.
// (the safety contract above is common to every method)
#[allow(clippy::missing_safety_doc)]
pub trait V16: Copy {
    unsafe fn splat(x: f32) -> Self;
    unsafe fn load(p: *const f32) -> Self;
    unsafe fn store(self, p: *mut f32);
    /// `a·b + c`, one rounding.
    unsafe fn fma(a: Self, b: Self, c: Self) -> Self;
    unsafe fn mul(self, b: Self) -> Self;
    unsafe fn add(self, b: Self) -> Self;
    unsafe fn sub(self, b: Self) -> Self;
    unsafe fn max(self, b: Self) -> Self;
    /// The largest lane.
    unsafe fn hmax(self) -> f32;
    /// `Σ` lanes by the fixed tree `l_t + l_{t+8}`, `+4`, `+2`, `+1`.
    unsafe fn hsum(self) -> f32;
    /// `out[t] = hsum(vector t)` for the 16 vectors stored from `p` (the same bits; AVX-512 reduces
    /// them together, by the same additions).
    #[inline(always)]
    unsafe fn hsum16(p: *const f32, out: *mut f32) {
        for t in 0..LANES {
            *out.add(t) = Self::load(p.add(LANES * t)).hsum();
        }
    }
    /// Bit `t` set when lane `t` equals `x`.
    unsafe fn eq_mask(self, x: f32) -> u32;
    /// Whether some lane is above `x`.
    unsafe fn any_gt(self, x: f32) -> bool;
    /// Lanes whose bit is clear in `keep` become `−∞`.
    unsafe fn keep(self, keep: u32) -> Self;
    /// `x` added to lane 0.
    unsafe fn add_lane0(self, x: f32) -> Self;
    /// `e^x` for `x ≤ 0` as in the module doc.
    unsafe fn exp_nonpos(self) -> Self;
    /// `2^x` for `x` in `[−125, 1]` on the lanes whose bit is set in `keep`, `+0` on the others
    /// (whose `x` must be finite): `n = round_even(x)`, `f = x ⊖ n` (exact), the degree-6 Taylor
    /// polynomial of `2^f` by Horner with `fma` ([`exp2_scalar`]), times `2ⁿ` (an exact scaling:
    /// the symmetric kernel of [`crate::kernels::attn_sym`]).
    unsafe fn exp2_keep(self, keep: u32) -> Self;
    /// The `16 × 16` block of rows `k` of 16 values at `p + k·stride`, transposed: value `t` of
    /// row `k` to `out + t·ostride + k`, for `t < n ≤ 16` (exact data movement; AVX-512 by
    /// shuffles, the others value by value).
    #[inline(always)]
    unsafe fn transpose16(p: *const f32, stride: usize, out: *mut f32, ostride: usize, n: usize) {
        for t in 0..n {
            for k in 0..LANES {
                *out.add(t * ostride + k) = *p.add(k * stride + t);
            }
        }
    }
}

/// Sums of a lane array by the tree of [`V16::hsum`].
#[inline(always)]
fn tree_sum(l: &[f32; 16]) -> f32 {
    let mut s8 = [0.0f32; 8];
    for t in 0..8 {
        s8[t] = l[t] + l[t + 8];
    }
    let s4 = [s8[0] + s8[4], s8[1] + s8[5], s8[2] + s8[6], s8[3] + s8[7]];
    let s2 = [s4[0] + s4[2], s4[1] + s4[3]];
    s2[0] + s2[1]
}

/// The scalar exponential of the module doc (one lane of [`V16::exp_nonpos`]).
#[inline(always)]
pub fn exp_nonpos_scalar(x: f32) -> f32 {
    let xc = x.max(EXP_LO);
    let n = (xc * std::f32::consts::LOG2_E).round_ties_even();
    let r = (-n).mul_add(LN2_HI, xc);
    let r = (-n).mul_add(LN2_LO, r);
    let mut p = EXP_C[0];
    for &c in &EXP_C[1..] {
        p = p.mul_add(r, c);
    }
    let y = p * f32::from_bits(((n as i32 + 127) as u32) << 23);
    if x >= EXP_LO {
        y
    } else {
        0.0
    }
}

/// One lane of [`V16::exp2_keep`] (a kept lane; `x` in `[−125, 1]`). Relative error below 3e-7.
#[inline(always)]
pub fn exp2_scalar(x: f32) -> f32 {
    let n = x.round_ties_even();
    let f = x - n;
    let mut p = EXP2_C[0];
    for &c in &EXP2_C[1..] {
        p = p.mul_add(f, c);
    }
    p * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// The portable lanes: plain arrays, `mul_add` for every `fma`.
#[derive(Clone, Copy)]
pub struct Portable([f32; 16]);

impl Portable {
    #[inline(always)]
    fn map2(self, b: Self, f: impl Fn(f32, f32) -> f32) -> Self {
        let mut o = [0.0f32; 16];
        for t in 0..16 {
            o[t] = f(self.0[t], b.0[t]);
        }
        Portable(o)
    }
}

impl V16 for Portable {
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        Portable([x; 16])
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        Portable(std::ptr::read_unaligned(p as *const [f32; 16]))
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        std::ptr::write_unaligned(p as *mut [f32; 16], self.0)
    }
    #[inline(always)]
    unsafe fn fma(a: Self, b: Self, c: Self) -> Self {
        let mut o = [0.0f32; 16];
        for t in 0..16 {
            o[t] = a.0[t].mul_add(b.0[t], c.0[t]);
        }
        Portable(o)
    }
    #[inline(always)]
    unsafe fn mul(self, b: Self) -> Self {
        self.map2(b, |x, y| x * y)
    }
    #[inline(always)]
    unsafe fn add(self, b: Self) -> Self {
        self.map2(b, |x, y| x + y)
    }
    #[inline(always)]
    unsafe fn sub(self, b: Self) -> Self {
        self.map2(b, |x, y| x - y)
    }
    #[inline(always)]
    unsafe fn max(self, b: Self) -> Self {
        self.map2(b, |x, y| if x > y { x } else { y })
    }
    #[inline(always)]
    unsafe fn hmax(self) -> f32 {
        self.0.iter().fold(f32::NEG_INFINITY, |m, &x| if x > m { x } else { m })
    }
    #[inline(always)]
    unsafe fn hsum(self) -> f32 {
        tree_sum(&self.0)
    }
    #[inline(always)]
    unsafe fn eq_mask(self, x: f32) -> u32 {
        (0..16).fold(0, |m, t| if self.0[t] == x { m | 1 << t } else { m })
    }
    #[inline(always)]
    unsafe fn any_gt(self, x: f32) -> bool {
        self.0.iter().any(|&v| v > x)
    }
    #[inline(always)]
    unsafe fn keep(self, keep: u32) -> Self {
        let mut o = self.0;
        for (t, v) in o.iter_mut().enumerate() {
            if keep >> t & 1 == 0 {
                *v = f32::NEG_INFINITY;
            }
        }
        Portable(o)
    }
    #[inline(always)]
    unsafe fn add_lane0(self, x: f32) -> Self {
        let mut o = self.0;
        o[0] += x;
        Portable(o)
    }
    #[inline(always)]
    unsafe fn exp_nonpos(self) -> Self {
        Portable(self.0.map(exp_nonpos_scalar))
    }
    #[inline(always)]
    unsafe fn exp2_keep(self, keep: u32) -> Self {
        let mut o = self.0;
        for (t, v) in o.iter_mut().enumerate() {
            *v = if keep >> t & 1 == 1 { exp2_scalar(*v) } else { 0.0 };
        }
        Portable(o)
    }
}

/// AVX-512F lanes.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub struct Avx512(__m512);

#[cfg(target_arch = "x86_64")]
impl V16 for Avx512 {
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        Avx512(_mm512_set1_ps(x))
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        Avx512(_mm512_loadu_ps(p))
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        _mm512_storeu_ps(p, self.0)
    }
    #[inline(always)]
    unsafe fn fma(a: Self, b: Self, c: Self) -> Self {
        Avx512(_mm512_fmadd_ps(a.0, b.0, c.0))
    }
    #[inline(always)]
    unsafe fn mul(self, b: Self) -> Self {
        Avx512(_mm512_mul_ps(self.0, b.0))
    }
    #[inline(always)]
    unsafe fn add(self, b: Self) -> Self {
        Avx512(_mm512_add_ps(self.0, b.0))
    }
    #[inline(always)]
    unsafe fn sub(self, b: Self) -> Self {
        Avx512(_mm512_sub_ps(self.0, b.0))
    }
    #[inline(always)]
    unsafe fn max(self, b: Self) -> Self {
        Avx512(_mm512_max_ps(self.0, b.0))
    }
    #[inline(always)]
    unsafe fn hmax(self) -> f32 {
        _mm512_reduce_max_ps(self.0)
    }
    #[inline(always)]
    unsafe fn hsum(self) -> f32 {
        let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(self.0)));
        hsum8(_mm256_add_ps(_mm512_castps512_ps256(self.0), hi))
    }
    #[inline(always)]
    unsafe fn hsum16(p: *const f32, out: *mut f32) {
        let v = |t: usize| _mm512_loadu_ps(p.add(LANES * t));
        // [a_s8 | b_s8]: 128-bit blocks (a0 + a2, a1 + a3, b0 + b2, b1 + b3), s8_t = l_t + l_{t+8}
        let s8 = |a: __m512, b: __m512| _mm512_add_ps(_mm512_shuffle_f32x4::<0x44>(a, b), _mm512_shuffle_f32x4::<0xEE>(a, b));
        // block j: s4 of row 4k + j (s4_t = s8_t + s8_{t+4})
        let s4 = |t: __m512, u: __m512| _mm512_add_ps(_mm512_shuffle_f32x4::<0x88>(t, u), _mm512_shuffle_f32x4::<0xDD>(t, u));
        // block j: (s2 of w's row j, s2 of x's row j), s2_t = s4_t + s4_{t+2}
        let s2 = |w: __m512, x: __m512| _mm512_add_ps(_mm512_shuffle_ps::<0x44>(w, x), _mm512_shuffle_ps::<0xEE>(w, x));
        let mut t = [_mm512_setzero_ps(); 8];
        for (k, x) in t.iter_mut().enumerate() {
            *x = s8(v(2 * k), v(2 * k + 1));
        }
        let w = [s4(t[0], t[1]), s4(t[2], t[3]), s4(t[4], t[5]), s4(t[6], t[7])];
        let (y, z) = (s2(w[0], w[1]), s2(w[2], w[3]));
        // lane 4j + m: the sum of row 4m + j (s1 = s2_0 + s2_1)
        let r = _mm512_add_ps(_mm512_shuffle_ps::<0x88>(y, z), _mm512_shuffle_ps::<0xDD>(y, z));
        let idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
        _mm512_storeu_ps(out, _mm512_permutexvar_ps(idx, r));
    }
    #[inline(always)]
    unsafe fn eq_mask(self, x: f32) -> u32 {
        u32::from(_mm512_cmp_ps_mask::<_CMP_EQ_OQ>(self.0, _mm512_set1_ps(x)))
    }
    #[inline(always)]
    unsafe fn any_gt(self, x: f32) -> bool {
        _mm512_cmp_ps_mask::<_CMP_GT_OQ>(self.0, _mm512_set1_ps(x)) != 0
    }
    #[inline(always)]
    unsafe fn keep(self, keep: u32) -> Self {
        Avx512(_mm512_mask_blend_ps(keep as u16, _mm512_set1_ps(f32::NEG_INFINITY), self.0))
    }
    #[inline(always)]
    unsafe fn add_lane0(self, x: f32) -> Self {
        Avx512(_mm512_mask_add_ps(self.0, 1, self.0, _mm512_set1_ps(x)))
    }
    #[inline(always)]
    unsafe fn transpose16(p: *const f32, stride: usize, out: *mut f32, ostride: usize, n: usize) {
        let r: [__m512; 16] = std::array::from_fn(|k| _mm512_loadu_ps(p.add(k * stride)));
        // t_{2m}, t_{2m+1}: per 128-bit lane L, rows 2m, 2m + 1 of columns 4L, 4L + 1 / 4L + 2, 4L + 3
        let t: [__m512; 16] = std::array::from_fn(|i| {
            let (a, b) = (r[i & !1], r[i | 1]);
            if i % 2 == 0 {
                _mm512_unpacklo_ps(a, b)
            } else {
                _mm512_unpackhi_ps(a, b)
            }
        });
        // u_{4n+c}: per lane L, rows 4n … 4n + 3 of column 4L + c
        let u: [__m512; 16] = std::array::from_fn(|i| {
            let (n4, c) = (i & !3, i & 3);
            let (a, b) = (t[n4 + (c >> 1)], t[n4 + 2 + (c >> 1)]);
            if c % 2 == 0 {
                _mm512_shuffle_ps::<0x44>(a, b)
            } else {
                _mm512_shuffle_ps::<0xEE>(a, b)
            }
        });
        for c in 0..4 {
            let (pp, q, rr, ss) = (u[c], u[4 + c], u[8 + c], u[12 + c]);
            let (v0, v1) = (_mm512_shuffle_f32x4::<0x88>(pp, q), _mm512_shuffle_f32x4::<0xDD>(pp, q));
            let (v2, v3) = (_mm512_shuffle_f32x4::<0x88>(rr, ss), _mm512_shuffle_f32x4::<0xDD>(rr, ss));
            // column 4L + c: L = 0, 1, 2, 3
            let cols = [
                _mm512_shuffle_f32x4::<0x88>(v0, v2),
                _mm512_shuffle_f32x4::<0x88>(v1, v3),
                _mm512_shuffle_f32x4::<0xDD>(v0, v2),
                _mm512_shuffle_f32x4::<0xDD>(v1, v3),
            ];
            for (lane, col) in cols.into_iter().enumerate() {
                let f = 4 * lane + c;
                if f < n {
                    _mm512_storeu_ps(out.add(f * ostride), col);
                }
            }
        }
    }
    #[inline(always)]
    unsafe fn exp_nonpos(self) -> Self {
        let x = self.0;
        let lo = _mm512_set1_ps(EXP_LO);
        let xc = _mm512_max_ps(x, lo);
        let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm512_mul_ps(xc, _mm512_set1_ps(std::f32::consts::LOG2_E)));
        let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_HI), xc);
        let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_LO), r);
        let mut p = _mm512_set1_ps(EXP_C[0]);
        for &c in &EXP_C[1..] {
            p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(c));
        }
        // p·2ⁿ correctly rounded, as the product with 2ⁿ built in the exponent bits (n ≥ −126)
        Avx512(_mm512_maskz_scalef_ps(_mm512_cmp_ps_mask::<_CMP_GE_OQ>(x, lo), p, n))
    }
    #[inline(always)]
    unsafe fn exp2_keep(self, keep: u32) -> Self {
        let x = self.0;
        let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(x);
        let f = _mm512_sub_ps(x, n);
        let mut p = _mm512_set1_ps(EXP2_C[0]);
        for &c in &EXP2_C[1..] {
            p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(c));
        }
        // p·2ⁿ (exact: 2ⁿ and the product are normal), the other lanes 0
        Avx512(_mm512_maskz_scalef_ps(keep as u16, p, n))
    }
}

/// `((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7))` of eight lanes `l_t = a_t` — with `a_t =
/// x_t + x_{t+8}` this is the tree of [`V16::hsum`].
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn hsum8(s8: __m256) -> f32 {
    let s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps::<1>(s8));
    let s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps::<1>(s2, s2)))
}

/// AVX2/FMA lanes: two `__m256`, lanes 0–7 and 8–15.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub struct Avx2(__m256, __m256);

#[cfg(target_arch = "x86_64")]
impl Avx2 {
    #[inline(always)]
    unsafe fn lanes_of(bits: u32) -> __m256i {
        let sel = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
        _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(bits as i32), sel), sel)
    }
    #[inline(always)]
    unsafe fn exp8(x: __m256) -> __m256 {
        let lo = _mm256_set1_ps(EXP_LO);
        let xc = _mm256_max_ps(x, lo);
        let n = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm256_mul_ps(xc, _mm256_set1_ps(std::f32::consts::LOG2_E)));
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_HI), xc);
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_LO), r);
        let mut p = _mm256_set1_ps(EXP_C[0]);
        for &c in &EXP_C[1..] {
            p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(c));
        }
        let two_n = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127))));
        _mm256_and_ps(_mm256_mul_ps(p, two_n), _mm256_cmp_ps::<_CMP_GE_OQ>(x, lo))
    }
    /// [`V16::exp2_keep`] on eight lanes, every lane kept.
    #[inline(always)]
    unsafe fn exp2_8(x: __m256) -> __m256 {
        let n = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(x);
        let f = _mm256_sub_ps(x, n);
        let mut p = _mm256_set1_ps(EXP2_C[0]);
        for &c in &EXP2_C[1..] {
            p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(c));
        }
        let two_n = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127))));
        _mm256_mul_ps(p, two_n)
    }
}

#[cfg(target_arch = "x86_64")]
impl V16 for Avx2 {
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        let v = _mm256_set1_ps(x);
        Avx2(v, v)
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        Avx2(_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8)))
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        _mm256_storeu_ps(p, self.0);
        _mm256_storeu_ps(p.add(8), self.1);
    }
    #[inline(always)]
    unsafe fn fma(a: Self, b: Self, c: Self) -> Self {
        Avx2(_mm256_fmadd_ps(a.0, b.0, c.0), _mm256_fmadd_ps(a.1, b.1, c.1))
    }
    #[inline(always)]
    unsafe fn mul(self, b: Self) -> Self {
        Avx2(_mm256_mul_ps(self.0, b.0), _mm256_mul_ps(self.1, b.1))
    }
    #[inline(always)]
    unsafe fn add(self, b: Self) -> Self {
        Avx2(_mm256_add_ps(self.0, b.0), _mm256_add_ps(self.1, b.1))
    }
    #[inline(always)]
    unsafe fn sub(self, b: Self) -> Self {
        Avx2(_mm256_sub_ps(self.0, b.0), _mm256_sub_ps(self.1, b.1))
    }
    #[inline(always)]
    unsafe fn max(self, b: Self) -> Self {
        Avx2(_mm256_max_ps(self.0, b.0), _mm256_max_ps(self.1, b.1))
    }
    #[inline(always)]
    unsafe fn hmax(self) -> f32 {
        let m = _mm256_max_ps(self.0, self.1);
        let m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps::<1>(m));
        let m2 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        _mm_cvtss_f32(_mm_max_ss(m2, _mm_shuffle_ps::<1>(m2, m2)))
    }
    #[inline(always)]
    unsafe fn hsum(self) -> f32 {
        hsum8(_mm256_add_ps(self.0, self.1))
    }
    #[inline(always)]
    unsafe fn eq_mask(self, x: f32) -> u32 {
        let v = _mm256_set1_ps(x);
        let lo = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_EQ_OQ>(self.0, v)) as u32;
        let hi = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_EQ_OQ>(self.1, v)) as u32;
        lo | hi << 8
    }
    #[inline(always)]
    unsafe fn any_gt(self, x: f32) -> bool {
        let v = _mm256_set1_ps(x);
        _mm256_movemask_ps(_mm256_or_ps(_mm256_cmp_ps::<_CMP_GT_OQ>(self.0, v), _mm256_cmp_ps::<_CMP_GT_OQ>(self.1, v))) != 0
    }
    #[inline(always)]
    unsafe fn keep(self, keep: u32) -> Self {
        let ninf = _mm256_set1_ps(f32::NEG_INFINITY);
        let (m0, m1) = (_mm256_castsi256_ps(Self::lanes_of(keep & 0xff)), _mm256_castsi256_ps(Self::lanes_of(keep >> 8 & 0xff)));
        Avx2(_mm256_blendv_ps(ninf, self.0, m0), _mm256_blendv_ps(ninf, self.1, m1))
    }
    #[inline(always)]
    unsafe fn add_lane0(self, x: f32) -> Self {
        Avx2(_mm256_blend_ps::<1>(self.0, _mm256_add_ps(self.0, _mm256_set1_ps(x))), self.1)
    }
    #[inline(always)]
    unsafe fn exp_nonpos(self) -> Self {
        Avx2(Self::exp8(self.0), Self::exp8(self.1))
    }
    #[inline(always)]
    unsafe fn exp2_keep(self, keep: u32) -> Self {
        let (a, b) = (Self::exp2_8(self.0), Self::exp2_8(self.1));
        if keep == 0xffff {
            return Avx2(a, b);
        }
        let (m0, m1) = (_mm256_castsi256_ps(Self::lanes_of(keep & 0xff)), _mm256_castsi256_ps(Self::lanes_of(keep >> 8 & 0xff)));
        Avx2(_mm256_and_ps(a, m0), _mm256_and_ps(b, m1))
    }
}

/// One head packed for the fused forward: `Kᵀ` in panels of `pw` keys (module doc; `pw` =
/// [`PANEL`], or for a prompt of at most [`PANEL`] keys its length rounded up to [`LANES`]), `lp`
/// keys (a multiple of `pw`), and `V` row-major with rows of `dvp` values (`dv` rounded up to
/// [`LANES`]).
pub struct Packed<'a> {
    pub q: &'a [f32],
    /// `V` row-major (`l × dv`).
    pub v: &'a [f32],
    pub kt: Vec<f32>,
    /// `V` with its rows zero-padded to `dvp` values (`l × dvp`); `None` when `dv` is a multiple of
    /// [`LANES`] (then `v` itself).
    pub vp: Option<Vec<f32>>,
    pub bias: Option<Vec<f32>>,
    pub l: usize,
    pub lp: usize,
    /// Keys per panel.
    pub pw: usize,
    pub dk: usize,
    pub dv: usize,
    /// `dv` rounded up to [`LANES`].
    pub dvp: usize,
    pub lambda: f32,
    pub causal: bool,
    pub no_self: bool,
}

/// `m × n` row-major → `n × lp` (zero-padded rows of length `lp ≥ m`).
fn transpose_pad(a: &[f32], m: usize, n: usize, lp: usize) -> Vec<f32> {
    let a = &a[..m * n];
    let mut t = vec![0.0f32; n * lp];
    for (f, col) in t.chunks_exact_mut(lp).enumerate() {
        for (x, row) in col[..m].iter_mut().zip(a.chunks_exact(n)) {
            *x = row[f];
        }
    }
    t
}

/// `m × n` row-major → panels of `pw` rows, each transposed (`n × pw`), zero-padded, into `t`
/// (its allocation reused).
fn pack_panels(a: &[f32], m: usize, n: usize, pw: usize, t: &mut Vec<f32>) {
    let a = &a[..m * n];
    let len = m.div_ceil(pw) * pw * n;
    // every value is written below: only a longer buffer is (re)initialised
    if t.len() < len {
        t.resize(len, 0.0);
    }
    t.truncate(len);
    for (panel, rows) in t.chunks_exact_mut(pw * n).zip(a.chunks(pw * n)) {
        let k = rows.len() / n;
        // row by row (reads in order, writes at stride pw), then the padding of a last panel
        for (r, row) in rows.chunks_exact(n).enumerate() {
            for (f, &x) in row.iter().enumerate() {
                panel[f * pw + r] = x;
            }
        }
        if k < pw {
            for col in panel.chunks_exact_mut(pw) {
                col[k..].fill(0.0);
            }
        }
    }
}

/// The allocations of a [`Packed`] head, kept between heads ([`Packed::reusing`],
/// [`Packed::release`]): a loop over many small prompts packs each one without allocating.
#[derive(Default)]
pub struct PackBufs {
    kt: Vec<f32>,
    vp: Vec<f32>,
    bias: Vec<f32>,
}

/// Rows of padding of the work buffers of [`rows`] beyond a block's rows (the largest micro-block
/// of either phase).
const RPAD: usize = 16;

/// The work buffers of [`rows`], kept between calls: the block's queries (`(rows + 16) × dk`), its
/// `P` tile (`(rows + 16) ×` [`PANEL`]), `U` (`(rows + 16) × dvp`) and per row `m`, `a` and the 16
/// lane sums of `ℓ'`.
#[derive(Default)]
pub struct Scratch {
    qb: Vec<f32>,
    pt: Vec<f32>,
    u: Vec<f32>,
    z: Vec<f32>,
    m: Vec<f32>,
    dom: Vec<u32>,
}

impl<'a> Packed<'a> {
    /// Packs `K` (`l × dk`) and `V` (`l × dv`); `q` is `l × dk`, `bias` of length `l`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(q: &'a [f32], k: &[f32], v: &'a [f32], l: usize, dk: usize, dv: usize, lambda: f32, bias: Option<&[f32]>, causal: bool, no_self: bool) -> Self {
        Self::reusing(PackBufs::default(), q, k, v, l, dk, dv, lambda, bias, causal, no_self)
    }

    /// [`Packed::new`] in the allocations of `bufs` (given back by [`Packed::release`]).
    #[allow(clippy::too_many_arguments)]
    pub fn reusing(
        bufs: PackBufs,
        q: &'a [f32],
        k: &[f32],
        v: &'a [f32],
        l: usize,
        dk: usize,
        dv: usize,
        lambda: f32,
        bias: Option<&[f32]>,
        causal: bool,
        no_self: bool,
    ) -> Self {
        assert!((1..=MAX_D).contains(&dk) && (1..=MAX_D).contains(&dv) && l < NONE as usize);
        assert!(q.len() >= l * dk && k.len() >= l * dk && v.len() >= l * dv && bias.is_none_or(|b| b.len() >= l));
        // a short prompt is one panel of its own length (rounded up to a lane vector): no key
        // vector is packed, nor swept, beyond its last key vector
        let pw = if l > PANEL { PANEL } else { l.div_ceil(LANES).max(1) * LANES };
        let lp = l.div_ceil(pw) * pw;
        let dvp = dv.div_ceil(LANES) * LANES;
        let PackBufs { mut kt, vp: mut vbuf, bias: mut bbuf } = bufs;
        pack_panels(k, l, dk, pw, &mut kt);
        let vp = if dvp == dv {
            None
        } else {
            vbuf.clear();
            vbuf.resize(l * dvp, 0.0);
            for (dst, src) in vbuf.chunks_exact_mut(dvp).zip(v[..l * dv].chunks_exact(dv)) {
                dst[..dv].copy_from_slice(src);
            }
            Some(vbuf)
        };
        let bias = bias.map(|b| {
            bbuf.clear();
            bbuf.resize(lp, 0.0);
            bbuf[..l].copy_from_slice(&b[..l]);
            bbuf
        });
        Packed { q, v, kt, vp, bias, l, lp, pw, dk, dv, dvp, lambda, causal, no_self }
    }

    /// The allocations of this head, for the next [`Packed::reusing`].
    pub fn release(self) -> PackBufs {
        PackBufs { kt: self.kt, vp: self.vp.unwrap_or_default(), bias: self.bias.unwrap_or_default() }
    }

    /// `V` with rows of `dvp` values.
    #[inline(always)]
    fn vrows(&self) -> *const f32 {
        self.vp.as_deref().unwrap_or(self.v).as_ptr()
    }
}

/// Where the fused forward writes, per query row of its block: the running state of
/// [`crate::models::attention::online::Rows`] at the end of the keys (`m`, `ℓ'`, dominant key) and
/// the accumulator `U` (`rows × dv`).
pub struct RowsOut<'a> {
    pub m: &'a mut [f32],
    pub others: &'a mut [f32],
    pub dom: &'a mut [u32],
    pub u: &'a mut [f32],
}

/// The score contract (module doc), the one home of its arithmetic: the scores of `R` query rows
/// (feature `f` of row `r` at `qb + r·qs + f`) against `16·NV` keys (feature `f` of key vector `v`
/// at `kt + f·ks + 16v`, their biases at `bias + 16v`), before any mask. The fused forward and the
/// fused backward ([`crate::kernels::attn_bwd`]) both take their scores from here, so the
/// backward's `P` is recomputed from exactly the forward's scores.
///
/// # Safety
/// Those addresses hold `16·NV` values each, each query row `dk`; the CPU has `V`'s features.
#[inline(always)]
pub(crate) unsafe fn score_block<V: V16, const R: usize, const NV: usize>(
    qb: *const f32,
    qs: usize,
    dk: usize,
    kt: *const f32,
    ks: usize,
    lambda: f32,
    bias: Option<*const f32>,
) -> [[V; NV]; R] {
    let mut s = [[V::splat(0.0); NV]; R];
    for f in 0..dk {
        let row = kt.add(f * ks);
        let mut kv = [V::splat(0.0); NV];
        for (v, k) in kv.iter_mut().enumerate() {
            *k = V::load(row.add(LANES * v));
        }
        for (r, sr) in s.iter_mut().enumerate() {
            let qv = V::splat(*qb.add(r * qs + f));
            for v in 0..NV {
                sr[v] = V::fma(qv, kv[v], sr[v]);
            }
        }
    }
    let lv = V::splat(lambda);
    for sr in s.iter_mut() {
        for (v, x) in sr.iter_mut().enumerate() {
            *x = x.mul(lv);
            if let Some(b) = bias {
                *x = x.add(V::load(b.add(LANES * v)));
            }
        }
    }
    s
}

/// Lanes of key vector `[base, base + 16)` that query `i` may see, keys below `end`.
#[inline(always)]
fn keep_bits(p: &Packed, i: usize, base: usize, end: usize) -> u32 {
    let mut keep: u32 = if base + LANES > end { (1u32 << (end - base)) - 1 } else { 0xffff };
    if p.causal && base + LANES - 1 > i {
        keep &= if i >= base { (2u32 << (i - base)) - 1 } else { 0 };
    }
    if p.no_self && i >= base && i < base + LANES {
        keep &= !(1u32 << (i - base));
    }
    keep
}

/// Phase 1 of the panel of keys `[kb, kb + 16·NV)` (keys below `end`) for the `R` rows from `r0`
/// of the block of query `i0`: their scores ([`score_block`]), masks, the online softmax (a new
/// maximum rescales the row's `ℓ'` and `U`), and `P` into the tile.
#[inline(always)]
unsafe fn softmax_block<V: V16, const R: usize, const NV: usize>(p: &Packed, t: &mut Scratch, i0: usize, r0: usize, kb: usize, end: usize) {
    let (dk, dvp) = (p.dk, p.dvp);
    let i = i0 + r0;
    let bias = p.bias.as_ref().map(|b| b.as_ptr().add(kb));
    let mut s = score_block::<V, R, NV>(t.qb.as_ptr().add(r0 * dk), dk, dk, p.kt.as_ptr().add(kb * dk), p.pw, p.lambda, bias);
    let edge = kb + LANES * NV > end || (p.causal && kb + LANES * NV > i) || (p.no_self && kb + LANES * NV > i && kb < i + R);
    let (up, zp, pt) = (t.u.as_mut_ptr(), t.z.as_mut_ptr(), t.pt.as_mut_ptr());
    for (r, sr) in s.iter_mut().enumerate() {
        let row = r0 + r;
        if edge {
            for (v, x) in sr.iter_mut().enumerate() {
                let keep = keep_bits(p, i + r, kb + LANES * v, end);
                if keep != 0xffff {
                    *x = x.keep(keep);
                }
            }
        }
        let mut mx = sr[0];
        for x in &sr[1..] {
            mx = mx.max(*x);
        }
        let mut m = t.m[row];
        let mut z = V::load(zp.add(row * LANES));
        // a new maximum (rare after the first blocks): its value, first key, and the rescaling
        if mx.any_gt(m) {
            let bm = mx.hmax();
            let (mut v, mut b) = (0, 0);
            while v < NV {
                let mask = sr[v].eq_mask(bm);
                if mask != 0 {
                    b = mask.trailing_zeros();
                    break;
                }
                v += 1;
            }
            let a = t.dom[row];
            if a != NONE {
                // U ← (U + V_a) ⊗ e^{m − m'},  ℓ' ← (ℓ' + 1) ⊗ e^{m − m'}
                let scale = V::splat(m - bm).exp_nonpos();
                let (u, va) = (up.add(row * dvp), p.vrows().add(a as usize * dvp));
                for c in (0..dvp).step_by(LANES) {
                    V::load(u.add(c)).add(V::load(va.add(c))).mul(scale).store(u.add(c));
                }
                z = z.add_lane0(1.0).mul(scale);
            }
            m = bm;
            t.m[row] = bm;
            t.dom[row] = (kb + LANES * v) as u32 + b;
            sr[v] = sr[v].keep(!(1u32 << b));
        }
        let mv = V::splat(m);
        for (v, x) in sr.iter_mut().enumerate() {
            *x = x.sub(mv).exp_nonpos();
            z = z.add(*x);
            x.store(pt.add(row * PANEL + LANES * v));
        }
        z.store(zp.add(row * LANES));
    }
}

/// Phase 2 of a key block of `nk` keys (`V` rows from `vr`, `DV` lane vectors each): `U += P·V`
/// for the `R` rows from `r0`, `U` in registers, key by key.
#[inline(always)]
unsafe fn pv_block<V: V16, const R: usize, const DV: usize>(t: &mut Scratch, r0: usize, nk: usize, vr: *const f32) {
    let dvp = DV * LANES;
    let (up, pp) = (t.u.as_mut_ptr().add(r0 * dvp), t.pt.as_ptr().add(r0 * PANEL));
    let mut acc = [[V::splat(0.0); DV]; R];
    for (r, ar) in acc.iter_mut().enumerate() {
        for (c, x) in ar.iter_mut().enumerate() {
            *x = V::load(up.add(r * dvp + LANES * c));
        }
    }
    for j in 0..nk {
        let mut vj = [V::splat(0.0); DV];
        for (c, x) in vj.iter_mut().enumerate() {
            *x = V::load(vr.add(j * dvp + LANES * c));
        }
        for (r, ar) in acc.iter_mut().enumerate() {
            let pr = V::splat(*pp.add(r * PANEL + j));
            for c in 0..DV {
                ar[c] = V::fma(pr, vj[c], ar[c]);
            }
        }
    }
    for (r, ar) in acc.iter().enumerate() {
        for (c, x) in ar.iter().enumerate() {
            x.store(up.add(r * dvp + LANES * c));
        }
    }
}

/// Phase 2 over rows `[r_lo, rows)` of the block in micro-blocks of `R` rows (the last one into the
/// padding rows).
#[inline(always)]
unsafe fn pv_rows<V: V16, const R: usize, const DV: usize>(t: &mut Scratch, r_lo: usize, rows: usize, nk: usize, vr: *const f32) {
    let mut r0 = r_lo;
    while r0 < rows {
        pv_block::<V, R, DV>(t, r0, nk, vr);
        r0 += R;
    }
}

/// The fused forward of query rows `[i0, i0 + rows)`: per key panel, phase 1 (scores, masks, online
/// softmax, `P` into an L1 tile) in micro-blocks of `RA` rows × the panel's keys, then phase 2
/// (`U += P·V`) in micro-blocks of rows whose `U` is held in registers (`RW` vector registers of
/// 16 lanes: with 32, 6, 8, 12 or 16 rows for `dv` up to 64, 48, 32 or 16; else 1, 2, 3 or 6).
/// Each row sees its keys in increasing order, a panel at a time; its values depend on that row
/// alone, not on `RA` or `RW`.
///
/// # Safety
/// The CPU has `V`'s features.
#[inline(always)]
pub unsafe fn rows<V: V16, const RA: usize, const RW: usize>(p: &Packed, i0: usize, rows: usize, out: RowsOut, t: &mut Scratch) {
    assert!(RA <= RPAD && i0 + rows <= p.l);
    assert!(out.m.len() >= rows && out.others.len() >= rows && out.dom.len() >= rows && out.u.len() >= rows * p.dv);
    let (dk, dv, dvp) = (p.dk, p.dv, p.dvp);
    if rows == 0 {
        return;
    }
    let nr = rows + RPAD;
    t.qb.clear();
    t.qb.extend_from_slice(&p.q[i0 * dk..(i0 + rows) * dk]);
    t.qb.resize(nr * dk, 0.0);
    // P and the padding rows of U are written before they are read (or only feed padding rows)
    if t.pt.len() < nr * PANEL {
        t.pt.resize(nr * PANEL, 0.0);
    }
    t.u.clear();
    t.u.resize(nr * dvp, 0.0);
    t.z.clear();
    t.z.resize(nr * LANES, 0.0);
    t.m.clear();
    t.m.resize(nr, f32::NEG_INFINITY);
    t.dom.clear();
    t.dom.resize(nr, NONE);
    let end = if p.causal { i0 + rows } else { p.l };
    let vr = p.vrows();
    let mut kb = 0;
    while kb < end {
        let nk = p.pw.min(end - kb);
        // causal: rows before kb − i0 see no key of this panel
        let r_lo = if p.causal { kb.saturating_sub(i0) } else { 0 };
        let mut r0 = r_lo;
        // (helpers are functions, not closures: a closure does not inherit the caller's target features)
        while r0 < rows {
            match nk.div_ceil(LANES) {
                4 => softmax_block::<V, RA, 4>(p, t, i0, r0, kb, end),
                3 => softmax_block::<V, RA, 3>(p, t, i0, r0, kb, end),
                2 => softmax_block::<V, RA, 2>(p, t, i0, r0, kb, end),
                _ => softmax_block::<V, RA, 1>(p, t, i0, r0, kb, end),
            }
            r0 += RA;
        }
        let vb = vr.add(kb * dvp);
        match (dvp / LANES, RW >= 32) {
            (4, true) => pv_rows::<V, 6, 4>(t, r_lo, rows, nk, vb),
            (3, true) => pv_rows::<V, 8, 3>(t, r_lo, rows, nk, vb),
            (2, true) => pv_rows::<V, 12, 2>(t, r_lo, rows, nk, vb),
            (_, true) => pv_rows::<V, 16, 1>(t, r_lo, rows, nk, vb),
            (4, false) => pv_rows::<V, 1, 4>(t, r_lo, rows, nk, vb),
            (3, false) => pv_rows::<V, 2, 3>(t, r_lo, rows, nk, vb),
            (2, false) => pv_rows::<V, 3, 2>(t, r_lo, rows, nk, vb),
            (_, false) => pv_rows::<V, 6, 1>(t, r_lo, rows, nk, vb),
        }
        kb += p.pw;
    }
    for r in 0..rows {
        out.m[r] = t.m[r];
        out.dom[r] = t.dom[r];
        out.others[r] = V::load(t.z.as_ptr().add(r * LANES)).hsum();
        out.u[r * dv..(r + 1) * dv].copy_from_slice(&t.u[r * dvp..r * dvp + dv]);
    }
}

/// The contract scores (module doc) of queries `q` (`rows × dk`) against keys `k` (`cols × dk`),
/// plus `bias` (`cols`) when given, into `s` (`rows × cols`, row-major). Masks are the caller's.
///
/// # Safety
/// The CPU has `V`'s features.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub unsafe fn scores<V: V16>(q: &[f32], k: &[f32], rows: usize, cols: usize, dk: usize, lambda: f32, bias: Option<&[f32]>, s: &mut [f32]) {
    assert!(dk >= 1 && q.len() >= rows * dk && k.len() >= cols * dk && s.len() >= rows * cols && bias.is_none_or(|b| b.len() >= cols));
    const R: usize = 4;
    let cp = cols.div_ceil(LANES) * LANES;
    let kt = transpose_pad(k, cols, dk, cp);
    let bp = bias.map(|b| {
        let mut p = vec![0.0f32; cp];
        p[..cols].copy_from_slice(&b[..cols]);
        p
    });
    let mut qb = vec![0.0f32; R * dk];
    let mut tmp = [0.0f32; LANES];
    let mut r0 = 0;
    while r0 < rows {
        let rr = R.min(rows - r0);
        qb.iter_mut().for_each(|x| *x = 0.0);
        qb[..rr * dk].copy_from_slice(&q[r0 * dk..(r0 + rr) * dk]);
        let mut kb = 0;
        while kb < cols {
            let sb = score_block::<V, R, 1>(qb.as_ptr(), dk, dk, kt.as_ptr().add(kb), cp, lambda, bp.as_ref().map(|b| b.as_ptr().add(kb)));
            let n = LANES.min(cols - kb);
            for (r, sr) in sb.iter().enumerate().take(rr) {
                let dst = &mut s[(r0 + r) * cols + kb..(r0 + r) * cols + kb + n];
                if n == LANES {
                    sr[0].store(dst.as_mut_ptr());
                } else {
                    sr[0].store(tmp.as_mut_ptr());
                    dst.copy_from_slice(&tmp[..n]);
                }
            }
            kb += LANES;
        }
        r0 += R;
    }
}

/// The contract score of one pair, in plain scalar code: the oracle of the tests.
#[cfg(test)]
pub fn score_scalar(q: &[f32], k: &[f32], lambda: f32, bias: Option<f32>) -> f32 {
    let acc = q.iter().zip(k).fold(0.0f32, |acc, (&a, &b)| a.mul_add(b, acc));
    let s = acc * lambda;
    match bias {
        Some(b) => s + b,
        None => s,
    }
}

/// # Safety
/// The CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub unsafe fn rows_avx512(p: &Packed, i0: usize, n: usize, out: RowsOut, scratch: &mut Scratch) {
    rows::<Avx512, 6, 32>(p, i0, n, out, scratch)
}

/// # Safety
/// The CPU has AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub unsafe fn rows_avx2(p: &Packed, i0: usize, n: usize, out: RowsOut, scratch: &mut Scratch) {
    rows::<Avx2, 1, 8>(p, i0, n, out, scratch)
}

pub fn rows_portable(p: &Packed, i0: usize, n: usize, out: RowsOut, scratch: &mut Scratch) {
    // SAFETY: the portable lanes need no CPU feature.
    unsafe { rows::<Portable, 6, 32>(p, i0, n, out, scratch) }
}

/// # Safety
/// The CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
pub unsafe fn scores_avx512(q: &[f32], k: &[f32], rows: usize, cols: usize, dk: usize, lambda: f32, bias: Option<&[f32]>, s: &mut [f32]) {
    scores::<Avx512>(q, k, rows, cols, dk, lambda, bias, s)
}

/// # Safety
/// The CPU has AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub unsafe fn scores_avx2(q: &[f32], k: &[f32], rows: usize, cols: usize, dk: usize, lambda: f32, bias: Option<&[f32]>, s: &mut [f32]) {
    scores::<Avx2>(q, k, rows, cols, dk, lambda, bias, s)
}

#[allow(clippy::too_many_arguments)]
pub fn scores_portable(q: &[f32], k: &[f32], rows: usize, cols: usize, dk: usize, lambda: f32, bias: Option<&[f32]>, s: &mut [f32]) {
    // SAFETY: the portable lanes need no CPU feature.
    unsafe { scores::<Portable>(q, k, rows, cols, dk, lambda, bias, s) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lane values whose sums round differently in different orders.
    fn lanes(n: usize) -> Vec<f32> {
        (0..n).map(|i| ((i * 2654435761usize % 1000) as f32 - 500.0) * [1.0, 1e-7, 3e5, 0.37][i % 4]).collect()
    }

    unsafe fn check<V: V16>() {
        let x = lanes(16 * LANES);
        let (mut a, mut b) = ([0.0f32; LANES], [0.0f32; LANES]);
        V::hsum16(x.as_ptr(), a.as_mut_ptr());
        for (t, y) in b.iter_mut().enumerate() {
            *y = tree_sum(x[t * LANES..(t + 1) * LANES].try_into().unwrap());
            assert_eq!(V::load(x.as_ptr().add(t * LANES)).hsum().to_bits(), y.to_bits(), "hsum of vector {t}");
        }
        assert_eq!(a.map(f32::to_bits), b.map(f32::to_bits), "hsum16");
        // transpose16: a strided block, every n
        let x = lanes(3 + 16 * 19);
        for n in [1, 5, 16] {
            let mut out = vec![-1.0f32; 16 * 20];
            V::transpose16(x.as_ptr().add(3), 19, out.as_mut_ptr(), 20, n);
            for t in 0..16 {
                for k in 0..16 {
                    let want = if t < n { x[3 + k * 19 + t] } else { -1.0 };
                    assert_eq!(out[t * 20 + k].to_bits(), want.to_bits(), "transpose16 n={n} t={t} k={k}");
                }
                assert!(out[t * 20 + 16..t * 20 + 20].iter().all(|&v| v == -1.0));
            }
        }
        // exp: every lane as the scalar twin
        let xs: Vec<f32> = (0..4096).map(|i| -(i as f32) * 0.0219).chain([0.0, -0.0, -87.3, -87.4, f32::NEG_INFINITY, f32::NAN]).collect();
        for c in xs.chunks(LANES) {
            let mut v = [0.0f32; LANES];
            v[..c.len()].copy_from_slice(c);
            let mut o = [0.0f32; LANES];
            V::load(v.as_ptr()).exp_nonpos().store(o.as_mut_ptr());
            for t in 0..LANES {
                assert_eq!(o[t].to_bits(), exp_nonpos_scalar(v[t]).to_bits(), "exp({})", v[t]);
            }
        }
        // exp2: every kept lane as the scalar twin, the others 0
        let xs: Vec<f32> = (0..8000).map(|i| 1.0 - (i as f32) * 0.015_7).chain([0.0, -0.0, 0.5, -0.5, 1.0, -125.0, -124.5]).collect();
        for (k, c) in xs.chunks(LANES).enumerate() {
            let mut v = [0.0f32; LANES];
            v[..c.len()].copy_from_slice(c);
            let keep = [0xffff, 0x8001, 0x7ffe, 0][k % 4];
            let mut o = [0.0f32; LANES];
            V::load(v.as_ptr()).exp2_keep(keep).store(o.as_mut_ptr());
            for t in 0..LANES {
                let want = if keep >> t & 1 == 1 { exp2_scalar(v[t]) } else { 0.0 };
                assert_eq!(o[t].to_bits(), want.to_bits(), "exp2({}) keep {keep:x}", v[t]);
            }
        }
    }

    #[test]
    fn reductions_and_exp_are_the_same_bits_on_every_isa() {
        // SAFETY: each SIMD type only runs when the CPU has its features.
        unsafe {
            check::<Portable>();
            #[cfg(target_arch = "x86_64")]
            {
                if crate::kernels::simd::Isa::Avx2.available() {
                    check::<Avx2>();
                }
                if crate::kernels::simd::Isa::Avx512.available() {
                    check::<Avx512>();
                }
            }
        }
    }

    #[test]
    fn scalar_exp_is_accurate() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x <= 0.0 {
            let e = f64::from(x).exp();
            worst = worst.max((f64::from(exp_nonpos_scalar(x)) - e).abs() / e);
            x += 0.0173;
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
        assert_eq!(exp_nonpos_scalar(0.0), 1.0);
        assert_eq!(exp_nonpos_scalar(-88.0), 0.0);
        assert_eq!(exp_nonpos_scalar(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_nonpos_scalar(f32::NAN), 0.0);
        let mut worst = 0.0f64;
        let mut x = -125.0f32;
        while x <= 1.0 {
            let e = f64::from(x).exp2();
            worst = worst.max((f64::from(exp2_scalar(x)) - e).abs() / e);
            x += 0.0131;
        }
        assert!(worst < 3e-7, "exp2: worst relative error {worst}");
        assert_eq!(exp2_scalar(0.0), 1.0);
        assert_eq!(exp2_scalar(-3.0), 0.125);
    }
}
