//! Gaussian mixtures and priors.

use crate::borrow::{FloatsMut, SliceMut};
use crate::convert::{self, FloatsOut, Out, MAX_VALUES};
use crate::enums::{Dtype, MixtureKind, PriorKind};
use crate::floats;
use crate::job::{guard, guard_sized, CancelToken, Job, Promise};
use crate::out::Typed;
use attnclust_core::data::gmm::Mixture;
use attnclust_core::data::prior::{Prior, Weights};
use attnclust_core::{Error as CoreError, Par};
use napi::Env;
use napi_derive::napi;

/// A mixture's parameters, as checked by the TypeScript layer.
#[napi(object)]
pub struct MixtureSpec {
    /// 'isotropic', 'diagonal' or 'full'.
    pub kind: MixtureKind,
    /// Number of components `K ≥ 1`.
    pub k: u32,
    /// Dimension `d ≥ 1`.
    pub dim: u32,
    /// `K × d` means, row-major.
    pub means: Vec<f64>,
    /// Isotropic: one `σ` or one per component.
    pub sigma: Option<Vec<f64>>,
    /// Diagonal: `K × d` variances.
    pub variances: Option<Vec<f64>>,
    /// Full: `K × d × d` covariances.
    pub covariances: Option<Vec<f64>>,
    /// `K` positive weights summing to 1 within 1e-6 (default uniform).
    pub weights: Option<Vec<f64>>,
}

/// Samples and their components.
#[napi(object)]
pub struct Sample {
    /// `n × d`.
    #[napi(ts_type = "Float32Array | Float64Array")]
    pub x: FloatsOut,
    /// The component of each draw (`n`, each `< K`).
    #[napi(ts_type = "Uint32Array")]
    pub labels: Typed<u32>,
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
    match spec.kind {
        MixtureKind::Isotropic => Mixture::isotropic(spec.means, k, d, &need(spec.sigma, "sigma", "isotropic")?, spec.weights),
        MixtureKind::Diagonal => Mixture::diagonal(spec.means, k, d, &need(spec.variances, "variances", "diagonal")?, spec.weights),
        MixtureKind::Full => Mixture::full(spec.means, k, d, &need(spec.covariances, "covariances", "full")?, spec.weights),
    }
}

fn sample(m: &Mixture, n: usize, seed: u64, stream: u64, dtype: Dtype) -> Result<Sample, CoreError> {
    convert::product(&[n, m.dim], MAX_VALUES, "n", "the sample (n × d)")?;
    let (x, labels) = floats!(dtype => T; {
        let (x, l) = m.sample::<T>(n, seed, stream, Par::Rayon);
        (T::out(x), l)
    });
    Ok(Sample { x, labels: Typed(labels) })
}

#[napi]
impl NativeMixture {
    /// Builds the mixture; the core checks every value (`TypeError` for a wrong length,
    /// `RangeError` for a value out of range, a non-positive-definite covariance or weights that
    /// do not sum to 1).
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
    pub fn sample_sync(&self, n: u32, seed: f64, stream: f64, dtype: Dtype) -> napi::Result<Sample> {
        let m = &self.inner;
        guard_sized((n as usize).saturating_mul(m.dim * 8), || sample(m, n as usize, seed as u64, stream as u64, dtype))
    }

    /// `sample_sync` into arrays the caller allocated: `x` (`n × d`, its type the dtype) and
    /// `labels` (`n`), for small draws (see [`crate::borrow::SliceMut`]).
    #[napi]
    pub fn sample_into_sync(
        &self,
        #[napi(ts_arg_type = "Float32Array | Float64Array")] mut x: FloatsMut,
        #[napi(ts_arg_type = "Uint32Array")] mut labels: SliceMut<u32>,
        seed: f64,
        stream: f64,
    ) -> napi::Result<()> {
        let m = &self.inner;
        let n = labels.len();
        let values = x.len();
        if values != n.saturating_mul(m.dim) {
            return Err(crate::errors::to_js(CoreError::type_("x", format!("{n} × {} values", m.dim), format!("{values} values"))));
        }
        guard_sized(values.saturating_mul(8), || {
            convert::product(&[n, m.dim], MAX_VALUES, "n", "the sample (n × d)")?;
            floats!([], mut [x => x], "x"; {
                m.sample_into(x, &mut labels, seed as u64, stream as u64, Par::Rayon);
                Ok(())
            })
        })
    }

