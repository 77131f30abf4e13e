//! Running core work safely: inside the pool, with panics caught, sync or as a libuv task.

use attnclust_core::Error as CoreError;
use napi::bindgen_prelude::{AbortSignal, AsyncTask, ToNapiValue, TypeName};
use napi::{Env, Task};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Maps a core error to a JS error whose message starts with its class (`TypeError: …`).
pub fn to_js(e: CoreError) -> napi::Error {
    napi::Error::from_reason(e.to_string())
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

/// Runs `f` in the attnclust pool; a panic becomes an `Error: internal error …` JS error.
pub fn guard<O>(f: impl FnOnce() -> Result<O, CoreError> + Send) -> napi::Result<O>
where
    O: Send,
{
    let pool = crate::pool::current()?;
    match catch_unwind(AssertUnwindSafe(|| pool.install(f))) {
        Ok(r) => r.map_err(to_js),
        Err(p) => Err(napi::Error::from_reason(format!("Error: internal error in attnclust (a Rust panic, please report it): {}", panic_message(p)))),
    }
}

type Work<O> = Box<dyn FnOnce() -> Result<O, CoreError> + Send>;

/// A unit of work for the libuv thread pool. Its inputs are owned copies: JS may change its typed
/// arrays while the work runs.
pub struct Job<O: Send + 'static> {
    work: Option<Work<O>>,
}

impl<O: ToNapiValue + TypeName + Send + 'static> Job<O> {
    pub fn spawn(work: impl FnOnce() -> Result<O, CoreError> + Send + 'static, signal: Option<AbortSignal>) -> AsyncTask<Job<O>> {
        AsyncTask::with_optional_signal(Job { work: Some(Box::new(work)) }, signal)
    }
}

impl<O: ToNapiValue + TypeName + Send + 'static> Task for Job<O> {
    type Output = O;
    type JsValue = O;

    fn compute(&mut self) -> napi::Result<O> {
        let work = self.work.take().ok_or_else(|| napi::Error::from_reason("Error: job ran twice"))?;
        guard(work)
    }

    fn resolve(&mut self, _env: Env, output: O) -> napi::Result<O> {
        Ok(output)
    }
}

/// Test-only: panics inside a synchronous call, to check that the panic becomes a JS error.
#[napi_derive::napi]
pub fn panic_for_test_sync() -> napi::Result<()> {
    guard(|| -> Result<(), CoreError> { panic!("deliberate panic (sync)") })
}

/// Test-only: panics inside an asynchronous task.
#[napi_derive::napi]
pub fn panic_for_test_async() -> AsyncTask<Job<()>> {
    Job::spawn(|| -> Result<(), CoreError> { panic!("deliberate panic (async)") }, None)
}
