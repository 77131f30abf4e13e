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
