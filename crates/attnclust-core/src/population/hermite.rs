//! Gauss–Hermite quadrature for expectations under standard normals.
//!
//! The `n`-point rule integrates `E f(Z)`, `Z ~ N(0, 1)`, exactly for polynomials `f` of degree
//! `≤ 2n − 1`:
//!
//! ```text
//! E f(Z) ≈ Σ_i w_i f(x_i),      Σ_i w_i = 1
//! ```
//!
//! The nodes are `x_i = √2 ξ_i`, with `ξ_i` the roots of the physicists' Hermite polynomial `H_n`,
//! and `w_i = ω_i / √π` with `ω_i` its Gauss weights. The roots are the eigenvalues of the Jacobi
//! matrix (Golub & Welsch, 1969), polished by Newton's method on the orthonormal Hermite
//! polynomials `h_j = H_j / √(2ʲ j! √π)`, evaluated by the stable three-term recurrence
//!
//! ```text
//! h_0 = π^{−1/4},  h_1 = √2 ξ h_0,   h_j = √(2/j) ξ h_{j−1} − √((j−1)/j) h_{j−2},
//! h_n'(ξ) = √(2n) h_{n−1}(ξ) − ξ h_n(ξ),    ω_i = 2 / h_n'(ξ_i)²  (the −ξ h_n term vanishes at a root),
//! ```
//!
//! Multi-dimensional expectations use the tensor product of the rule ([`tensor`]).

/// An `n`-point rule for `E f(Z)`, `Z ~ N(0, 1)`: nodes in decreasing order, weights summing to 1.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// `x_i = √2 ξ_i`, `n` nodes in decreasing order.
    pub nodes: Vec<f64>,
    /// `w_i`, `n` positive weights summing to 1.
    pub weights: Vec<f64>,
}

/// Largest number of nodes per dimension a rule may have (the recurrence stays accurate well past it).
pub const MAX_NODES: usize = 2048;

/// The `n`-point Gauss–Hermite rule for the standard normal (`1 ≤ n ≤ MAX_NODES`; prior validation
/// assumed), computed once per `n` and process (rules are small and reused by every call).
pub fn rule(n: usize) -> std::sync::Arc<Rule> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<HashMap<usize, Arc<Rule>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(r) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&n) {
        return r.clone();
    }
    let r = Arc::new(compute(n));
    cache.lock().unwrap_or_else(|e| e.into_inner()).insert(n, r.clone());
    r
}

fn compute(n: usize) -> Rule {
    assert!((1..=MAX_NODES).contains(&n), "rule size {n} outside [1, {MAX_NODES}]");
    // Golub–Welsch: the roots of H_n are the eigenvalues of the Jacobi matrix (zero diagonal,
    // off-diagonal √(j/2)); each is then polished by Newton's method on the recurrence, which also
    // gives its weight to full relative precision.
    let mut xi = jacobi_eigenvalues(n);
    xi.sort_by(|a, b| b.total_cmp(a));
    let mut om = vec![0.0f64; n];
    for i in 0..n.div_ceil(2) {
        // Symmetric rule: polish the non-negative half, mirror it.
        let mut z = if n % 2 == 1 && i == n / 2 { 0.0 } else { xi[i].abs() };
        let mut log_w = 0.0;
        for it in 0..3 {
            let (h_n, h_nm1, scale) = hermite(n, z);
            let deriv = (2.0 * n as f64).sqrt() * h_nm1;
            // ω = 2 / (h_n'(ξ))², with h_n' = √(2n) h_{n−1} at a root, all times 2^scale.
            log_w = std::f64::consts::LN_2 - 2.0 * (deriv.abs().ln() + f64::from(scale) * std::f64::consts::LN_2);
            if it < 2 && z != 0.0 {
                let step = h_n / deriv;
                if step.abs() < 0.1 {
                    z -= step;
                }
            }
        }
        xi[i] = z;
        xi[n - 1 - i] = -z;
        om[i] = log_w.exp();
        om[n - 1 - i] = om[i];
    }
    let sqrt_pi = std::f64::consts::PI.sqrt();
    let sum: f64 = om.iter().sum::<f64>();
    Rule {
        nodes: xi.iter().map(|&v| v * std::f64::consts::SQRT_2).collect(),
        // Normalised by their computed sum (√π to a few ulps): the rule integrates constants exactly.
        weights: om.iter().map(|&w| w / sum).collect(),
    }
    .checked(sqrt_pi, sum)
}

