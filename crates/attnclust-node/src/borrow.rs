//! Typed-array arguments of synchronous calls, borrowed in place.
//!
//! napi-rs's `Float32Array` argument takes a reference on the JS array (a global handle created
//! and destroyed per call) so that it may outlive the call; `Either<Float32Array, Float64Array>`
//! also builds an error message for every `Float64Array` (the `Float32Array` attempt fails first).
//! A synchronous call needs neither: [`Slice`] and [`FloatsRef`] read the array's type, data and
//! length once and are only used while the call runs (no JS runs meanwhile, and an array's data
//! does not move).
//! Asynchronous calls copy their inputs ([`crate::convert::Owned`]).

use crate::enums::AsView;
use napi::bindgen_prelude::{FromNapiValue, TypeName, TypedArrayType, ValidateNapiValue};
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

/// A float array argument of a synchronous call (`Float32Array` or `Float64Array`): its type is
/// the computation's dtype. Read with one `napi_get_typedarray_info` (an `Either` of two
/// [`Slice`]s would read it up to three times).
pub enum FloatsRef {
    /// A `Float32Array`.
    F32(Slice<f32>),
    /// A `Float64Array`.
    F64(Slice<f64>),
}

impl FromNapiValue for FloatsRef {
    unsafe fn from_napi_value(env: sys::napi_env, v: sys::napi_value) -> napi::Result<Self> {
        let (kind, data, len) = unsafe { info(env, v) }.unwrap_or((-1, ptr::null_mut(), 0));
        if kind == TypedArrayType::Float32 as i32 {
            Ok(FloatsRef::F32(Slice { data: data.cast::<f32>().cast_const(), len }))
        } else if kind == TypedArrayType::Float64 as i32 {
            Ok(FloatsRef::F64(Slice { data: data.cast::<f64>().cast_const(), len }))
        } else {
            Err(Error::new(Status::InvalidArg, "Expected a Float32Array or a Float64Array".to_string()))
        }
    }
}

impl TypeName for FloatsRef {
    fn type_name() -> &'static str {
        "Float32Array | Float64Array"
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ValidateNapiValue for FloatsRef {}

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

/// The element type, data and length of `v` when it is a typed array (for another value,
/// `napi_get_typedarray_info` returns `napi_invalid_arg`).
unsafe fn info(env: sys::napi_env, v: sys::napi_value) -> Option<(i32, *mut std::ffi::c_void, usize)> {
    let (mut kind, mut len, mut data, mut buffer, mut offset) = (0, 0, ptr::null_mut(), ptr::null_mut(), 0);
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

/// A typed array of `T` that a synchronous call writes its result into (derefs to `&mut [T]`): a
/// [`Slice`] (the same conversion) that may be written.
///
/// TypeScript allocates the result arrays of a small call (`new Float32Array(n)`, a few tens of ns
/// each) and the call fills them: creating them from Rust (`napi_create_arraybuffer`, then the
/// typed array and the result object's properties) costs about a µs per array. The arrays are
/// fresh, so nothing else reads or writes them while the call runs.
pub struct SliceMut<T: Elem>(Slice<T>);

impl<T: Elem> FromNapiValue for SliceMut<T> {
    unsafe fn from_napi_value(env: sys::napi_env, v: sys::napi_value) -> napi::Result<Self> {
        Ok(SliceMut(unsafe { Slice::from_napi_value(env, v) }?))
    }
}

impl<T: Elem> TypeName for SliceMut<T> {
    fn type_name() -> &'static str {
        Slice::<T>::type_name()
    }
    fn value_type() -> ValueType {
        Slice::<T>::value_type()
    }
}

impl<T: Elem> ValidateNapiValue for SliceMut<T> {}

impl<T: Elem> Deref for SliceMut<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T: Elem> std::ops::DerefMut for SliceMut<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        if self.0.len == 0 {
            &mut []
        } else {
            // SAFETY: as for `Slice`; the array is the call's own result (see the type's
            // documentation), written only while the JS thread waits for the call, in disjoint parts.
            unsafe { std::slice::from_raw_parts_mut(self.0.data.cast_mut(), self.0.len) }
        }
    }
}

/// A float result array of a synchronous call (`Float32Array` or `Float64Array`, see
/// [`SliceMut`]): its type is the result's dtype.
pub enum FloatsMut {
    /// A `Float32Array`.
    F32(SliceMut<f32>),
    /// A `Float64Array`.
    F64(SliceMut<f64>),
}

impl FromNapiValue for FloatsMut {
    unsafe fn from_napi_value(env: sys::napi_env, v: sys::napi_value) -> napi::Result<Self> {
        Ok(match unsafe { FloatsRef::from_napi_value(env, v) }? {
            FloatsRef::F32(s) => FloatsMut::F32(SliceMut(s)),
            FloatsRef::F64(s) => FloatsMut::F64(SliceMut(s)),
        })
    }
}

impl TypeName for FloatsMut {
    fn type_name() -> &'static str {
        FloatsRef::type_name()
    }
    fn value_type() -> ValueType {
        FloatsRef::value_type()
    }
}

impl ValidateNapiValue for FloatsMut {}

impl FloatsMut {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            FloatsMut::F32(v) => v.len(),
            FloatsMut::F64(v) => v.len(),
        }
    }

    /// Whether the array is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Benchmark only: a synchronous call that takes the arguments of `alignment` (two float arrays
/// and a number) and does nothing with them — the floor of a call's fixed cost
/// (`bench/per-call.ts`).
#[napi_derive::napi]
pub fn empty_call_for_bench(
    #[napi(ts_arg_type = "Float32Array | Float64Array")] a: FloatsRef,
    #[napi(ts_arg_type = "Float32Array | Float64Array")] b: FloatsRef,
    dim: u32,
) -> f64 {
    (a.values() + b.values()) as f64 / f64::from(dim.max(1))
}
