//! Baselines: k-means (k-means++ start, Lloyd) and EM for isotropic or diagonal mixtures.

use crate::convert::Out;
use crate::errors::{js_names, Names};
use crate::job::{guard, CancelToken, Job, Promise};
use attnclust_core::baselines::em::{em as run_em, EmCovariance, EmOptions};
use attnclust_core::baselines::kmeans::{kmeans as run_kmeans, KMeansOptions};
use attnclust_core::{Error as CoreError, Par};
use napi::bindgen_prelude::{Either, Float32Array, Float64Array, Uint32Array};
use napi::Env;
use napi_derive::napi;

/// Options of k-means; an option left out takes the core's default (`KMeansOptions::new`).
#[napi(object)]
pub struct KMeansSpec {
    pub k: u32,
    pub seed: f64,
    /// Restarts (default 4).
    pub n_init: Option<u32>,
    /// Lloyd iterations per restart (default 300).
    pub max_iter: Option<u32>,
    /// Relative centre-shift tolerance (default 1e-4).
    pub tol: Option<f64>,
}

/// A k-means fit.
#[napi(object)]
pub struct KMeansFit {
    /// `k × d`, same float type as the input.
    pub centers: Either<Float32Array, Float64Array>,
    pub labels: Uint32Array,
    pub inertia: f64,
    pub iterations: u32,
}

/// `kmeans(x, k, { nInit, maxIter, tol })` and `em(x, k, { maxIter, tol, reg })`'s names for the
/// core's arguments (`d` is the width of `x`).
const NAMES: Names = &[("d", "x"), ("n_init", "nInit"), ("max_iter", "maxIter")];

fn fit_kmeans<T: Out>(x: &[T], d: u32, s: &KMeansSpec) -> Result<KMeansFit, CoreError> {
    let d0 = KMeansOptions::new(s.k as usize, s.seed as u64);
    let o = KMeansOptions {
        n_init: s.n_init.map_or(d0.n_init, |v| v as usize),
        max_iter: s.max_iter.map_or(d0.max_iter, |v| v as usize),
        tol: s.tol.unwrap_or(d0.tol),
        ..d0
    };
    let r = run_kmeans(x, d as usize, &o, Par::Rayon).map_err(js_names(NAMES))?;
    Ok(KMeansFit { centers: T::out(r.centers), labels: Uint32Array::new(r.labels), inertia: r.inertia, iterations: r.iterations as u32 })
}

/// k-means on the rows of `x` (`n × d`).
#[napi]
pub fn kmeans_sync(x: Either<Float32Array, Float64Array>, d: u32, spec: KMeansSpec) -> napi::Result<KMeansFit> {
    guard(|| match &x {
        Either::A(v) => fit_kmeans::<f32>(v, d, &spec),
        Either::B(v) => fit_kmeans::<f64>(v, d, &spec),
    })
}

/// Async form of [`kmeans_sync`]; `token` stops it within one pass over the points.
#[napi(ts_return_type = "Promise<KMeansFit>")]
pub fn kmeans(env: Env, x: Either<Float32Array, Float64Array>, d: u32, spec: KMeansSpec, token: Option<&CancelToken>) -> napi::Result<Promise> {
    let x = crate::convert::Owned::copy(&x);
    Job::spawn(
        &env,
        move || match &x {
            crate::convert::Owned::F32(v) => fit_kmeans::<f32>(v, d, &spec),
            crate::convert::Owned::F64(v) => fit_kmeans::<f64>(v, d, &spec),
        },
        token,
    )
}

/// Options of EM.
#[napi(object)]
pub struct EmSpec {
    pub k: u32,
    pub seed: f64,
    /// 'isotropic' or 'diagonal'.
    pub covariance: String,
    /// An option left out takes the core's default (`EmOptions::new`: 200, 1e-6, 1e-6).
    pub max_iter: Option<u32>,
    pub tol: Option<f64>,
    pub reg: Option<f64>,
}

/// An EM fit.
#[napi(object)]
pub struct EmFit {
    pub weights: Vec<f64>,
    /// `K × d`.
    pub means: Either<Float32Array, Float64Array>,
    /// `K` (isotropic) or `K × d` (diagonal).
    pub variances: Either<Float32Array, Float64Array>,
    pub labels: Uint32Array,
    /// Mean log-likelihood per point.
    pub log_likelihood: f64,
    pub iterations: u32,
}

fn fit_em<T: Out>(x: &[T], d: u32, s: &EmSpec) -> Result<EmFit, CoreError> {
    let covariance = match s.covariance.as_str() {
        "isotropic" => EmCovariance::Isotropic,
        "diagonal" => EmCovariance::Diagonal,
        other => return Err(CoreError::type_("covariance", "'isotropic' or 'diagonal'", format!("'{other}'"))),
    };
    let d0 = EmOptions::new(s.k as usize, s.seed as u64);
    let o =
        EmOptions { covariance, max_iter: s.max_iter.map_or(d0.max_iter, |v| v as usize), tol: s.tol.unwrap_or(d0.tol), reg: s.reg.unwrap_or(d0.reg), ..d0 };
    let r = run_em(x, d as usize, &o, Par::Rayon).map_err(js_names(NAMES))?;
    Ok(EmFit {
        weights: r.weights,
        means: T::out(r.means),
        variances: T::out(r.variances),
        labels: Uint32Array::new(r.labels),
        log_likelihood: r.log_likelihood,
        iterations: r.iterations as u32,
    })
}

/// EM for a Gaussian mixture on the rows of `x` (`n × d`).
#[napi]
pub fn em_sync(x: Either<Float32Array, Float64Array>, d: u32, spec: EmSpec) -> napi::Result<EmFit> {
    guard(|| match &x {
        Either::A(v) => fit_em::<f32>(v, d, &spec),
        Either::B(v) => fit_em::<f64>(v, d, &spec),
    })
}
