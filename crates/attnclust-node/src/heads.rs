//! Model A: the two-head layer's forward, risk, gradient, initialisation and training.

use crate::convert::{self, Out, Owned};
use crate::gmm::NativeMixture;
use crate::job::{guard, guard_sized, CancelToken, Job, OnCancel, Promise};
use crate::same_dtype;
use attnclust_core::models::two_head::Layer;
use attnclust_core::train::init::{init_params, Init};
use attnclust_core::train::optim::{Optimizer, Schedule};
use attnclust_core::train::two_head::{self as train, Setup};
use attnclust_core::{Error as CoreError, Par, Real};
use napi::bindgen_prelude::{Either, Float32Array, Float64Array};
use napi::Env;
use napi_derive::napi;

/// The layer's fixed settings.
#[napi(object)]
#[derive(Clone)]
pub struct LayerSpec {
    pub heads: u32,
    pub dim: u32,
    pub lambda: f64,
    /// 'dot' or 'distance'.
    pub scores: String,
}

fn layer<'a, T: Real>(spec: &LayerSpec, params: &'a [T]) -> Result<Layer<'a, T>, CoreError> {
    Layer::new(params, spec.heads as usize, spec.dim as usize, spec.lambda, convert::scores(&spec.scores)?)
}

/// The work of a pass over `x` (≈ multiply-adds): `n · d · H`.
fn work(spec: &LayerSpec, x: &Either<Float32Array, Float64Array>) -> usize {
    let n = match x {
        Either::A(v) => v.len(),
        Either::B(v) => v.len(),
    };
    n.saturating_mul(spec.heads as usize)
}

/// `T_Θ(x)` for every row of `x` (same float type as `params`).
#[napi]
pub fn heads_forward(
    spec: LayerSpec,
    params: Either<Float32Array, Float64Array>,
    x: Either<Float32Array, Float64Array>,
) -> napi::Result<Either<Float32Array, Float64Array>> {
    guard_sized(work(&spec, &x), || same_dtype!(&params, &x, "params", "x", |p, x| Ok(Out::out(layer(&spec, p)?.forward(x, Par::Rayon)?))))
}

/// Mean risk `(1/n) Σ ‖x_i − T_Θ(x_i)‖²`.
#[napi]
pub fn heads_risk(spec: LayerSpec, params: Either<Float32Array, Float64Array>, x: Either<Float32Array, Float64Array>) -> napi::Result<f64> {
    guard_sized(work(&spec, &x), || same_dtype!(&params, &x, "params", "x", |p, x| layer(&spec, p)?.risk(x, Par::Rayon)))
}

/// Risk and its exact gradient with respect to the parameters.
#[napi(object)]
pub struct RiskGrad {
    pub risk: f64,
    /// `H × d`, always `f64`.
    pub grad: Float64Array,
}

/// Mean risk and its gradient.
#[napi]
pub fn heads_risk_grad(spec: LayerSpec, params: Either<Float32Array, Float64Array>, x: Either<Float32Array, Float64Array>) -> napi::Result<RiskGrad> {
    guard_sized(work(&spec, &x), || {
        let (risk, grad) = same_dtype!(&params, &x, "params", "x", |p, x| layer(&spec, p)?.risk_grad(x, Par::Rayon))?;
        Ok(RiskGrad { risk, grad: Float64Array::new(grad) })
    })
}

/// An initialisation (SPEC §6 `InitSpec`).
#[napi(object)]
pub struct InitSpec {
    /// 'random', 'point' or 'data'.
    pub kind: String,
    pub scale: Option<f64>,
    pub at: Option<Vec<f64>>,
    pub noise: Option<f64>,
    pub seed: f64,
}

fn init_of(spec: &InitSpec) -> Result<Init, CoreError> {
    let seed = spec.seed as u64;
    match spec.kind.as_str() {
        "random" => Ok(Init::Random { scale: spec.scale.ok_or_else(|| CoreError::type_("init.scale", "given for kind 'random'", "undefined"))?, seed }),
        "point" => Ok(Init::Point { at: spec.at.clone(), noise: spec.noise.unwrap_or(0.0), seed }),
        "data" => Ok(Init::Data { seed }),
        other => Err(CoreError::type_("init.kind", "'random', 'point' or 'data'", format!("'{other}'"))),
    }
}

