//! Exact population quantities (core `population`): model A's population risk and gradient,
//! gradient descent on it, and identity attention at infinite context.

use crate::convert::{Out, Owned};
use crate::enums::{AsView, Scores};
use crate::errors::{js_names, Names};
use crate::floats;
use crate::gmm::NativeMixture;
use crate::heads::{setup_of, LayerSpec, TrainChunk, TrainSpec};
use crate::job::{guard, CancelToken, Job, OnCancel, Promise};
use crate::out::Typed;
use attnclust_core::population::identity::{limit, limit_ratio};
use attnclust_core::population::two_head::{risk_gradient, Quadrature};
use attnclust_core::train::population::population;
use attnclust_core::Error as CoreError;
use napi::bindgen_prelude::{Either, Float32Array, Float64Array};
use napi::Env;
use napi_derive::napi;

/// How the Gaussian integrals are computed.
#[napi(object)]
#[derive(Clone, Copy)]
pub struct QuadratureSpec {
    /// Gauss–Hermite nodes per dimension; chosen by convergence when absent.
    pub nodes: Option<u32>,
    /// Relative accuracy of the automatic choice (default 1e-12).
    pub tol: Option<f64>,
}

fn quadrature(q: Option<QuadratureSpec>) -> Quadrature {
    let d = Quadrature::default();
    match q {
        None => d,
        Some(q) => Quadrature { nodes: q.nodes.map(|n| n as usize), tol: q.tol.unwrap_or(d.tol) },
    }
}

/// `R(Θ)` and `∇R(Θ)` under the mixture, and how they were computed.
#[napi(object)]
pub struct PopulationResult {
    /// `R(Θ) = E‖x − T_Θ(x)‖²`.
    pub risk: f64,
    /// `H × d`, `f64`.
    #[napi(ts_type = "Float64Array")]
    pub gradient: Typed<f64>,
    /// Rank of `span{θ_h}`: the dimension of the integrals.
    pub rank: u32,
    /// Gauss–Hermite nodes per dimension of the final level.
    pub nodes: u32,
    /// Change between the last two quadrature levels relative to `E‖x‖²` (NaN for fixed nodes).
    pub error: f64,
    /// Whether that change is within the tolerance.
    pub converged: bool,
}

/// `layer.population(gmm)`, `identityAttentionLimit(gmm, x, { lambda })` and
/// `limitQuantizationRatio(gmm, { lambda, quadrature })`'s names for the core's arguments.
const NAMES: Names = &[("mixture", "gmm")];

/// The exact population risk and gradient of model A (isotropic mixtures).
#[napi]
pub fn population_risk_grad(
    mixture: &NativeMixture,
    spec: LayerSpec,
    params: Either<Float32Array, Float64Array>,
    quad: Option<QuadratureSpec>,
) -> napi::Result<PopulationResult> {
    let p = params.to_f64();
    guard(|| {
        let r = risk_gradient(&mixture.inner, &p, spec.heads as usize, spec.lambda, spec.scores.into(), &quadrature(quad), attnclust_core::Par::Rayon)
            .map_err(js_names(NAMES))?;
        Ok(PopulationResult { risk: r.risk, gradient: Typed(r.gradient), rank: r.rank as u32, nodes: r.nodes as u32, error: r.error, converged: r.converged })
    })
}

fn run(
    mix: &attnclust_core::data::gmm::Mixture,
    spec: &TrainSpec,
    params: Owned,
    mut state: Vec<f64>,
    start: u64,
    count: u64,
    q: &Quadrature,
) -> Result<TrainChunk, CoreError> {
    let setup = setup_of(spec);
    let (params, risks) = floats!([params => p], "params"; {
        let mut p = p.to_vec();
        let r = population(mix, &setup, &mut p, &mut state, start, count, q)
            .map_err(js_names(crate::heads::TRAIN_NAMES))
            .map_err(js_names(crate::enums::OPTIM_NAMES))?;
        Ok((Out::out(p), r))
    })?;
    Ok(TrainChunk { params, state: Typed(state), risks: Typed(risks) })
}

/// Steps `start .. start + count` of gradient descent on the exact population risk (off the event
/// loop); same state layout as `trainOnline`.
#[napi(ts_return_type = "Promise<TrainChunk>")]
pub fn train_population(
    env: Env,
    mixture: &NativeMixture,
    spec: TrainSpec,
    params: Either<Float32Array, Float64Array>,
    state: Float64Array,
    start: f64,
    count: u32,
    quad: Option<QuadratureSpec>,
    token: Option<&CancelToken>,
) -> napi::Result<Promise> {
    let (mix, p, st, q) = (mixture.inner.clone(), Owned::copy(&params), state.to_vec(), quadrature(quad));
    Job::spawn_with(&env, move || run(&mix, &spec, p, st, start as u64, u64::from(count), &q), token, OnCancel::Partial)
}

/// `T_∞(x)` for each row of `x` (`n × d`, `f64`): identity attention on an infinite prompt drawn
/// from the mixture.
#[napi]
pub fn identity_attention_limit(mixture: &NativeMixture, x: Float64Array, lambda: f64, scores: Scores) -> napi::Result<Float64Array> {
    guard(|| Ok(Float64Array::new(limit(&mixture.inner, &x, lambda, scores.into()).map_err(js_names(NAMES))?)))
}

/// The limiting quantization ratio and how it was computed.
#[napi(object)]
pub struct LimitRatioResult {
    /// `E‖T_∞(x) − μ_z‖² / E‖x − μ_z‖²`.
    pub ratio: f64,
    /// Rank of the span of the centroids.
    pub rank: u32,
    /// Gauss–Hermite nodes per dimension of the final level.
    pub nodes: u32,
    /// Change between the last two quadrature levels (NaN for fixed nodes).
    pub error: f64,
    /// Whether that change is within the tolerance.
    pub converged: bool,
}

/// `E‖T_∞(x) − μ_z‖² / E‖x − μ_z‖²` (isotropic mixture with one σ).
#[napi]
pub fn limit_quantization_ratio(mixture: &NativeMixture, lambda: f64, scores: Scores, quad: Option<QuadratureSpec>) -> napi::Result<LimitRatioResult> {
    guard(|| {
        let r = limit_ratio(&mixture.inner, lambda, scores.into(), &quadrature(quad)).map_err(js_names(NAMES))?;
        Ok(LimitRatioResult { ratio: r.ratio, rank: r.rank as u32, nodes: r.nodes as u32, error: r.error, converged: r.converged })
    })
}
