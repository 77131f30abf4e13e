//! Metrics.

use crate::borrow::{FloatsRef, Slice};
use crate::enums::AsView;
use crate::floats;
use crate::job::guard_sized;
use attnclust_core::metrics;
use napi_derive::napi;

/// `params` (`heads × dim`) and `means` (`centroids × dim`), packed in this order at the start of
/// `values` (one array: a call converts one typed array instead of two, and TypeScript fills it in
/// place from nested arrays or either float type, widening exactly: the metrics compute in `f64`).
fn packed(values: &[f64], heads: u32, centroids: u32, dim: u32) -> napi::Result<(&[f64], &[f64])> {
    let (h, k, d) = (heads as usize, centroids as usize, dim as usize);
    let (np, nm) = (h.saturating_mul(d), k.saturating_mul(d));
    if np.saturating_add(nm) > values.len() {
        let e =
            attnclust_core::Error::type_("params", format!("{h} × {d} heads and {k} × {d} centroids in the packed array"), format!("{} values", values.len()));
        return Err(crate::errors::to_js(e));
    }
    Ok((&values[..np], &values[np..np + nm]))
}

/// The work of a matching (≈ `H · K · d`): small ones run on the calling thread (see `guard_sized`).
fn matching_work(params: &[f64], means: &[f64], dim: u32) -> usize {
    params.len().saturating_mul(means.len()) / (dim as usize).max(1)
}

/// Mean cosine between heads and centroids under the best matching; `values` holds `params` then
/// `means` (see `packed`).
#[napi]
pub fn alignment(#[napi(ts_arg_type = "Float64Array")] values: Slice<f64>, heads: u32, centroids: u32, dim: u32) -> napi::Result<f64> {
    let (p, m) = packed(&values, heads, centroids, dim)?;
    guard_sized(matching_work(p, m, dim), || metrics::alignment(p, m, dim as usize))
}

/// Mean relative distance between heads and centroids under the best matching; `values` holds
/// `params` then `means` (see `packed`).
#[napi]
pub fn centroid_error(#[napi(ts_arg_type = "Float64Array")] values: Slice<f64>, heads: u32, centroids: u32, dim: u32) -> napi::Result<f64> {
    let (p, m) = packed(&values, heads, centroids, dim)?;
    guard_sized(matching_work(p, m, dim), || metrics::centroid_error(p, m, dim as usize))
}

/// Mean over prompts of `Σ‖y_i − μ_{z_i}‖² / Σ‖x_i − μ_{z_i}‖²`.
#[napi]
#[allow(clippy::too_many_arguments)]
pub fn quantization_ratio(
    #[napi(ts_arg_type = "Float32Array | Float64Array")] x: FloatsRef,
    #[napi(ts_arg_type = "Float32Array | Float64Array")] y: FloatsRef,
    #[napi(ts_arg_type = "Float32Array | Float64Array")] means: FloatsRef,
    #[napi(ts_arg_type = "Uint32Array")] labels: Slice<u32>,
    b: u32,
    l: u32,
    k: u32,
    d: u32,
) -> napi::Result<f64> {
    let (b, l, k, d) = (b as usize, l as usize, k as usize, d as usize);
    let work = labels.len().saturating_mul(d).saturating_mul(8);
    // One dtype: the core reads the arrays as they are (it widens each value to f64); mixed
    // dtypes are widened to f64 first.
    guard_sized(work, || {
        floats!([x => x, y => y, means => m], else metrics::quantization_ratio(&x.to_f64(), &y.to_f64(), &means.to_f64(), &labels, b, l, k, d);
            metrics::quantization_ratio(x, y, m, &labels, b, l, k, d))
    })
}

/// Adjusted Rand index of two labelings.
#[napi]
pub fn adjusted_rand_index(#[napi(ts_arg_type = "Uint32Array")] a: Slice<u32>, #[napi(ts_arg_type = "Uint32Array")] b: Slice<u32>) -> napi::Result<f64> {
    guard_sized(a.len().saturating_mul(16), || metrics::adjusted_rand_index(&a, &b))
}

/// One matched head and centroid.
#[napi(object)]
pub struct MatchedPair {
    /// Row of `params`.
    pub head: u32,
    /// Row of `means`.
    pub centroid: u32,
    /// `cos(θ_head, μ_centroid)`.
    pub cosine: f64,
    /// `‖θ_head − μ_centroid‖ / ‖μ_centroid‖`.
    pub relative_error: f64,
}

/// The matching of heads to centroids that maximises the total cosine.
#[napi(object)]
pub struct HeadMatching {
    /// `min(H, K)` pairs, by increasing head.
    pub pairs: Vec<MatchedPair>,
    /// Heads left without a centroid (`H > K`).
    pub unmatched_heads: Vec<u32>,
    /// Centroids left without a head (`H < K`).
    pub unmatched_centroids: Vec<u32>,
}

/// The matching behind `alignment`, with each pair's cosine and relative error.
#[napi]
pub fn matching(
    #[napi(ts_arg_type = "Float32Array | Float64Array")] params: FloatsRef,
    #[napi(ts_arg_type = "Float32Array | Float64Array")] means: FloatsRef,
    dim: u32,
) -> napi::Result<HeadMatching> {
    let work = params.values().saturating_mul(means.values()) / (dim as usize).max(1);
    let m = guard_sized(work, || floats!([params => p, means => m], "params", "means"; metrics::matching(p, m, dim as usize)))?;
    let idx = |v: Vec<usize>| v.into_iter().map(|i| i as u32).collect();
    Ok(HeadMatching {
        pairs: m
            .pairs
            .into_iter()
            .map(|p| MatchedPair { head: p.head as u32, centroid: p.centroid as u32, cosine: p.cosine, relative_error: p.relative_error })
            .collect(),
        unmatched_heads: idx(m.unmatched_heads),
        unmatched_centroids: idx(m.unmatched_centroids),
    })
}

/// Peak bytes of `quantizationRatio` on `b` prompts of `l` tokens of dimension `d` with `k`
/// centroids each, beyond its inputs: none when `x`, `y` and `means` share a float type (they are
/// read in place), their `f64` copies when they do not (`mixed`).
#[napi]
pub fn quantization_ratio_peak_bytes(b: f64, l: f64, k: f64, d: f64, mixed: bool) -> f64 {
    if mixed {
        8.0 * (2.0 * b * l * d + b * k * d)
    } else {
        0.0
    }
}

/// Peak bytes of `alignment`, `centroidError` or `matching` for `h` heads and `k` centroids.
#[napi]
pub fn matching_peak_bytes(h: f64, k: f64) -> f64 {
    metrics::matching_peak_bytes(h as usize, k as usize)
}

/// Bytes `adjustedRandIndex` holds at its peak for `n` labels.
#[napi]
pub fn adjusted_rand_index_peak_bytes(n: f64) -> f64 {
    metrics::adjusted_rand_index_peak_bytes(n as usize) as f64
}
