//! Standard normal draws in bulk: the Box–Muller transform (Box and Muller 1958) on 32-bit words
//! (those of the chunk's xoshiro128++ lanes, [`super::lanes`], in online sampling).
//!
//! Pairs of 32-bit words `(w₁, w₂)` (in blocks of 16 words, word `j` pairs with word `8 + j`)
//! become `u₁ = (⌊w₁/2⌋ + ½)·2⁻³¹ ∈ (0, 1)`,
//! `u₂ = ⌊w₂/2⌋·2⁻³¹ ∈ [0, 1)` and then
//!
//! ```text
//! z₁ = √(−2 ln u₁) cos 2πu₂,   z₂ = √(−2 ln u₁) sin 2πu₂.
//! ```
//!
//! For `f32`, `ln`, `sin` and `cos` are branch-free polynomials (absolute error about 1e-6; `|z|`
//! reaches 6.8), in scalar Rust and, eight pairs at a time, with AVX2 intrinsics (sixteen with
//! AVX-512F, the same bits as AVX2). For `f64` they
//! are branch-free too and about one ulp accurate (`ln` within 2.3e-16 relative of `f64::ln`;
//! `cos 2πu₂`, `sin 2πu₂` within 2.3e-16 absolute, without rounding `2πu₂`; both tested), in
//! scalar Rust and with AVX2/FMA (four pairs at a time) or AVX-512F (eight): the SIMD versions do
//! the scalar operations in the same order with the same fused multiply–adds, so every path gives
//! the same bits. The instruction set is chosen at run time by [`crate::kernels::simd`]
//! (`has_avx2`, `has_avx512`). The draws are a pure function of the words, so they do not depend
//! on the thread count.

const TWO_PI: f32 = std::f32::consts::TAU;

/// A bound on the magnitude of every draw, in `f32` and `f64`: `|z| ≤ √(−2 ln u₁) ≤ √(64 ln 2) ≈
/// 6.66` since `u₁ ≥ 2⁻³²`, plus the polynomials' error (the `f32` draws reach about 6.8): so a
/// sample `μ + σ·z` has coordinates below `|μ| + MAX_ABS·σ`, which the TypeScript layer uses to
/// refuse an `f32` sample that would overflow before drawing it. Tested on the extreme words.
pub const MAX_ABS: f64 = 7.0;

/// `ln x` for `x ∈ (0, 1]` (normal floats): `x = m·2ᵉ` with `m ∈ [√½, √2)`, `ln m = 2 atanh t`,
/// `t = (m − 1)/(m + 1)`, by its odd series to `t⁹`.
#[inline(always)]
fn ln_f32(x: f32) -> f32 {
    let bits = x.to_bits();
    let mut e = ((bits >> 23) & 0xff) as i32 - 127;
    let mut m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    if m > std::f32::consts::SQRT_2 {
        m *= 0.5;
        e += 1;
    }
    let t = (m - 1.0) / (m + 1.0);
    let t2 = t * t;
    let s = t * (2.0 + t2 * (2.0 / 3.0 + t2 * (2.0 / 5.0 + t2 * (2.0 / 7.0 + t2 * (2.0 / 9.0)))));
    e as f32 * std::f32::consts::LN_2 + s
}

/// `(cos 2πv, sin 2πv)` for `v ∈ [0, 1)`: the turn is split into quarters, `r ∈ [−π/4, π/4]` is
/// handled by Taylor polynomials (to `r⁸` and `r⁹`), and the quarter picks signs and swaps.
#[inline(always)]
fn cos_sin_turn(v: f32) -> (f32, f32) {
    let q = (v * 4.0 + 0.5).floor();
    let r = (v * 4.0 - q) * (TWO_PI / 4.0);
    let r2 = r * r;
    let c = 1.0 + r2 * (-0.5 + r2 * (1.0 / 24.0 + r2 * (-1.0 / 720.0 + r2 * (1.0 / 40320.0))));
    let s = r * (1.0 + r2 * (-1.0 / 6.0 + r2 * (1.0 / 120.0 + r2 * (-1.0 / 5040.0 + r2 * (1.0 / 362_880.0)))));
    let k = (q as i32) & 3;
    let (cc, ss) = if k & 1 == 0 { (c, s) } else { (-s, c) };
    if k & 2 == 0 {
        (cc, ss)
    } else {
        (-cc, -ss)
    }
}

/// Uniforms from two words: `u₁ ∈ (0, 1)` (never 0, so `ln u₁` is finite) and `u₂ ∈ [0, 1)`.
#[inline(always)]
fn uniforms(w1: u32, w2: u32) -> (f32, f32) {
    let scale = 1.0 / 2_147_483_648.0f32;
    (((w1 >> 1) as i32 as f32 + 0.5) * scale, (w2 >> 1) as i32 as f32 * scale)
}

#[inline(always)]
fn pair(w1: u32, w2: u32) -> (f32, f32) {
    let (u1, u2) = uniforms(w1, w2);
    let r = (-2.0 * ln_f32(u1)).sqrt();
    let (c, s) = cos_sin_turn(u2);
    (r * c, r * s)
}

/// Fills `out` from `words` by `pair`, in this module's layout: in each block of 16 words, word `j`
/// and word `8 + j` make the pair whose draws go to `out[j]` and `out[8 + j]`; a last block of fewer
/// than 16 uses consecutive pairs.
#[inline(always)]
fn fill_pairs<T>(words: &[u32], out: &mut [T], pair: impl Fn(u32, u32) -> (T, T)) {
    let n16 = out.len() / 16 * 16;
    for b in (0..n16).step_by(16) {
        for j in 0..8 {
            let (z1, z2) = pair(words[b + j], words[b + 8 + j]);
            out[b + j] = z1;
            out[b + 8 + j] = z2;
        }
    }
    for k in (n16..out.len()).step_by(2) {
        let (z1, z2) = pair(words[k], words[k + 1]);
        out[k] = z1;
        out[k + 1] = z2;
    }
}

fn box_muller_portable(words: &[u32], out: &mut [f32]) {
    fill_pairs(words, out, pair)
}