/// Initial parameters `H × d` in `dtype`; `data` is needed by kind 'data' (any float type).
#[napi]
pub fn init_heads(
    spec: InitSpec,
    heads: u32,
    dim: u32,
    dtype: String,
    data: Option<Either<Float32Array, Float64Array>>,
) -> napi::Result<Either<Float32Array, Float64Array>> {
    guard(|| {
        let init = init_of(&spec)?;
        let (h, d) = (heads as usize, dim as usize);
        let data64 = data.as_ref().map(convert::to_f64);
        if let Some(x) = &data64 {
            attnclust_core::models::two_head::check_tokens(x, d.max(1), "source")?;
        }
        // `layer.initFromData(source, { seed })` names its data `source`.
        let p: Vec<f64> = init_params(&init, h, d, data64.as_deref()).map_err(crate::errors::js_names(&[("x", "source"), ("data", "source")]))?;
        Ok(if convert::is_f32(&dtype)? { convert::out_f32(p.into_iter().map(|v| v as f32).collect()) } else { convert::out_f64(p) })
    })
}

/// Optimiser, schedule and sampling settings of a training run.
#[napi(object)]
#[derive(Clone)]
pub struct TrainSpec {
    pub layer: LayerSpec,
    /// 'sgd', 'momentum' or 'adam'.
    pub optimizer: String,
    pub beta: Option<f64>,
    pub beta1: Option<f64>,
    pub beta2: Option<f64>,
    pub eps: Option<f64>,
    /// 'constant', 'cosine' or 'inverse-time'.
    pub schedule: String,
    pub schedule_total: Option<f64>,
    pub schedule_floor: Option<f64>,
    pub schedule_tau: Option<f64>,
    pub lr: f64,
    pub batch: u32,
    pub seed: f64,
}

pub(crate) fn setup_of(s: &TrainSpec) -> Result<Setup, CoreError> {
    let optimizer = match s.optimizer.as_str() {
        "sgd" => Optimizer::Sgd,
        "momentum" => Optimizer::Momentum { beta: s.beta.unwrap_or(0.9) },
        "adam" => Optimizer::Adam { beta1: s.beta1.unwrap_or(0.9), beta2: s.beta2.unwrap_or(0.999), eps: s.eps.unwrap_or(1e-8) },
        other => return Err(CoreError::type_("optimizer", "'sgd', 'momentum' or 'adam'", format!("'{other}'"))),
    };
    let schedule = match s.schedule.as_str() {
        "constant" => Schedule::Constant,
        "cosine" => Schedule::Cosine { total: s.schedule_total.unwrap_or(1.0) as u64, floor: s.schedule_floor.unwrap_or(0.0) },
        "inverse-time" => Schedule::InverseTime { tau: s.schedule_tau.unwrap_or(100.0) },
        other => return Err(CoreError::type_("schedule", "'constant', 'cosine' or 'inverse-time'", format!("'{other}'"))),
    };
    Ok(Setup {
        heads: s.layer.heads as usize,
        dim: s.layer.dim as usize,
        lambda: s.layer.lambda,
        scores: convert::scores(&s.layer.scores)?,
        optimizer,
        schedule,
        lr: s.lr,
        batch: s.batch as usize,
        seed: s.seed as u64,
    })
}

/// The state after a run of steps.
#[napi(object)]
pub struct TrainChunk {
    pub params: Either<Float32Array, Float64Array>,
    /// Optimiser state, `2 · H · d`.
    pub state: Float64Array,
    /// Risk before each step of the run.
    pub risks: Float64Array,
}

/// `layer.train(source, { lr, batch, optimizer, schedule, quadrature })`'s names for the core's
/// arguments: the sample or mixture is `source`, the optimiser's constants are `optimizer.*`.
pub(crate) const TRAIN_NAMES: crate::errors::Names =
    &[("x", "source"), ("mixture", "source"), ("beta", "optimizer.beta"), ("beta1", "optimizer.beta1"), ("beta2", "optimizer.beta2"), ("eps", "optimizer.eps")];

enum Source {
    Mixture(attnclust_core::data::gmm::Mixture),
    Sample(Owned),
}

fn run(source: &Source, spec: &TrainSpec, params: Owned, state: Vec<f64>, start: u64, count: u64) -> Result<TrainChunk, CoreError> {
    run_unnamed(source, spec, params, state, start, count).map_err(crate::errors::js_names(TRAIN_NAMES))
}