    /// `n` samples drawn from `(seed, stream)`, off the event loop.
    #[napi(ts_return_type = "Promise<Sample>")]
    pub fn sample(&self, env: Env, n: u32, seed: f64, stream: f64, dtype: Dtype, token: Option<&CancelToken>) -> napi::Result<Promise> {
        let m = self.inner.clone();
        Job::spawn(&env, move || sample(&m, n as usize, seed as u64, stream as u64, dtype), token)
    }
}

/// A prior over mixtures, one per prompt.
#[napi(object)]
#[derive(Clone)]
pub struct PriorSpec {
    /// 'sphere' (centroids uniform on the sphere of radius `size`) or 'gaussian' (`size · N(0, I)`).
    pub kind: PriorKind,
    /// Components per prompt `K`, in `[1, 65536]`.
    pub k: u32,
    /// Dimension `d`, in `[1, 2^20]`.
    pub dim: u32,
    /// Sphere radius or Gaussian scale of the centroids, `≥ 0`, in data units.
    pub size: f64,
    /// Noise standard deviation `σ ≥ 0`.
    pub sigma: f64,
    /// Smallest distance between two centroids of a prompt, `≥ 0` (rejection sampling).
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
    #[napi(ts_type = "Float32Array | Float64Array")]
    pub x: FloatsOut,
    /// `B × L`.
    #[napi(ts_type = "Uint32Array")]
    pub labels: Typed<u32>,
    /// `B × K × d`.
    #[napi(ts_type = "Float32Array | Float64Array")]
    pub means: FloatsOut,
    /// `B × K`: each prompt's mixture weights.
    #[napi(ts_type = "Float64Array")]
    pub weights: Typed<f64>,
}

