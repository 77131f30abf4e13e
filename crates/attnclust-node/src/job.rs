//! Running core work safely: inside the pool, with panics caught, sync or as a job settling a
//! promise, and stoppable.
//!
//! Cancellation lives in Rust ([`attnclust_core::kernels::cancel`]): every async job runs under a
//! token that the kernels check at each chunk boundary. The token is set
//! - by the call's `AbortSignal`, through a [`CancelToken`] that TypeScript sets from the signal's
//!   `abort` event (not napi-rs's own `AbortSignal` argument, which replaces the signal's
//!   `onabort` property: a user's handler there would be lost);
//! - for all in-flight jobs of an environment when it is torn down (a worker's `terminate()`, the
//!   end of the main thread: the env cleanup hook) or when `process.exit()` is called (the `exit`
//!   event, which TypeScript forwards to [`cancel_in_flight`]): without it, Node would wait for
//!   every running libuv task before exiting.
//!
//! A synchronous call cannot be reached by any of these: its JS thread is inside the call, and
//! Node runs an environment's cleanup hooks only after the thread is back from native code. So a
//! call large enough for the pool ([`guard`]) runs under its own token while its JS thread waits,
//! asking Node every [`PROBE_EVERY`] whether the environment is being torn down
//! ([`env_stopping`]); the token is set when it is. Smaller calls run on the calling thread,
//! unprobed (they take well under a millisecond).

use attnclust_core::kernels::cancel::Cancel;
use attnclust_core::Error as CoreError;
use napi::bindgen_prelude::{JsValue, Object, ToNapiValue};
use napi::Env;
use napi_derive::napi;
use std::cell::Cell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

pub use crate::errors::to_js;

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

fn internal(p: Box<dyn std::any::Any + Send>) -> napi::Error {
    napi::Error::from_reason(format!("Error: internal error in attnclust (a Rust panic, please report it): {}", panic_message(p)))
}

/// Runs `f` in the attnclust pool; a panic becomes an `Error: internal error …` JS error. Called
/// on a JavaScript thread, the call is stoppable: it rejects with an `AbortError` soon after the
/// thread's environment starts being torn down (see [`run_stoppable`]).
pub fn guard<O>(f: impl FnOnce() -> Result<O, CoreError> + Send) -> napi::Result<O>
where
    O: Send,
{
    in_pool(true, f)
}

/// [`guard`]; `stoppable: false` waits for the pool unprobed (for calls known to be short).
fn in_pool<O>(stoppable: bool, f: impl FnOnce() -> Result<O, CoreError> + Send) -> napi::Result<O>
where
    O: Send,
{
    let pool = crate::pool::current()?;
    match catch_unwind(AssertUnwindSafe(|| match js_env() {
        Some(env) if stoppable && rayon::current_thread_index().is_none() => run_stoppable(&pool, env, f),
        _ => pool.install(f),
    })) {
        Ok(r) => r.map_err(to_js),
        Err(p) => Err(internal(p)),
    }
}