/// Eight pairs at a time with AVX2/FMA intrinsics, the same operations as the scalar version.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn box_muller_avx2(words: &[u32], out: &mut [f32]) {
    use std::arch::x86_64::*;
    let n16 = out.len() / 16 * 16;
    let set = _mm256_set1_ps;
    let (scale, half, one, two) = (set(1.0 / 2_147_483_648.0), set(0.5), set(1.0), set(2.0));
    let sqrt2 = set(std::f32::consts::SQRT_2);
    let ln2 = set(std::f32::consts::LN_2);
    let quarter_turn = set(TWO_PI / 4.0);
    let mut b = 0;
    while b < n16 {
        // SAFETY: b + 16 ≤ n16 ≤ out.len() ≤ words.len().
        let w1 = _mm256_loadu_si256(words.as_ptr().add(b) as *const __m256i);
        let w2 = _mm256_loadu_si256(words.as_ptr().add(b + 8) as *const __m256i);
        let u1 = _mm256_mul_ps(_mm256_add_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32::<1>(w1)), half), scale);
        let u2 = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32::<1>(w2)), scale);
        // ln u1
        let bits = _mm256_castps_si256(u1);
        let mut e = _mm256_sub_epi32(_mm256_and_si256(_mm256_srli_epi32::<23>(bits), _mm256_set1_epi32(0xff)), _mm256_set1_epi32(127));
        let mut m = _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(0x007f_ffff)), _mm256_set1_epi32(0x3f80_0000)));
        let big = _mm256_cmp_ps::<_CMP_GT_OQ>(m, sqrt2);
        m = _mm256_blendv_ps(m, _mm256_mul_ps(m, half), big);
        e = _mm256_sub_epi32(e, _mm256_castps_si256(big)); // big lanes are all ones (−1): e + 1
        let t = _mm256_div_ps(_mm256_sub_ps(m, one), _mm256_add_ps(m, one));
        let t2 = _mm256_mul_ps(t, t);
        let mut poly = set(2.0 / 9.0);
        for c in [2.0 / 7.0, 2.0 / 5.0, 2.0 / 3.0, 2.0] {
            poly = _mm256_add_ps(_mm256_mul_ps(poly, t2), set(c));
        }
        let ln = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(e), ln2), _mm256_mul_ps(t, poly));
        let r = _mm256_sqrt_ps(_mm256_mul_ps(_mm256_sub_ps(_mm256_setzero_ps(), two), ln));
        // cos, sin of the turn u2
        let v4 = _mm256_mul_ps(u2, set(4.0));
        let q = _mm256_floor_ps(_mm256_add_ps(v4, half));
        let x = _mm256_mul_ps(_mm256_sub_ps(v4, q), quarter_turn);
        let x2 = _mm256_mul_ps(x, x);
        let mut c = set(1.0 / 40320.0);
        for k in [-1.0 / 720.0, 1.0 / 24.0, -0.5, 1.0] {
            c = _mm256_add_ps(_mm256_mul_ps(c, x2), set(k));
        }
        let mut sn = set(1.0 / 362_880.0);
        for k in [-1.0 / 5040.0, 1.0 / 120.0, -1.0 / 6.0, 1.0] {
            sn = _mm256_add_ps(_mm256_mul_ps(sn, x2), set(k));
        }
        sn = _mm256_mul_ps(sn, x);
        let k = _mm256_and_si256(_mm256_cvtps_epi32(q), _mm256_set1_epi32(3));
        let odd = _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(k, _mm256_set1_epi32(1)), _mm256_set1_epi32(1)));
        let neg = _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(k, _mm256_set1_epi32(2)), _mm256_set1_epi32(2)));
        let zero = _mm256_setzero_ps();
        let cc = _mm256_blendv_ps(c, _mm256_sub_ps(zero, sn), odd);
        let ss = _mm256_blendv_ps(sn, c, odd);
        let cc = _mm256_blendv_ps(cc, _mm256_sub_ps(zero, cc), neg);
        let ss = _mm256_blendv_ps(ss, _mm256_sub_ps(zero, ss), neg);
        _mm256_storeu_ps(out.as_mut_ptr().add(b), _mm256_mul_ps(r, cc));
        _mm256_storeu_ps(out.as_mut_ptr().add(b + 8), _mm256_mul_ps(r, ss));
        b += 16;
    }
    box_muller_portable(&words[n16..], &mut out[n16..]);
}

