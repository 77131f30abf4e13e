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
//! reaches 6.8), in scalar Rust and, eight pairs at a time, with AVX2 intrinsics chosen at run time. For `f64`
//! the standard library's functions are used. The draws are a pure function of the words, so they do
//! not depend on the thread count.

use std::sync::OnceLock;

const TWO_PI: f32 = std::f32::consts::TAU;

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

/// Fills `out` (even length) with standard normals from as many 32-bit words, in `f32`.
pub fn normals_f32(words: &[u32], out: &mut [f32]) {
    assert!(words.len() >= out.len() && out.len().is_multiple_of(2));
    type F = fn(&[u32], &mut [f32]);
    static CHOSEN: OnceLock<F> = OnceLock::new();
    let f = CHOSEN.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                return |w, o| {
                    // SAFETY: chosen only after the CPU reported AVX2 and FMA.
                    unsafe { box_muller_avx2(w, o) }
                };
            }
        }
        box_muller_portable
    });
    f(words, out)
}

/// Fills `out` (even length) with standard normals from as many 32-bit words, in `f64`, with the
/// same layout as the `f32` version.
pub fn normals_f64(words: &[u32], out: &mut [f64]) {
    assert!(words.len() >= out.len() && out.len().is_multiple_of(2));
    let scale = 1.0 / 2_147_483_648.0f64;
    fill_pairs(words, out, |w1, w2| {
        let u1 = (f64::from(w1 >> 1) + 0.5) * scale;
        let u2 = f64::from(w2 >> 1) * scale;
        let r = (-2.0 * u1.ln()).sqrt();
        let (s, c) = (std::f64::consts::TAU * u2).sin_cos();
        (r * c, r * s)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
