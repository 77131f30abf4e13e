//! Kernels for attention-based clustering (Maulen-Soto, Marion, Boyer, NeurIPS 2025).
//!
//! One concept per module:
//! - [`gmm`] Gaussian mixtures and their deterministic, thread-independent sampling;
//! - [`prior`] random mixtures, one per prompt (in-context experiments);
//! - [`softmax`] the max-subtracted softmax every model uses;
//! - [`attention`] model C, multi-head softmax attention (tiled, online softmax), forward and backward;
//! - [`heads`] model A, the two-head clustering layer: forward, risk, exact gradient;
//! - [`optim`] and [`train`] its optimisers and training loops (online SGD, full batch);
//! - [`identity`] model B, identity attention `softmax(λXXᵀ)X` with its options;
//! - [`metrics`] alignment, centroid error, quantization ratio, adjusted Rand index;
//! - [`kmeans`] and [`em`] the classical baselines;
//! - [`calibrate`] this machine's peak `f32` FMA throughput and memory bandwidth (for the benchmarks).
//!
//! Every kernel is generic over [`Real`] (`f32`, `f64`) and takes a [`Par`] that says whether it may
//! use rayon. Work is always cut into fixed-size chunks whose results are combined in chunk order, so
//! results do not depend on the number of threads.

pub mod assign;
pub mod attention;
pub mod calibrate;
pub mod em;
pub mod error;
pub mod fastnormal;
pub mod gmm;
pub mod heads;
pub mod heads_chunk;
pub mod init;
pub mod identity;
pub mod kmeans;
pub mod lanes;
pub mod metrics;
pub mod optim;
pub mod par;
pub mod prior;
pub mod real;
pub mod rng;
pub mod simd;
pub mod softmax;
pub mod train;

pub use error::{Error, Result};
pub use par::Par;
pub use real::Real;
