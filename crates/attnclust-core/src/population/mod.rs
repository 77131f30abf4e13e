//! Exact population quantities for isotropic Gaussian mixtures: no sampling noise.
//!
//! - [`two_head`]: the population risk `R(Θ) = E‖x − T_Θ(x)‖²` of model A and its exact gradient,
//!   reduced to Gaussian integrals over the span of the heads (rank `≤` [`two_head::MAX_RANK`]);
//! - [`identity`]: the infinite-context limit of identity attention (model B), `T_∞(x)`, in closed
//!   form, and its quantization ratio;
//! - [`hermite`]: the Gauss–Hermite rules behind the integrals; [`basis`]: the orthonormal basis of
//!   a span.
//!
//! The derivations are in `docs/population.md`.

pub mod basis;
pub mod hermite;
pub mod identity;
pub mod two_head;
