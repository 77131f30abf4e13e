//! W5 (two-head risk + gradient on a fixed sample, n = 2^20, d = 64, H = 2, f32) taken apart: the
//! whole pass on 1 and 2 threads, and its phases on one thread against a plain read of the sample
//! (what memory allows): `‖x‖²` and `Θx` per token, `S = CᵀX` per chunk, each as a pass of its
//! own over chunks of 1024 tokens (the kernel itself runs them, with the per-token scalars, per
//! group of 16 tokens on AVX-512F: the last line times that fused kernel on one chunk in cache,
//! its compute alone). Best of `REPS` (default 7) wall times.
//!
//! The ceiling: a pure read of the same sample on 2 threads, each summing one contiguous half
//! (16-lane integer adds, eight independent accumulators), with and without software prefetch;
//! "cpu" is the process CPU time per call (all threads; less disturbed than wall time by other
//! processes on a shared machine, not by their memory traffic).
//!
//! `QUICK=1`: only the 2-thread lines (`risk_grad` best, median and CPU time over `REPS` calls, and
//! the pure reads), to alternate two builds of the kernel run after run.
//! `cargo run --release --example profile_w5` (env `N`, `D`, `REPS`, `QUICK` override).
use attnclust_core::data::gmm::Mixture;
use attnclust_core::kernels::simd::{ctx_f32, norms_and_dots_rows_f32};
use attnclust_core::models::two_head::{Layer, Scores, REDUCE_CHUNK};
use attnclust_core::Par;
use std::time::Instant;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Process CPU time (all threads), seconds.
fn cpu_time() -> f64 {
    #[repr(C)]
    struct Timespec {
        sec: i64,
        nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
    }
    const CLOCK_PROCESS_CPUTIME_ID: i32 = 2;
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // SAFETY: `ts` is a valid timespec (64-bit Linux layout); the call only writes it.
    let rc = unsafe { clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0);
    ts.sec as f64 + ts.nsec as f64 * 1e-9
}

/// `reps` calls of `f`: (best wall, median wall, mean process CPU time per call), seconds.
fn stats(reps: usize, mut f: impl FnMut()) -> (f64, f64, f64) {
    let c0 = cpu_time();
    let mut w: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    let cpu = (cpu_time() - c0) / reps as f64;
    w.sort_by(f64::total_cmp);
    (w[0], w[reps / 2], cpu)
}

/// Wrapping sum of the bits of `x`, read once, 16-lane integer adds into eight accumulators (the
/// loads, not the adds, limit it); with `ahead > 0`, each 64-byte line `ahead` bytes further on is
/// asked for (`prefetcht2`, as the kernel does) as the loop goes.
fn read_sum(x: &[f32], ahead: usize) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: AVX-512F is present.
        return unsafe { read_sum_avx512(x, ahead) };
    }
    let _ = ahead;
    x.iter().fold(0u32, |a, &b| a.wrapping_add(b.to_bits()))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn read_sum_avx512(x: &[f32], ahead: usize) -> u32 {
    use std::arch::x86_64::*;
    let p = x.as_ptr();
    let n = x.len() / 128 * 128;
    let mut acc = [_mm512_setzero_si512(); 8];
    let mut i = 0;
    while i < n {
        if ahead > 0 && i + ahead / 4 + 128 <= x.len() {
            for k in 0..8 {
                // SAFETY: within `x` (checked above).
                _mm_prefetch::<_MM_HINT_T2>(p.add(i + ahead / 4 + 16 * k).cast());
            }
        }
        for (k, a) in acc.iter_mut().enumerate() {
            // SAFETY: i + 16k + 16 ≤ n ≤ x.len().
            *a = _mm512_add_epi32(*a, _mm512_loadu_si512(p.add(i + 16 * k).cast()));
        }
        i += 128;
    }
    let mut s = acc[0];
    for a in &acc[1..] {
        s = _mm512_add_epi32(s, *a);
    }
    let tail = x[n..].iter().fold(0u32, |a, &b| a.wrapping_add(b.to_bits()));
    (_mm512_reduce_add_epi32(s) as u32).wrapping_add(tail)
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
    let report3 = |name: &str, (b, m, c): (f64, f64, f64)| {
        println!("{name:<44} {:>7.2} ms  {:>6.2} GB/s  median {:>7.2} ms  cpu {:>7.2} ms", b * 1e3, gb / b, m * 1e3, c * 1e3)
    };
    {
        // 2 threads: the kernel, and pure reads of contiguous halves (the ceiling)
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let halves = |ahead: usize| {
            let (a, b) = x.split_at(x.len() / 2);
            let v = std::thread::scope(|s| {
                let t = s.spawn(|| read_sum(b, ahead));
                read_sum(a, ahead).wrapping_add(t.join().unwrap())
            });
            std::hint::black_box(v);
        };
        let halves_pool = |ahead: usize| {
            let (a, b) = x.split_at(x.len() / 2);
            let (u, v) = pool.install(|| rayon::join(|| read_sum(a, ahead), || read_sum(b, ahead)));
            std::hint::black_box(u.wrapping_add(v));
        };
        let kernel = || {
            std::hint::black_box(pool.install(|| layer.risk_grad(&x, Par::Rayon).unwrap()));
        };
        kernel();
        report3("risk_grad, 2 threads", stats(reps, kernel));
        report3("pure read, 2 threads (rayon join, halves)", stats(reps, || halves_pool(0)));
        report3("pure read, 2 spawned threads, halves", stats(reps, || halves(0)));
        report3("pure read, 2 thr, halves, prefetcht2 4 KiB", stats(reps, || halves_pool(4096)));
        report3("pure read, 2 thr, halves, prefetcht2 16 KiB", stats(reps, || halves_pool(16384)));
        report3(
            "pure read, 1 thread",
            stats(reps, || {
                std::hint::black_box(read_sum(&x, 0));
            }),
        );
        if std::env::var("QUICK").is_ok() {
            return;
        }
    }
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
