//! Model C: multi-head attention forward, backward and training on mixture prompts.

use crate::convert::{Out, Owned};
use crate::job::{guard, CancelToken, Job, OnCancel, Promise};
use attnclust_core::models::attention::{self as attn, Mask, Options, Weights};
use attnclust_core::train::attention::{self as train, Setup};
use attnclust_core::train::optim::{Optimizer, Schedule};
use attnclust_core::{Error as CoreError, Par};
use napi::bindgen_prelude::{Either, Float32Array, Float64Array};
use napi::Env;
use napi_derive::napi;

/// Sizes of the layer: `heads` heads, token dimension `dim`, query/key size `dk`, value size `dv`.
#[napi(object)]
#[derive(Clone)]
pub struct AttentionShape {
    pub heads: u32,
    pub dim: u32,
    pub dk: u32,
    pub dv: u32,
}

/// Options of an attention call.
#[napi(object)]
#[derive(Clone)]
pub struct AttentionOptions {
    pub lambda: f64,
    /// 'none', 'causal' or 'no-self'.
    pub mask: String,
}

fn mask_of(s: &str) -> Result<Mask, CoreError> {
    match s {
        "none" => Ok(Mask::None),
        "causal" => Ok(Mask::Causal),
        "no-self" => Ok(Mask::NoSelf),
        other => Err(CoreError::type_("mask", "'none', 'causal' or 'no-self'", format!("'{other}'"))),
    }
}

fn options(o: &AttentionOptions) -> Result<Options, CoreError> {
    Ok(Options { lambda: o.lambda, mask: mask_of(&o.mask)? })
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
        mask: Mask::None,
        optimizer: Optimizer::Sgd,
        schedule: Schedule::Constant,
        lr: 1.0,
        batch: 1,
        length: 1,
        seed: 0,
    }
}

fn run_forward<T: Out>(
    x: &[T],
    b: u32,
    l: u32,
    shape: &AttentionShape,
    w: &[T],
    o: &AttentionOptions,
) -> Result<Either<Float32Array, Float64Array>, CoreError> {
    let y = attn::forward(x, b as usize, l as usize, &weights(shape, w)?, &options(o)?, Par::Rayon)?;
    Ok(T::out(y))
}

/// `Attn(X)` for `b` prompts of `l` tokens (`x`: `b × l × dim`).
#[napi]
pub fn attention_sync(
    x: Either<Float32Array, Float64Array>,
    b: u32,
    l: u32,
    shape: AttentionShape,
    weights: Either<Float32Array, Float64Array>,
    opts: AttentionOptions,
) -> napi::Result<Either<Float32Array, Float64Array>> {
    guard(|| crate::same_dtype!(&x, &weights, "x", "weights", |x, w| run_forward(x, b, l, &shape, w, &opts)))
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
    Job::spawn(
        &env,
        move || match (&x, &w) {
            (Owned::F32(x), Owned::F32(w)) => run_forward(x, b, l, &shape, w, &opts),
            (Owned::F64(x), Owned::F64(w)) => run_forward(x, b, l, &shape, w, &opts),
            _ => Err(crate::convert::dtype_mismatch("x", "weights")),
        },
        token,
    )
}

/// The forward output and the gradients of `⟨dY, Attn(X)⟩`.
#[napi(object)]
pub struct AttentionGrads {
    pub y: Either<Float32Array, Float64Array>,
    pub dx: Either<Float32Array, Float64Array>,
    /// `[dW_Q | dW_K | dW_V | dW_O]`, laid out like the weights.
    pub dweights: Either<Float32Array, Float64Array>,
}

fn run_backward<T: Out>(x: &[T], b: u32, l: u32, shape: &AttentionShape, w: &[T], dy: &[T], o: &AttentionOptions) -> Result<AttentionGrads, CoreError> {
    let g = attn::backward(x, b as usize, l as usize, &weights(shape, w)?, dy, &options(o)?, Par::Rayon)?;
    Ok(AttentionGrads { y: T::out(g.y), dx: T::out(g.dx), dweights: T::out([g.dwq, g.dwk, g.dwv, g.dwo].concat()) })
}

fn backward_owned(x: &Owned, w: &Owned, dy: &Owned, b: u32, l: u32, shape: &AttentionShape, o: &AttentionOptions) -> Result<AttentionGrads, CoreError> {
    match (x, w, dy) {
        (Owned::F32(x), Owned::F32(w), Owned::F32(dy)) => run_backward(x, b, l, shape, w, dy, o),
        (Owned::F64(x), Owned::F64(w), Owned::F64(dy)) => run_backward(x, b, l, shape, w, dy, o),
        _ => Err(CoreError::type_("weights", "of the float type of `x` and `dy` (all Float32Array or all Float64Array)", "another")),
    }
}

/// Forward output and gradients given the upstream gradient `dy` (shape of `x`).
#[napi]
#[allow(clippy::too_many_arguments)]
pub fn attention_backward_sync(
    x: Either<Float32Array, Float64Array>,
    b: u32,
    l: u32,
    shape: AttentionShape,
    weights: Either<Float32Array, Float64Array>,
    dy: Either<Float32Array, Float64Array>,
    opts: AttentionOptions,
) -> napi::Result<AttentionGrads> {
    let (x, w, dy) = (Owned::copy(&x), Owned::copy(&weights), Owned::copy(&dy));
    guard(|| backward_owned(&x, &w, &dy, b, l, &shape, &opts))
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
    pub shape: AttentionShape,
    pub opts: AttentionOptions,
    pub prior: crate::gmm::PriorSpec,
    pub optimizer: String,
    pub lr: f64,
    pub batch: u32,
    pub length: u32,
    pub seed: f64,
}

/// The state after a run of steps.
#[napi(object)]
pub struct AttentionTrainChunk {
    pub weights: Either<Float32Array, Float64Array>,
    pub state: Float64Array,
    pub losses: Float64Array,
}

fn train_run(spec: &AttentionTrainSpec, w: Owned, mut state: Vec<f64>, start: u64, count: u64) -> Result<AttentionTrainChunk, CoreError> {
    let prior = crate::gmm::build_prior(&spec.prior, "prior.kind")?;
    let optimizer = match spec.optimizer.as_str() {
        "sgd" => Optimizer::Sgd,
        "momentum" => Optimizer::Momentum { beta: 0.9 },
        "adam" => Optimizer::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8 },
        other => return Err(CoreError::type_("optimizer", "'sgd', 'momentum' or 'adam'", format!("'{other}'"))),
    };
    let o = options(&spec.opts)?;
    let setup = Setup {
        lambda: o.lambda,
        mask: o.mask,
        optimizer,
        lr: spec.lr,
        batch: spec.batch as usize,
        length: spec.length as usize,
        seed: spec.seed as u64,
        ..setup_shape(&spec.shape)
    };
    let (weights, losses) = match w {
        Owned::F32(mut v) => {
            let l = train::train(&prior, &setup, &mut v, &mut state, start, count, Par::Rayon)?;
            (f32::out(v), l)
        }
        Owned::F64(mut v) => {
            let l = train::train(&prior, &setup, &mut v, &mut state, start, count, Par::Rayon)?;
            (f64::out(v), l)
        }
    };
    Ok(AttentionTrainChunk { weights, state: Float64Array::new(state), losses: Float64Array::new(losses) })
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
