//! Planning beside the kernels: the peak bytes of each entry point (and the overflow bounds of
//! model A), computed by the core functions next to each kernel, with the copies this binding
//! makes added. TypeScript keeps only the policy (the memory limit, the f32 → f64 retry): it holds
//! no copy of a kernel constant (tile sizes, chunk lengths).

use crate::attention::AttentionShape;
use crate::enums::{Dtype, Mask};
use crate::floats;
use crate::job::guard_sized;
use attnclust_core::models::{attention::layer, identity, two_head};
use attnclust_core::train;
use napi_derive::napi;

fn threads() -> napi::Result<usize> {
    Ok(crate::pool::current()?.current_num_threads())
}

/// Peak bytes of identity attention on `b` prompts of `l × d` tokens in `dtype`: the kernel's
/// buffers and per-thread tiles, and the copy of the input the call makes.
#[napi]
pub fn identity_peak_bytes(b: f64, l: f64, d: f64, dtype: Dtype) -> napi::Result<f64> {
    let e = dtype.bytes();
    let copy = b * l * d * e as f64;
    Ok(identity::peak_bytes(b as usize, l as usize, d as usize, e, threads()?) + copy)
}

/// Peak bytes of model C's forward (`backward` false) or backward on `b` prompts of `l` tokens in
/// `dtype`: the kernels' buffers, the copies of `x` and the weights (and of `dy`, and the weight
/// gradients split in JS, for the backward pass).
#[napi]
pub fn attention_peak_bytes(b: f64, l: f64, shape: AttentionShape, dtype: Dtype, backward: bool) -> napi::Result<f64> {
    let e = dtype.bytes();
    let [h, d, dk, dv] = [shape.heads, shape.dim, shape.dk, shape.dv].map(|v| v as usize);
    let n = b * l * d as f64;
    let w = (h * (2 * d * dk + 2 * d * dv)) as f64;
    let copies = if backward { 2.0 * n + 2.0 * w } else { n + w };
    Ok(layer::peak_bytes(b as usize, l as usize, h, d, dk, dv, e, threads()?, backward) + copies * e as f64)
}

/// Peak bytes of a trained model-C layer's weights in `dtype` with their `f64` gradient and
/// optimiser state, once the core has checked its sizes (`train::attention::check_shape`: a
/// RangeError naming `heads`, `dim`, `dk` or `dv`).
#[napi]
pub fn attention_layer_peak_bytes(shape: AttentionShape, dtype: Dtype) -> napi::Result<f64> {
    let [h, d, dk, dv] = [shape.heads, shape.dim, shape.dk, shape.dv].map(|v| v as usize);
    guard_sized(0, || {
        train::attention::check_shape(h, d, dk, dv)?;
        Ok(train::attention::weights_peak_bytes(h, d, dk, dv, dtype.bytes()))
    })
}

/// Peak bytes of one training step of model C on `batch` prompts of `length` tokens from a prior
/// with `k` centroids in dimension `prior_dim`, in `dtype`, once the core has checked the step's
/// sizes (`train::attention::check_step`: a RangeError naming `batch` or `length`, also for fewer
/// than 2 tokens with the mask `'no-self'`) and the prior's dimension
/// (`train::attention::check_prior`: a TypeError naming `prior`), also for a run of 0 steps.
#[napi]
pub fn attention_train_peak_bytes(batch: f64, length: f64, k: f64, prior_dim: f64, shape: AttentionShape, mask: Mask, dtype: Dtype) -> napi::Result<f64> {
    let e = dtype.bytes();
    let [h, d, dk, dv] = [shape.heads, shape.dim, shape.dk, shape.dv].map(|v| v as usize);
    let t = threads()?;
    guard_sized(0, || {
        train::attention::check_step(batch as usize, length as usize, mask.into())?;
        train::attention::check_prior(prior_dim as usize, d)?;
        Ok(train::attention::step_peak_bytes(batch as usize, length as usize, k as usize, h, d, dk, dv, e, t))
    })
}

/// Peak bytes of model A's forward (`outPerToken` 1), risk (0) or gradient (`grad`) over `n` tokens.
#[napi]
pub fn heads_pass_peak_bytes(n: f64, heads: u32, dim: u32, dtype: Dtype, out_per_token: u32, grad: bool) -> napi::Result<f64> {
    Ok(two_head::pass_peak_bytes(n as usize, heads as usize, dim as usize, dtype.bytes(), out_per_token as usize, grad))
}

