//! Model C: multi-head attention forward, backward and training on mixture prompts.

use crate::borrow::FloatsRef;
use crate::convert::{FloatsOut, Out, Owned};
use crate::enums::{Mask, OptimSpec};
use crate::floats;
use crate::job::{guard_sized, CancelToken, Job, OnCancel, Promise};
use crate::out::Typed;
use attnclust_core::models::attention::{self as attn, Options, Weights};
use attnclust_core::train::attention::{self as train, Setup};
use attnclust_core::train::optim::Optim;
use attnclust_core::{Error as CoreError, Par};
use napi::bindgen_prelude::{Either, Float32Array, Float64Array};
use napi::Env;
use napi_derive::napi;

/// Sizes of the layer: `heads` heads, token dimension `dim`, query/key size `dk`, value size `dv`.
#[napi(object)]
#[derive(Clone)]
pub struct AttentionShape {
    /// Number of heads `H ≥ 1`.
    pub heads: u32,
    /// Token dimension `d ≥ 1`.
    pub dim: u32,
    /// Query/key size `dk ≥ 1`.
    pub dk: u32,
    /// Value size `dv ≥ 1`.
    pub dv: u32,
}

/// Options of an attention call.
#[napi(object)]
#[derive(Clone)]
pub struct AttentionOptions {
    /// Inverse temperature `λ > 0` multiplying `QKᵀ` (the TypeScript default is `1/√dk`).
    pub lambda: f64,
    /// Which scores are excluded: 'none', 'causal' or 'no-self'.
    pub mask: Mask,
}

fn options(o: &AttentionOptions) -> Result<Options, CoreError> {
    Ok(Options { lambda: o.lambda, mask: o.mask.into() })
}

/// The weights in one flat array `[W_Q | W_K | W_V | W_O]` (as `Setup::weights` lays them out).
fn weights<'a, T>(shape: &AttentionShape, p: &'a [T]) -> Result<Weights<'a, T>, CoreError> {
    let s = setup_shape(shape);
    if p.len() != s.size() {
        return Err(CoreError::type_("weights", format!("H·(2·d·dk + 2·d·dv) = {} values", s.size()), p.len()));
    }
    Ok(s.weights(p))
}

fn setup_shape(shape: &AttentionShape) -> Setup {
    Setup {
        heads: shape.heads as usize,
        dim: shape.dim as usize,
        dk: shape.dk as usize,
        dv: shape.dv as usize,
        lambda: 1.0,
        mask: attnclust_core::models::attention::Mask::None,
        optim: Optim::sgd(1.0),
        batch: 1,
        length: 1,
        seed: 0,
    }
}

fn run_forward<T: Out>(x: &[T], b: u32, l: u32, shape: &AttentionShape, w: &[T], o: &AttentionOptions) -> Result<FloatsOut, CoreError> {
    let y = attn::forward(x, b as usize, l as usize, &weights(shape, w)?, &options(o)?, Par::Rayon)?;
    Ok(T::out(y))
}

/// `Attn(X)` for `b` prompts of `l` tokens (`x`: `b × l × dim`).
#[napi(ts_return_type = "Float32Array | Float64Array")]
pub fn attention_sync(
    #[napi(ts_arg_type = "Float32Array | Float64Array")] x: FloatsRef,
    b: u32,
    l: u32,
    shape: AttentionShape,
    #[napi(ts_arg_type = "Float32Array | Float64Array")] weights: FloatsRef,
    opts: AttentionOptions,
) -> napi::Result<FloatsOut> {
    guard_sized(work(b, l, &shape), || floats!([x => x, weights => w], "x", "weights"; run_forward(x, b, l, &shape, w, &opts)))
}

/// The work of a forward pass (≈ multiply-adds: projections, scores, outputs): small calls run on
/// the calling thread (see `guard_sized`).
fn work(b: u32, l: u32, s: &AttentionShape) -> usize {
    let (b, l, h, d, dk, dv) = (b as usize, l as usize, s.heads as usize, s.dim as usize, s.dk as usize, s.dv as usize);
    let per_token = l.saturating_mul(dk + dv).saturating_add(d.saturating_mul(2 * dk + 2 * dv));
    b.saturating_mul(l).saturating_mul(h).saturating_mul(per_token)
}

/// Async form of [`attention_sync`]; `token` stops it at the next chunk boundary.
#[napi(ts_return_type = "Promise<Float32Array | Float64Array>")]
pub fn attention(
    env: Env,
    x: Either<Float32Array, Float64Array>,
    b: u32,
    l: u32,
    shape: AttentionShape,
    weights: Either<Float32Array, Float64Array>,
    opts: AttentionOptions,
    token: Option<&CancelToken>,
) -> napi::Result<Promise> {
    let (x, w) = (Owned::copy(&x), Owned::copy(&weights));
    Job::spawn(&env, move || floats!([x => x, w => w], "x", "weights"; run_forward(x, b, l, &shape, w, &opts)), token)
}

/// The forward output and the gradients of `⟨dY, Attn(X)⟩`.
#[napi(object)]
pub struct AttentionGrads {
    /// `Attn(X)`, `B × L × d`, the inputs' float type.
    #[napi(ts_type = "Float32Array | Float64Array")]
    pub y: FloatsOut,
    /// `∂/∂X`, `B × L × d`.
    #[napi(ts_type = "Float32Array | Float64Array")]
    pub dx: FloatsOut,
    /// `[dW_Q | dW_K | dW_V | dW_O]`, laid out like the weights.
    #[napi(ts_type = "Float32Array | Float64Array")]
    pub dweights: FloatsOut,
}

