//! Numerical building blocks shared by the models.
//!
//! - [`real`]: the float types (`f32`, `f64`) every kernel is generic over;
//! - [`par`]: parallelism as an argument (`Par::Seq` / `Par::Rayon`), fixed-size chunks;
//! - [`cancel`]: the cancellation token the chunk engine checks at every chunk boundary;
//! - [`simd`]: hand-written AVX2/FMA inner products and updates, chosen at run time, with portable fallbacks;
//! - `attn`: the fused small-`d` attention forward (`f32`) and its score contract;
//! - `attn_bwd`: the fused small-`d` attention backward (`f32`), on the same contract;
//! - `attn_diff`: identity attention with distance scores from the differences `x_i − x_j` (`f64`, any `λ`);
//! - `attn_short`: identity attention of a short prompt (`f32`, `L ≤ 128`, small `d`) in L1, exact row maxima;
//! - `attn_sym`: symmetric identity attention (`f32`, small `d`, bounded `λ‖x‖²`): each pair scored once;
//! - [`exp`]: the vectorised `exp(s − m)` and its sum, the inner step of every softmax;
//! - [`softmax`]: the max-subtracted softmax;
//! - [`tile`]: strided tile products `C := α·C + β·A·B` by the `gemm` crate;
//! - [`calibrate`]: this machine's peak `f32` FMA throughput and memory bandwidth (for the benchmarks).

pub(crate) mod attn;
pub(crate) mod attn_bwd;
pub(crate) mod attn_diff;
pub(crate) mod attn_short;
pub(crate) mod attn_sym;
pub mod calibrate;
pub mod cancel;
pub mod exp;
pub mod par;
pub mod real;
pub mod simd;
pub mod softmax;
pub mod tile;
