//! Data: Gaussian mixtures, priors over mixtures, and the deterministic random streams they draw from
//! (SPEC §1).
//!
//! - [`gmm`]: mixtures with isotropic, diagonal or full covariances, and their sampling;
//! - [`prior`]: random mixtures, one per prompt (in-context experiments);
//! - [`rng`]: generators keyed by `(seed, stream, chunk)`, so draws do not depend on the thread count;
//! - `normals` (internal): standard normals in bulk (Box–Muller on 32-bit words);
//! - `lanes` (internal): eight xoshiro128++ generators side by side, the word source of online-SGD sampling.

pub mod gmm;
pub(crate) mod lanes;
pub(crate) mod normals;
pub mod prior;
pub mod rng;

/// A bound on the magnitude of every standard normal the samplers draw (see `normals::MAX_ABS`):
/// a coordinate of a draw `μ + σ·z` is below `|μ| + MAX_ABS_NORMAL·σ`.
pub use normals::MAX_ABS as MAX_ABS_NORMAL;