/// [`box_muller_avx2`] sixteen pairs at a time with AVX-512F: two blocks of 16 words per
/// iteration (the first words of both blocks in one vector, their partners in another), the same
/// operations lane by lane, so the same bits; what is left (fewer than 32 words) goes to
/// [`box_muller_avx2`].
///
/// # Safety
/// The CPU must support AVX-512F (and AVX2, FMA).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn box_muller_avx512(words: &[u32], out: &mut [f32]) {
    use std::arch::x86_64::*;
    let n32 = out.len() / 32 * 32;
    let set = _mm512_set1_ps;
    let (scale, half, one, two) = (set(1.0 / 2_147_483_648.0), set(0.5), set(1.0), set(2.0));
    let sqrt2 = set(std::f32::consts::SQRT_2);
    let ln2 = set(std::f32::consts::LN_2);
    let quarter_turn = set(TWO_PI / 4.0);
    let zero = _mm512_setzero_ps();
    // lanes 0–7: words b + j of the first block, lanes 8–15: of the second (b + 16 + j)
    let firsts = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
    let seconds = _mm512_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    let mut b = 0;
    while b < n32 {
        // SAFETY: b + 32 ≤ n32 ≤ out.len() ≤ words.len().
        let lo = _mm512_loadu_si512(words.as_ptr().add(b) as *const __m512i);
        let hi = _mm512_loadu_si512(words.as_ptr().add(b + 16) as *const __m512i);
        let w1 = _mm512_permutex2var_epi32(lo, firsts, hi);
        let w2 = _mm512_permutex2var_epi32(lo, seconds, hi);
        let u1 = _mm512_mul_ps(_mm512_add_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32::<1>(w1)), half), scale);
        let u2 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32::<1>(w2)), scale);
        // ln u1
        let bits = _mm512_castps_si512(u1);
        let mut e = _mm512_sub_epi32(_mm512_and_si512(_mm512_srli_epi32::<23>(bits), _mm512_set1_epi32(0xff)), _mm512_set1_epi32(127));
        let mut m = _mm512_castsi512_ps(_mm512_or_si512(_mm512_and_si512(bits, _mm512_set1_epi32(0x007f_ffff)), _mm512_set1_epi32(0x3f80_0000)));
        let big = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(m, sqrt2);
        m = _mm512_mask_blend_ps(big, m, _mm512_mul_ps(m, half));
        e = _mm512_mask_add_epi32(e, big, e, _mm512_set1_epi32(1));
        let t = _mm512_div_ps(_mm512_sub_ps(m, one), _mm512_add_ps(m, one));
        let t2 = _mm512_mul_ps(t, t);
        let mut poly = set(2.0 / 9.0);
        for c in [2.0 / 7.0, 2.0 / 5.0, 2.0 / 3.0, 2.0] {
            poly = _mm512_add_ps(_mm512_mul_ps(poly, t2), set(c));
        }
        let ln = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(e), ln2), _mm512_mul_ps(t, poly));
        let r = _mm512_sqrt_ps(_mm512_mul_ps(_mm512_sub_ps(zero, two), ln));
        // cos, sin of the turn u2
        let v4 = _mm512_mul_ps(u2, set(4.0));
        let q = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC }>(_mm512_add_ps(v4, half));
        let x = _mm512_mul_ps(_mm512_sub_ps(v4, q), quarter_turn);
        let x2 = _mm512_mul_ps(x, x);
        let mut c = set(1.0 / 40320.0);
        for k in [-1.0 / 720.0, 1.0 / 24.0, -0.5, 1.0] {
            c = _mm512_add_ps(_mm512_mul_ps(c, x2), set(k));
        }
        let mut sn = set(1.0 / 362_880.0);
        for k in [-1.0 / 5040.0, 1.0 / 120.0, -1.0 / 6.0, 1.0] {
            sn = _mm512_add_ps(_mm512_mul_ps(sn, x2), set(k));
        }
        sn = _mm512_mul_ps(sn, x);
        let k = _mm512_cvtps_epi32(q);
        let odd = _mm512_test_epi32_mask(k, _mm512_set1_epi32(1));
        let neg = _mm512_test_epi32_mask(k, _mm512_set1_epi32(2));
        let cc = _mm512_mask_blend_ps(odd, c, _mm512_sub_ps(zero, sn));
        let ss = _mm512_mask_blend_ps(odd, sn, c);
        let cc = _mm512_mask_blend_ps(neg, cc, _mm512_sub_ps(zero, cc));
        let ss = _mm512_mask_blend_ps(neg, ss, _mm512_sub_ps(zero, ss));
        let (z1, z2) = (_mm512_mul_ps(r, cc), _mm512_mul_ps(r, ss));
        // block 1: z1 lanes 0–7 then z2 lanes 0–7; block 2: lanes 8–15 of each
        let first = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
        let second = _mm512_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
        _mm512_storeu_ps(out.as_mut_ptr().add(b), _mm512_permutex2var_ps(z1, first, z2));
        _mm512_storeu_ps(out.as_mut_ptr().add(b + 16), _mm512_permutex2var_ps(z1, second, z2));
        b += 32;
    }
    box_muller_avx2(&words[n32..], &mut out[n32..]);
}

/// Fills `out` (even length) with standard normals from as many 32-bit words, in `f32`.
pub fn normals_f32(words: &[u32], out: &mut [f32]) {
    assert!(words.len() >= out.len() && out.len().is_multiple_of(2));
    #[cfg(target_arch = "x86_64")]
    if crate::kernels::simd::has_avx512() {
        // SAFETY: AVX-512F (with AVX2 and FMA) is present.
        return unsafe { box_muller_avx512(words, out) };
    }
    #[cfg(target_arch = "x86_64")]
    if crate::kernels::simd::has_avx2() {
        // SAFETY: AVX2 and FMA are present.
        return unsafe { box_muller_avx2(words, out) };
    }
    box_muller_portable(words, out)
}

// ---------------------------------------------------------------------------------------------
// f64: branch-free `ln` and turn-based `cos`/`sin`, the same operations in every path
// ---------------------------------------------------------------------------------------------

/// `2⁵²`: `f64::from_bits(bits(2⁵²) | n) = 2⁵² + n` exactly for integers `0 ≤ n < 2⁵²`.
const TWO52: f64 = 4_503_599_627_370_496.0;
/// Added to the bits of `x > 0`, puts `e + 1023` in the top 12 bits, where `x = m·2ᵉ` with
/// `m ∈ [√½, √2)`: `bits(1) − bits(√½)`.
const LN_SHIFT: u64 = 1.0f64.to_bits() - std::f64::consts::FRAC_1_SQRT_2.to_bits();
/// `ln 2 = LN2_HI + LN2_LO`; `LN2_HI` ends in zero bits, so `e·LN2_HI` is exact for `|e| < 2¹¹`.
const LN2_HI: f64 = 0.693_147_180_369_123_8;
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
/// `2/(2k + 1)` for `k = 10 … 1`: the series `2 atanh s − 2s = s·Σ_k 2s²ᵏ/(2k + 1)`.
const LN_SERIES: [f64; 10] = [2.0 / 21.0, 2.0 / 19.0, 2.0 / 17.0, 2.0 / 15.0, 2.0 / 13.0, 2.0 / 11.0, 2.0 / 9.0, 2.0 / 7.0, 2.0 / 5.0, 2.0 / 3.0];
/// `(−1)ᵏ(π/2)²ᵏ/(2k)!` for `k = 8 … 1` (Taylor series of `cos(πy/2)` in `y²`, after its `1`),
/// each rounded to nearest.
const COS_QUARTER: [f64; 8] = [
    6.565_963_114_979_473e-11,
    -6.386_603_083_791_852e-9,
    4.710_874_778_818_172e-7,
    -2.520_204_237_306_060_7e-5,
    9.192_602_748_394_266e-4,
    -2.086_348_076_335_296e-2,
    2.536_695_079_010_480_3e-1,
    -1.233_700_550_136_169_7,
];
/// `(−1)ᵏ(π/2)²ᵏ⁺¹/(2k + 1)!` for `k = 8 … 0` (Taylor series of `sin(πy/2)/y` in `y²`).
const SIN_QUARTER: [f64; 9] = [
    6.066_935_731_106_195_5e-12,
    -6.688_035_109_811_468e-10,
    5.692_172_921_967_927e-8,
    -3.598_843_235_212_085e-6,
    1.604_411_847_873_598_3e-4,
    -4.681_754_135_318_688e-3,
    7.969_262_624_616_705e-2,
    -6.459_640_975_062_463e-1,
    std::f64::consts::FRAC_PI_2,
];

