//! Model B: identity attention.

use crate::borrow::{FloatsMut, FloatsRef};
use crate::convert::{FloatsOut, Out, Owned};
use crate::enums::{AsView, Scores};
use crate::errors::{js_names, Names};
use crate::floats;
use crate::job::{guard_sized, CancelToken, Job, Promise};
use attnclust_core::models::identity::{identity_attention as run_identity, identity_attention_into as run_identity_into, Options};
use attnclust_core::{Error as CoreError, Par};
use napi::bindgen_prelude::{Either, Float32Array, Float64Array};
use napi::Env;
use napi_derive::napi;

/// Options of identity attention.
#[napi(object)]
pub struct IdentityOptions {
    /// Inverse temperature `λ > 0`.
    pub lambda: f64,
    /// 'dot' or 'distance'.
    pub scores: Scores,
    /// Mask the diagonal (needs prompts of at least 2 tokens).
    pub exclude_self: bool,
    /// Applications of the layer, in `[1, 4096]`.
    pub depth: u32,
    /// `X ← X + Attn(X)` at each application instead of `X ← Attn(X)`.
    pub residual: bool,
}

fn options(o: &IdentityOptions) -> Result<Options, CoreError> {
    Ok(Options { lambda: o.lambda, scores: o.scores.into(), exclude_self: o.exclude_self, depth: o.depth as usize, residual: o.residual })
}

/// `identityAttention(x, { lambda, scores, excludeSelf, depth })`'s names for the core's arguments.
const NAMES: Names = &[("exclude_self", "excludeSelf")];

fn apply<T: Out>(x: &[T], b: u32, l: u32, d: u32, o: &IdentityOptions) -> Result<FloatsOut, CoreError> {
    let y = run_identity(x, b as usize, l as usize, d as usize, &options(o)?, Par::Rayon).map_err(js_names(NAMES))?;
    Ok(T::out(y))
}

/// [`apply`] into `y` (`x.len()` values).
fn apply_into<T: Out>(x: &[T], y: &mut [T], b: u32, l: u32, d: u32, o: &IdentityOptions) -> Result<(), CoreError> {
    run_identity_into(x, y, b as usize, l as usize, d as usize, &options(o)?, Par::Rayon).map_err(js_names(NAMES))
}

/// `softmax_rows(λXXᵀ)X`, applied `depth` times, to `b` prompts of `l × d` tokens. The options
/// are the fields of [`IdentityOptions`] as separate arguments: reading five properties of an
/// object costs more than the kernel on a small prompt.
#[napi(ts_return_type = "Float32Array | Float64Array")]
#[allow(clippy::too_many_arguments)]
pub fn identity_attention_sync(
    #[napi(ts_arg_type = "Float32Array | Float64Array")] x: FloatsRef,
    b: u32,
    l: u32,
    d: u32,
    lambda: f64,
    scores: Scores,
    exclude_self: bool,
    depth: u32,
    residual: bool,
) -> napi::Result<FloatsOut> {
    let opts = IdentityOptions { lambda, scores, exclude_self, depth, residual };
    let n = x.values();
    guard_sized(n.saturating_mul(l as usize).saturating_mul(opts.depth as usize), || floats!([x => x], "x"; apply(x, b, l, d, &opts)))
}

/// [`identity_attention_sync`] into `y`, an array of `x`'s type and length that the caller
/// allocated (for small results, see [`crate::borrow::SliceMut`]).
#[napi]
#[allow(clippy::too_many_arguments)]
pub fn identity_attention_into_sync(
    #[napi(ts_arg_type = "Float32Array | Float64Array")] x: FloatsRef,
    #[napi(ts_arg_type = "Float32Array | Float64Array")] mut y: FloatsMut,
    b: u32,
    l: u32,
    d: u32,
    lambda: f64,
    scores: Scores,
    exclude_self: bool,
    depth: u32,
    residual: bool,
) -> napi::Result<()> {
    let o = IdentityOptions { lambda, scores, exclude_self, depth, residual };
    let n = x.values();
    guard_sized(n.saturating_mul(l as usize).saturating_mul(o.depth as usize), || floats!([x => x], mut [y => y], "x", "y"; apply_into(x, y, b, l, d, &o)))
}

/// Async form of [`identity_attention_sync`]; `token` stops it at the next chunk boundary.
#[napi(ts_return_type = "Promise<Float32Array | Float64Array>")]
pub fn identity_attention(
    env: Env,
    x: Either<Float32Array, Float64Array>,
    b: u32,
    l: u32,
    d: u32,
    opts: IdentityOptions,
    token: Option<&CancelToken>,
) -> napi::Result<Promise> {
    let x = Owned::copy(&x);
    Job::spawn(&env, move || floats!([x => x], "x"; apply(x, b, l, d, &opts)), token)
}
