//! `s_j := exp(s_j − m)` over a slice, returning `Σ_j s_j`: the inner step of every softmax here.
//!
//! `f32` uses a branch-free polynomial (Cody–Waite reduction `x = n·ln2 + r`, `|r| ≤ ln2/2`, then
//! `eʳ` by its degree-6 Taylor polynomial, relative error below 3e-7, and `2ⁿ` built in the exponent
//! bits), written once in scalar Rust (the portable path) and once with AVX2/FMA intrinsics on eight
//! lanes, chosen at run time when the CPU has them. Inputs below `−87.3`
//! (including `−∞`, masked scores) give exactly 0. `f64` uses the standard library's `exp`.

use std::sync::OnceLock;

#[inline(always)]
fn exp_poly(x: f32) -> f32 {
    const LO: f32 = -87.3;
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let xc = x.max(LO).min(88.0);
    let n = (xc * LOG2E + 0.5).floor();
    let r = xc - n * LN2_HI - n * LN2_LO;
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    if x < LO {
        0.0
    } else {
        p * scale
    }
}

#[inline(always)]
fn exp_sub_sum_body(s: &mut [f32], m: f32) -> f32 {
    let mut acc = [0.0f32; 8];
    let mut chunks = s.chunks_exact_mut(8);
    for c in &mut chunks {
        for l in 0..8 {
            c[l] = exp_poly(c[l] - m);
            acc[l] += c[l];
        }
    }
    let mut sum = acc.iter().sum::<f32>();
    for v in chunks.into_remainder() {
        *v = exp_poly(*v - m);
        sum += *v;
    }
    sum
}

/// The same computation on eight lanes with AVX2/FMA intrinsics.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn exp_sub_sum_avx2(s: &mut [f32], m: f32) -> f32 {
    use std::arch::x86_64::*;
    let n8 = s.len() / 8 * 8;
    let p = s.as_mut_ptr();
    let (mv, lo, hi) = (_mm256_set1_ps(m), _mm256_set1_ps(-87.3), _mm256_set1_ps(88.0));
    let (log2e, ln2_hi, ln2_lo) = (_mm256_set1_ps(std::f32::consts::LOG2_E), _mm256_set1_ps(0.693_145_75), _mm256_set1_ps(1.428_606_8e-6));
    let c = [1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0].map(|v: f32| _mm256_set1_ps(v));
    let mut acc = _mm256_setzero_ps();
    let mut i = 0;
    while i < n8 {
        // SAFETY: i + 8 ≤ n8 ≤ s.len(), so the unaligned load and store stay inside `s`.
        let x = _mm256_sub_ps(_mm256_loadu_ps(p.add(i)), mv);
        let xc = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
        let n = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm256_mul_ps(xc, log2e));
        let r = _mm256_fnmadd_ps(n, ln2_lo, _mm256_fnmadd_ps(n, ln2_hi, xc));
        let mut poly = c[0];
        for &k in &c[1..] {
            poly = _mm256_fmadd_ps(poly, r, k);
        }
        let two_n = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127))));
        // Lanes below the range (−∞ included) are exactly 0; the comparison is false for NaN too.
        let y = _mm256_and_ps(_mm256_mul_ps(poly, two_n), _mm256_cmp_ps::<_CMP_GE_OQ>(x, lo));
        _mm256_storeu_ps(p.add(i), y);
        acc = _mm256_add_ps(acc, y);
        i += 8;
    }
    let mut lanes = [0.0f32; 8];
    _mm256_storeu_ps(lanes.as_mut_ptr(), acc);
    let mut sum = lanes.iter().sum::<f32>();
    for v in &mut s[n8..] {
        *v = exp_poly(*v - m);
        sum += *v;
    }
    sum
}

fn exp_sub_sum_portable(s: &mut [f32], m: f32) -> f32 {
    exp_sub_sum_body(s, m)
}

type ExpFn = fn(&mut [f32], f32) -> f32;

fn pick() -> ExpFn {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return |s, m| {
                // SAFETY: chosen only after the CPU reported AVX2 and FMA.
                unsafe { exp_sub_sum_avx2(s, m) }
            };
        }
    }
    exp_sub_sum_portable
}

/// `s_j := exp(s_j − m)` and their sum, in `f32`.
pub fn exp_sub_sum_f32(s: &mut [f32], m: f32) -> f32 {
    static CHOSEN: OnceLock<ExpFn> = OnceLock::new();
    (CHOSEN.get_or_init(pick))(s, m)
}

/// `s_j := exp(s_j − m)` and their sum, in `f64`.
pub fn exp_sub_sum_f64(s: &mut [f64], m: f64) -> f64 {
    let mut sum = 0.0;
    for v in s.iter_mut() {
        *v = (*v - m).exp();
        sum += *v;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polynomial_matches_std_exp() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x < 10.0 {
            let e = (x as f64).exp();
            let rel = ((exp_poly(x) as f64) - e).abs() / e;
            worst = worst.max(rel);
            x += 0.0137;
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
        assert_eq!(exp_poly(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_poly(-1000.0), 0.0);
        assert_eq!(exp_poly(0.0), 1.0);
    }

    #[test]
    fn dispatched_equals_portable() {
        for n in [0, 1, 7, 8, 9, 15, 16, 17, 100] {
            let base: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin() * 20.0).collect();
            let (mut a, mut b) = (base.clone(), base.clone());
            let sa = exp_sub_sum_f32(&mut a, 3.0);
            let sb = exp_sub_sum_portable(&mut b, 3.0);
            assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() <= 1e-6 * y.abs()));
            assert!((sa - sb).abs() <= 1e-5 * sb.abs().max(1.0));
        }
    }
}