thread_local! {
    /// The Node.js environment of this JavaScript thread (the main thread or a worker's), set when
    /// the addon is loaded into it ([`attach`]) and cleared when it is torn down; `None` on the pool.
    /// The one record of it: a synchronous call probes it to stop when its worker is terminated
    /// ([`run_stoppable`]), and builds its JS error objects in it (`errors.rs`).
    static JS_ENV: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Records the environment that loads the addon (once per environment: the main thread, each
/// worker), so that a synchronous call made on its thread can see it being torn down and can
/// throw real JS error objects (`crate::errors::to_js`).
#[napi(module_exports)]
pub fn attach(_exports: Object, env: Env) -> napi::Result<()> {
    let key = env.raw() as usize;
    JS_ENV.with(|e| e.set(Some(key)));
    env.add_env_cleanup_hook(key, |key| {
        JS_ENV.with(|e| {
            if e.get() == Some(key) {
                e.set(None);
            }
        })
    })?;
    Ok(())
}

/// The environment of the calling JavaScript thread ([`attach`]); `None` on other threads.
pub(crate) fn js_env() -> Option<napi::sys::napi_env> {
    JS_ENV.with(|e| e.get()).map(|k| k as napi::sys::napi_env)
}

/// How often a synchronous call waiting for the pool asks whether its environment is stopping.
/// Each probe is one Node-API call (≈ 0.1 µs), so its cost is nil; the period bounds the delay
/// it adds to `worker.terminate()`.
const PROBE_EVERY: Duration = Duration::from_millis(10);

/// Whether `env` is being torn down (`worker.terminate()`; `process.exit()` on the main thread,
/// which stops every worker first): Node marks it stopping (`Environment::ExitEnv` sets an atomic
/// flag, from the thread that stops it, before it terminates the isolate) and from then on every
/// Node-API call that may run JavaScript fails (`NAPI_PREAMBLE`:
/// `can_call_into_js()` is false; the status is `napi_pending_exception`, or `napi_cannot_run_js`
/// for modules built for experimental Node-API). `napi_strict_equals` is such a call and the
/// cheapest one: it compares `undefined` with itself. `probe` caches the `undefined` handle.
///
/// Must run on the thread of `env`, inside a call from JavaScript.
fn env_stopping(env: napi::sys::napi_env, probe: &mut Option<napi::sys::napi_value>) -> bool {
    use napi::sys::{napi_get_undefined, napi_strict_equals, Status};
    let v = match *probe {
        Some(v) => v,
        None => {
            let mut v = std::ptr::null_mut();
            // No `NAPI_PREAMBLE` here: it succeeds while the environment stops.
            if unsafe { napi_get_undefined(env, &mut v) } != Status::napi_ok {
                return true;
            }
            *probe = Some(v);
            v
        }
    };
    let mut equal = false;
    let status = unsafe { napi_strict_equals(env, v, v, &mut equal) };
    status == Status::napi_pending_exception || status == Status::napi_cannot_run_js
}

/// What a call on the pool ended with: its result, or the payload of its panic.
type Outcome<O> = std::thread::Result<Result<O, CoreError>>;

/// Runs `f` on the pool while the calling JavaScript thread waits, asking every [`PROBE_EVERY`]
/// whether its environment `env` is stopping; if so it sets the call's cancellation token, and the
/// kernels stop at their next chunk boundary (`Err(Cancelled)`, an `AbortError`). Node can only
/// tear a worker down once its thread is back from native code (its env cleanup hooks, which
/// cancel the async jobs, run after that), so without this a long synchronous call would hold
/// `worker.terminate()` (and `process.exit()` on the main thread, which stops every worker
/// first) until it returned. A panic of `f` is resumed on the calling thread.
fn run_stoppable<O: Send>(pool: &rayon::ThreadPool, env: napi::sys::napi_env, f: impl FnOnce() -> Result<O, CoreError> + Send) -> Result<O, CoreError> {
    let cancel = Cancel::new();
    // The call's outcome (a panic is carried over, then resumed here), and its arrival.
    let done: (Mutex<Option<Outcome<O>>>, Condvar) = (Mutex::new(None), Condvar::new());
    let (cancel_ref, done_ref) = (&cancel, &done);
    let out = pool.in_place_scope(move |s| {
        s.spawn(move |_| {
            let r = catch_unwind(AssertUnwindSafe(|| cancel_ref.run(f)));
            let mut slot = done_ref.0.lock().unwrap_or_else(|p| p.into_inner());
            *slot = Some(r);
            done_ref.1.notify_one();
        });
        let mut probe = None;
        let mut slot = done_ref.0.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(r) = slot.take() {
                return r;
            }
            let (s, wait) = done_ref.1.wait_timeout(slot, PROBE_EVERY).unwrap_or_else(|p| p.into_inner());
            slot = s;
            if wait.timed_out() && slot.is_none() && !cancel_ref.is_cancelled() && env_stopping(env, &mut probe) {
                cancel_ref.cancel();
            }
        }
    });
    out.unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// Below this much work (≈ multiply-adds) a synchronous call runs on the calling thread: handing it
/// to the pool and waiting (a thread wake-up each way, ≈ 10–20 µs) would cost more than the work.
const INLINE_WORK: usize = 1 << 15;

/// From this much work (≈ multiply-adds; ≈ 0.2 ms of identity attention) a synchronous call on
/// the pool is made stoppable ([`run_stoppable`]). Below it the call ends within a millisecond
/// anyway, and the plain wait for the pool is ≈ 7 µs cheaper (measured on a call of 25 µs:
/// 25 µs vs 32 µs, best of 30 runs each).
const STOPPABLE_WORK: usize = 1 << 20;

/// [`guard`], but on the calling thread when `work` (≈ multiply-adds) is below [`INLINE_WORK`]
/// (the kernels' `Par::Rayon` then runs sequentially: no pool is woken), and not stoppable below
/// [`STOPPABLE_WORK`].
pub fn guard_sized<O>(work: usize, f: impl FnOnce() -> Result<O, CoreError> + Send) -> napi::Result<O>
where
    O: Send,
{
    if work >= INLINE_WORK {
        return in_pool(work >= STOPPABLE_WORK, f);
    }
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r.map_err(to_js),
        Err(p) => Err(internal(p)),
    }
}

/// A cancellation token for one async call, set from JS (`cancel()`, from an `AbortSignal`).
#[napi]
pub struct CancelToken {
    inner: Cancel,
}

#[napi]
impl CancelToken {
    /// A token not yet set.
    #[napi(constructor)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        CancelToken { inner: Cancel::new() }
    }

    /// Stops the call(s) running under this token at their next chunk boundary (they reject with
    /// an `AbortError`).
    #[napi]
    pub fn cancel(&self) {
        self.inner.cancel();
    }
}

