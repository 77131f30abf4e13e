//! Parallelism is an argument: `Par::Seq` never spawns, `Par::Rayon` uses the current rayon pool.
//!
//! Kernels split their work into chunks of a fixed size (never "one chunk per thread"), so the
//! arithmetic, and hence the result, is the same whatever the number of threads.
//!
//! Every chunk starts with a cancellation check ([`crate::kernels::cancel`]): the token of the
//! calling thread is read once and handed to the threads that run the chunks.

use crate::kernels::cancel::Cancel;
use rayon::prelude::*;

/// How a kernel may spread its chunks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Par {
    /// On the calling thread, in chunk order.
    Seq,
    /// On the threads of the rayon pool the caller runs in (`ThreadPool::install`). Outside any
    /// pool it is [`Par::Seq`]: a small call run on the caller's own thread never wakes, nor
    /// starts, rayon's global pool.
    #[default]
    Rayon,
}

impl Par {
    /// `self`, or [`Par::Seq`] when the calling thread is not a thread of a rayon pool.
    #[inline]
    fn here(self) -> Par {
        if self == Par::Rayon && rayon::current_thread_index().is_none() {
            Par::Seq
        } else {
            self
        }
    }

    /// Sequential when the work (in rough flop) is below `threshold`, else `self`.
    pub fn above(self, work: usize, threshold: usize) -> Par {
        if work < threshold {
            Par::Seq
        } else {
            self
        }
    }

    /// Maps `f` over `0..n` and returns the results in index order.
    pub fn map<R: Send, F: Fn(usize) -> R + Sync + Send>(self, n: usize, f: F) -> Vec<R> {
        let c = Cancel::current();
        match self.here() {
            Par::Seq => (0..n)
                .map(|i| {
                    c.checkpoint();
                    f(i)
                })
                .collect(),
            Par::Rayon => (0..n)
                .into_par_iter()
                .map(|i| {
                    c.enter(|| {
                        c.checkpoint();
                        f(i)
                    })
                })
                .collect(),
        }
    }

    /// Calls `f(i, chunk)` on consecutive chunks of `chunk` elements of `data` (the last may be
    /// shorter).
    pub fn chunks_mut<T: Send, F: Fn(usize, &mut [T]) + Sync + Send>(self, data: &mut [T], chunk: usize, f: F) {
        let chunk = chunk.max(1);
        let cancel = Cancel::current();
        match self.here() {
            Par::Seq => data.chunks_mut(chunk).enumerate().for_each(|(i, c)| {
                cancel.checkpoint();
                f(i, c)
            }),
            Par::Rayon => data.par_chunks_mut(chunk).enumerate().for_each(|(i, c)| {
                cancel.enter(|| {
                    cancel.checkpoint();
                    f(i, c)
                })
            }),
        }
    }
}
