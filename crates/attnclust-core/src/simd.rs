//! Hand-written AVX2/FMA kernels for the `f32` hot loops, chosen at run time, with portable
//! fallbacks: inner products, `y += αx`, and eight-lane Box–Muller. On aarch64 the inner product
//! and `y += αx` use NEON (part of the aarch64 baseline, so there is nothing to detect). Each is
//! tested against its scalar version (on aarch64 under `qemu-aarch64`, see scripts/arm64.sh).

use std::sync::OnceLock;

/// Whether the CPU has AVX2 and FMA (checked once).
pub fn has_avx2() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let n16 = n / 16 * 16;
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let (mut s0, mut s1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    let mut i = 0;
    while i < n16 {
        // SAFETY: i + 16 ≤ n ≤ both lengths.
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i + 8)), _mm256_loadu_ps(pb.add(i + 8)), s1);
        i += 16;
    }
    let s = _mm256_add_ps(s0, s1);
    let mut lanes = [0.0f32; 8];
    _mm256_storeu_ps(lanes.as_mut_ptr(), s);
    let mut total = ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
    for j in n16..n {
        total += a[j] * b[j];
    }
    total
}

#[cfg(target_arch = "aarch64")]
fn dot_neon(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::aarch64::*;
    let n = a.len().min(b.len());
    let n8 = n / 8 * 8;
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    // SAFETY: NEON is in the aarch64 baseline; every load reads [i, i + 4) with i + 8 ≤ n ≤ both lengths.
    let mut total = unsafe {
        let (mut s0, mut s1) = (vdupq_n_f32(0.0), vdupq_n_f32(0.0));
        let mut i = 0;
        while i < n8 {
            s0 = vfmaq_f32(s0, vld1q_f32(pa.add(i)), vld1q_f32(pb.add(i)));
            s1 = vfmaq_f32(s1, vld1q_f32(pa.add(i + 4)), vld1q_f32(pb.add(i + 4)));
            i += 8;
        }
        vaddvq_f32(vaddq_f32(s0, s1))
    };
    for j in n8..n {
        total += a[j] * b[j];
    }
    total
}

/// `⟨a, b⟩` in `f32`.
#[inline]
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: AVX2 and FMA are present.
        return unsafe { dot_avx2(a, b) };
    }
    #[cfg(target_arch = "aarch64")]
    {
        dot_neon(a, b)
    }
    #[cfg(not(target_arch = "aarch64"))]
    {
        crate::real::dot(a, b)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn axpy_avx2(alpha: f32, x: &[f32], y: &mut [f32]) {
    use std::arch::x86_64::*;
    let n = x.len().min(y.len());
    let n8 = n / 8 * 8;
    let av = _mm256_set1_ps(alpha);
    let (px, py) = (x.as_ptr(), y.as_mut_ptr());
    let mut i = 0;
    while i < n8 {
        // SAFETY: i + 8 ≤ n ≤ both lengths; `y` is borrowed exclusively.
        _mm256_storeu_ps(py.add(i), _mm256_fmadd_ps(av, _mm256_loadu_ps(px.add(i)), _mm256_loadu_ps(py.add(i))));
        i += 8;
    }
    for j in n8..n {
        y[j] += alpha * x[j];
    }
}

#[cfg(target_arch = "aarch64")]
fn axpy_neon(alpha: f32, x: &[f32], y: &mut [f32]) {
    use std::arch::aarch64::*;
    let n = x.len().min(y.len());
    let n4 = n / 4 * 4;
    let (px, py) = (x.as_ptr(), y.as_mut_ptr());
    // SAFETY: NEON is in the aarch64 baseline; i + 4 ≤ n ≤ both lengths; `y` is borrowed exclusively.
    unsafe {
        let av = vdupq_n_f32(alpha);
        let mut i = 0;
        while i < n4 {
            vst1q_f32(py.add(i), vfmaq_f32(vld1q_f32(py.add(i)), av, vld1q_f32(px.add(i))));
            i += 4;
        }
    }
    for j in n4..n {
        y[j] += alpha * x[j];
    }
}

/// `y := y + αx` in `f32`.
#[inline]
pub fn axpy_f32(alpha: f32, x: &[f32], y: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: AVX2 and FMA are present.
        unsafe { axpy_avx2(alpha, x, y) };
        return;
    }
    #[cfg(target_arch = "aarch64")]
    axpy_neon(alpha, x, y);
    #[cfg(not(target_arch = "aarch64"))]
    axpy_scalar(alpha, x, y);
}

/// The scalar reference of [`axpy_f32`].
pub fn axpy_scalar(alpha: f32, x: &[f32], y: &mut [f32]) {
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi += alpha * xi;
    }
}

/// `out[0] = ⟨x, x⟩`, `out[1 + h] = ⟨x, θ_h⟩` for the `H = out.len() − 1` rows of `thetas`
/// (`H × d`), in one pass over `x` (portable).
pub fn norm_and_dots_portable(x: &[f32], thetas: &[f32], out: &mut [f32]) {
    let d = x.len();
    out[0] = crate::real::dot(x, x);
    for h in 0..out.len() - 1 {
        out[1 + h] = crate::real::dot(x, &thetas[h * d..(h + 1) * d]);
    }
}

