//! Model C: batched multi-head softmax attention, forward and backward.
//!
//! ```text
//! Attn(X) = Σ_h softmax(λ (X W_Q^h)(X W_K^h)ᵀ + mask) (X W_V^h) W_O^h
//! ```
//!
//! with `X ∈ R^{L×d}` per prompt, `W_Q^h, W_K^h ∈ R^{d×dk}`, `W_V^h ∈ R^{d×dv}`, `W_O^h ∈ R^{dv×d}`.
//!
//! - [`flash`]: one head, tiled with an online softmax (never stores `L × L`), forward and backward;
//!   in `f32` with `dk, dv ≤ 64` its forward is the fused small-`d` kernel of
//!   `crate::kernels::attn` (AVX-512F, AVX2/FMA or portable, chosen in [`crate::kernels::simd`]),
//!   whose score contract the backward's recomputed scores follow bit for bit; its backward there is
//!   the fused small-`d` backward of `crate::kernels::attn_bwd` (FlashAttention-2 tiles, no tile
//!   product, the same bits on any thread count);
//! - `online` (internal): the running online-softmax state around each row's dominant key (what keeps the
//!   backward exact when the softmax saturates);
//! - [`crate::kernels::tile`]: the tile products, by the `gemm` crate (SIMD chosen at run time);
//! - [`crate::kernels::exp`]: the vectorised `exp` of the softmax;
//! - [`layer`]: the projections, the heads, the output projection and every gradient, batched;
//! - [`crate::train::attention`]: training the layer on mixture prompts with the reconstruction loss;
//! - `reference` (tests only): a plain version that materialises the softmax, the oracle of the tests.
//!
//! Model B (identity attention) runs on [`flash`] with `Q = K = V = X`.

pub mod flash;
pub mod layer;
pub(crate) mod online;
#[cfg(test)]
pub(crate) mod reference;

pub use flash::Mask;
pub use layer::{backward, forward, Grads, Options, Weights};

#[cfg(test)]
mod fused_bwd_tests;
#[cfg(test)]
mod fused_tests;
#[cfg(test)]
mod saturated_tests;
#[cfg(test)]
mod tests;