impl Rule {
    fn checked(self, expected: f64, sum: f64) -> Rule {
        debug_assert!((sum / expected - 1.0).abs() < 1e-10, "Gauss–Hermite weights sum to {sum}, not √π");
        self
    }
}

/// `(h_n(z), h_{n−1}(z), s)`: the orthonormal Hermite polynomials (`h_0 = π^{−1/4}`,
/// `h_j = √(2/j) z h_{j−1} − √((j−1)/j) h_{j−2}`), both times `2^{−s}` (rescaled as the recurrence
/// grows, so that large `n` and `z` neither overflow nor lose the weights).
fn hermite(n: usize, z: f64) -> (f64, f64, i32) {
    const PIM4: f64 = 0.751_125_544_464_942_5; // π^{−1/4}
    let (mut p1, mut p2, mut scale) = (PIM4, 0.0f64, 0i32);
    for j in 1..=n {
        let jf = j as f64;
        let p3 = p2;
        p2 = p1;
        p1 = z * (2.0 / jf).sqrt() * p2 - ((jf - 1.0) / jf).sqrt() * p3;
        if p1.abs() > 1e150 {
            p1 *= 2f64.powi(-500);
            p2 *= 2f64.powi(-500);
            scale += 500;
        }
    }
    (p1, p2, scale)
}

/// Eigenvalues of the `n × n` symmetric tridiagonal matrix with zero diagonal and off-diagonal
/// `√(j/2)`, `j = 1 … n−1`, by the implicit QL method with Wilkinson shifts (Press et al.,
/// *Numerical Recipes*, `tqli`, eigenvalues only).
fn jacobi_eigenvalues(n: usize) -> Vec<f64> {
    let mut d = vec![0.0f64; n];
    let mut e: Vec<f64> = (1..=n).map(|j| if j < n { (j as f64 / 2.0).sqrt() } else { 0.0 }).collect();
    for l in 0..n {
        for _ in 0..200 {
            let mut m = l;
            while m + 1 < n {
                let dd = d[m].abs() + d[m + 1].abs();
                if e[m].abs() <= f64::EPSILON * dd {
                    break;
                }
                m += 1;
            }
            if m == l {
                break;
            }
            let mut g = (d[l + 1] - d[l]) / (2.0 * e[l]);
            let mut r = g.hypot(1.0);
            g = d[m] - d[l] + e[l] / (g + r.copysign(g));
            let (mut s, mut c, mut p) = (1.0f64, 1.0f64, 0.0f64);
            let mut underflow = false;
            for i in (l..m).rev() {
                let f = s * e[i];
                let b = c * e[i];
                r = f.hypot(g);
                e[i + 1] = r;
                if r == 0.0 {
                    d[i + 1] -= p;
                    e[m] = 0.0;
                    underflow = true;
                    break;
                }
                s = f / r;
                c = g / r;
                g = d[i + 1] - p;
                r = (d[i] - g) * s + 2.0 * c * b;
                p = s * r;
                d[i + 1] = g + p;
                g = c * r - b;
            }
            if underflow {
                continue;
            }
            d[l] -= p;
            e[l] = g;
            e[m] = 0.0;
        }
    }
    d
}

/// Calls `f(node, weight)` for each node of the `r`-fold tensor product of `rule` (row-major over
/// the multi-index; `r = 0` is the single node at the origin with weight 1).
pub fn tensor(rule: &Rule, r: usize, mut f: impl FnMut(&[f64], f64)) {
    let rows = if r == 0 { 1 } else { rule.nodes.len() };
    for first in 0..rows {
        tensor_row(rule, r, first, &mut f);
    }
}

