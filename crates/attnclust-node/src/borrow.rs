//! Typed-array arguments of synchronous calls, borrowed in place.
//!
//! napi-rs's `Float32Array` argument takes a reference on the JS array (a global handle created
//! and destroyed per call) so that it may outlive the call; `Either<Float32Array, Float64Array>`
//! also builds an error message for every `Float64Array` (the `Float32Array` attempt fails first).
//! A synchronous call needs neither: [`Slice`] reads the array's type, data and length once and
//! is only used while the call runs (no JS runs meanwhile, and an array's data does not move).
//! Asynchronous calls copy their inputs ([`crate::convert::Owned`]).

use napi::bindgen_prelude::{Either, FromNapiValue, TypeName, TypedArrayType, ValidateNapiValue};
use napi::{sys, Error, Status, ValueType};
use std::ops::Deref;
use std::ptr;

/// The element types of typed-array arguments.
pub trait Elem: Copy + 'static {
    const KIND: TypedArrayType;
}
impl Elem for f32 {
    const KIND: TypedArrayType = TypedArrayType::Float32;
}
impl Elem for f64 {
    const KIND: TypedArrayType = TypedArrayType::Float64;
}
impl Elem for u32 {
    const KIND: TypedArrayType = TypedArrayType::Uint32;
}

/// A typed array of `T` borrowed for the duration of a synchronous call (derefs to `[T]`).
pub struct Slice<T: Elem> {
    data: *const T,
    len: usize,
}

// The data is only read while the JS thread waits for the call (possibly from pool threads).
unsafe impl<T: Elem> Send for Slice<T> {}
unsafe impl<T: Elem> Sync for Slice<T> {}

/// A float array argument of a synchronous call: its type is the computation's dtype.
pub type FloatsRef = Either<Slice<f32>, Slice<f64>>;

impl<T: Elem> Deref for Slice<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        if self.len == 0 {
            &[]
        } else {
            // SAFETY: V8 guarantees `len` elements at `data` (aligned: a typed array's offset is a
            // multiple of its element size) while the array is alive, which it is during the call.
            unsafe { std::slice::from_raw_parts(self.data, self.len) }
        }
    }
}

/// The element type, data and length of `v` when it is a typed array.
unsafe fn info(env: sys::napi_env, v: sys::napi_value) -> Option<(i32, *mut std::ffi::c_void, usize)> {
    let (mut kind, mut len, mut data, mut buffer, mut offset) = (0, 0, ptr::null_mut(), ptr::null_mut(), 0);
    let mut is = false;
    if unsafe { sys::napi_is_typedarray(env, v, &mut is) } != sys::Status::napi_ok || !is {
        return None;
    }
    if unsafe { sys::napi_get_typedarray_info(env, v, &mut kind, &mut len, &mut data, &mut buffer, &mut offset) } != sys::Status::napi_ok {
        return None;
    }
    Some((kind, data, len))
}

fn not_this<T: Elem>() -> Error {
    Error::new(Status::InvalidArg, format!("Expected {}", T::KIND.as_ref()))
}

impl<T: Elem> FromNapiValue for Slice<T> {
    unsafe fn from_napi_value(env: sys::napi_env, v: sys::napi_value) -> napi::Result<Self> {
        match unsafe { info(env, v) } {
            Some((kind, data, len)) if kind == T::KIND as i32 => Ok(Slice { data: data.cast::<T>().cast_const(), len }),
            _ => Err(not_this::<T>()),
        }
    }
}

impl<T: Elem> TypeName for Slice<T> {
    fn type_name() -> &'static str {
        "TypedArray"
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl<T: Elem> ValidateNapiValue for Slice<T> {
    /// Accepts exactly a typed array of `T` (so that `Either` picks the right one without first
    /// failing a conversion).
    unsafe fn validate(env: sys::napi_env, v: sys::napi_value) -> napi::Result<sys::napi_value> {
        match unsafe { info(env, v) } {
            Some((kind, _, _)) if kind == T::KIND as i32 => Ok(ptr::null_mut()),
            // no message: `Either` replaces it when no type fits
            _ => Err(Error::new(Status::InvalidArg, String::new())),
        }
    }
}

/// The number of values of a float argument.
pub fn len(a: &FloatsRef) -> usize {
    match a {
        Either::A(v) => v.len(),
        Either::B(v) => v.len(),
    }
}

/// The values of a float argument as `f64`.
pub fn to_f64(a: &FloatsRef) -> Vec<f64> {
    match a {
        Either::A(v) => v.iter().map(|&x| f64::from(x)).collect(),
        Either::B(v) => v.to_vec(),
    }
}
