//! The core's limits on the arguments of the JS API, exported as they are: the JSDoc of `src/`
//! may state a limit, and `test/limits.test.ts` checks every number it states against this
//! export, so that TypeScript holds no copy of a Rust constant that could drift from it.

use attnclust_core::baselines::{MAX_ITER, MAX_N_INIT};
use attnclust_core::data::prior;
use attnclust_core::models::{identity, two_head};
use attnclust_core::population::two_head::MAX_RANK;
use attnclust_core::train;
use napi_derive::napi;

/// The limits the core (or the binding) enforces, each named after the rule it bounds.
#[napi(object)]
pub struct Limits {
    /// Most heads of a `TwoHeadLayer` (model A).
    pub two_head_heads: f64,
    /// Largest token dimension of a `TwoHeadLayer`.
    pub two_head_dim: f64,
    /// Most fresh samples per step of online training (model A).
    pub train_batch: f64,
    /// Largest rank of the heads' (or centroids') span for the population quadrature.
    pub population_rank: f64,
    /// Most centroids of a `MixturePrior`.
    pub prior_k: f64,
    /// Largest dimension of a `MixturePrior`.
    pub prior_dim: f64,
    /// Most draws of a prompt's centroids to meet `minSeparation`.
    pub prior_tries: f64,
    /// Largest `depth` of identity attention.
    pub identity_depth: f64,
    /// Most heads of an `AttentionLayer` (model C).
    pub attention_heads: f64,
    /// Largest `dim`, `dk` or `dv` of an `AttentionLayer`.
    pub attention_width: f64,
    /// Most prompts per step of `AttentionLayer.train`.
    pub attention_batch: f64,
    /// Most tokens per prompt of `AttentionLayer.train`.
    pub attention_length: f64,
    /// Most restarts (`nInit`) of k-means.
    pub n_init: f64,
    /// Largest `maxIter` of k-means and EM.
    pub max_iter: f64,
    /// Most worker threads (`setThreads`).
    pub threads: f64,
    /// Most mixture draws `initFromData` chooses the heads from (`n`).
    pub init_draws: f64,
}

/// The core's limits (see [`Limits`]).
#[napi]
pub fn limits() -> Limits {
    Limits {
        two_head_heads: two_head::MAX_HEADS as f64,
        two_head_dim: two_head::MAX_DIM as f64,
        train_batch: train::two_head::MAX_BATCH as f64,
        population_rank: MAX_RANK as f64,
        prior_k: prior::MAX_K as f64,
        prior_dim: prior::MAX_DIM as f64,
        prior_tries: prior::MAX_REJECTIONS as f64,
        identity_depth: identity::MAX_DEPTH as f64,
        attention_heads: train::attention::MAX_HEADS as f64,
        attention_width: train::attention::MAX_WIDTH as f64,
        attention_batch: train::attention::MAX_BATCH as f64,
        attention_length: train::attention::MAX_LENGTH as f64,
        n_init: MAX_N_INIT as f64,
        max_iter: MAX_ITER as f64,
        threads: f64::from(crate::pool::MAX_THREADS),
        init_draws: train::init::MAX_DRAWS as f64,
    }
}
