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

/// `a × b × …` without overflow, bounded by `limit` elements.
pub fn product(dims: &[usize], limit: usize, what: &str) -> Result<usize, CoreError> {
    let mut p: usize = 1;
    for &d in dims {
        p = p.checked_mul(d).ok_or_else(|| CoreError::range(format!("{what} is too large")))?;
    }
    if p > limit {
        return Err(CoreError::range(format!("{what} would hold {p} values, more than the limit of {limit}")));
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
