//! Conversions between JS values and core types, in one place.

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

pub use crate::out::{f32s as out_f32, f64s as out_f64, FloatsOut};

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
    fn out(v: Vec<Self>) -> FloatsOut;
}
impl Out for f32 {
    fn out(v: Vec<f32>) -> FloatsOut {
        out_f32(v)
    }
}
impl Out for f64 {
    fn out(v: Vec<f64>) -> FloatsOut {
        out_f64(v)
    }
}
