//! Gaussian mixtures and priors.

use crate::convert::{self, is_f32, out_f32, out_f64, MAX_VALUES};
use crate::job::{guard, guard_sized, CancelToken, Job, Promise};
use attnclust_core::data::gmm::Mixture;
use attnclust_core::data::prior::{Centroids, Prior, Weights};
use attnclust_core::{Error as CoreError, Par};
use napi::bindgen_prelude::{Either, Float32Array, Float64Array, Uint32Array};
use napi::Env;
use napi_derive::napi;

/// A mixture's parameters, as checked by the TypeScript layer.
#[napi(object)]
pub struct MixtureSpec {
    /// 'isotropic', 'diagonal' or 'full'.
    pub kind: String,
    pub k: u32,
    pub dim: u32,
    /// `K × d` means, row-major.
    pub means: Vec<f64>,
    /// Isotropic: one `σ` or one per component.
    pub sigma: Option<Vec<f64>>,
    /// Diagonal: `K × d` variances.
    pub variances: Option<Vec<f64>>,
    /// Full: `K × d × d` covariances.
    pub covariances: Option<Vec<f64>>,
    pub weights: Option<Vec<f64>>,
}

/// Samples and their components.
#[napi(object)]
pub struct Sample {
    /// `n × d`.
    pub x: Either<Float32Array, Float64Array>,
    pub labels: Uint32Array,
}

/// A Gaussian mixture held in Rust.
#[napi]
pub struct NativeMixture {
    pub(crate) inner: Mixture,
}

fn need(v: Option<Vec<f64>>, name: &str, kind: &str) -> Result<Vec<f64>, CoreError> {
    v.ok_or_else(|| CoreError::type_(name, format!("given for a {kind} mixture"), "undefined"))
}

pub fn build_mixture(spec: MixtureSpec) -> Result<Mixture, CoreError> {
    let (k, d) = (spec.k as usize, spec.dim as usize);
    match spec.kind.as_str() {
        "isotropic" => Mixture::isotropic(spec.means, k, d, &need(spec.sigma, "sigma", "isotropic")?, spec.weights),
        "diagonal" => Mixture::diagonal(spec.means, k, d, &need(spec.variances, "variances", "diagonal")?, spec.weights),
        "full" => Mixture::full(spec.means, k, d, &need(spec.covariances, "covariances", "full")?, spec.weights),
        other => Err(CoreError::type_("kind", "'isotropic', 'diagonal' or 'full'", format!("'{other}'"))),
    }
}

fn sample(m: &Mixture, n: usize, seed: u64, stream: u64, f32: bool) -> Result<Sample, CoreError> {
    convert::product(&[n, m.dim], MAX_VALUES, "n", "the sample (n × d)")?;
    let (x, labels) = if f32 {
        let (x, l) = m.sample::<f32>(n, seed, stream, Par::Rayon);
        (out_f32(x), l)
    } else {
        let (x, l) = m.sample::<f64>(n, seed, stream, Par::Rayon);
        (out_f64(x), l)
    };
    Ok(Sample { x, labels: Uint32Array::new(labels) })
}

#[napi]
impl NativeMixture {
    #[napi(constructor)]
    pub fn new(spec: MixtureSpec) -> napi::Result<Self> {
        guard(|| build_mixture(spec)).map(|inner| NativeMixture { inner })
    }

    /// Normalised weights.
    #[napi(getter)]
    pub fn weights(&self) -> Vec<f64> {
        self.inner.weights.clone()
    }

    /// `n` samples drawn from `(seed, stream)`.
    #[napi]
    pub fn sample_sync(&self, n: u32, seed: f64, stream: f64, dtype: String) -> napi::Result<Sample> {
        let m = &self.inner;
        guard_sized((n as usize).saturating_mul(m.dim * 8), || sample(m, n as usize, seed as u64, stream as u64, is_f32(&dtype)?))
    }

    /// `n` samples drawn from `(seed, stream)`, off the event loop.
    #[napi(ts_return_type = "Promise<Sample>")]
    pub fn sample(&self, env: Env, n: u32, seed: f64, stream: f64, dtype: String, token: Option<&CancelToken>) -> napi::Result<Promise> {
        let m = self.inner.clone();
        Job::spawn(&env, move || sample(&m, n as usize, seed as u64, stream as u64, is_f32(&dtype)?), token)
    }
}