/// `ln x` for normal `x > 0`, branch-free: `x = m·2ᵉ` with `m ∈ [√½, √2)` by integer operations on
/// the bits, `f = m − 1` (exact), `s = f/(2 + f)` and
/// `ln x = e·ln 2 + f − (f²/2 − s·(f²/2 + R))` with `R = Σ_{k=1}^{10} 2s²ᵏ/(2k + 1)` (the atanh
/// series, `|s| ≤ 0.172`): the rounding of `s` enters only the small correction, so the result is
/// within about one ulp (tested against `f64::ln`). The AVX2 and AVX-512 versions do these
/// operations in this order, with `mul_add` as FMA.
#[inline(always)]
fn ln_f64(x: f64) -> f64 {
    let bits = x.to_bits();
    let t = bits.wrapping_add(LN_SHIFT);
    let ebits = t & 0xfff0_0000_0000_0000;
    let m = f64::from_bits(bits.wrapping_sub(ebits).wrapping_add(1.0f64.to_bits()));
    let e = f64::from_bits((t >> 52) | TWO52.to_bits()) - (TWO52 + 1023.0);
    let f = m - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    let mut p = LN_SERIES[0];
    for c in &LN_SERIES[1..] {
        p = p.mul_add(z, *c);
    }
    let r = p * z;
    let hfsq = 0.5 * (f * f);
    let corr = s.mul_add(hfsq + r, e * LN2_LO);
    e.mul_add(LN2_HI, f - (hfsq - corr))
}

/// `(cos 2πv, sin 2πv)` for `v = k·2⁻³¹ ∈ [0, 1)`: `4v = q + y` with `q = ⌊4v + ½⌋` and
/// `y ∈ [−½, ½)` (both exact), `cos(πy/2)` and `sin(πy/2)` by their Taylor polynomials in `y`
/// (to `y¹⁶` and `y¹⁷`: no rounded multiplication by `π/2`), then the quarter `q mod 4` swaps and
/// negates (sign flips, exact). Absolute error about 1e-16 (tested against a double-double reference).
#[inline(always)]
fn cos_sin_turn_f64(v: f64) -> (f64, f64) {
    let v4 = v * 4.0;
    let q = (v4 + 0.5).floor();
    let y = v4 - q;
    let y2 = y * y;
    let mut c = COS_QUARTER[0];
    for k in &COS_QUARTER[1..] {
        c = c.mul_add(y2, *k);
    }
    let c = c.mul_add(y2, 1.0);
    let mut s = SIN_QUARTER[0];
    for k in &SIN_QUARTER[1..] {
        s = s.mul_add(y2, *k);
    }
    let s = s * y;
    let k = (q + TWO52).to_bits();
    let (c, s) = if k & 1 == 0 { (c, s) } else { (-s, c) };
    if k & 2 == 0 {
        (c, s)
    } else {
        (-c, -s)
    }
}

/// The `f64` uniforms from two words, exactly: `u₁ = (⌊w₁/2⌋ + ½)·2⁻³¹`, `u₂ = ⌊w₂/2⌋·2⁻³¹`.
#[inline(always)]
fn uniforms_f64(w1: u32, w2: u32) -> (f64, f64) {
    let scale = 1.0 / 2_147_483_648.0f64;
    ((f64::from(w1 >> 1) + 0.5) * scale, f64::from(w2 >> 1) * scale)
}

#[inline(always)]
fn pair_f64(w1: u32, w2: u32) -> (f64, f64) {
    let (u1, u2) = uniforms_f64(w1, w2);
    let r = (-2.0 * ln_f64(u1)).sqrt();
    let (c, s) = cos_sin_turn_f64(u2);
    (r * c, r * s)
}

/// The portable `f64` Box–Muller: the reference the SIMD versions reproduce bit for bit.
pub(crate) fn normals_f64_portable(words: &[u32], out: &mut [f64]) {
    fill_pairs(words, out, pair_f64)
}

