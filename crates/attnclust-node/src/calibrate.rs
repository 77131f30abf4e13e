//! Machine calibration for the benchmarks: peak `f32` FMA throughput and memory copy bandwidth,
//! measured on every thread of the attnclust pool (see `attnclust_core::kernels::calibrate`).

use crate::job::guard;
use attnclust_core::kernels::calibrate;
use attnclust_core::Error as CoreError;
use napi_derive::napi;

/// Peak `f32` GFLOP/s of this machine on all threads of the pool: each thread runs an AVX2/FMA
/// (and, if present, AVX-512) loop of independent FMAs for `seconds` (each kernel; 2 flop per lane
/// per FMA); the best kernel's total is returned. Blocks for about `2 × seconds`.
#[napi]
pub fn measure_peak_gflops(seconds: f64) -> napi::Result<f64> {
    guard(move || {
        if !(seconds.is_finite() && (1e-3..=60.0).contains(&seconds)) {
            return Err(CoreError::range("seconds", "in [0.001, 60]", seconds));
        }
        Ok(calibrate::peak_gflops(seconds))
    })
}

/// Memory bandwidth in GB/s: the best of 5 parallel copies of a `mib`-MiB buffer on all threads of
/// the pool, counting bytes read + bytes written (`2 × mib` MiB per copy). Allocates `2 × mib` MiB.
#[napi]
pub fn measure_bandwidth_gbs(mib: u32) -> napi::Result<f64> {
    guard(move || {
        if !(1..=16384).contains(&mib) {
            return Err(CoreError::range("mib", "an integer in [1, 16384]", mib));
        }
        Ok(calibrate::bandwidth_gbs(mib as usize, 5))
    })
}