/// Peak bytes of a training call of model A: online (`n` the batch) or full batch (`n` the sample).
#[napi]
pub fn heads_train_peak_bytes(online: bool, n: f64, heads: u32, dim: u32, dtype: Dtype) -> napi::Result<f64> {
    Ok(train::two_head::peak_bytes(online, n as usize, heads as usize, dim as usize, dtype.bytes(), threads()?))
}

/// Bounds on model A's intermediates (see `two_head::intermediate_bounds`).
#[napi(object)]
pub struct HeadsBounds {
    /// What the kernels form in the layer's type.
    pub in_type: f64,
    /// The `f64` sums over all tokens.
    pub in_f64: f64,
}

/// Bounds on model A's intermediates for tokens of norm ≤ `r`, heads of norm ≤ `t`, `n` tokens.
#[napi]
pub fn heads_bounds(r: f64, t: f64, lambda: f64, heads: u32, n: f64) -> napi::Result<HeadsBounds> {
    guard_sized(0, || {
        let (in_type, in_f64) = two_head::intermediate_bounds(r, t, lambda, heads as usize, n as usize);
        Ok(HeadsBounds { in_type, in_f64 })
    })
}

/// The largest `depth` of identity attention (the core's limit, read by TypeScript rather than copied).
#[napi]
pub fn identity_max_depth() -> u32 {
    identity::MAX_DEPTH as u32
}

/// The largest row norm of the row-major `n × d` array `x` (the input of the overflow bounds the
/// TypeScript layer plans with): one vectorised pass, on the pool's threads for large arrays.
#[napi]
pub fn max_row_norm(#[napi(ts_arg_type = "Float32Array | Float64Array")] x: crate::borrow::FloatsRef, d: u32) -> napi::Result<f64> {
    use crate::enums::AsView as _;
    let d = d as usize;
    guard_sized(x.values(), || floats!([x => v], "x"; Ok(attnclust_core::kernels::real::max_row_norm(v, d, attnclust_core::Par::Rayon))))
}

/// Peak bytes of `kmeans`, `kmeansAsync` or `em` on `n` points of dimension `d` in `dtype` with `k`
/// centres: the core's buffers (`baselines::peak_bytes`) and the copy of the points an async call
/// makes.
#[napi]
pub fn baselines_peak_bytes(n: f64, d: f64, k: f64, dtype: Dtype) -> napi::Result<f64> {
    Ok(attnclust_core::baselines::peak_bytes(n as usize, d as usize, k as usize, threads()?) + n * d * dtype.bytes() as f64)
}

/// Bytes of a `TwoHeadLayer`'s `heads × dim` parameters in `dtype` with their gradient and
/// optimiser state.
#[napi]
pub fn heads_layer_peak_bytes(heads: f64, dim: f64, dtype: Dtype) -> f64 {
    train::two_head::params_peak_bytes(heads as usize, dim as usize, dtype.bytes())
}

/// Peak bytes of `initFromData` on `n` tokens of dimension `dim`: the tokens widened to `f64` by
/// this binding and the core's own buffers (`train::init::data_peak_bytes`).
#[napi]
pub fn init_from_data_peak_bytes(n: f64, dim: f64) -> f64 {
    8.0 * n * dim + train::init::data_peak_bytes(n as usize, dim as usize)
}

/// The stream of the mixture sample `initFromData` draws its heads from (the core's purpose key
/// `rng::purpose::INIT`), so that it differs from the user's streams of the same seed.
#[napi]
pub const INIT_SAMPLE_STREAM: u32 = attnclust_core::data::rng::purpose::INIT as u32;

/// A bound on the magnitude of every standard normal the core's samplers draw
/// (`data::MAX_ABS_NORMAL`): TypeScript refuses an `f32` draw whose coordinates
/// `|μ| + MAX_ABS_NORMAL·σ` would overflow before drawing it, with the core's bound, not a copy.
#[napi]
pub const MAX_ABS_NORMAL: f64 = attnclust_core::data::MAX_ABS_NORMAL;
