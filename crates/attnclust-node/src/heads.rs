//! Model A: the two-head layer's forward, risk, gradient, initialisation and training.

use crate::borrow::FloatsRef;
use crate::convert::{FloatsOut, Out, Owned};
use crate::enums::{AsView, Dtype, InitKind, OptimSpec, Scores};
use crate::floats;
use crate::gmm::NativeMixture;
use crate::job::{guard, guard_sized, CancelToken, Job, OnCancel, Promise};
use crate::out::Typed;
use attnclust_core::models::two_head::Layer;
use attnclust_core::train::init::{init_params, Init};
use attnclust_core::train::two_head::{self as train, Setup};
use attnclust_core::{Error as CoreError, Par, Real};
use napi::bindgen_prelude::{Either, Float32Array, Float64Array};
use napi::Env;
use napi_derive::napi;

/// The layer's fixed settings.
#[napi(object)]
#[derive(Clone)]
pub struct LayerSpec {
    /// Number of heads `H ≥ 1`.
    pub heads: u32,
    /// Token dimension `d ≥ 1`.
    pub dim: u32,
    /// Inverse temperature `λ > 0`.
    pub lambda: f64,
    /// How a head scores a token: 'dot' or 'distance'.
    pub scores: Scores,
}

fn layer<'a, T: Real>(spec: &LayerSpec, params: &'a [T]) -> Result<Layer<'a, T>, CoreError> {
    Layer::new(params, spec.heads as usize, spec.dim as usize, spec.lambda, spec.scores.into())
}

/// The work of a pass over `x` (≈ multiply-adds): `n · d · H`.
fn work(spec: &LayerSpec, x: &FloatsRef) -> usize {
    x.values().saturating_mul(spec.heads as usize)
}

/// `T_Θ(x)` for every row of `x` (same float type as `params`).
#[napi(ts_return_type = "Float32Array | Float64Array")]
pub fn heads_forward(
    spec: LayerSpec,
    #[napi(ts_arg_type = "Float32Array | Float64Array")] params: FloatsRef,
    #[napi(ts_arg_type = "Float32Array | Float64Array")] x: FloatsRef,
) -> napi::Result<FloatsOut> {
    guard_sized(work(&spec, &x), || floats!([params => p, x => x], "params", "x"; Ok(Out::out(layer(&spec, p)?.forward(x, Par::Rayon)?))))
}

/// Mean risk `(1/n) Σ ‖x_i − T_Θ(x_i)‖²`.
#[napi]
pub fn heads_risk(
    spec: LayerSpec,
    #[napi(ts_arg_type = "Float32Array | Float64Array")] params: FloatsRef,
    #[napi(ts_arg_type = "Float32Array | Float64Array")] x: FloatsRef,
) -> napi::Result<f64> {
    guard_sized(work(&spec, &x), || floats!([params => p, x => x], "params", "x"; layer(&spec, p)?.risk(x, Par::Rayon)))
}

/// Risk and its exact gradient with respect to the parameters.
#[napi(object)]
pub struct RiskGrad {
    /// Mean risk `(1/n) Σ ‖x_i − T(x_i)‖²`.
    pub risk: f64,
    /// `H × d`, always `f64`.
    #[napi(ts_type = "Float64Array")]
    pub grad: Typed<f64>,
}

/// Mean risk and its gradient.
#[napi]
pub fn heads_risk_grad(
    spec: LayerSpec,
    #[napi(ts_arg_type = "Float32Array | Float64Array")] params: FloatsRef,
    #[napi(ts_arg_type = "Float32Array | Float64Array")] x: FloatsRef,
) -> napi::Result<RiskGrad> {
    guard_sized(work(&spec, &x), || {
        let (risk, grad) = floats!([params => p, x => x], "params", "x"; layer(&spec, p)?.risk_grad(x, Par::Rayon))?;
        Ok(RiskGrad { risk, grad: Typed(grad) })
    })
}

/// Checks a layer's inverse temperature `lambda` by the core's rule
/// (`models::two_head::check_lambda`: positive and finite), when the layer is made rather than
/// when it is first used: a RangeError naming `lambda`.
#[napi]
pub fn check_lambda(lambda: f64) -> napi::Result<()> {
    guard_sized(0, || attnclust_core::models::two_head::check_lambda(lambda))
}

/// Checks the number `n` of mixture draws `initFromData` chooses the heads from, before drawing
/// them (`train::init::check_draws`: an integer in [1, 2^24]): a RangeError naming `n`.
#[napi]
pub fn check_init_draws(n: f64) -> napi::Result<()> {
    guard_sized(0, || attnclust_core::train::init::check_draws(n))
}

/// An initialisation (SPEC §6 `InitSpec`).
#[napi(object)]
pub struct InitSpec {
    /// 'random', 'point' or 'data'.
    pub kind: InitKind,
    /// 'random': standard deviation of each coordinate, `≥ 0`.
    pub scale: Option<f64>,
    /// 'point': the common point (`d` values; default the origin).
    pub at: Option<Vec<f64>>,
    /// 'point': standard deviation of the perturbation, `≥ 0` (default 0).
    pub noise: Option<f64>,
    /// Seed of the draws, an integer in `[0, 2^53)`.
    pub seed: f64,
}

