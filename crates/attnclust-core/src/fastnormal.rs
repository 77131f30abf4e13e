//! Standard normal draws in bulk: Box–Muller on the bits of the chunk's ChaCha8 generator.
//!
//! Pairs of 32-bit words `(w₁, w₂)` become `u₁ = (⌊w₁/2⌋ + ½)·2⁻³¹ ∈ (0, 1)`,
//! `u₂ = ⌊w₂/2⌋·2⁻³¹ ∈ [0, 1)` and then
//!
//! ```text
//! z₁ = √(−2 ln u₁) cos 2πu₂,   z₂ = √(−2 ln u₁) sin 2πu₂.
//! ```
//!
//! For `f32`, `ln`, `sin` and `cos` are branch-free polynomials (relative error about 1e-7; `|z|`
//! reaches 6.8) written once in scalar Rust and compiled twice, for AVX2+FMA and for the baseline
//! target, the AVX2 copy chosen at run time: about 8 draws per few cycles instead of one. For `f64`
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

#[inline(always)]
fn box_muller_body(words: &[u32], out: &mut [f32]) {
    let scale = 1.0 / 2_147_483_648.0f32;
    for (w, o) in words.chunks_exact(2).zip(out.chunks_exact_mut(2)) {
        let u1 = ((w[0] >> 1) as i32 as f32 + 0.5) * scale;
        let u2 = (w[1] >> 1) as i32 as f32 * scale;
        let r = (-2.0 * ln_f32(u1)).sqrt();
        let (c, s) = cos_sin_turn(u2);
        o[0] = r * c;
        o[1] = r * s;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn box_muller_avx2(words: &[u32], out: &mut [f32]) {
    box_muller_body(words, out)
}

fn box_muller_portable(words: &[u32], out: &mut [f32]) {
    box_muller_body(words, out)
}

/// Fills `out` (even length) with standard normals from as many 32-bit words, in `f32`.
pub fn normals_f32(words: &[u32], out: &mut [f32]) {
    assert!(words.len() >= out.len() && out.len() % 2 == 0);
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

/// Fills `out` (even length) with standard normals from as many 32-bit words, in `f64`.
pub fn normals_f64(words: &[u32], out: &mut [f64]) {
    assert!(words.len() >= out.len() && out.len() % 2 == 0);
    let scale = 1.0 / 2_147_483_648.0f64;
    for (w, o) in words.chunks_exact(2).zip(out.chunks_exact_mut(2)) {
        let u1 = (f64::from(w[0] >> 1) + 0.5) * scale;
        let u2 = f64::from(w[1] >> 1) * scale;
        let r = (-2.0 * u1.ln()).sqrt();
        let (s, c) = (std::f64::consts::TAU * u2).sin_cos();
        o[0] = r * c;
        o[1] = r * s;
    }
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
        let mut g = crate::rng::gen(9, 0, 0);
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
        let mut p = vec![0.0f32; n];
        box_muller_portable(&words, &mut p);
        assert!(a.iter().zip(&p).all(|(x, y)| (x - y).abs() <= 1e-6 * (1.0 + y.abs())));
    }
}
