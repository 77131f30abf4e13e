//! Kernels for attention-based clustering (Maulen-Soto, Marion, Boyer, NeurIPS 2025,
//! arXiv 2505.13112).
//!
//! The modules follow the concepts of the paper and of the specification (`docs/spec.md`):
//! - [`data`]: Gaussian mixtures, priors over mixtures, deterministic random streams (SPEC §1);
//! - [`models`]: model A (the two-head layer), model B (identity attention), model C (multi-head
//!   softmax attention, forward and backward) (SPEC §2–4);
//! - [`train`]: initialisations, optimisers and schedules, training loops (SPEC §2, §4);
//! - [`baselines`]: k-means and EM (SPEC §7);
//! - [`metrics`]: alignment, centroid error, quantization ratio, adjusted Rand index, and the
//!   Hungarian matching behind them (SPEC §2–3);
//! - [`kernels`]: the float types, parallelism, SIMD dispatch, `exp`, softmax, tile products;
//! - [`population`]: exact population quantities (model A's risk and gradient, identity attention
//!   at infinite context) for isotropic mixtures, by Gauss–Hermite quadrature;
//! - [`error`]: the structured errors every entry point returns.
//!
//! Every kernel is generic over [`Real`] (`f32`, `f64`) and takes a [`Par`] that says whether it may
//! use rayon. Work is always cut into fixed-size chunks whose results are combined in chunk order, so
//! results do not depend on the number of threads.
//!
//! Conventions of every public item:
//! - **Shapes.** Matrices are flat slices in row-major order: an `n × d` matrix `x` holds row `i`
//!   in `x[i·d .. (i+1)·d]`; a batch of `B` prompts of `L` tokens is `B × L × d`; head parameters
//!   `Θ` are `H × d` (row `h` is `θ_h`). Sizes are passed beside the slice and checked against it.
//! - **Units.** Data are in the user's units; `λ` (`lambda`) is an inverse temperature in the
//!   reciprocal of squared data units; `σ` (`sigma`) is a standard deviation in data units (a
//!   variance is named `variances`); risks and losses are mean squared errors (squared units);
//!   `f64` accumulates every reduction, whatever `T`.
//! - **Errors.** A fallible entry point returns [`Result`]: [`crate::ErrorKind::Type`] for a wrong shape or
//!   length (JavaScript `TypeError`), [`crate::ErrorKind::Range`] for a value out of range or a result that
//!   would overflow (`RangeError`), the message naming the argument. Functions documented with a
//!   `# Panics` section assume sizes their caller has checked.
//! - **Cancellation.** Long kernels stop at a chunk boundary when the caller's token is set
//!   ([`kernels::cancel`]); [`kernels::cancel::Cancel::run`] then returns [`crate::ErrorKind::Cancelled`].
//! - **Sources.** The models are those of arXiv 2505.13112 as read by the specification
//!   (`docs/spec.md`, cited as SPEC §n); the exact population quantities are derived in
//!   `docs/population.md`; each module names the reference of the algorithm it implements.

// Every public item says its shapes, units, defaults, errors and sources (clippy -D warnings in
// .ci/run makes a missing docstring an error).
#![warn(missing_docs)]
// House style for numeric kernels: index loops over several arrays at once, `!(x > 0.0)` to refuse
// NaN with the out-of-range values, `max`/`min` rather than `clamp` where NaN must map to a bound,
// heap scratch buffers rather than large stack arrays.
#![allow(clippy::needless_range_loop, clippy::neg_cmp_op_on_partial_ord, clippy::manual_clamp, clippy::useless_vec, clippy::type_complexity)]

pub mod baselines;
pub mod data;
pub mod error;
pub mod kernels;
pub mod metrics;
pub mod models;
pub mod population;
pub mod train;

pub use error::{Error, ErrorKind, Numeric, Result};
pub use kernels::par::Par;
pub use kernels::real::Real;
