//! `s_j := exp(s_j − m)` over a slice, returning `Σ_j s_j`: the inner step of every softmax here.
//!
//! `f32` uses a branch-free polynomial (Cody–Waite reduction `x = n·ln2 + r`, `|r| ≤ ln2/2`, then
//! `eʳ` by its degree-6 Taylor polynomial, relative error below 2e-7, and `2ⁿ` built in the exponent
//! bits) that the compiler vectorises; it is compiled twice, for AVX2+FMA and for the baseline
//! target, and the AVX2 copy is chosen at run time when the CPU has it. Inputs below `−87.3`
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

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn exp_sub_sum_avx2(s: &mut [f32], m: f32) -> f32 {
    exp_sub_sum_body(s, m)
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
