//! W5 (two-head risk + gradient on a fixed sample, n = 2^20, d = 64, H = 2, f32) taken apart: the
//! whole pass on 1 and 2 threads, and its phases on one thread against a plain read of the sample
//! (what memory allows): `‖x‖²` and `Θx` per token, `S = CᵀX` per chunk, each as a pass of its
//! own over chunks of 1024 tokens (the kernel itself runs them, with the per-token scalars, per
//! group of 16 tokens on AVX-512F: the last line times that fused kernel on one chunk in cache,
//! its compute alone). Best of `REPS` (default 7) wall times.
//! `cargo run --release --example profile_w5` (env `N`, `D`, `REPS` override).
use attnclust_core::data::gmm::Mixture;
use attnclust_core::kernels::simd::{ctx_f32, norms_and_dots_rows_f32};
use attnclust_core::models::two_head::{Layer, Scores, REDUCE_CHUNK};
use attnclust_core::Par;
use std::time::Instant;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn best(reps: usize, mut f: impl FnMut()) -> f64 {
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let (n, d, reps) = (env("N", 1 << 20), env("D", 64), env("REPS", 7));
    let h = 2;
    let mut means = vec![0.0; 2 * d];
    means[0] = 3.0;
    means[d] = -3.0;
    let mix = Mixture::isotropic(means, 2, d, &[1.0], None).unwrap();
    let (x, _) = mix.sample::<f32>(n, 5, 0, Par::Rayon);
    let params: Vec<f32> = (0..h * d).map(|i| ((i * 7 % 11) as f32 - 5.0) * 0.05).collect();
    let layer = Layer::new(&params, h, d, 1.0 / (d as f64).sqrt(), Scores::Dot).unwrap();
    let gb = (n * d * 4) as f64 / 1e9;
    let report = |name: &str, s: f64| println!("{name:<44} {:>7.2} ms  {:>6.2} GB/s", s * 1e3, gb / s);
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let kernel = || {
            std::hint::black_box(pool.install(|| layer.risk_grad(&x, Par::Rayon).unwrap()));
        };
        let read = || {
            // (integer sums of the bits: vectorised, so the read is what limits it)
            let v: u32 = pool.install(|| {
                use rayon::prelude::*;
                x.par_chunks(REDUCE_CHUNK * d).map(|c| c.iter().fold(0u32, |a, &b| a.wrapping_add(b.to_bits()))).reduce(|| 0, u32::wrapping_add)
            });
            std::hint::black_box(v);
        };
        report(&format!("risk_grad, {threads} thread(s)"), best(reps, kernel));
        report(&format!("plain read (sum), {threads} thread(s)"), best(reps, read));
        // the two back to back, rep by rep: on a shared machine the ratio moves less than either
        let mut ratios: Vec<f64> = (0..reps).map(|_| best(1, kernel) / best(1, read)).collect();
        ratios.sort_by(f64::total_cmp);
        println!("{:<44} {:>7.3}", format!("risk_grad / plain read, median, {threads} thr"), ratios[reps / 2]);
    }
    // phases, one thread, chunk by chunk as the kernel does
    let mut nn = vec![0.0f64; REDUCE_CHUNK];
    let mut pp = vec![0.0f64; h * REDUCE_CHUNK];
    let s = best(reps, || {
        for c in x.chunks(REDUCE_CHUNK * d) {
            let m = c.len() / d;
            norms_and_dots_rows_f32(c, d, &params, &mut nn[..m], &mut pp[..h * m]);
        }
        std::hint::black_box(&pp);
    });
    report("phase ‖x‖², Θx (1 thread)", s);
    let coef: Vec<f32> = (0..h * REDUCE_CHUNK).map(|i| (i % 5) as f32 * 0.1).collect();
    let mut out = vec![0.0f32; h * d];
    let s = best(reps, || {
        for c in x.chunks(REDUCE_CHUNK * d) {
            let m = c.len() / d;
            ctx_f32(&coef[..h * m], h, c, d, &mut out);
        }
        std::hint::black_box(&out);
    });
    report("phase S = CᵀX from memory (1 thread)", s);
    let chunk = &x[..REDUCE_CHUNK * d];
    let per = best(reps, || {
        for _ in 0..64 {
            ctx_f32(&coef, h, std::hint::black_box(chunk), d, &mut out);
        }
    }) / 64.0;
    report("phase S = CᵀX one chunk in cache (1 thread)", per * (n / REDUCE_CHUNK) as f64);
    let per = best(reps, || {
        for _ in 0..64 {
            norms_and_dots_rows_f32(std::hint::black_box(chunk), d, &params, &mut nn, &mut pp);
        }
    }) / 64.0;
    report("phase ‖x‖², Θx one chunk in cache (1 thread)", per * (n / REDUCE_CHUNK) as f64);
    let small = &x[..REDUCE_CHUNK * d];
    let per = best(reps, || {
        for _ in 0..64 {
            std::hint::black_box(layer.risk_grad(std::hint::black_box(small), Par::Seq).unwrap());
        }
    }) / 64.0;
    report("whole kernel one chunk in cache (1 thread)", per * (n / REDUCE_CHUNK) as f64);
}
