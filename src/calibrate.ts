/**
 * Machine calibration, for benchmarks: this machine's peak `f32` FMA throughput and its memory copy
 * bandwidth, measured on all threads of the attnclust pool (`setThreads`). Both calls are
 * synchronous and block the event loop while they run.
 *
 * - `measurePeakGflops(seconds)`: every pool thread runs a loop of independent fused multiply-adds
 *   held in registers (AVX2/FMA, 12 independent 8-lane accumulators per thread; also AVX-512F with
 *   16 lanes when the CPU has it; a portable loop elsewhere) for `seconds` per kernel, counting 2 flop
 *   per lane per FMA; returns the best kernel's total GFLOP/s (1e9 flop/s).
 * - `measureBandwidthGBs(mib)`: the best of 5 parallel copies of a `mib`-MiB buffer into another one,
 *   in GB/s (1e9 bytes/s), counting bytes read + bytes written (STREAM "copy" convention: copying
 *   `N` bytes counts `2N`). Allocates `2 × mib` MiB; use a buffer far larger than the caches
 *   (512 MiB by default).
 *
 * @internal Not exported from the package entry point; used by `bench/`.
 */
import { call } from './errors';
import { native } from './native';
import * as v from './validate';

/** Peak `f32` GFLOP/s on all pool threads; each kernel runs `seconds` (default 0.5). */
export function measurePeakGflops(seconds = 0.5): number {
  // (its range, [0.001, 60], is the addon's rule)
  const s = v.numeric('seconds', seconds);
  return call(() => native.measurePeakGflops(s));
}

/** Copy bandwidth in GB/s (bytes read + written) of a `mib`-MiB buffer (default 512) on all pool threads. */
export function measureBandwidthGBs(mib = 512): number {
  const m = v.u32('mib', mib);
  return call(() => native.measureBandwidthGbs(m));
}
