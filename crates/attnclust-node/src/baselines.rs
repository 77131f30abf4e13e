//! Baselines: k-means (k-means++ start, Lloyd) and EM for isotropic or diagonal mixtures.

use crate::borrow::FloatsRef;
use crate::convert::{FloatsOut, Out};
use crate::enums::{AsView, Covariance};
use crate::errors::{js_names, Names};
use crate::floats;
use crate::job::{guard_sized, CancelToken, Job, Promise};
use crate::out::Typed;
use attnclust_core::baselines::em::{em as run_em, EmOptions};
use attnclust_core::baselines::kmeans::{kmeans as run_kmeans, KMeansOptions};
use attnclust_core::{Error as CoreError, Par};
use napi::bindgen_prelude::{Either, Float32Array, Float64Array};
use napi::Env;
use napi_derive::napi;

/// Options of k-means; an option left out takes the core's default (`KMeansOptions::new`).
#[napi(object)]
pub struct KMeansSpec {
    /// Number of clusters, `1 ≤ k ≤ n`.
    pub k: u32,
    /// Seed of the k-means++ starts, an integer in `[0, 2^53)`.
    pub seed: f64,
    /// Restarts, `≥ 1`; left out, the core's default (4).
    pub n_init: Option<u32>,
    /// Lloyd updates per restart, `≥ 1`; left out, the core's default (300).
    pub max_iter: Option<u32>,
    /// Tolerance on the centres' movement relative to the data's variance, `≥ 0`; left out, the
    /// core's default (1e-4).
    pub tol: Option<f64>,
}

/// A k-means fit.
#[napi(object)]
pub struct KMeansFit {
    /// `k × d`, same float type as the input.
    #[napi(ts_type = "Float32Array | Float64Array")]
    pub centers: FloatsOut,
    /// The cluster of each point (`n`).
    #[napi(ts_type = "Uint32Array")]
    pub labels: Typed<u32>,
    /// `Σ_i ‖x_i − c_{z_i}‖²` (squared data units).
    pub inertia: f64,
    /// Lloyd updates of the kept restart.
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
    Ok(KMeansFit { centers: T::out(r.centers), labels: Typed(r.labels), inertia: r.inertia, iterations: r.iterations as u32 })
}

/// k-means on the rows of `x` (`n × d`).
#[napi]
pub fn kmeans_sync(#[napi(ts_arg_type = "Float32Array | Float64Array")] x: FloatsRef, d: u32, spec: KMeansSpec) -> napi::Result<KMeansFit> {
    // one pass of every restart, for a nominal 8 iterations: small fits run on the calling thread
    let work = x.values().saturating_mul(spec.k as usize).saturating_mul(spec.n_init.map_or(KMeansOptions::new(1, 0).n_init, |v| v as usize)).saturating_mul(8);
    guard_sized(work, || floats!([x => x], "x"; fit_kmeans(x, d, &spec)))
}

/// Async form of [`kmeans_sync`]; `token` stops it within one pass over the points.
#[napi(ts_return_type = "Promise<KMeansFit>")]
pub fn kmeans(env: Env, x: Either<Float32Array, Float64Array>, d: u32, spec: KMeansSpec, token: Option<&CancelToken>) -> napi::Result<Promise> {
    let x = crate::convert::Owned::copy(&x);
    Job::spawn(&env, move || floats!([x => x], "x"; fit_kmeans(x, d, &spec)), token)
}

/// Options of EM.
#[napi(object)]
pub struct EmSpec {
    /// Number of components, `1 ≤ k ≤ n`.
    pub k: u32,
    /// Seed of the k-means start, an integer in `[0, 2^53)`.
    pub seed: f64,
    /// One variance per component or per component and coordinate.
    pub covariance: Covariance,
    /// Most M-steps, `≥ 1`; left out, the core's default (200).
    pub max_iter: Option<u32>,
    /// Stop when the mean log-likelihood rises by less than this, `≥ 0`; left out, the core's
    /// default (1e-6).
    pub tol: Option<f64>,
    /// Variance floor `> 0`; left out, the core's default (1e-6).
    pub reg: Option<f64>,
}

/// An EM fit.
#[napi(object)]
pub struct EmFit {
    /// `K` mixture weights, summing to 1.
    pub weights: Vec<f64>,
    /// `K × d`.
    #[napi(ts_type = "Float32Array | Float64Array")]
    pub means: FloatsOut,
    /// `K` (isotropic) or `K × d` (diagonal).
    #[napi(ts_type = "Float32Array | Float64Array")]
    pub variances: FloatsOut,
    /// The most responsible component of each point (`n`).
    #[napi(ts_type = "Uint32Array")]
    pub labels: Typed<u32>,
    /// Mean log-likelihood per point.
    pub log_likelihood: f64,
    /// M-steps done.
    pub iterations: u32,
}

fn fit_em<T: Out>(x: &[T], d: u32, s: &EmSpec) -> Result<EmFit, CoreError> {
    let d0 = EmOptions::new(s.k as usize, s.seed as u64);
    let o = EmOptions {
        covariance: s.covariance.into(),
        max_iter: s.max_iter.map_or(d0.max_iter, |v| v as usize),
        tol: s.tol.unwrap_or(d0.tol),
        reg: s.reg.unwrap_or(d0.reg),
        ..d0
    };
    let r = run_em(x, d as usize, &o, Par::Rayon).map_err(js_names(NAMES))?;
    Ok(EmFit {
        weights: r.weights,
        means: T::out(r.means),
        variances: T::out(r.variances),
        labels: Typed(r.labels),
        log_likelihood: r.log_likelihood,
        iterations: r.iterations as u32,
    })
}

/// EM for a Gaussian mixture on the rows of `x` (`n × d`).
#[napi]
pub fn em_sync(#[napi(ts_arg_type = "Float32Array | Float64Array")] x: FloatsRef, d: u32, spec: EmSpec) -> napi::Result<EmFit> {
    // one E and M step for a nominal 8 iterations (and the k-means start): small fits run on the calling thread
    let work = x.values().saturating_mul(spec.k as usize).saturating_mul(16);
    guard_sized(work, || floats!([x => x], "x"; fit_em(x, d, &spec)))
}
