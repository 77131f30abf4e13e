//! The classical clustering baselines beside each experiment (SPEC §7).
//!
//! - [`kmeans`]: Lloyd's algorithm with a k-means++ start and restarts;
//! - [`em`]: expectation-maximisation for isotropic or diagonal Gaussian mixtures.

pub mod em;
pub mod kmeans;