fn init_of(spec: &InitSpec) -> Result<Init, CoreError> {
    let seed = spec.seed as u64;
    match spec.kind {
        InitKind::Random => Ok(Init::Random { scale: spec.scale.ok_or_else(|| CoreError::type_("init.scale", "given for kind 'random'", "undefined"))?, seed }),
        InitKind::Point => Ok(Init::Point { at: spec.at.clone(), noise: spec.noise.unwrap_or(0.0), seed }),
        InitKind::Data => Ok(Init::Data { seed }),
    }
}

/// Initial parameters `H × d` in `dtype`; `data` is needed by kind 'data' (any float type).
#[napi(ts_return_type = "Float32Array | Float64Array")]
pub fn init_heads(spec: InitSpec, heads: u32, dim: u32, dtype: Dtype, data: Option<Either<Float32Array, Float64Array>>) -> napi::Result<FloatsOut> {
    guard(|| {
        let init = init_of(&spec)?;
        let (h, d) = (heads as usize, dim as usize);
        let data64 = data.as_ref().map(AsView::to_f64);
        if let Some(x) = &data64 {
            attnclust_core::models::two_head::check_tokens(x, d.max(1), "source")?;
        }
        // `layer.initFromData(source, { seed })` names its data `source`.
        let p: Vec<f64> = init_params(&init, h, d, data64.as_deref()).map_err(crate::errors::js_names(&[("x", "source"), ("data", "source")]))?;
        Ok(floats!(dtype => T; T::out(p.into_iter().map(T::of).collect())))
    })
}

/// Optimiser, schedule and sampling settings of a training run.
#[napi(object)]
#[derive(Clone)]
pub struct TrainSpec {
    /// The layer's fixed settings.
    pub layer: LayerSpec,
    /// The optimiser (shared with model C's trainer).
    pub optim: OptimSpec,
    /// Samples per online step, in `[1, 2^26]` (ignored by full-batch training).
    pub batch: u32,
    /// Seed of the online samples, an integer in `[0, 2^53)`.
    pub seed: f64,
}

pub(crate) fn setup_of(s: &TrainSpec) -> Setup {
    Setup {
        heads: s.layer.heads as usize,
        dim: s.layer.dim as usize,
        lambda: s.layer.lambda,
        scores: s.layer.scores.into(),
        optim: s.optim.core(),
        batch: s.batch as usize,
        seed: s.seed as u64,
    }
}

/// The state after a run of steps.
#[napi(object)]
pub struct TrainChunk {
    /// The parameters after the completed steps, `H × d`.
    #[napi(ts_type = "Float32Array | Float64Array")]
    pub params: FloatsOut,
    /// Optimiser state, `2 · H · d`.
    #[napi(ts_type = "Float64Array")]
    pub state: Typed<f64>,
    /// Risk before each step of the run.
    #[napi(ts_type = "Float64Array")]
    pub risks: Typed<f64>,
}

/// `layer.train(source, { lr, batch, optimizer, schedule, quadrature })`'s names for the core's
/// arguments: the sample or mixture is `source` (the optimiser's are [`crate::enums::OPTIM_NAMES`]).
pub(crate) const TRAIN_NAMES: crate::errors::Names = &[("x", "source"), ("mixture", "source")];

enum Source {
    Mixture(attnclust_core::data::gmm::Mixture),
    Sample(Owned),
}

fn run(source: &Source, spec: &TrainSpec, params: Owned, state: Vec<f64>, start: u64, count: u64) -> Result<TrainChunk, CoreError> {
    run_unnamed(source, spec, params, state, start, count)
        .map_err(crate::errors::js_names(TRAIN_NAMES))
        .map_err(crate::errors::js_names(crate::enums::OPTIM_NAMES))
}

fn run_unnamed(source: &Source, spec: &TrainSpec, params: Owned, mut state: Vec<f64>, start: u64, count: u64) -> Result<TrainChunk, CoreError> {
    let setup = setup_of(spec);
    let (params, risks) = match source {
        Source::Mixture(m) => floats!([params => p], "params"; {
            let mut p = p.to_vec();
            let risks = train::online(m, &setup, &mut p, &mut state, start, count, Par::Rayon)?;
            Ok((Out::out(p), risks))
        }),
        Source::Sample(x) => floats!([params => p, x => x], "params", "source"; {
            let mut p = p.to_vec();
            let risks = train::full_batch(x, &setup, &mut p, &mut state, start, count, Par::Rayon)?;
            Ok((Out::out(p), risks))
        }),
    }?;
    Ok(TrainChunk { params, state: Typed(state), risks: Typed(risks) })
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
        let setup = setup_of(&spec);
        setup.check()?;
        floats!([params => p], "params"; {
            let layer = Layer::new(p, setup.heads, setup.dim, setup.lambda, setup.scores)?;
            Ok(train::online_gradient(m, &layer, setup.batch, setup.seed, step as u64, Par::Rayon).0)
        })
    })
}
