//! Conversions between JS values and core types, in one place.

use attnclust_core::models::two_head::Scores;
use attnclust_core::Error as CoreError;
use napi::bindgen_prelude::{Either, Float32Array, Float64Array};

/// A float typed array from JS: its type is the computation's dtype.
pub type Floats = Either<Float32Array, Float64Array>;

/// An owned copy of a float array, for work that leaves the JS thread.
pub enum Owned {
    F32(Vec<f32>),
    F64(Vec<f64>),
}

impl Owned {
    pub fn copy(a: &Floats) -> Owned {
        match a {
            Either::A(v) => Owned::F32(v.to_vec()),
            Either::B(v) => Owned::F64(v.to_vec()),
        }
    }
}

pub fn out_f32(v: Vec<f32>) -> Floats {
    Either::A(Float32Array::new(v))
}

pub fn out_f64(v: Vec<f64>) -> Floats {
    Either::B(Float64Array::new(v))
}

/// Values of a float array as `f64`.
pub fn to_f64(a: &Floats) -> Vec<f64> {
    match a {
        Either::A(v) => v.iter().map(|&x| f64::from(x)).collect(),
        Either::B(v) => v.to_vec(),
    }
}

pub fn is_f32(dtype: &str) -> Result<bool, CoreError> {
    match dtype {
        "f32" => Ok(true),
        "f64" => Ok(false),
        other => Err(CoreError::type_("dtype", "'f32' or 'f64'", format!("'{other}'"))),
    }
}

pub fn scores(s: &str) -> Result<Scores, CoreError> {
    match s {
        "dot" => Ok(Scores::Dot),
        "distance" => Ok(Scores::Distance),
        other => Err(CoreError::type_("scores", "'dot' or 'distance'", format!("'{other}'"))),
    }
}

/// `a × b × …` without overflow, bounded by `limit` elements: a range error naming `arg`, the
/// size that makes `what` (`"the sample (n × d)"`) too large.
pub fn product(dims: &[usize], limit: usize, arg: &str, what: &str) -> Result<usize, CoreError> {
    let too_large = |got: String| CoreError::range(arg, format!("small enough that {what} holds at most {limit} values"), got);
    let mut p: usize = 1;
    for &d in dims {
        p = p.checked_mul(d).ok_or_else(|| too_large("more than 2⁶⁴ values".to_string()))?;
    }
    if p > limit {
        return Err(too_large(format!("{p} values")));
    }
    Ok(p)
}

/// Most values one output buffer may hold (2³¹ − 1, the typed-array limit of Node 20 on 64 bits
/// is larger, but 8 GiB of `f32` is a sensible guard).
pub const MAX_VALUES: usize = (1 << 31) - 1;

/// The float types that can be handed back to JS.
pub trait Out: attnclust_core::Real {
    fn out(v: Vec<Self>) -> Floats;
}
impl Out for f32 {
    fn out(v: Vec<f32>) -> Floats {
        out_f32(v)
    }
}
impl Out for f64 {
    fn out(v: Vec<f64>) -> Floats {
        out_f64(v)
    }
}

/// The error for two arrays of different float types.
pub fn dtype_mismatch(a: &str, b: &str) -> CoreError {
    CoreError::type_(b, format!("of the float type of `{a}` (both Float32Array or both Float64Array)"), "another")
}

/// Runs `$body` with `$a`, `$b` bound to same-typed slices of two [`Floats`]/[`Owned`] values.
#[macro_export]
macro_rules! same_dtype {
    ($a:expr, $b:expr, $na:literal, $nb:literal, |$x:ident, $y:ident| $body:expr) => {
        match ($a, $b) {
            (napi::bindgen_prelude::Either::A(p), napi::bindgen_prelude::Either::A(q)) => {
                let ($x, $y): (&[f32], &[f32]) = (&p[..], &q[..]);
                $body
            }
            (napi::bindgen_prelude::Either::B(p), napi::bindgen_prelude::Either::B(q)) => {
                let ($x, $y): (&[f64], &[f64]) = (&p[..], &q[..]);
                $body
            }
            _ => Err($crate::convert::dtype_mismatch($na, $nb)),
        }
    };
}
