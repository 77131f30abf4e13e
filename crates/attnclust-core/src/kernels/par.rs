//! Parallelism is an argument: `Par::Seq` never spawns, `Par::Rayon` uses the current rayon pool.
//!
//! Kernels split their work into chunks of a fixed size (never "one chunk per thread"), so the
//! arithmetic, and hence the result, is the same whatever the number of threads.

use rayon::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Par {
    Seq,
    #[default]
    Rayon,
}

impl Par {
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
        match self {
            Par::Seq => (0..n).map(f).collect(),
            Par::Rayon => (0..n).into_par_iter().map(f).collect(),
        }
    }

    /// Calls `f(i, chunk)` on consecutive chunks of `chunk` elements of `data` (the last may be
    /// shorter).
    pub fn chunks_mut<T: Send, F: Fn(usize, &mut [T]) + Sync + Send>(self, data: &mut [T], chunk: usize, f: F) {
        let chunk = chunk.max(1);
        match self {
            Par::Seq => data.chunks_mut(chunk).enumerate().for_each(|(i, c)| f(i, c)),
            Par::Rayon => data.par_chunks_mut(chunk).enumerate().for_each(|(i, c)| f(i, c)),
        }
    }
}
