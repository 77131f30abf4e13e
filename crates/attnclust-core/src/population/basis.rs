//! An orthonormal basis of the span of a few vectors, and coordinates in it.

/// Rows `p_1 … p_r` (each of length `d`), orthonormal, spanning the given vectors up to a relative
/// tolerance: a vector whose component outside the span so far is at most `1e-13 · max‖v‖` adds no
/// direction (dropping it changes the quantities computed here by a relative `O(1e-13)`).
#[derive(Clone, Debug)]
pub struct Basis {
    /// Dimension `d` of the ambient space.
    pub dim: usize,
    /// The orthonormal rows `p_1 … p_r`, each of length `d` (`Pᵀ`, `r × d`).
    pub rows: Vec<Vec<f64>>,
}

impl Basis {
    /// Modified Gram–Schmidt with one re-orthogonalisation pass ("twice is enough").
    pub fn of(vectors: &[&[f64]], dim: usize) -> Basis {
        let scale = vectors.iter().map(|v| norm(v)).fold(0.0, f64::max);
        let mut rows: Vec<Vec<f64>> = Vec::new();
        for v in vectors {
            let mut u = v.to_vec();
            for _ in 0..2 {
                for p in &rows {
                    let c = dot(&u, p);
                    u.iter_mut().zip(p).for_each(|(a, b)| *a -= c * b);
                }
            }
            let n = norm(&u);
            if n > 1e-13 * scale && n > 0.0 {
                u.iter_mut().for_each(|a| *a /= n);
                rows.push(u);
            }
        }
        Basis { dim, rows }
    }

    /// `r`, the number of basis rows (the dimension of the span, up to the tolerance).
    pub fn rank(&self) -> usize {
        self.rows.len()
    }

    /// `Pᵀv`: the coordinates of `v` in the basis.
    pub fn coords(&self, v: &[f64]) -> Vec<f64> {
        self.rows.iter().map(|p| dot(p, v)).collect()
    }

    /// `(I − PPᵀ) v`: the part of `v` orthogonal to the span.
    pub fn perp(&self, v: &[f64]) -> Vec<f64> {
        let mut u = v.to_vec();
        for p in &self.rows {
            let c = dot(v, p);
            u.iter_mut().zip(p).for_each(|(a, b)| *a -= c * b);
        }
        u
    }

    /// `out += Σ_j c_j p_j`.
    pub fn add_lifted(&self, c: &[f64], out: &mut [f64]) {
        for (p, &cj) in self.rows.iter().zip(c) {
            out.iter_mut().zip(p).for_each(|(o, b)| *o += cj * b);
        }
    }
}

pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `‖v‖`, scaled so that it neither overflows nor underflows.
pub(crate) fn norm(v: &[f64]) -> f64 {
    let m = v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    if m == 0.0 || !m.is_finite() {
        return m;
    }
    m * v.iter().map(|x| (x / m) * (x / m)).sum::<f64>().sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_and_projects() {
        let a = [1.0, 2.0, 0.0, 0.0];
        let b = [2.0, 4.0, 0.0, 0.0]; // parallel to a: no new direction
        let c = [0.0, 1.0, 1.0, 0.0];
        let basis = Basis::of(&[&a, &b, &c], 4);
        assert_eq!(basis.rank(), 2);
        for p in &basis.rows {
            assert!((norm(p) - 1.0).abs() < 1e-15);
        }
        assert!(dot(&basis.rows[0], &basis.rows[1]).abs() < 1e-15);
        let v = [3.0, -1.0, 2.0, 5.0];
        let mut back = basis.perp(&v);
        basis.add_lifted(&basis.coords(&v), &mut back);
        for (x, y) in back.iter().zip(&v) {
            assert!((x - y).abs() < 1e-14);
        }
        assert!((basis.perp(&v)[3] - 5.0).abs() < 1e-15);
        assert_eq!(Basis::of(&[&[0.0, 0.0][..]], 2).rank(), 0);
    }
}