fn run_backward<T: Out>(x: &[T], b: u32, l: u32, shape: &AttentionShape, w: &[T], dy: &[T], o: &AttentionOptions) -> Result<AttentionGrads, CoreError> {
    let g = attn::backward(x, b as usize, l as usize, &weights(shape, w)?, dy, &options(o)?, Par::Rayon)?;
    Ok(AttentionGrads { y: T::out(g.y), dx: T::out(g.dx), dweights: T::out([g.dwq, g.dwk, g.dwv, g.dwo].concat()) })
}

fn backward_owned(x: &Owned, w: &Owned, dy: &Owned, b: u32, l: u32, shape: &AttentionShape, o: &AttentionOptions) -> Result<AttentionGrads, CoreError> {
    floats!([x => x, w => w, dy => dy], "x", "weights", "dy"; run_backward(x, b, l, shape, w, dy, o))
}

/// Forward output and gradients given the upstream gradient `dy` (shape of `x`).
#[napi]
#[allow(clippy::too_many_arguments)]
pub fn attention_backward_sync(
    #[napi(ts_arg_type = "Float32Array | Float64Array")] x: FloatsRef,
    b: u32,
    l: u32,
    shape: AttentionShape,
    #[napi(ts_arg_type = "Float32Array | Float64Array")] weights: FloatsRef,
    #[napi(ts_arg_type = "Float32Array | Float64Array")] dy: FloatsRef,
    opts: AttentionOptions,
) -> napi::Result<AttentionGrads> {
    let (s, o) = (&shape, &opts);
    // The backward pass is about three forward passes.
    guard_sized(work(b, l, s).saturating_mul(3), || floats!([x => x, weights => w, dy => dy], "x", "weights", "dy"; run_backward(x, b, l, s, w, dy, o)))
}

/// Async form of [`attention_backward_sync`].
#[napi(ts_return_type = "Promise<AttentionGrads>")]
#[allow(clippy::too_many_arguments)]
pub fn attention_backward(
    env: Env,
    x: Either<Float32Array, Float64Array>,
    b: u32,
    l: u32,
    shape: AttentionShape,
    weights: Either<Float32Array, Float64Array>,
    dy: Either<Float32Array, Float64Array>,
    opts: AttentionOptions,
    token: Option<&CancelToken>,
) -> napi::Result<Promise> {
    let (x, w, dy) = (Owned::copy(&x), Owned::copy(&weights), Owned::copy(&dy));
    Job::spawn(&env, move || backward_owned(&x, &w, &dy, b, l, &shape, &opts), token)
}

/// A training run of model C on prompts of a prior.
#[napi(object)]
#[derive(Clone)]
pub struct AttentionTrainSpec {
    /// The layer's sizes.
    pub shape: AttentionShape,
    /// `λ` and the mask.
    pub opts: AttentionOptions,
    /// The prior the prompts of every step are drawn from.
    pub prior: crate::gmm::PriorSpec,
    /// The optimiser (shared with model A's trainers).
    pub optim: OptimSpec,
    /// Prompts per step, `≥ 1`.
    pub batch: u32,
    /// Tokens per prompt, `≥ 1`.
    pub length: u32,
    /// Seed of the prompts, an integer in `[0, 2^53)`.
    pub seed: f64,
}

/// The state after a run of steps.
#[napi(object)]
pub struct AttentionTrainChunk {
    /// The weights after the completed steps, flat `[W_Q | W_K | W_V | W_O]`.
    #[napi(ts_type = "Float32Array | Float64Array")]
    pub weights: FloatsOut,
    /// Optimiser state, twice the number of weights (`f64`).
    #[napi(ts_type = "Float64Array")]
    pub state: Typed<f64>,
    /// Mean reconstruction loss before each completed step (fewer than asked when cancelled).
    #[napi(ts_type = "Float64Array")]
    pub losses: Typed<f64>,
}

fn train_run(spec: &AttentionTrainSpec, w: Owned, mut state: Vec<f64>, start: u64, count: u64) -> Result<AttentionTrainChunk, CoreError> {
    let prior = crate::gmm::build_prior(&spec.prior)?;
    let o = options(&spec.opts)?;
    let setup = Setup {
        lambda: o.lambda,
        mask: o.mask,
        optim: spec.optim.core(),
        batch: spec.batch as usize,
        length: spec.length as usize,
        seed: spec.seed as u64,
        ..setup_shape(&spec.shape)
    };
    let (weights, losses) = floats!([w => w], "weights"; {
        let mut v = w.to_vec();
        let l = train::train(&prior, &setup, &mut v, &mut state, start, count, Par::Rayon).map_err(crate::errors::js_names(crate::enums::OPTIM_NAMES))?;
        Ok((Out::out(v), l))
    })?;
    Ok(AttentionTrainChunk { weights, state: Typed(state), losses: Typed(losses) })
}

/// Training steps `start .. start + count` with the reconstruction loss, off the event loop.
#[napi(ts_return_type = "Promise<AttentionTrainChunk>")]
pub fn train_attention(
    env: Env,
    spec: AttentionTrainSpec,
    weights: Either<Float32Array, Float64Array>,
    state: Float64Array,
    start: f64,
    count: u32,
    token: Option<&CancelToken>,
) -> napi::Result<Promise> {
    let (w, st) = (Owned::copy(&weights), state.to_vec());
    Job::spawn_with(&env, move || train_run(&spec, w, st, start as u64, u64::from(count)), token, OnCancel::Partial)
}
