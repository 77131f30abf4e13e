//! The rayon pool every call runs in; its size is set from JS (`setThreads`).

use napi_derive::napi;
use rayon::{ThreadPool, ThreadPoolBuilder};
use std::sync::{Arc, RwLock};

static POOL: RwLock<Option<Arc<ThreadPool>>> = RwLock::new(None);

fn default_threads() -> usize {
    std::env::var("ATTNCLUST_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n >= 1)
        .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
}

fn build(n: usize) -> napi::Result<Arc<ThreadPool>> {
    ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("attnclust-{i}"))
        .build()
        .map(Arc::new)
        .map_err(|e| napi::Error::from_reason(format!("Error: could not start {n} threads: {e}")))
}

/// The current pool, started on first use.
pub fn current() -> napi::Result<Arc<ThreadPool>> {
    if let Some(p) = POOL.read().map_err(|_| poisoned())?.as_ref() {
        return Ok(p.clone());
    }
    let mut w = POOL.write().map_err(|_| poisoned())?;
    if w.is_none() {
        *w = Some(build(default_threads())?);
    }
    Ok(w.as_ref().expect("just set").clone())
}

fn poisoned() -> napi::Error {
    napi::Error::from_reason("Error: the thread pool lock is poisoned")
}

/// Most worker threads [`set_threads`] accepts.
pub const MAX_THREADS: u32 = 256;

/// Sets the number of worker threads used by every later call (1 to [`MAX_THREADS`]). Results do not depend on
/// it: work is split into fixed-size chunks. The pool is per process (a static shared by every
/// Node.js environment, main thread and workers), so a worker's call changes it for all.
#[napi]
pub fn set_threads(n: u32) -> napi::Result<()> {
    if !(1..=MAX_THREADS).contains(&n) {
        return Err(crate::errors::to_js(attnclust_core::Error::range("threads", format!("an integer in [1, {MAX_THREADS}]"), n)));
    }
    let p = build(n as usize)?;
    *POOL.write().map_err(|_| poisoned())? = Some(p);
    Ok(())
}

/// The number of worker threads in use.
#[napi]
pub fn get_threads() -> napi::Result<u32> {
    Ok(current()?.current_num_threads() as u32)
}