/// Four pairs at a time with AVX2/FMA: [`ln_f64`] and [`cos_sin_turn_f64`] lane by lane, the
/// same operations in the same order, so the same bits as [`normals_f64_portable`].
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn normals_f64_avx2(words: &[u32], out: &mut [f64]) {
    use std::arch::x86_64::*;
    let n16 = out.len() / 16 * 16;
    let set = _mm256_set1_pd;
    let seti = |v: u64| _mm256_set1_epi64x(v as i64);
    let scale = set(1.0 / 2_147_483_648.0);
    let sign = seti(0x8000_0000_0000_0000);
    let mut b = 0;
    while b < n16 {
        for j in [0, 4] {
            // SAFETY: b + 16 ≤ n16 ≤ out.len() ≤ words.len(); j + 4 ≤ 8.
            let w1 = _mm_loadu_si128(words.as_ptr().add(b + j) as *const __m128i);
            let w2 = _mm_loadu_si128(words.as_ptr().add(b + 8 + j) as *const __m128i);
            let u1 = _mm256_mul_pd(_mm256_add_pd(_mm256_cvtepi32_pd(_mm_srli_epi32::<1>(w1)), set(0.5)), scale);
            let u2 = _mm256_mul_pd(_mm256_cvtepi32_pd(_mm_srli_epi32::<1>(w2)), scale);
            // ln u1
            let bits = _mm256_castpd_si256(u1);
            let t = _mm256_add_epi64(bits, seti(LN_SHIFT));
            let ebits = _mm256_and_si256(t, seti(0xfff0_0000_0000_0000));
            let m = _mm256_castsi256_pd(_mm256_add_epi64(_mm256_sub_epi64(bits, ebits), seti(1.0f64.to_bits())));
            let e = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(_mm256_srli_epi64::<52>(t), seti(TWO52.to_bits()))), set(TWO52 + 1023.0));
            let f = _mm256_sub_pd(m, set(1.0));
            let s = _mm256_div_pd(f, _mm256_add_pd(set(2.0), f));
            let z = _mm256_mul_pd(s, s);
            let mut p = set(LN_SERIES[0]);
            for c in &LN_SERIES[1..] {
                p = _mm256_fmadd_pd(p, z, set(*c));
            }
            let r = _mm256_mul_pd(p, z);
            let hfsq = _mm256_mul_pd(set(0.5), _mm256_mul_pd(f, f));
            let corr = _mm256_fmadd_pd(s, _mm256_add_pd(hfsq, r), _mm256_mul_pd(e, set(LN2_LO)));
            let ln = _mm256_fmadd_pd(e, set(LN2_HI), _mm256_sub_pd(f, _mm256_sub_pd(hfsq, corr)));
            let rad = _mm256_sqrt_pd(_mm256_mul_pd(set(-2.0), ln));
            // cos, sin of the turn u2
            let v4 = _mm256_mul_pd(u2, set(4.0));
            let q = _mm256_floor_pd(_mm256_add_pd(v4, set(0.5)));
            let y = _mm256_sub_pd(v4, q);
            let y2 = _mm256_mul_pd(y, y);
            let mut c = set(COS_QUARTER[0]);
            for k in &COS_QUARTER[1..] {
                c = _mm256_fmadd_pd(c, y2, set(*k));
            }
            let c = _mm256_fmadd_pd(c, y2, set(1.0));
            let mut sn = set(SIN_QUARTER[0]);
            for k in &SIN_QUARTER[1..] {
                sn = _mm256_fmadd_pd(sn, y2, set(*k));
            }
            let sn = _mm256_mul_pd(sn, y);
            let k = _mm256_castpd_si256(_mm256_add_pd(q, set(TWO52)));
            let odd = _mm256_castsi256_pd(_mm256_cmpeq_epi64(_mm256_and_si256(k, seti(1)), seti(1)));
            let neg = _mm256_and_si256(_mm256_cmpeq_epi64(_mm256_and_si256(k, seti(2)), seti(2)), sign);
            let cc = _mm256_blendv_pd(c, _mm256_xor_pd(sn, _mm256_castsi256_pd(sign)), odd);
            let ss = _mm256_blendv_pd(sn, c, odd);
            let cc = _mm256_xor_pd(cc, _mm256_castsi256_pd(neg));
            let ss = _mm256_xor_pd(ss, _mm256_castsi256_pd(neg));
            _mm256_storeu_pd(out.as_mut_ptr().add(b + j), _mm256_mul_pd(rad, cc));
            _mm256_storeu_pd(out.as_mut_ptr().add(b + 8 + j), _mm256_mul_pd(rad, ss));
        }
        b += 16;
    }
    normals_f64_portable(&words[n16..], &mut out[n16..]);
}

/// Eight pairs at a time with AVX-512F: the operations of [`normals_f64_avx2`] on eight lanes,
/// so the same bits as [`normals_f64_portable`].
///
/// # Safety
/// The CPU must support AVX-512F, AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
pub(crate) unsafe fn normals_f64_avx512(words: &[u32], out: &mut [f64]) {
    use std::arch::x86_64::*;
    let n16 = out.len() / 16 * 16;
    let set = _mm512_set1_pd;
    let seti = |v: u64| _mm512_set1_epi64(v as i64);
    let scale = set(1.0 / 2_147_483_648.0);
    let sign = seti(0x8000_0000_0000_0000);
    let mut b = 0;
    while b < n16 {
        // SAFETY: b + 16 ≤ n16 ≤ out.len() ≤ words.len().
        let w1 = _mm256_loadu_si256(words.as_ptr().add(b) as *const __m256i);
        let w2 = _mm256_loadu_si256(words.as_ptr().add(b + 8) as *const __m256i);
        let u1 = _mm512_mul_pd(_mm512_add_pd(_mm512_cvtepi32_pd(_mm256_srli_epi32::<1>(w1)), set(0.5)), scale);
        let u2 = _mm512_mul_pd(_mm512_cvtepi32_pd(_mm256_srli_epi32::<1>(w2)), scale);
        // ln u1
        let bits = _mm512_castpd_si512(u1);
        let t = _mm512_add_epi64(bits, seti(LN_SHIFT));
        let ebits = _mm512_and_si512(t, seti(0xfff0_0000_0000_0000));
        let m = _mm512_castsi512_pd(_mm512_add_epi64(_mm512_sub_epi64(bits, ebits), seti(1.0f64.to_bits())));
        let e = _mm512_sub_pd(_mm512_castsi512_pd(_mm512_or_si512(_mm512_srli_epi64::<52>(t), seti(TWO52.to_bits()))), set(TWO52 + 1023.0));
        let f = _mm512_sub_pd(m, set(1.0));
        let s = _mm512_div_pd(f, _mm512_add_pd(set(2.0), f));
        let z = _mm512_mul_pd(s, s);
        let mut p = set(LN_SERIES[0]);
        for c in &LN_SERIES[1..] {
            p = _mm512_fmadd_pd(p, z, set(*c));
        }
        let r = _mm512_mul_pd(p, z);
        let hfsq = _mm512_mul_pd(set(0.5), _mm512_mul_pd(f, f));
        let corr = _mm512_fmadd_pd(s, _mm512_add_pd(hfsq, r), _mm512_mul_pd(e, set(LN2_LO)));
        let ln = _mm512_fmadd_pd(e, set(LN2_HI), _mm512_sub_pd(f, _mm512_sub_pd(hfsq, corr)));
        let rad = _mm512_sqrt_pd(_mm512_mul_pd(set(-2.0), ln));
        // cos, sin of the turn u2
        let v4 = _mm512_mul_pd(u2, set(4.0));
        let q = _mm512_roundscale_pd::<{ _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC }>(_mm512_add_pd(v4, set(0.5)));
        let y = _mm512_sub_pd(v4, q);
        let y2 = _mm512_mul_pd(y, y);
        let mut c = set(COS_QUARTER[0]);
        for k in &COS_QUARTER[1..] {
            c = _mm512_fmadd_pd(c, y2, set(*k));
        }
        let c = _mm512_fmadd_pd(c, y2, set(1.0));
        let mut sn = set(SIN_QUARTER[0]);
        for k in &SIN_QUARTER[1..] {
            sn = _mm512_fmadd_pd(sn, y2, set(*k));
        }
        let sn = _mm512_mul_pd(sn, y);
        let k = _mm512_castpd_si512(_mm512_add_pd(q, set(TWO52)));
        let odd = _mm512_test_epi64_mask(k, seti(1));
        let neg = _mm512_maskz_mov_epi64(_mm512_test_epi64_mask(k, seti(2)), sign);
        let cc = _mm512_mask_blend_pd(odd, c, _mm512_castsi512_pd(_mm512_xor_si512(_mm512_castpd_si512(sn), sign)));
        let ss = _mm512_mask_blend_pd(odd, sn, c);
        let cc = _mm512_castsi512_pd(_mm512_xor_si512(_mm512_castpd_si512(cc), neg));
        let ss = _mm512_castsi512_pd(_mm512_xor_si512(_mm512_castpd_si512(ss), neg));
        _mm512_storeu_pd(out.as_mut_ptr().add(b), _mm512_mul_pd(rad, cc));
        _mm512_storeu_pd(out.as_mut_ptr().add(b + 8), _mm512_mul_pd(rad, ss));
        b += 16;
    }
    normals_f64_portable(&words[n16..], &mut out[n16..]);
}