/// The tokens of the jobs in flight, by id, with the environment (`napi_env` address) that started them.
static IN_FLIGHT: Mutex<Option<HashMap<u64, (usize, Cancel)>>> = Mutex::new(None);
/// The environments whose cleanup hook is installed.
static HOOKED: Mutex<Option<HashSet<usize>>> = Mutex::new(None);
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// Sets the token of every job in flight started by environment `env`.
fn cancel_env(env: usize) {
    if let Ok(mut m) = IN_FLIGHT.lock() {
        for (e, c) in m.get_or_insert_with(HashMap::new).values() {
            if *e == env {
                c.cancel();
            }
        }
    }
}

/// Installs (once per environment) the cleanup hook that cancels the environment's jobs.
fn hook(env: &Env) {
    let key = env.raw() as usize;
    let Ok(mut h) = HOOKED.lock() else { return };
    if h.get_or_insert_with(HashSet::new).insert(key) {
        let installed = env.add_env_cleanup_hook(key, |key| {
            cancel_env(key);
            if let Ok(mut h) = HOOKED.lock() {
                h.get_or_insert_with(HashSet::new).remove(&key);
            }
        });
        if installed.is_err() {
            h.get_or_insert_with(HashSet::new).remove(&key);
        }
    }
}

/// Stops every async call in flight that this JS environment (thread) started: they reject with
/// an `AbortError` at their next chunk boundary. Called on `process.exit()`.
#[napi]
pub fn cancel_in_flight(env: Env) {
    cancel_env(env.raw() as usize);
}

/// The promise of an async call, as returned to JS (its TypeScript type is given per function).
pub struct Promise(napi::sys::napi_value);

impl ToNapiValue for Promise {
    unsafe fn to_napi_value(_env: napi::sys::napi_env, val: Self) -> napi::Result<napi::sys::napi_value> {
        Ok(val.0)
    }
}

/// Why a job failed.
enum Failure {
    /// A core error: made into its JS error on the JS thread.
    Core(CoreError),
    /// A panic, already an `Error: internal error …`.
    Internal(napi::Error),
}

/// What a job does when its token is set while it runs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum OnCancel {
    /// Reject with an `AbortError` (the kernels stop at their next chunk boundary).
    Reject,
    /// Resolve with what the work returned: the work stops early by itself and reports how far it
    /// went (training: the steps completed, whose parameters the layer keeps).
    Partial,
}

/// Jobs waiting for a runner, and the number of runners on the pool.
struct Dispatch {
    queue: VecDeque<Box<dyn FnOnce() + Send>>,
    runners: usize,
}

