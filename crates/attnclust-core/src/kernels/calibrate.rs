//! Machine calibration for the benchmarks (SPEC §9): the peak `f32` FMA throughput and the memory
//! copy bandwidth of this machine, measured on every thread of the current rayon pool, so that a
//! kernel's speed can be reported as a fraction of what the hardware can do.
//!
//! - [`peak_gflops`]: every thread runs a loop of independent fused multiply-adds on registers (no
//!   memory traffic) for a fixed time. Each lane of each FMA counts 2 flop. The x86-64 kernels use
//!   `std::arch` with runtime detection: AVX2/FMA (12 independent 8-lane accumulators, enough to
//!   hide a 4-cycle FMA latency on two FMA pipes) and, when detected, AVX-512F (12 independent
//!   16-lane accumulators); the larger of the two rates is reported. Elsewhere (or without FMA) a
//!   portable loop of `a · x + b` on 12 × 8 lanes runs instead (the compiler vectorises it as it
//!   can; 2 flop per lane and step as well).
//! - [`bandwidth_gbs`]: a parallel copy of a buffer much larger than the caches (the default in the
//!   bindings is 512 MiB) into a second buffer of the same size, cut into 4 MiB blocks shared among
//!   the threads. **Convention** (STREAM "copy"): copying `N` bytes counts `2N` bytes moved, `N`
//!   read and `N` written; write-allocate traffic, if the hardware does any, is not counted. Both
//!   buffers are written before timing (so their pages exist) and the best of several copies is
//!   reported.
//!
//! Both return GFLOP/s and GB/s in decimal units (`1e9`).

use rayon::prelude::*;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Accumulators per thread: independent FMA chains (latency 4 × 2 pipes = 8 needed on Zen 4).
const CHAINS: usize = 12;
/// FMAs per chain between two clock reads.
const INNER: usize = 4096;

/// Runs `step(iterations)` (which returns the flop it did) for at least `seconds`, returns flop/s.
fn timed(seconds: f64, mut step: impl FnMut(usize) -> f64) -> f64 {
    let budget = Duration::from_secs_f64(seconds);
    // A short untimed start: clocks ramp up, code and stack are touched.
    black_box(step(8));
    let t0 = Instant::now();
    let mut flop = 0.0;
    loop {
        flop += step(64);
        let e = t0.elapsed();
        if e >= budget {
            return flop / e.as_secs_f64();
        }
    }
}

/// Portable kernel: `acc ← acc · a + b` on `CHAINS × 8` lanes.
fn portable_rate(seconds: f64) -> f64 {
    let a = black_box(0.999_999_f32);
    let b = black_box(1e-7_f32);
    let mut acc = [[0.5_f32; 8]; CHAINS];
    let rate = timed(seconds, |reps| {
        for _ in 0..reps * INNER / 64 {
            for c in acc.iter_mut() {
                for v in c.iter_mut() {
                    *v = *v * a + b;
                }
            }
        }
        black_box(&mut acc);
        (reps * INNER / 64 * CHAINS * 8 * 2) as f64
    });
    black_box(acc.iter().flatten().sum::<f32>());
    rate
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{black_box, timed, CHAINS, INNER};
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2,fma")]
    unsafe fn fma256(iters: usize) -> f32 {
        let a = _mm256_set1_ps(black_box(0.999_999));
        let b = _mm256_set1_ps(black_box(1e-7));
        let mut acc = [_mm256_set1_ps(0.5); CHAINS];
        for _ in 0..iters {
            // Twelve independent chains: the loop is unrolled, each one stays in a register.
            for v in acc.iter_mut() {
                *v = _mm256_fmadd_ps(*v, a, b);
            }
        }
        let mut s = _mm256_setzero_ps();
        for v in acc {
            s = _mm256_add_ps(s, v);
        }
        let mut out = [0.0_f32; 8];
        _mm256_storeu_ps(out.as_mut_ptr(), s);
        out.iter().sum()
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn fma512(iters: usize) -> f32 {
        let a = _mm512_set1_ps(black_box(0.999_999));
        let b = _mm512_set1_ps(black_box(1e-7));
        let mut acc = [_mm512_set1_ps(0.5); CHAINS];
        for _ in 0..iters {
            for v in acc.iter_mut() {
                *v = _mm512_fmadd_ps(*v, a, b);
            }
        }
        let mut s = _mm512_setzero_ps();
        for v in acc {
            s = _mm512_add_ps(s, v);
        }
        _mm512_reduce_add_ps(s)
    }

    /// flop/s of the AVX2/FMA loop, if this CPU has AVX2 and FMA.
    pub fn avx2_rate(seconds: f64) -> Option<f64> {
        if !(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")) {
            return None;
        }
        Some(timed(seconds, |reps| {
            // SAFETY: AVX2 and FMA were detected above.
            black_box(unsafe { fma256(reps * INNER) });
            (reps * INNER * CHAINS * 8 * 2) as f64
        }))
    }

    /// flop/s of the AVX-512 loop, if this CPU has AVX-512F.
    pub fn avx512_rate(seconds: f64) -> Option<f64> {
        if !is_x86_feature_detected!("avx512f") {
            return None;
        }
        Some(timed(seconds, |reps| {
            // SAFETY: AVX-512F was detected above.
            black_box(unsafe { fma512(reps * INNER) });
            (reps * INNER * CHAINS * 16 * 2) as f64
        }))
    }
}

/// Which loop to run on every thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FmaKernel {
    /// `acc · a + b` in plain Rust.
    Portable,
    /// 8-lane `vfmadd` (AVX2 + FMA).
    Avx2,
    /// 16-lane `vfmadd` (AVX-512F).
    Avx512,
}

