//! The classical clustering baselines beside each experiment (SPEC §7).
//!
//! - [`kmeans`]: Lloyd's algorithm with a k-means++ start and restarts;
//! - [`em`]: expectation-maximisation for isotropic or diagonal Gaussian mixtures.

pub mod em;
pub mod kmeans;

/// The largest number of restarts ([`kmeans::KMeansOptions::n_init`]) a call accepts: scikit-learn
/// uses 10; past a thousand a restart count is a mistake (such as a seed passed as `n_init`) that
/// would hold the thread for hours.
pub const MAX_N_INIT: usize = 1000;

/// The largest `max_iter` of [`kmeans::kmeans`] and [`em::em`]: 10⁶ iterations (scikit-learn's
/// defaults are 300 and 100), so that `tol = 0` with an enormous `max_iter` cannot hold the thread
/// for hours.
pub const MAX_ITER: usize = 1_000_000;

/// Peak bytes of [`kmeans::kmeans`] or [`em::em`] on `n` points of dimension `d` with `k` centres,
/// on `threads` threads, beyond the points themselves: per point, its assignment (label and distance,
/// 16 bytes), its k-means++ distance (8), the labels of the best and the current restart (8) and
/// the labels of EM (4) and of the result (4); per centre, the centres, the next centres, the
/// cluster sums and counts (`4 · k · (d + 1)` values of 8 bytes) and, per thread, the partial sums
/// of two chunks in flight (`2 · k · (d + 1)` each). Points far outside `[2^-400, 2^400]` are also
/// rescaled into an `f64` copy (`n · d · 8` more), not counted here.
pub fn peak_bytes(n: usize, d: usize, k: usize, threads: usize) -> f64 {
    let [n, d, k, threads] = [n, d, k, threads].map(|v| v as f64);
    40.0 * n + 8.0 * k * (d + 1.0) * (4.0 + 2.0 * threads)
}
