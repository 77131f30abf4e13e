//! The three models of the paper (SPEC §2–4).
//!
//! - [`two_head`]: model A, the two-head clustering layer `T_Θ(x) = Σ_h softmax_h(s_h(x)) θ_h`:
//!   forward, risk and exact gradient (`two_head::chunk` is its fused risk-and-gradient kernel);
//! - [`identity`]: model B, identity attention `Y = softmax(λXXᵀ)X` (in-context quantization);
//! - [`attention`]: model C, batched multi-head softmax attention, forward and backward.

pub mod attention;
pub mod identity;
pub mod two_head;