/// The kernels this CPU can run, fastest-ISA last.
pub fn available_kernels() -> Vec<FmaKernel> {
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut, unused_variables))]
    let mut k = vec![FmaKernel::Portable];
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            k.push(FmaKernel::Avx2);
        }
        if is_x86_feature_detected!("avx512f") {
            k.push(FmaKernel::Avx512);
        }
    }
    k
}

/// flop/s of `kernel` on one thread for `seconds` (`None` if the CPU lacks it).
fn thread_rate(kernel: FmaKernel, seconds: f64) -> Option<f64> {
    match kernel {
        FmaKernel::Portable => Some(portable_rate(seconds)),
        #[cfg(target_arch = "x86_64")]
        FmaKernel::Avx2 => x86::avx2_rate(seconds),
        #[cfg(target_arch = "x86_64")]
        FmaKernel::Avx512 => x86::avx512_rate(seconds),
        #[cfg(not(target_arch = "x86_64"))]
        _ => None,
    }
}

/// GFLOP/s of `kernel` on all threads of the current rayon pool at once, each running for
/// `seconds`: the sum of the threads' rates (they run concurrently, one per pool thread).
pub fn kernel_gflops(kernel: FmaKernel, seconds: f64) -> Option<f64> {
    let rates: Vec<Option<f64>> = rayon::broadcast(|_| thread_rate(kernel, seconds));
    rates.into_iter().sum::<Option<f64>>().map(|r| r / 1e9)
}

/// The peak `f32` GFLOP/s of this machine on all threads of the current rayon pool: the best of the
/// SIMD kernels this CPU has (AVX2/FMA, AVX-512F), or the portable loop when it has none. `seconds`
/// is the time each kernel runs (at least 1 ms; about 0.5 s gives a stable figure).
pub fn peak_gflops(seconds: f64) -> f64 {
    let s = if seconds.is_finite() { seconds.max(1e-3) } else { 0.5 };
    let kernels = available_kernels();
    let simd: Vec<FmaKernel> = kernels.iter().copied().filter(|&k| k != FmaKernel::Portable).collect();
    let run = if simd.is_empty() { kernels } else { simd };
    run.into_iter().filter_map(|k| kernel_gflops(k, s)).fold(0.0, f64::max)
}

/// Bytes per block of the parallel copy.
const BLOCK: usize = 4 << 20;

/// Memory bandwidth in GB/s from the best of `reps` parallel copies of `mib` MiB (on all threads of
/// the current rayon pool), counting bytes read + bytes written (`2 × mib` MiB per copy). Needs
/// `2 × mib` MiB of memory; `mib` is at least 1.
pub fn bandwidth_gbs(mib: usize, reps: usize) -> f64 {
    let words = (mib.max(1) << 20) / 8;
    let block = BLOCK / 8;
    let mut src = vec![0_u64; words];
    let mut dst = vec![0_u64; words];
    // Touch every page of both buffers (a fresh allocation maps the shared zero page until written).
    src.par_chunks_mut(block).enumerate().for_each(|(i, c)| {
        for (j, v) in c.iter_mut().enumerate() {
            *v = (i * block + j) as u64;
        }
    });
    dst.par_chunks_mut(block).for_each(|c| c.fill(1));
    let mut best = f64::INFINITY;
    for _ in 0..reps.max(1) {
        let t0 = Instant::now();
        dst.par_chunks_mut(block).zip(src.par_chunks(block)).for_each(|(d, s)| d.copy_from_slice(s));
        best = best.min(t0.elapsed().as_secs_f64());
        black_box(&mut dst);
    }
    let moved = 2.0 * (words * 8) as f64;
    moved / best / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_is_positive_and_finite() {
        let g = peak_gflops(0.05);
        assert!(g.is_finite() && g > 0.0, "{g}");
        for k in available_kernels() {
            let r = kernel_gflops(k, 0.02).expect("available kernel runs");
            assert!(r.is_finite() && r > 0.0, "{k:?}: {r}");
            eprintln!("{k:?}: {r:.1} GFLOP/s on {} threads", rayon::current_num_threads());
        }
    }

    #[test]
    fn bandwidth_is_positive_and_finite() {
        let b = bandwidth_gbs(16, 2);
        assert!(b.is_finite() && b > 0.0, "{b}");
    }
}