fn run_unnamed(source: &Source, spec: &TrainSpec, params: Owned, mut state: Vec<f64>, start: u64, count: u64) -> Result<TrainChunk, CoreError> {
    let setup = setup_of(spec)?;
    fn go<T: Out>(
        src: &Source,
        setup: &Setup,
        mut p: Vec<T>,
        state: &mut [f64],
        start: u64,
        count: u64,
        x: Option<&[T]>,
    ) -> Result<(Either<Float32Array, Float64Array>, Vec<f64>), CoreError> {
        let risks = match (src, x) {
            (Source::Mixture(m), _) => train::online(m, setup, &mut p, state, start, count, Par::Rayon)?,
            (Source::Sample(_), Some(x)) => train::full_batch(x, setup, &mut p, state, start, count, Par::Rayon)?,
            (Source::Sample(_), None) => {
                return Err(CoreError::type_("params", "of the float type of `source` (both Float32Array or both Float64Array)", "another"))
            }
        };
        Ok((T::out(p), risks))
    }
    let (params, risks) = match params {
        Owned::F32(p) => {
            let x = match source {
                Source::Sample(Owned::F32(x)) => Some(&x[..]),
                _ => None,
            };
            go(source, &setup, p, &mut state, start, count, x)?
        }
        Owned::F64(p) => {
            let x = match source {
                Source::Sample(Owned::F64(x)) => Some(&x[..]),
                _ => None,
            };
            go(source, &setup, p, &mut state, start, count, x)?
        }
    };
    Ok(TrainChunk { params, state: Float64Array::new(state), risks: Float64Array::new(risks) })
}

/// Online SGD steps `start .. start + count` on fresh samples of `mixture`, off the event loop.
#[napi(ts_return_type = "Promise<TrainChunk>")]
pub fn train_online(
    env: Env,
    mixture: &NativeMixture,
    spec: TrainSpec,
    params: Either<Float32Array, Float64Array>,
    state: Float64Array,
    start: f64,
    count: u32,
    token: Option<&CancelToken>,
) -> napi::Result<Promise> {
    let (src, p, st) = (Source::Mixture(mixture.inner.clone()), Owned::copy(&params), state.to_vec());
    Job::spawn_with(&env, move || run(&src, &spec, p, st, start as u64, u64::from(count)), token, OnCancel::Partial)
}

/// Full-batch gradient steps on the fixed sample `x` (`n × d`), off the event loop.
#[napi(ts_return_type = "Promise<TrainChunk>")]
pub fn train_full_batch(
    env: Env,
    x: Either<Float32Array, Float64Array>,
    spec: TrainSpec,
    params: Either<Float32Array, Float64Array>,
    state: Float64Array,
    start: f64,
    count: u32,
    token: Option<&CancelToken>,
) -> napi::Result<Promise> {
    let (src, p, st) = (Source::Sample(Owned::copy(&x)), Owned::copy(&params), state.to_vec());
    Job::spawn_with(&env, move || run(&src, &spec, p, st, start as u64, u64::from(count)), token, OnCancel::Partial)
}

/// Synchronous form of [`train_online`] / [`train_full_batch`] (`mixture` or `x`).
#[napi]
pub fn train_sync(
    mixture: Option<&NativeMixture>,
    x: Option<Either<Float32Array, Float64Array>>,
    spec: TrainSpec,
    params: Either<Float32Array, Float64Array>,
    state: Float64Array,
    start: f64,
    count: u32,
) -> napi::Result<TrainChunk> {
    let src = match (mixture, &x) {
        (Some(m), _) => Source::Mixture(m.inner.clone()),
        (None, Some(x)) => Source::Sample(Owned::copy(x)),
        (None, None) => return Err(crate::job::to_js(CoreError::type_("source", "a mixture or a sample", "undefined"))),
    };
    let (p, st) = (Owned::copy(&params), state.to_vec());
    guard(move || run(&src, &spec, p, st, start as u64, u64::from(count)))
}

/// The risk of `params` on the fresh batch that online step `step` would draw (the same fused,
/// chunked sampling as training), without updating anything.
#[napi]
pub fn online_risk(mixture: &NativeMixture, spec: TrainSpec, params: Either<Float32Array, Float64Array>, step: f64) -> napi::Result<f64> {
    let m = &mixture.inner;
    guard(|| {
        let setup = setup_of(&spec)?;
        setup.check()?;
        let (h, d) = (setup.heads, setup.dim);
        match &params {
            Either::A(p) => {
                Ok(train::online_gradient(m, &Layer::new(p, h, d, setup.lambda, setup.scores)?, setup.batch, setup.seed, step as u64, Par::Rayon).0)
            }
            Either::B(p) => {
                Ok(train::online_gradient(m, &Layer::new(p, h, d, setup.lambda, setup.scores)?, setup.batch, setup.seed, step as u64, Par::Rayon).0)
            }
        }
    })
}