/// A prior over mixtures, one per prompt.
#[napi(object)]
#[derive(Clone)]
pub struct PriorSpec {
    /// 'sphere' (centroids uniform on the sphere of radius `size`) or 'gaussian' (`size · N(0, I)`).
    pub kind: String,
    pub k: u32,
    pub dim: u32,
    pub size: f64,
    pub sigma: f64,
    pub min_separation: f64,
    /// Fixed mixture weights (`K`, summing to 1), the same for every prompt.
    pub weights: Option<Vec<f64>>,
    /// Dirichlet concentrations (1 or `K`): weights drawn per prompt.
    pub dirichlet: Option<Vec<f64>>,
}

/// Prompts drawn from a prior.
#[napi(object)]
pub struct Prompts {
    /// `B × L × d`.
    pub x: Either<Float32Array, Float64Array>,
    /// `B × L`.
    pub labels: Uint32Array,
    /// `B × K × d`.
    pub means: Either<Float32Array, Float64Array>,
    /// `B × K`: each prompt's mixture weights.
    pub weights: Float64Array,
}

/// The core prior of a spec (`kind` named `name`).
pub fn build_prior(spec: &PriorSpec, name: &str) -> Result<Prior, CoreError> {
    let centroids = match spec.kind.as_str() {
        "sphere" => Centroids::Sphere { radius: spec.size },
        "gaussian" => Centroids::Gaussian { scale: spec.size },
        other => return Err(CoreError::type_(name, "'sphere' or 'gaussian'", format!("'{other}'"))),
    };
    let weights = match (&spec.weights, &spec.dirichlet) {
        (None, None) => Weights::Equal,
        (Some(w), None) => Weights::Fixed(w.clone()),
        (None, Some(a)) => Weights::Dirichlet(a.clone()),
        (Some(_), Some(_)) => return Err(CoreError::type_("weights", "fixed weights or `{ dirichlet }`", "both")),
    };
    // `MixturePrior.sphere({ k, dim, radius, sigma, minSeparation, weights })`'s names.
    const NAMES: crate::errors::Names = &[("min_separation", "minSeparation")];
    Prior::new(spec.k as usize, spec.dim as usize, centroids, spec.sigma, spec.min_separation)
        .and_then(|p| p.with_weights(weights))
        .map_err(crate::errors::js_names(NAMES))
}

fn prompts(spec: &PriorSpec, batch: usize, length: usize, seed: u64, f32: bool) -> Result<Prompts, CoreError> {
    let prior = build_prior(spec, "kind")?;
    convert::product(&[batch, length, prior.dim], MAX_VALUES, "batch", "the prompts (batch × length × d)")?;
    convert::product(&[batch, prior.k, prior.dim], MAX_VALUES, "batch", "their centroids (batch × k × d)")?;
    Ok(if f32 {
        let p = prior.sample_prompts::<f32>(batch, length, seed, Par::Rayon).map_err(crate::errors::js_names(&[("min_separation", "minSeparation")]))?;
        Prompts { x: out_f32(p.x), labels: Uint32Array::new(p.labels), means: out_f32(p.means), weights: Float64Array::new(p.weights) }
    } else {
        let p = prior.sample_prompts::<f64>(batch, length, seed, Par::Rayon).map_err(crate::errors::js_names(&[("min_separation", "minSeparation")]))?;
        Prompts { x: out_f64(p.x), labels: Uint32Array::new(p.labels), means: out_f64(p.means), weights: Float64Array::new(p.weights) }
    })
}

/// `batch` prompts of `length` tokens, each from its own mixture drawn from the prior.
#[napi]
pub fn sample_prompts_sync(spec: PriorSpec, batch: u32, length: u32, seed: f64, dtype: String) -> napi::Result<Prompts> {
    guard(|| prompts(&spec, batch as usize, length as usize, seed as u64, is_f32(&dtype)?))
}

/// Async form of [`sample_prompts_sync`].
#[napi(ts_return_type = "Promise<Prompts>")]
pub fn sample_prompts(env: Env, spec: PriorSpec, batch: u32, length: u32, seed: f64, dtype: String, token: Option<&CancelToken>) -> napi::Result<Promise> {
    Job::spawn(&env, move || prompts(&spec, batch as usize, length as usize, seed as u64, is_f32(&dtype)?), token)
}