/// The core prior of a spec.
pub fn build_prior(spec: &PriorSpec) -> Result<Prior, CoreError> {
    let centroids = spec.kind.centroids(spec.size);
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

fn prompts(spec: &PriorSpec, batch: usize, length: usize, seed: u64, dtype: Dtype) -> Result<Prompts, CoreError> {
    draw_prompts(&build_prior(spec)?, batch, length, seed, dtype)
}

fn draw_prompts(prior: &Prior, batch: usize, length: usize, seed: u64, dtype: Dtype) -> Result<Prompts, CoreError> {
    convert::product(&[batch, length, prior.dim], MAX_VALUES, "batch", "the prompts (batch × length × d)")?;
    convert::product(&[batch, prior.k, prior.dim], MAX_VALUES, "batch", "their centroids (batch × k × d)")?;
    Ok(floats!(dtype => T; {
        let p = prior.sample_prompts::<T>(batch, length, seed, Par::Rayon).map_err(crate::errors::js_names(&[("min_separation", "minSeparation")]))?;
        Prompts { x: T::out(p.x), labels: Typed(p.labels), means: T::out(p.means), weights: Typed(p.weights) }
    }))
}

/// The work of drawing prompts (≈ flop): small draws run on the calling thread (see `guard_sized`).
fn prompts_work(k: usize, dim: usize, batch: u32, length: u32) -> usize {
    let per = (length as usize).saturating_add(k).saturating_mul(dim.saturating_add(1)).saturating_mul(8);
    (batch as usize).saturating_mul(per)
}

/// A prior held in Rust: checked and built once, then drawn from many times.
#[napi]
pub struct NativePrior {
    inner: Prior,
}

#[napi]
impl NativePrior {
    /// The prior of `spec`; the core checks every value (`TypeError` for a wrong length or both
    /// `weights` and `dirichlet`, `RangeError` for a value out of range).
    #[napi(constructor)]
    pub fn new(spec: PriorSpec) -> napi::Result<Self> {
        guard_sized(0, || build_prior(&spec)).map(|inner| NativePrior { inner })
    }

    /// `batch` prompts of `length` tokens, each from its own mixture drawn from the prior.
    #[napi]
    pub fn sample_prompts_sync(&self, batch: u32, length: u32, seed: f64, dtype: Dtype) -> napi::Result<Prompts> {
        let p = &self.inner;
        guard_sized(prompts_work(p.k, p.dim, batch, length), || draw_prompts(p, batch as usize, length as usize, seed as u64, dtype))
    }

    /// Peak bytes of drawing `batch` prompts of `length` tokens in `dtype` (the arrays returned).
    #[napi]
    pub fn sample_prompts_peak_bytes(&self, batch: f64, length: f64, dtype: Dtype) -> f64 {
        self.inner.sample_prompts_peak_bytes(batch as usize, length as usize, dtype.bytes())
    }

    /// `sample_prompts_sync` into arrays the caller allocated for `batch` prompts of `length`
    /// tokens: `x` (`batch × length × d`) and `means` (`batch × K × d`), their type the dtype,
    /// `labels` (`batch × length`) and `weights` (`batch × K`); for small draws (see
    /// [`crate::borrow::SliceMut`]).
    #[napi]
    #[allow(clippy::too_many_arguments)]
    pub fn sample_prompts_into_sync(
        &self,
        #[napi(ts_arg_type = "Float32Array | Float64Array")] mut x: FloatsMut,
        #[napi(ts_arg_type = "Uint32Array")] mut labels: SliceMut<u32>,
        #[napi(ts_arg_type = "Float32Array | Float64Array")] mut means: FloatsMut,
        #[napi(ts_arg_type = "Float64Array")] mut weights: SliceMut<f64>,
        batch: u32,
        length: u32,
        seed: f64,
    ) -> napi::Result<()> {
        let p = &self.inner;
        let (b, l) = (batch as usize, length as usize);
        let want = [b.saturating_mul(l).saturating_mul(p.dim), b.saturating_mul(l), b.saturating_mul(p.k).saturating_mul(p.dim), b.saturating_mul(p.k)];
        let got = [x.len(), labels.len(), means.len(), weights.len()];
        if want != got {
            let e = CoreError::type_("x", format!("arrays of {want:?} values for {b} prompts of {l} tokens"), format!("{got:?}"));
            return Err(crate::errors::to_js(e));
        }
        guard_sized(prompts_work(p.k, p.dim, batch, length), || {
            convert::product(&[b, l, p.dim], MAX_VALUES, "batch", "the prompts (batch × length × d)")?;
            convert::product(&[b, p.k, p.dim], MAX_VALUES, "batch", "their centroids (batch × k × d)")?;
            let names = crate::errors::js_names(&[("min_separation", "minSeparation")]);
            floats!([], mut [x => x, means => m], "x", "means"; p.sample_prompts_into(x, &mut labels, m, &mut weights, seed as u64, Par::Rayon)).map_err(names)
        })
    }
}

/// `batch` prompts of `length` tokens, each from its own mixture drawn from the prior, off the
/// event loop (the sync form is [`NativePrior::sample_prompts_sync`]).
#[napi(ts_return_type = "Promise<Prompts>")]
pub fn sample_prompts(env: Env, spec: PriorSpec, batch: u32, length: u32, seed: f64, dtype: Dtype, token: Option<&CancelToken>) -> napi::Result<Promise> {
    Job::spawn(&env, move || prompts(&spec, batch as usize, length as usize, seed as u64, dtype), token)
}