static DISPATCH: Mutex<Dispatch> = Mutex::new(Dispatch { queue: VecDeque::new(), runners: 0 });

/// Queues `task` for the pool, with at most one runner per pool thread: the jobs run in call order,
/// and a synchronous call (which enters the pool's own queue) waits behind at most one job per
/// thread, not behind every job in flight (64 training runs under `Promise.all`).
fn submit(pool: &rayon::ThreadPool, task: impl FnOnce() + Send + 'static) {
    let Ok(mut d) = DISPATCH.lock() else { return };
    d.queue.push_back(Box::new(task));
    if d.runners < pool.current_num_threads() {
        d.runners += 1;
        drop(d);
        pool.spawn(run_queue);
    }
}

/// A runner: runs queued jobs until the queue is empty.
fn run_queue() {
    loop {
        let task = {
            let Ok(mut d) = DISPATCH.lock() else { return };
            match d.queue.pop_front() {
                Some(t) => t,
                None => {
                    d.runners -= 1;
                    return;
                }
            }
        };
        task();
    }
}

/// Async calls run as jobs on the attnclust pool (not on libuv's thread pool: Node waits for every
/// libuv task before it tears a worker down, so a running task would hold `worker.terminate()`
/// until it finished). The job settles a promise through a threadsafe function; its inputs are
/// owned copies (JS may change its typed arrays while the work runs).
pub struct Job;

impl Job {
    /// Starts `work` on the pool and returns its promise. The job is stopped by `token` (when
    /// given), by the teardown of `env` and by [`cancel_in_flight`].
    pub fn spawn<O>(env: &Env, work: impl FnOnce() -> Result<O, CoreError> + Send + 'static, token: Option<&CancelToken>) -> napi::Result<Promise>
    where
        O: ToNapiValue + Send + 'static,
    {
        Job::spawn_with(env, work, token, OnCancel::Reject)
    }

    /// [`Job::spawn`] with a choice of what a cancellation does.
    pub fn spawn_with<O>(
        env: &Env,
        work: impl FnOnce() -> Result<O, CoreError> + Send + 'static,
        token: Option<&CancelToken>,
        on_cancel: OnCancel,
    ) -> napi::Result<Promise>
    where
        O: ToNapiValue + Send + 'static,
    {
        hook(env);
        let pool = crate::pool::current()?;
        let cancel = token.map_or_else(Cancel::new, |t| t.inner.clone());
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut m) = IN_FLIGHT.lock() {
            m.get_or_insert_with(HashMap::new).insert(id, (env.raw() as usize, cancel.clone()));
        }
        let (deferred, promise) = env.create_deferred()?;
        let raw = promise.raw();
        submit(&pool, move || {
            let run = || match on_cancel {
                OnCancel::Reject => cancel.run(work),
                OnCancel::Partial => cancel.run_partial(work),
            };
            // A core error stays data until the promise settles on the JS thread, where it
            // becomes its JS error object (`errors.rs`).
            let r = match catch_unwind(AssertUnwindSafe(run)) {
                Ok(r) => r.map_err(Failure::Core),
                Err(p) => Err(Failure::Internal(internal(p))),
            };
            if let Ok(mut m) = IN_FLIGHT.lock() {
                m.get_or_insert_with(HashMap::new).remove(&id);
            }
            deferred.resolve(move |env| match r {
                Ok(v) => Ok(v),
                Err(Failure::Core(e)) => Err(crate::errors::in_env(&env, e)),
                Err(Failure::Internal(e)) => Err(e),
            });
        });
        Ok(Promise(raw))
    }
}

/// Test-only: panics inside a synchronous call, to check that the panic becomes a JS error.
#[napi]
pub fn panic_for_test_sync() -> napi::Result<()> {
    guard(|| -> Result<(), CoreError> { panic!("deliberate panic (sync)") })
}

/// Test-only: panics inside an asynchronous task.
#[napi(ts_return_type = "Promise<void>")]
pub fn panic_for_test_async(env: Env) -> napi::Result<Promise> {
    Job::spawn(&env, || -> Result<(), CoreError> { panic!("deliberate panic (async)") }, None)
}
