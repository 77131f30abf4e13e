//! Typed arrays handed back to JS.
//!
//! A `Vec` handed over as an external buffer (napi-rs's `Float32Array::new`) costs a finalizer, a
//! weak global handle and a deferred free per array: several µs per small call, most of it in the
//! garbage collector. A small result is instead copied into a buffer that V8 allocates and owns
//! (as `new Float32Array(n)` in JS would); a large one is still handed over without a copy.

use napi::bindgen_prelude::{Either, FromNapiValue, ToNapiValue, TypeName, TypedArrayType, ValidateNapiValue};
use napi::{check_status, sys, ValueType};
use std::ptr;

/// Results up to this many bytes are copied into a V8-owned buffer; larger ones are handed over as
/// external buffers (no copy, no second peak).
pub const COPY_BYTES: usize = 1 << 15;

/// [`COPY_BYTES`] for TypeScript: a synchronous call whose results fit in this many bytes takes
/// result arrays that TypeScript allocated (`crate::borrow::SliceMut`), cheaper than creating them here.
#[napi_derive::napi]
pub const RESULT_COPY_BYTES: u32 = COPY_BYTES as u32;

/// The element types of the typed arrays the addon returns.
pub trait Elem: Copy + 'static {
    const KIND: TypedArrayType;
    /// `v` as a napi-rs external typed array.
    unsafe fn external(env: sys::napi_env, v: Vec<Self>) -> napi::Result<sys::napi_value>;
}

macro_rules! elem {
    ($t:ty, $kind:ident, $array:ident) => {
        impl Elem for $t {
            const KIND: TypedArrayType = TypedArrayType::$kind;
            unsafe fn external(env: sys::napi_env, v: Vec<Self>) -> napi::Result<sys::napi_value> {
                unsafe { napi::bindgen_prelude::$array::to_napi_value(env, napi::bindgen_prelude::$array::new(v)) }
            }
        }
    };
}
elem!(f32, Float32, Float32Array);
elem!(f64, Float64, Float64Array);
elem!(u32, Uint32, Uint32Array);

/// A result array: `Float32Array`, `Float64Array` or `Uint32Array` on the JS side (see the module).
pub struct Typed<T: Elem>(pub Vec<T>);

/// A float result in the dtype of the computation.
pub type FloatsOut = Either<Typed<f32>, Typed<f64>>;

impl<T: Elem> ToNapiValue for Typed<T> {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        let (n, bytes) = (val.0.len(), std::mem::size_of_val(val.0.as_slice()));
        if bytes > COPY_BYTES {
            return unsafe { T::external(env, val.0) };
        }
        let (mut data, mut buffer, mut out) = (ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
        check_status!(unsafe { sys::napi_create_arraybuffer(env, bytes, &mut data, &mut buffer) }, "could not allocate a result of {bytes} bytes")?;
        if bytes > 0 {
            unsafe { ptr::copy_nonoverlapping(val.0.as_ptr().cast::<u8>(), data.cast::<u8>(), bytes) };
        }
        check_status!(unsafe { sys::napi_create_typedarray(env, T::KIND as i32, n, buffer, 0, &mut out) }, "could not create a typed array")?;
        Ok(out)
    }
}

// Results are not read back from JS; these make `Typed` usable in `#[napi(object)]` structs.
impl<T: Elem> FromNapiValue for Typed<T>
where
    for<'a> &'a [T]: FromNapiValue,
{
    unsafe fn from_napi_value(env: sys::napi_env, v: sys::napi_value) -> napi::Result<Self> {
        Ok(Typed(unsafe { <&[T]>::from_napi_value(env, v) }?.to_vec()))
    }
}

impl<T: Elem> TypeName for Typed<T> {
    fn type_name() -> &'static str {
        "TypedArray"
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl<T: Elem> ValidateNapiValue for Typed<T> {}

/// An `f32` result (a `Float32Array` in JS).
pub fn f32s(v: Vec<f32>) -> FloatsOut {
    Either::A(Typed(v))
}

/// An `f64` result (a `Float64Array` in JS).
pub fn f64s(v: Vec<f64>) -> FloatsOut {
    Either::B(Typed(v))
}
