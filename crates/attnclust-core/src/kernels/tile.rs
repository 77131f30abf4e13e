//! Tile products `C := α·C + β·A·B` on strided views, by the `gemm` crate (packing, register-blocked
//! micro-kernels, SIMD chosen at run time: AVX2/FMA, AVX-512, NEON or a portable fallback).
//!
//! This is the only place that calls `gemm`; the wrapper checks every view against its slice so the
//! unsafe call cannot read or write out of bounds.

use crate::kernels::real::Real;

/// A read-only matrix view: element `(i, j)` is `data[i·rs + j·cs]`.
#[derive(Clone, Copy)]
pub struct View<'a, T> {
    /// The elements; `(i, j)` is `data[i·rs + j·cs]`, so `data` must reach index
    /// `(rows − 1)·rs + (cols − 1)·cs`.
    pub data: &'a [T],
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// Row stride, in elements.
    pub rs: usize,
    /// Column stride, in elements (1 for a row-major block).
    pub cs: usize,
}

impl<'a, T> View<'a, T> {
    /// A row-major `rows × cols` block starting at `data[0]` with row stride `rs`.
    pub fn rows(data: &'a [T], rows: usize, cols: usize, rs: usize) -> Self {
        View { data, rows, cols, rs, cs: 1 }
    }
    /// The transpose of a row-major block: element `(i, j)` is `data[j·rs + i]`.
    pub fn transposed(data: &'a [T], rows: usize, cols: usize, rs: usize) -> Self {
        View { data, rows, cols, rs: 1, cs: rs }
    }
    fn fits(&self) -> bool {
        self.rows == 0 || self.cols == 0 || (self.rows - 1) * self.rs + (self.cols - 1) * self.cs < self.data.len()
    }
}

/// `C := β·A·B` (when `accumulate` is false) or `C := C + β·A·B`, `C` row-major with row stride
/// `c_rs`, `A` `m × k`, `B` `k × n`. `k = 0` gives `C := 0` (or leaves `C` when accumulating).
/// A blocked GEMM in the BLIS style (the `gemm` crate's packing and micro-kernels).
///
/// # Panics
/// If `b.rows ≠ a.cols`, or a view or the destination `m × n` block (row stride `c_rs`) lies
/// outside its slice: callers size their buffers first.
pub fn matmul<T: Real>(c: &mut [T], c_rs: usize, a: View<T>, b: View<T>, accumulate: bool, beta: T) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "inner dimensions differ");
    assert!(a.fits() && b.fits(), "a view exceeds its slice");
    assert!(m == 0 || n == 0 || (m - 1) * c_rs + n <= c.len(), "the destination exceeds its slice");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                c[i * c_rs..i * c_rs + n].iter_mut().for_each(|v| *v = T::zero());
            }
        }
        return;
    }
    // SAFETY: the three views were checked above to lie inside their slices (the largest offset
    // each addresses is below its length), `c` is borrowed mutably so it aliases neither input,
    // and `T` is `f32` or `f64`, both supported by `gemm`. Strides fit in `isize` because they
    // index existing slices.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            c_rs as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            T::one(),
            beta,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_triple_loop() {
        for (m, k, n) in [(1, 1, 1), (3, 5, 2), (17, 9, 33), (64, 64, 64), (65, 7, 1)] {
            let a: Vec<f64> = (0..m * k).map(|i| (i % 7) as f64 - 3.0).collect();
            let bt: Vec<f64> = (0..n * k).map(|i| (i % 5) as f64 * 0.5).collect(); // n × k, used as Bᵀ
            let mut c = vec![1.0; m * n];
            matmul(&mut c, n, View::rows(&a, m, k, k), View::transposed(&bt, k, n, k), true, 2.0);
            for i in 0..m {
                for j in 0..n {
                    let s: f64 = (0..k).map(|p| a[i * k + p] * bt[j * k + p]).sum();
                    assert!((c[i * n + j] - (1.0 + 2.0 * s)).abs() < 1e-9);
                }
            }
            let mut c2 = vec![f64::NAN; m * n];
            matmul(&mut c2, n, View::rows(&a, m, k, k), View::transposed(&bt, k, n, k), false, 1.0);
            assert!(c2.iter().zip(&c).all(|(x, y)| (2.0 * x + 1.0 - y).abs() < 1e-9));
        }
    }
}
