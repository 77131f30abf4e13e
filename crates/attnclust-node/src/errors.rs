//! Core errors as JavaScript errors, built here and nowhere else.
//!
//! A core [`CoreError`] names its argument in core terms (`x`, `lambda`, `init.scale`,
//! `weights.wq[0][1][2]`). Each entry point renames the root of that path to what its JavaScript
//! caller wrote ([`Names`]: `train` reports its sample `x` as `source`, options as
//! `options.lambda`), and the error becomes a real `TypeError` or `RangeError` (or an `Error`
//! named `AbortError` for a cancelled call) with the properties
//! - `argument`: the JS path (`options.lambda`, `source[3][1]`),
//! - `expected`: what it must be (`positive and finite`),
//! - `got`: what it was (`-1`, `11 values`),
//! - `code`: `ERR_INVALID_ARG_TYPE`, `ERR_OUT_OF_RANGE` or `ABORT_ERR` (Node's own codes),
//! - `numeric` (range errors only, when a result left the floating-point range of valid inputs):
//!   `'overflow'` or `'underflow'`, what the TypeScript layer's rescale-and-retry paths test.
//!
//! A synchronous call throws the object; an asynchronous one rejects its promise with it (the
//! object is made on the JS thread, when the job settles: see `job.rs`). Creating a JS value needs
//! the `napi_env`, which a synchronous entry point does not receive: it is the environment of the
//! calling JS thread, recorded when the addon is loaded on it and forgotten when it is torn down
//! (the one per-thread record of `job.rs`, [`crate::job::attach`], also used to stop a synchronous
//! call in a terminated worker).

use attnclust_core::{Error as CoreError, ErrorKind};
use napi::bindgen_prelude::{JsObjectValue, Object};
use napi::{Env, JsValue};

/// How one entry point names the core's arguments in JavaScript: `(core root, JS path)` pairs,
/// e.g. `[("x", "source"), ("lambda", "options.lambda")]`. A root not listed keeps its name.
pub type Names = &'static [(&'static str, &'static str)];

/// `e` with the root of its argument path renamed by `names`.
pub fn renamed(e: CoreError, names: Names) -> CoreError {
    match names.iter().find(|(core, _)| *core == e.root()) {
        Some((_, js)) => e.with_root(js),
        None => e,
    }
}

/// The renaming of [`renamed`], for `map_err`.
pub fn js_names(names: Names) -> impl Fn(CoreError) -> CoreError {
    move |e| renamed(e, names)
}

/// The JS error object for `e`, with its `argument`, `expected`, `got` and `code`.
fn js_object(env: &Env, e: &CoreError) -> napi::Result<napi::sys::napi_value> {
    let msg = e.message();
    let value = match e.kind {
        ErrorKind::Type => napi::JsTypeError::from(napi::Error::new("ERR_INVALID_ARG_TYPE", msg)).into_unknown(*env),
        ErrorKind::Range => napi::JsRangeError::from(napi::Error::new("ERR_OUT_OF_RANGE", msg)).into_unknown(*env),
        ErrorKind::Cancelled => napi::JsError::from(napi::Error::new("ABORT_ERR", msg)).into_unknown(*env),
    };
    let raw = value.raw();
    if raw.is_null() {
        return Err(napi::Error::from_reason(e.to_string()));
    }
    // `raw` is an error object just created in `env`, on this (its JS) thread.
    let mut obj = Object::from_raw(env.raw(), raw);
    if e.kind == ErrorKind::Cancelled {
        obj.set_named_property("name", "AbortError")?;
    } else {
        obj.set_named_property("argument", e.arg.as_str())?;
        obj.set_named_property("expected", e.expected.as_str())?;
        obj.set_named_property("got", e.got.as_str())?;
        if let Some(n) = e.numeric {
            obj.set_named_property("numeric", n.as_str())?;
        }
    }
    Ok(raw)
}

/// `e` as a napi error that holds its JS error object (thrown or rejected as that object). Falls
/// back to a plain `Error` with the message `"TypeError: …"` if the object cannot be made (an
/// environment being torn down).
pub fn in_env(env: &Env, e: CoreError) -> napi::Error {
    match js_object(env, &e) {
        // SAFETY: `raw` is a live value of `env`, on its thread.
        Ok(raw) => napi::Error::from(unsafe { napi::Unknown::from_raw_unchecked(env.raw(), raw) }),
        Err(_) => napi::Error::from_reason(e.to_string()),
    }
}

/// `e` as a napi error for a synchronous call on a JS thread (see [`in_env`]).
pub fn to_js(e: CoreError) -> napi::Error {
    match crate::job::js_env() {
        Some(raw) => in_env(&Env::from_raw(raw), e),
        None => napi::Error::from_reason(e.to_string()),
    }
}
