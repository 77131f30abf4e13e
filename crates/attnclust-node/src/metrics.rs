//! Metrics.

use crate::job::{guard, guard_sized};
use crate::same_dtype;
use attnclust_core::metrics;
use napi::bindgen_prelude::{Either, Float32Array, Float64Array, Uint32Array};
use napi_derive::napi;

/// The work of a matching (≈ `H · K · d`): small ones run on the calling thread (see `guard_sized`).
fn matching_work(params: &Either<Float32Array, Float64Array>, means: &Either<Float32Array, Float64Array>, dim: u32) -> usize {
    let len = |a: &Either<Float32Array, Float64Array>| match a {
        Either::A(v) => v.len(),
        Either::B(v) => v.len(),
    };
    len(params).saturating_mul(len(means)) / (dim as usize).max(1)
}

/// Mean cosine between heads and centroids under the best matching.
#[napi]
pub fn alignment(params: Either<Float32Array, Float64Array>, means: Either<Float32Array, Float64Array>, dim: u32) -> napi::Result<f64> {
    guard_sized(matching_work(&params, &means, dim), || same_dtype!(&params, &means, "params", "means", |p, m| metrics::alignment(p, m, dim as usize)))
}

/// Mean relative distance between heads and centroids under the best matching.
#[napi]
pub fn centroid_error(params: Either<Float32Array, Float64Array>, means: Either<Float32Array, Float64Array>, dim: u32) -> napi::Result<f64> {
    guard_sized(matching_work(&params, &means, dim), || same_dtype!(&params, &means, "params", "means", |p, m| metrics::centroid_error(p, m, dim as usize)))
}

/// Mean over prompts of `Σ‖y_i − μ_{z_i}‖² / Σ‖x_i − μ_{z_i}‖²`.
#[napi]
#[allow(clippy::too_many_arguments)]
pub fn quantization_ratio(
    x: Either<Float32Array, Float64Array>,
    y: Either<Float32Array, Float64Array>,
    means: Either<Float32Array, Float64Array>,
    labels: Uint32Array,
    b: u32,
    l: u32,
    k: u32,
    d: u32,
) -> napi::Result<f64> {
    let m64 = crate::convert::to_f64(&means);
    let (x64, y64) = (crate::convert::to_f64(&x), crate::convert::to_f64(&y));
    guard(|| metrics::quantization_ratio(&x64, &y64, &m64, &labels, b as usize, l as usize, k as usize, d as usize))
}

/// Adjusted Rand index of two labelings.
#[napi]
pub fn adjusted_rand_index(a: Uint32Array, b: Uint32Array) -> napi::Result<f64> {
    guard(|| metrics::adjusted_rand_index(&a, &b))
}