/// Fills `out` (even length) with standard normals from as many 32-bit words, in `f64`, with the
/// same layout as the `f32` version: [`pair_f64`] (branch-free `ln`, turn-based `cos`/`sin`, about
/// one ulp each), with AVX-512F when [`crate::kernels::simd::has_avx512`] (measured 1.1 ns per
/// normal against 1.6 with AVX2 on one core of the 2-core Xeon this was written on,
/// `examples/normals_speed.rs`), else AVX2/FMA when
/// [`crate::kernels::simd::has_avx2`]; every path gives the portable path's bits.
pub fn normals_f64(words: &[u32], out: &mut [f64]) {
    assert!(words.len() >= out.len() && out.len().is_multiple_of(2));
    #[cfg(target_arch = "x86_64")]
    {
        use crate::kernels::simd::{has_avx2, has_avx512};
        if has_avx512() {
            // SAFETY: AVX-512F, AVX2 and FMA are present.
            return unsafe { normals_f64_avx512(words, out) };
        }
        if has_avx2() {
            // SAFETY: AVX2 and FMA are present.
            return unsafe { normals_f64_avx2(words, out) };
        }
    }
    normals_f64_portable(words, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_draw_exceeds_max_abs() {
        // |z| is largest at the smallest u₁ (w₁ = 0 or 1, u₁ = 2⁻³²): there, every u₂ on a grid of
        // 2^20 (both draws of each pair, every path), and at random words elsewhere.
        let mut worst = (0.0f64, 0.0f64);
        for w1 in [0u32, 1] {
            for chunk in 0..(1u32 << 20) / 8 {
                let mut words = [w1; 16];
                for j in 0..8 {
                    words[8 + j] = (chunk * 8 + j as u32) << 12;
                }
                let (mut a, mut b) = ([0f32; 16], [0f64; 16]);
                normals_f32(&words, &mut a);
                normals_f64(&words, &mut b);
                worst.0 = a.iter().fold(worst.0, |m, z| m.max(f64::from(z.abs())));
                worst.1 = b.iter().fold(worst.1, |m, z| m.max(z.abs()));
            }
        }
        assert!(worst.0 <= MAX_ABS && worst.1 <= MAX_ABS, "largest draws {worst:?}");
        assert!(worst.1 > 6.6, "the extreme words reach the analytic bound: {worst:?}");
        let words = xorshift(1 << 16, 3).iter().flat_map(|w| [*w as u32, (w >> 32) as u32]).collect::<Vec<_>>();
        let (mut a, mut b) = (vec![0f32; words.len()], vec![0f64; words.len()]);
        normals_f32(&words, &mut a);
        normals_f64(&words, &mut b);
        assert!(a.iter().all(|z| f64::from(z.abs()) <= MAX_ABS) && b.iter().all(|z| z.abs() <= MAX_ABS));
    }

    #[test]
    fn polynomials_are_accurate() {
        let mut worst: f64 = 0.0;
        for i in 1..200_000u32 {
            let x = i as f32 / 200_000.0;
            worst = worst.max(((ln_f32(x) as f64) - (x as f64).ln()).abs());
        }
        assert!(worst < 2e-6, "ln error {worst}");
        let mut worst: f64 = 0.0;
        for i in 0..100_000u32 {
            let v = i as f32 / 100_000.0;
            let (c, s) = cos_sin_turn(v);
            let a = std::f64::consts::TAU * v as f64;
            worst = worst.max((c as f64 - a.cos()).abs()).max((s as f64 - a.sin()).abs());
        }
        assert!(worst < 1e-6, "sin/cos error {worst}");
    }

    #[test]
    fn moments_and_agreement() {
        use rand::RngExt;
        let mut g = crate::data::rng::gen(9, 0, 0);
        let n = 400_000;
        let mut words = vec![0u32; n];
        g.fill(&mut words[..]);
        let (mut a, mut b) = (vec![0.0f32; n], vec![0.0f64; n]);
        normals_f32(&words, &mut a);
        normals_f64(&words, &mut b);
        assert!(a.iter().zip(&b).all(|(x, y)| (*x as f64 - y).abs() < 2e-5 * (1.0 + y.abs())));
        let m: f64 = b.iter().sum::<f64>() / n as f64;
        let v: f64 = b.iter().map(|x| x * x).sum::<f64>() / n as f64;
        let k: f64 = b.iter().map(|x| x.powi(4)).sum::<f64>() / n as f64;
        assert!(m.abs() < 0.01 && (v - 1.0).abs() < 0.01 && (k - 3.0).abs() < 0.06, "{m} {v} {k}");
        for len in [0, 2, 14, 16, 18, 34, 1000] {
            let mut p = vec![0.0f32; len];
            let mut q = vec![0.0f32; len];
            box_muller_portable(&words[..len], &mut p);
            normals_f32(&words[..len], &mut q);
            assert!(q.iter().zip(&p).all(|(x, y)| (x - y).abs() <= 2e-6 * (1.0 + y.abs())), "len {len}");
        }
        // AVX-512 against AVX2: the same bits, over lengths around both block sizes
        #[cfg(target_arch = "x86_64")]
        if crate::kernels::simd::has_avx512() {
            for len in [0, 2, 14, 16, 18, 30, 32, 34, 46, 48, 50, 62, 64, 66, 1000, 4096] {
                let (mut p, mut q) = (vec![0.0f32; len], vec![0.0f32; len]);
                // SAFETY: AVX-512F, AVX2 and FMA are present.
                unsafe {
                    box_muller_avx2(&words[..len], &mut p);
                    box_muller_avx512(&words[..len], &mut q);
                }
                assert!(p.iter().zip(&q).all(|(x, y)| x.to_bits() == y.to_bits()), "len {len}");
            }
        }
    }

    /// A small xorshift for test words and points.
    fn xorshift(n: usize, seed: u64) -> Vec<u64> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                s
            })
            .collect()
    }

    #[test]
    fn ln_f64_is_within_an_ulp_of_libm() {
        // the u₁ grid (all 2³¹ values would be slow: 2·10⁶ of them, plus the ends), then random
        // normal doubles in (2⁻⁶⁰, 1] and up to 2¹⁰ (the function is general)
        let grid = xorshift(2_000_000, 7).into_iter().map(|w| (((w >> 33) as f64) + 0.5) / 2_147_483_648.0);
        let ends = (0..1000u64).flat_map(|k| [(k as f64 + 0.5) / 2_147_483_648.0, 1.0 - (k as f64 + 0.5) / 2_147_483_648.0]);
        let wide = xorshift(1_000_000, 11).into_iter().map(|w| f64::from_bits((w >> 12) | (((w & 0x3f) + 1023 - 60) << 52)));
        let (mut worst, mut at, mut count) = (0.0f64, 0.0, 0);
        for x in grid.chain(ends).chain(wide).chain([1.0, 0.5, 2.0, std::f64::consts::FRAC_1_SQRT_2, std::f64::consts::SQRT_2]) {
            let (a, b) = (ln_f64(x), x.ln());
            let rel = if b == 0.0 { a.abs() } else { ((a - b) / b).abs() };
            if rel > worst {
                (worst, at) = (rel, x);
            }
            count += 1;
        }
        eprintln!("ln_f64: largest relative difference from f64::ln {worst:e} at x = {at:e} over {count} points");
        assert!(worst <= 2.3e-16, "ln error {worst:e} at {at:e}");
        assert_eq!(ln_f64(1.0), 0.0);
    }

    /// `(cos, sin)(πy/2)` in double-double precision for the exact `y`: `πy/2 = a + b` with `|b|`
    /// below an ulp of `a`, then `cos a − b·sin a` and `sin a + b·cos a`.
    fn cos_sin_reference(v: f64) -> (f64, f64) {
        const PI_2_HI: f64 = std::f64::consts::FRAC_PI_2;
        const PI_2_LO: f64 = 6.123_233_995_736_766e-17;
        let v4 = v * 4.0;
        let q = (v4 + 0.5).floor();
        let y = v4 - q;
        let a = y * PI_2_HI;
        let b = y.mul_add(PI_2_HI, -a) + y * PI_2_LO;
        let (sa, ca) = a.sin_cos();
        let (c, s) = ((-b).mul_add(sa, ca), b.mul_add(ca, sa));
        match (q as i64) & 3 {
            0 => (c, s),
            1 => (-s, c),
            2 => (-c, -s),
            _ => (s, -c),
        }
    }

    #[test]
    fn cos_sin_turn_f64_is_accurate() {
        let grid = xorshift(2_000_000, 5).into_iter().map(|w| ((w >> 33) as f64) / 2_147_483_648.0);
        // the quarter boundaries and their neighbours on the grid
        let edges = (0..8u64).flat_map(|k| {
            (0..64u64).flat_map(move |j| [((k << 28) + j) as f64 / 2_147_483_648.0, ((k << 28).wrapping_sub(j + 1) & 0x7fff_ffff) as f64 / 2_147_483_648.0])
        });
        let (mut worst, mut at, mut count) = (0.0f64, 0.0, 0);
        for v in grid.chain(edges) {
            let (c, s) = cos_sin_turn_f64(v);
            let (rc, rs) = cos_sin_reference(v);
            let err = (c - rc).abs().max((s - rs).abs());
            if err > worst {
                (worst, at) = (err, v);
            }
            assert!((c * c + s * s - 1.0).abs() < 1e-15, "{v}");
            count += 1;
        }
        eprintln!("cos_sin_turn_f64: largest absolute error {worst:e} at v = {at} over {count} points");
        assert!(worst <= 2.3e-16, "sin/cos error {worst:e} at {at}");
        assert_eq!(cos_sin_turn_f64(0.0), (1.0, 0.0));
        assert_eq!(cos_sin_turn_f64(0.25), (0.0, 1.0));
        assert_eq!(cos_sin_turn_f64(0.5), (-1.0, 0.0));
    }

    #[test]
    fn f64_paths_are_bit_identical() {
        let words: Vec<u32> = xorshift(2100, 3).into_iter().map(|w| (w >> 32) as u32).collect();
        // a few words that hit the ends: u₁ at its extremes, u₂ at quarter turns
        let mut words = words;
        words[..8].copy_from_slice(&[0, 1, u32::MAX, u32::MAX - 1, 0x4000_0000, 0x8000_0000, 0xc000_0000, 2]);
        words[8..16].copy_from_slice(&[0x4000_0000, 0x8000_0000, 0xc000_0000, 0, u32::MAX, 1, 3, 0x3fff_ffff]);
        #[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut, unused_variables))]
        let (mut checked, mut checked512) = (0, 0);
        for pairs in [0usize, 1, 3, 7, 8, 9, 1001] {
            for (wo, oo) in [(0, 0), (1, 3), (3, 1), (5, 7)] {
                let len = 2 * pairs;
                let w = &words[wo..wo + len];
                let mut reference = vec![0.0f64; len + oo];
                normals_f64_portable(w, &mut reference[oo..]);
                let reference = &reference[oo..];
                let mut dispatched = vec![0.0f64; len + oo];
                normals_f64(w, &mut dispatched[oo..]);
                let same = |got: &[f64], what: &str| {
                    for (i, (a, b)) in got.iter().zip(reference).enumerate() {
                        assert_eq!(a.to_bits(), b.to_bits(), "{what}: pairs {pairs}, offsets {wo}/{oo}, element {i}: {a} vs {b}");
                    }
                };
                same(&dispatched[oo..], "dispatched");
                #[cfg(target_arch = "x86_64")]
                if crate::kernels::simd::has_avx2() {
                    let mut o = vec![0.0f64; len + oo];
                    // SAFETY: AVX2 and FMA are present.
                    unsafe { normals_f64_avx2(w, &mut o[oo..]) };
                    same(&o[oo..], "avx2");
                    checked += 1;
                }
                #[cfg(target_arch = "x86_64")]
                if crate::kernels::simd::has_avx512() {
                    let mut o = vec![0.0f64; len + oo];
                    // SAFETY: AVX-512F, AVX2 and FMA are present.
                    unsafe { normals_f64_avx512(w, &mut o[oo..]) };
                    same(&o[oo..], "avx512");
                    checked512 += 1;
                }
                // the portable path is the scalar formula itself, pair by pair, in this layout
                for (k, z) in reference.iter().enumerate() {
                    let (b, j) = (k / 16 * 16, k % 16);
                    let (i1, i2, first) = if b + 16 <= len { (b + j % 8, b + 8 + j % 8, j < 8) } else { (k & !1, k | 1, k % 2 == 0) };
                    let (z1, z2) = pair_f64(w[i1], w[i2]);
                    assert_eq!(z.to_bits(), if first { z1 } else { z2 }.to_bits());
                }
            }
        }
        #[cfg(target_arch = "x86_64")]
        assert!(checked == 0 || checked == 28);
        #[cfg(target_arch = "x86_64")]
        assert!(checked512 == 0 || checked512 == 28);
        eprintln!("f64 Box–Muller: {checked} AVX2 and {checked512} AVX-512 cases bit-identical to the portable path");
    }

    #[test]
    fn f64_draws_keep_the_uniforms_and_differ_from_libm_only_by_rounding() {
        let words: Vec<u32> = xorshift(200_000, 13).into_iter().map(|w| (w >> 32) as u32).collect();
        let mut out = vec![0.0f64; words.len()];
        normals_f64(&words, &mut out);
        let mut libm = vec![0.0f64; words.len()];
        fill_pairs(&words, &mut libm, |w1, w2| {
            let scale = 1.0 / 2_147_483_648.0f64;
            let (u1, u2) = ((f64::from(w1 >> 1) + 0.5) * scale, f64::from(w2 >> 1) * scale);
            let r = (-2.0 * u1.ln()).sqrt();
            let (s, c) = (std::f64::consts::TAU * u2).sin_cos();
            (r * c, r * s)
        });
        let worst = out.iter().zip(&libm).map(|(a, b)| (a - b).abs() / (1.0 + b.abs())).fold(0.0, f64::max);
        eprintln!("normals_f64 vs the libm formula: largest |Δ|/(1 + |z|) {worst:e}");
        assert!(worst < 5e-15, "{worst:e}");
    }

    /// `Φ(x)`, the standard normal distribution function, to about 1e-13: `erf` by its Taylor
    /// series for `|x|/√2 < 3`, `erfc` by its continued fraction beyond.
    fn normal_cdf(x: f64) -> f64 {
        let t = x.abs() / std::f64::consts::SQRT_2;
        let upper = if t < 3.0 {
            let (mut term, mut sum, mut n) = (t, t, 0.0);
            while term.abs() > 1e-17 * sum.abs() {
                n += 1.0;
                term *= -t * t / n;
                sum += term / (2.0 * n + 1.0);
            }
            0.5 - sum / std::f64::consts::PI.sqrt()
        } else {
            // erfc t = e^{−t²}/√π · 1/(t + (1/2)/(t + 1/(t + (3/2)/(t + …))))
            let mut f = t;
            for k in (1..60).rev() {
                f = t + (k as f64 / 2.0) / f;
            }
            0.5 * (-t * t).exp() / (std::f64::consts::PI.sqrt() * f)
        };
        if x >= 0.0 {
            1.0 - upper
        } else {
            upper
        }
    }

    #[test]
    fn f64_draws_are_standard_normal() {
        assert!((normal_cdf(1.959_963_984_540_054) - 0.975).abs() < 1e-12);
        assert!((normal_cdf(-5.0) - 2.866_515_718_791_939e-7).abs() < 1e-17);
        use rand::RngExt;
        let n = 2_000_000;
        let mut words = vec![0u32; n];
        crate::data::rng::gen(2024, 1, 0).fill(&mut words[..]);
        let mut z = vec![0.0f64; n];
        normals_f64(&words, &mut z);
        let nf = n as f64;
        let m = z.iter().sum::<f64>() / nf;
        let v = z.iter().map(|x| (x - m).powi(2)).sum::<f64>() / nf;
        let sk = z.iter().map(|x| (x - m).powi(3)).sum::<f64>() / nf;
        let ku = z.iter().map(|x| (x - m).powi(4)).sum::<f64>() / nf;
        // standard errors at n = 2·10⁶: mean 7e-4, variance 1e-3, skewness 1.7e-3, kurtosis 3.5e-3 (×4.5 here)
        assert!(m.abs() < 3.2e-3 && (v - 1.0).abs() < 4.5e-3 && sk.abs() < 7.8e-3 && (ku - 3.0).abs() < 1.6e-2, "{m} {v} {sk} {ku}");
        // Kolmogorov–Smirnov: √n·D beyond 1.95 has probability 0.001
        z.sort_by(f64::total_cmp);
        let d = z.iter().enumerate().map(|(i, &x)| {
            let p = normal_cdf(x);
            (p - i as f64 / nf).max((i + 1) as f64 / nf - p)
        });
        let d = d.fold(0.0, f64::max);
        eprintln!("f64 normals: n {n}, mean {m:.2e}, variance {v:.5}, skewness {sk:.2e}, kurtosis {ku:.4}, KS √n·D {:.3}", d * nf.sqrt());
        assert!(d * nf.sqrt() < 1.95, "KS D = {d}");
        // the tails: P(|z| > 3) = 2.6998e-3, P(|z| > 4) = 6.334e-5 (counts within ~4.5 s.e.)
        let beyond = |c: f64| z.iter().filter(|x| x.abs() > c).count() as f64;
        assert!((beyond(3.0) - 2.6998e-3 * nf).abs() < 4.5 * (2.6998e-3 * nf).sqrt(), "{}", beyond(3.0));
        assert!((beyond(4.0) - 6.334e-5 * nf).abs() < 4.5 * (6.334e-5 * nf).sqrt(), "{}", beyond(4.0));
    }
}