/// Like [`tensor`], over the nodes whose first index is `first` only (`r ≥ 1`; for `r = 0` the
/// single node, when `first` is 0): the `n` rows of the tensor product are independent chunks of
/// work, each visited in the same order as by [`tensor`].
pub fn tensor_row(rule: &Rule, r: usize, first: usize, mut f: impl FnMut(&[f64], f64)) {
    if r == 0 {
        if first == 0 {
            f(&[], 1.0);
        }
        return;
    }
    let n = rule.nodes.len();
    let mut idx = vec![0usize; r];
    idx[0] = first;
    let mut z = vec![0.0f64; r];
    loop {
        let mut w = 1.0;
        for (j, &i) in idx.iter().enumerate() {
            z[j] = rule.nodes[i];
            w *= rule.weights[i];
        }
        f(&z, w);
        let mut j = r;
        loop {
            if j == 1 {
                return;
            }
            j -= 1;
            idx[j] += 1;
            if idx[j] < n {
                break;
            }
            idx[j] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `E Z^{2m}` of the standard normal: `(2m − 1)!!`.
    fn moment(p: u32) -> f64 {
        if p % 2 == 1 {
            return 0.0;
        }
        (1..p).step_by(2).map(f64::from).product()
    }

    #[test]
    fn integrates_polynomials_up_to_degree_2n_minus_1() {
        for n in [1usize, 2, 3, 4, 5, 8, 17, 20] {
            let r = rule(n);
            assert!((r.weights.iter().sum::<f64>() - 1.0).abs() < 1e-15);
            for p in 0..(2 * n as u32).min(24) {
                let q: f64 = r.nodes.iter().zip(&r.weights).map(|(&x, &w)| w * x.powi(p as i32)).sum();
                let m = moment(p);
                // Relative to Σ w |x|^p: odd moments are sums that cancel to 0.
                let size: f64 = r.nodes.iter().zip(&r.weights).map(|(&x, &w)| w * x.abs().powi(p as i32)).sum();
                assert!((q - m).abs() <= 1e-13 * size.max(1.0), "n {n}, degree {p}: {q} vs {m}");
            }
        }
    }

    #[test]
    fn large_rules_converge_on_smooth_integrands() {
        // E cos(Z) = e^{−1/2}, E e^{aZ} = e^{a²/2}: both exact to 1e-14 from n = 40.
        for n in [40usize, 64, 128, 200, 256, 512, 1024, 2048] {
            let r = rule(n);
            let c: f64 = r.nodes.iter().zip(&r.weights).map(|(&x, &w)| w * x.cos()).sum();
            let e: f64 = r.nodes.iter().zip(&r.weights).map(|(&x, &w)| w * (1.5 * x).exp()).sum();
            assert!((c - (-0.5f64).exp()).abs() < 1e-14, "n {n}: {c}");
            assert!((e / (1.125f64).exp() - 1.0).abs() < 1e-13, "n {n}: {e}");
            assert!(r.nodes.windows(2).all(|p| p[0] > p[1]), "nodes must be distinct and decreasing");
        }
    }

    #[test]
    fn tensor_product_integrates_products() {
        let r = rule(6);
        let mut count = 0;
        let mut s = 0.0;
        tensor(&r, 3, |z, w| {
            count += 1;
            s += w * z[0] * z[0] * z[1] * z[1] * (1.0 + z[2]);
        });
        assert_eq!(count, 216);
        assert!((s - 1.0).abs() < 1e-14);
        let mut origin = Vec::new();
        tensor(&r, 0, |z, w| origin.push((z.len(), w)));
        assert_eq!(origin, vec![(0, 1.0)]);
        // The rows of the product, in order, are the product itself.
        let (mut whole, mut rows) = (Vec::new(), Vec::new());
        tensor(&r, 3, |z, w| whole.push((z.to_vec(), w)));
        for first in 0..6 {
            tensor_row(&r, 3, first, |z, w| rows.push((z.to_vec(), w)));
        }
        assert_eq!(whole, rows);
    }
}
