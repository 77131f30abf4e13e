//! Model B: identity attention.

use crate::convert::{self, Out, Owned};
use crate::errors::{js_names, Names};
use crate::job::{guard_sized, CancelToken, Job, Promise};
use attnclust_core::models::identity::{identity_attention as run_identity, Options};
use attnclust_core::{Error as CoreError, Par};
use napi::bindgen_prelude::{Either, Float32Array, Float64Array};
use napi::Env;
use napi_derive::napi;

/// Options of identity attention.
#[napi(object)]
pub struct IdentityOptions {
    pub lambda: f64,
    /// 'dot' or 'distance'.
    pub scores: String,
    pub exclude_self: bool,
    pub depth: u32,
    pub residual: bool,
}

fn options(o: &IdentityOptions) -> Result<Options, CoreError> {
    Ok(Options { lambda: o.lambda, scores: convert::scores(&o.scores)?, exclude_self: o.exclude_self, depth: o.depth as usize, residual: o.residual })
}

/// `identityAttention(x, { lambda, scores, excludeSelf, depth })`'s names for the core's arguments.
const NAMES: Names = &[("exclude_self", "excludeSelf")];

fn apply<T: Out>(x: &[T], b: u32, l: u32, d: u32, o: &IdentityOptions) -> Result<Either<Float32Array, Float64Array>, CoreError> {
    let y = run_identity(x, b as usize, l as usize, d as usize, &options(o)?, Par::Rayon).map_err(js_names(NAMES))?;
    Ok(T::out(y))
}

/// `softmax_rows(λXXᵀ)X`, applied `depth` times, to `b` prompts of `l × d` tokens.
#[napi]
pub fn identity_attention_sync(
    x: Either<Float32Array, Float64Array>,
    b: u32,
    l: u32,
    d: u32,
    opts: IdentityOptions,
) -> napi::Result<Either<Float32Array, Float64Array>> {
    let n = match &x {
        Either::A(v) => v.len(),
        Either::B(v) => v.len(),
    };
    guard_sized(n.saturating_mul(l as usize).saturating_mul(opts.depth as usize), || match &x {
        napi::bindgen_prelude::Either::A(v) => apply::<f32>(v, b, l, d, &opts),
        napi::bindgen_prelude::Either::B(v) => apply::<f64>(v, b, l, d, &opts),
    })
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
    Job::spawn(
        &env,
        move || match &x {
            Owned::F32(v) => apply::<f32>(v, b, l, d, &opts),
            Owned::F64(v) => apply::<f64>(v, b, l, d, &opts),
        },
        token,
    )
}
