//! Cooperative cancellation: a flag that long kernels check at their chunk boundaries.
//!
//! A caller that may want to stop a call makes a [`Cancel`] token, runs the call inside
//! [`Cancel::run`] and sets the token from any thread ([`Cancel::cancel`]). The kernels see it
//! without taking it as an argument: the chunk engine ([`crate::kernels::par::Par`]) reads the
//! token of the calling thread before it spreads work, checks it before each chunk and hands it to
//! the threads that run the chunks; a few long sequential loops call [`checkpoint`]. A set token
//! stops the call at the next chunk boundary by unwinding with the payload [`Cancelled`], which
//! [`Cancel::run`] turns into a cancelled [`crate::Error`] ([`crate::ErrorKind::Cancelled`]); no partial result escapes. Without a
//! token (the default) a check costs one thread-local read.
//!
//! Unwinding is used (not a `Result` threaded through every kernel) so that a kernel needs no
//! change to become cancellable, and an early exit from a parallel map leaves no hole in its output.

use std::cell::RefCell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The unwind payload of a cancelled call (see [`Cancel::run`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancelled;

/// A cancellation token: cheap to clone, shared by every clone; `Cancel::default()` never fires.
#[derive(Clone, Debug, Default)]
pub struct Cancel(Option<Arc<AtomicBool>>);

thread_local! {
    static CURRENT: RefCell<Cancel> = const { RefCell::new(Cancel(None)) };
}

/// Restores the thread's previous token when dropped (also while unwinding).
struct Restore(Option<Cancel>);

impl Drop for Restore {
    fn drop(&mut self) {
        if let Some(prev) = self.0.take() {
            CURRENT.with(|c| *c.borrow_mut() = prev);
        }
    }
}

impl Cancel {
    /// A fresh token, not set.
    pub fn new() -> Self {
        Cancel(Some(Arc::new(AtomicBool::new(false))))
    }

    /// Sets the token: every call running under it stops at its next chunk boundary.
    pub fn cancel(&self) {
        if let Some(f) = &self.0 {
            f.store(true, Ordering::Relaxed);
        }
    }

    /// Whether the token was set.
    #[inline]
    pub fn is_cancelled(&self) -> bool {
        self.0.as_ref().is_some_and(|f| f.load(Ordering::Relaxed))
    }

    /// The token of the call running on this thread (a never-set token outside [`Cancel::run`]).
    #[inline]
    pub fn current() -> Cancel {
        CURRENT.with(|c| c.borrow().clone())
    }

    /// Unwinds with [`Cancelled`] when the token is set (a chunk boundary).
    #[inline]
    pub fn checkpoint(&self) {
        if self.is_cancelled() {
            resume_unwind(Box::new(Cancelled));
        }
    }

    /// Runs `f` with this token as the thread's current one, without catching anything: for the
    /// chunks that a parallel loop runs on other threads.
    #[inline]
    pub(crate) fn enter<R>(&self, f: impl FnOnce() -> R) -> R {
        if self.0.is_none() && CURRENT.with(|c| c.borrow().0.is_none()) {
            return f();
        }
        let prev = CURRENT.with(|c| std::mem::replace(&mut *c.borrow_mut(), self.clone()));
        let _restore = Restore(Some(prev));
        f()
    }

    /// Runs `f` under this token: `Err(Error::cancelled())` when it was stopped (or the token was
    /// already set), else what `f` returned. Other panics propagate unchanged.
    pub fn run<R>(&self, f: impl FnOnce() -> crate::Result<R>) -> crate::Result<R> {
        if self.is_cancelled() {
            return Err(crate::Error::cancelled());
        }
        match catch_unwind(AssertUnwindSafe(|| self.enter(f))) {
            Ok(r) => {
                // A kernel whose last chunk raced with the flag may return normally: its result
                // is still dropped, so that a cancelled call never resolves.
                if self.is_cancelled() {
                    Err(crate::Error::cancelled())
                } else {
                    r
                }
            }
            Err(p) if p.is::<Cancelled>() => Err(crate::Error::cancelled()),
            Err(p) => resume_unwind(p),
        }
    }
}

impl Cancel {
    /// [`Cancel::run`] for work that stops early by itself and reports how far it went (see
    /// [`attempt`]): its result comes through even when the token was set while it ran.
    ///
    /// # Errors
    /// What `f` returns; [`crate::ErrorKind::Cancelled`] when a chunk outside [`attempt`] was stopped.
    pub fn run_partial<R>(&self, f: impl FnOnce() -> crate::Result<R>) -> crate::Result<R> {
        match catch_unwind(AssertUnwindSafe(|| self.enter(f))) {
            Ok(r) => r,
            Err(p) if p.is::<Cancelled>() => Err(crate::Error::cancelled()),
            Err(p) => resume_unwind(p),
        }
    }
}

/// Runs one unit of a resumable loop (a training step): `None` when the current call was
/// cancelled before or during it (its partial work is dropped), so that the loop can stop and
/// return the units it completed. Other panics propagate.
pub fn attempt<R>(f: impl FnOnce() -> R) -> Option<R> {
    if Cancel::current().is_cancelled() {
        return None;
    }
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => Some(r),
        Err(p) if p.is::<Cancelled>() => None,
        Err(p) => resume_unwind(p),
    }
}

/// A chunk boundary in a long sequential loop: unwinds when the current call was cancelled.
#[inline]
pub fn checkpoint() {
    CURRENT.with(|c| c.borrow().checkpoint());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::par::Par;

    #[test]
    fn a_set_token_stops_a_parallel_map_at_a_chunk_boundary() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let token = Cancel::new();
        let seen = std::sync::atomic::AtomicUsize::new(0);
        let r = pool.install(|| {
            token.run(|| {
                Ok(Par::Rayon.map(10_000, |i| {
                    if seen.fetch_add(1, Ordering::Relaxed) == 10 {
                        Cancel::current().cancel();
                    }
                    // Nested chunk loops see the token on the worker threads too.
                    Par::Seq.map(3, |j| i + j).len()
                }))
            })
        });
        assert_eq!(r, Err(crate::Error::cancelled()));
        assert!(seen.load(Ordering::Relaxed) < 10_000);
        // The thread's token is restored after the unwind.
        assert!(!Cancel::current().is_cancelled());
    }

    #[test]
    fn without_a_signal_the_result_comes_through_and_other_panics_propagate() {
        let token = Cancel::new();
        assert_eq!(token.run(|| Ok(Par::Seq.map(4, |i| i * 2))), Ok(vec![0, 2, 4, 6]));
        let p = catch_unwind(|| token.run(|| -> crate::Result<()> { panic!("other") }));
        assert!(p.is_err());
        token.cancel();
        assert_eq!(token.run(|| Ok(1)), Err(crate::Error::cancelled()));
        assert_eq!(Cancel::default().run(|| Ok(2)), Ok(2));
    }
}
