//! The dispatched `f32` kernels (AVX2 on x86_64, NEON on aarch64) against their scalar versions,
//! on one thread: `scripts/arm64.sh` runs it under `qemu-aarch64` where a guest that starts a
//! second thread hangs (so the multi-threaded test suite cannot run there). The same checks as
//! `simd::tests::fast_paths_match_scalar_unaligned`, plus the portable kernels the dispatch
//! falls back on; exits with status 1 and names the first mismatch.
use attnclust_core::kernels::real;
use attnclust_core::kernels::simd::{axpy_f32, axpy_scalar, dot_f32, norm_and_dots_f32, norm_and_dots_portable};

fn main() {
    let a: Vec<f32> = (0..300).map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0).collect();
    let b: Vec<f32> = (0..300).map(|i| ((i * 53 % 97) as f32 - 48.0) / 9.0).collect();
    let mut checked = 0usize;
    let fail = |what: String| {
        eprintln!("simd_check: {what}");
        std::process::exit(1);
    };
    for off in 0..4 {
        for n in (0..40).chain([63, 64, 65, 127, 128, 129, 255]) {
            let (x, y) = (&a[off..off + n], &b[off + 1..off + 1 + n]);
            let (fast, scalar) = (dot_f32(x, y), real::dot(x, y));
            let scale: f32 = x.iter().zip(y).map(|(p, q)| (p * q).abs()).sum();
            if (fast - scalar).abs() > 1e-5 * (1.0 + scale) {
                fail(format!("dot n={n} off={off}: {fast} vs {scalar}"));
            }
            let (mut y1, mut y2) = (y.to_vec(), y.to_vec());
            axpy_f32(-1.25, x, &mut y1);
            axpy_scalar(-1.25, x, &mut y2);
            for (p, q) in y1.iter().zip(&y2) {
                if (p - q).abs() > 1e-6 * (1.0 + q.abs()) {
                    fail(format!("axpy n={n} off={off}: {p} vs {q}"));
                }
            }
            let th: Vec<f32> = b.iter().cycle().take(3 * n).copied().collect();
            for h in 1..=3 {
                let (mut o1, mut o2) = (vec![0.0f32; h + 1], vec![0.0f32; h + 1]);
                norm_and_dots_f32(x, &th, &mut o1);
                norm_and_dots_portable(x, &th, &mut o2);
                if o1.iter().zip(&o2).any(|(p, q)| (p - q).abs() > 1e-4 * (1.0 + q.abs())) {
                    fail(format!("norm_and_dots n={n} h={h}: {o1:?} vs {o2:?}"));
                }
            }
            checked += 1;
        }
    }
    println!("simd_check: {checked} shapes on {}: dot, axpy and norm_and_dots match the scalar versions", std::env::consts::ARCH);
}