/// # Safety
/// The CPU must support AVX2 and FMA; `H ≤ 4`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn norm_and_dots_avx2(x: &[f32], thetas: &[f32], out: &mut [f32]) {
    use std::arch::x86_64::*;
    let d = x.len();
    let h = out.len() - 1;
    let d8 = d / 8 * 8;
    let mut acc = [_mm256_setzero_ps(); 5];
    let px = x.as_ptr();
    let pt = thetas.as_ptr();
    let mut i = 0;
    while i < d8 {
        // SAFETY: i + 8 ≤ d; row g of `thetas` spans [g·d, (g + 1)·d) ⊂ thetas (checked by the caller).
        let xv = _mm256_loadu_ps(px.add(i));
        acc[0] = _mm256_fmadd_ps(xv, xv, acc[0]);
        for g in 0..h {
            acc[1 + g] = _mm256_fmadd_ps(xv, _mm256_loadu_ps(pt.add(g * d + i)), acc[1 + g]);
        }
        i += 8;
    }
    for (k, a) in acc.iter().enumerate().take(h + 1) {
        let mut lanes = [0.0f32; 8];
        _mm256_storeu_ps(lanes.as_mut_ptr(), *a);
        let mut s = ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
        let other = if k == 0 { x } else { &thetas[(k - 1) * d..k * d] };
        for j in d8..d {
            s += x[j] * other[j];
        }
        out[k] = s;
    }
}

/// `‖x‖²` and `⟨x, θ_h⟩` for every row of `thetas`, in one pass over `x` for `H ≤ 4`.
pub fn norm_and_dots_f32(x: &[f32], thetas: &[f32], out: &mut [f32]) {
    let h = out.len() - 1;
    assert!(thetas.len() >= h * x.len());
    #[cfg(target_arch = "x86_64")]
    if h <= 4 && has_avx2() {
        // SAFETY: AVX2 and FMA are present; H ≤ 4 and `thetas` holds H rows of length d.
        unsafe { norm_and_dots_avx2(x, thetas, out) };
        return;
    }
    norm_and_dots_portable(x, thetas, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_scalar_over_lengths() {
        for n in [0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1000] {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.7).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.3).cos()).collect();
            let exact: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
            assert!((dot_f32(&a, &b) as f64 - exact).abs() < 1e-4 * (1.0 + exact.abs()));
            assert!((crate::real::dot(&a, &b) as f64 - exact).abs() < 1e-4 * (1.0 + exact.abs()));
            let th: Vec<f32> = (0..3 * n).map(|i| (i as f32 * 0.11).cos()).collect();
            for h in 1..=3 {
                let (mut o1, mut o2) = (vec![0.0f32; h + 1], vec![0.0f32; h + 1]);
                norm_and_dots_f32(&a, &th, &mut o1);
                norm_and_dots_portable(&a, &th, &mut o2);
                assert!(o1.iter().zip(&o2).all(|(p, q)| (p - q).abs() <= 1e-4 * (1.0 + q.abs())));
            }
            let mut y1 = b.clone();
            axpy_f32(0.5, &a, &mut y1);
            assert!(y1.iter().zip(a.iter().zip(&b)).all(|(r, (x, y))| (r - (y + 0.5 * x)).abs() < 1e-6));
            let mut y2 = b.clone();
            axpy_scalar(0.5, &a, &mut y2);
            assert!(y1.iter().zip(&y2).all(|(p, q)| (p - q).abs() <= 1e-6 * (1.0 + q.abs())));
        }
    }

    /// The dispatched kernels (AVX2 on x86_64, NEON on aarch64) against the scalar ones, on
    /// lengths around every unrolling boundary and on slices that start unaligned.
    #[test]
    fn fast_paths_match_scalar_unaligned() {
        let a: Vec<f32> = (0..300).map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0).collect();
        let b: Vec<f32> = (0..300).map(|i| ((i * 53 % 97) as f32 - 48.0) / 9.0).collect();
        for off in 0..4 {
            for n in (0..40).chain([63, 64, 65, 127, 128, 129, 255]) {
                let (x, y) = (&a[off..off + n], &b[off + 1..off + 1 + n]);
                let (fast, scalar) = (dot_f32(x, y), crate::real::dot(x, y));
                let scale: f32 = x.iter().zip(y).map(|(p, q)| (p * q).abs()).sum();
                assert!((fast - scalar).abs() <= 1e-5 * (1.0 + scale), "dot n={n} off={off}: {fast} vs {scalar}");
                let (mut y1, mut y2) = (y.to_vec(), y.to_vec());
                axpy_f32(-1.25, x, &mut y1);
                axpy_scalar(-1.25, x, &mut y2);
                for (p, q) in y1.iter().zip(&y2) {
                    // FMA rounds once, the scalar loop twice.
                    assert!((p - q).abs() <= 1e-6 * (1.0 + q.abs()), "axpy n={n} off={off}: {p} vs {q}");
                }
            }
        }
    }
}
