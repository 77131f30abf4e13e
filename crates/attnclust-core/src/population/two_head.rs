//! The exact population risk of model A and its gradient, for isotropic Gaussian mixtures.
//!
//! With heads `Θ = (θ_1 … θ_H)` the softmax weights `a(x)` depend on `x` only through `Θx`, hence
//! through `z = Pᵀx` where the rows of `Pᵀ` are an orthonormal basis of `span{θ_h}` (rank `r ≤ H`).
//! Write `x = Pz + w`. Under component `k` (`x ~ N(μ_k, σ_k² I_d)`), `z ~ N(m_k, σ_k² I_r)` with
//! `m_k = Pᵀμ_k`, and `w ~ N(μ_k^⊥, σ_k² (I − PPᵀ))` is independent of `z`, `μ_k^⊥ = (I − PPᵀ)μ_k`.
//! With `t_h = Pᵀθ_h`, `T(z) = Σ_h a_h t_h` and `e = z − T(z)` (the residual `r = x − T_Θ(x)` is
//! `Pe + w`, and `Pe ⊥ w`):
//!
//! ```text
//! R(Θ) = Σ_k π_k ( E‖e‖² + ‖μ_k^⊥‖² + σ_k² (d − r) )
//! ```
//!
//! The gradient of SPEC §2, `∇_{θ_h} = −2 E[a_h (r + λ (c_h − c̄) x)]` ('dot';  `x − θ_h` in place of
//! `x` for 'distance'), with `c_g = ⟨r, θ_g⟩ = ⟨e, t_g⟩` and `c̄ = Σ_g a_g c_g`, needs only
//! `α_h = E a_h`, `A_h = E[a_h e]`, `β_h = E[a_h (c_h − c̄)]`, `B_h = E[a_h (c_h − c̄) z]`:
//!
//! ```text
//! ∇_{θ_h} = −2 Σ_k π_k ( P(A_h + λ B_h) + (α_h + λ β_h) μ_k^⊥ − [distance] λ β_h θ_h )
//! ```
//!
//! Every expectation is over `z ~ N(m_k, σ_k² I_r)`: an `r`-dimensional Gaussian integral of a smooth
//! function, computed by tensor Gauss–Hermite quadrature ([`super::hermite`]). The number of nodes
//! per dimension is grown until the risk and every gradient entry change by at most `tol` times
//! the scale `Σ_k π_k (‖μ_k‖² + d σ_k²) = E‖x‖²` (or fixed by the caller); the node count grows by 3/2
//! per level (8, 12, 18, 27, …). The rank is limited to
//! [`MAX_RANK`]: beyond, the tensor rule is too large to be exact in reasonable time.

use super::basis::Basis;
use super::hermite::{rule, tensor_row, Rule};
use crate::data::gmm::{Factor, Mixture};
use crate::error::{ensure, finite_rows, num, values, Error, Numeric, Result};
use crate::kernels::par::Par;
use crate::models::two_head::{check_lambda, Scores};

/// Largest rank of `span{θ_h}` (or of the centroids, for the identity-attention limit) the
/// quadrature accepts.
pub const MAX_RANK: usize = 4;

/// How the Gaussian expectations are computed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quadrature {
    /// Nodes per dimension; `None` chooses them by convergence (growing by 3/2 from 8).
    pub nodes: Option<usize>,
    /// Target relative accuracy of the automatic choice (default `1e-12`).
    pub tol: f64,
}

impl Default for Quadrature {
    fn default() -> Self {
        Quadrature { nodes: None, tol: 1e-12 }
    }
}

/// Most nodes per dimension the automatic choice tries at rank `r` (so that a level has at most
/// about a million nodes per component).
pub fn max_nodes(rank: usize) -> usize {
    match rank {
        0 | 1 => 2048,
        2 => 512,
        3 => 64,
        _ => 24,
    }
}

impl Quadrature {
    /// Checks the settings for integrals of rank `rank`.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Range`] when `tol` is not in `(0, 1)` or `nodes` is outside `[1, max_nodes(rank)]`.
    pub fn check(&self, rank: usize) -> Result<()> {
        ensure(self.tol.is_finite() && self.tol > 0.0 && self.tol < 1.0, || Error::range("quadrature.tol", "in (0, 1)", num(self.tol)))?;
        if let Some(n) = self.nodes {
            let m = max_nodes(rank);
            ensure((1..=m).contains(&n), || Error::range("quadrature.nodes", format!("an integer in [1, {m}] at rank {rank}"), n))?;
        }
        Ok(())
    }

    /// Runs `eval(n)` on a growing number of nodes until two levels agree (see the module doc).
    /// Returns the finer level's values, its node count, the change between the last two levels
    /// (relative to `scale`) and whether it is within `tol`.
    pub(crate) fn converge(&self, rank: usize, scale: f64, mut eval: impl FnMut(usize) -> Vec<f64>) -> Converged {
        if let Some(n) = self.nodes {
            return Converged { values: eval(n), nodes: n, error: f64::NAN, converged: true };
        }
        if rank == 0 {
            return Converged { values: eval(1), nodes: 1, error: 0.0, converged: true };
        }
        let top = max_nodes(rank);
        let mut n = 8.min(top);
        let mut prev = eval(n);
        loop {
            // Growth by 3/2 rather than 2: the last level, which dominates the cost (`n^r` nodes),
            // overshoots the needed size by less.
            let next_n = (n + n / 2).min(top);
            let next = eval(next_n);
            let change = prev.iter().zip(&next).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max) / scale;
            let ok = change <= self.tol;
            if ok || next_n == top || !change.is_finite() {
                return Converged { values: next, nodes: next_n, error: change, converged: ok };
            }
            n = next_n;
            prev = next;
        }
    }
}

pub(crate) struct Converged {
    pub values: Vec<f64>,
    pub nodes: usize,
    pub error: f64,
    pub converged: bool,
}

/// The population risk and gradient of a layer, with how they were computed.
#[derive(Clone, Debug, PartialEq)]
pub struct Population {
    /// `R(Θ) = E‖x − T_Θ(x)‖²` under the mixture.
    pub risk: f64,
    /// `∇R(Θ)`, `H × d` row-major.
    pub gradient: Vec<f64>,
    /// Rank of `span{θ_h}`: the dimension of the integrals.
    pub rank: usize,
    /// Gauss–Hermite nodes per dimension of the final level.
    pub nodes: usize,
    /// Largest change between the last two levels, relative to `E‖x‖²` (NaN for a fixed rule).
    pub error: f64,
    /// Whether that change is within the requested tolerance.
    pub converged: bool,
}

/// The standard deviations of an isotropic mixture, or the error saying why there are none.
pub(crate) fn isotropic_sigmas(mix: &Mixture) -> Result<&[f64]> {
    match &mix.factor {
        Factor::Isotropic(s) => Ok(s),
        _ => Err(Error::type_("mixture", "isotropic (GaussianMixture.isotropic) for exact population quantities", "a diagonal or full-covariance mixture")),
    }
}

/// `R(Θ)` and `∇R(Θ)` for `params` (`H × d`, row-major) under the isotropic mixture `mix`, exact up
/// to the quadrature's accuracy (see the module doc).
///
/// With `Par::Rayon` the rows of each tensor-product rule run in parallel; their sums are added in
/// row order, so the result does not depend on the number of threads.
///
/// Errors: `mixture` not isotropic (type); `params` of the wrong length (type) or non-finite,
/// `lambda` not positive and finite, a rank above [`MAX_RANK`], bad `quadrature` (range).
pub fn risk_gradient(mix: &Mixture, params: &[f64], heads: usize, lambda: f64, scores: Scores, quad: &Quadrature, par: Par) -> Result<Population> {
    risk_gradient_with(mix, params, heads, lambda, scores, quad, par, Kernel::Fixed)
}

/// Which row kernel [`risk_gradient_with`] uses: the fixed-size one where it applies, or always the
/// reference (for the tests that compare them).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Kernel {
    Fixed,
    // (only the tests ask for the reference everywhere)
    #[cfg_attr(not(test), allow(dead_code))]
    Reference,
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn risk_gradient_with(
    mix: &Mixture,
    params: &[f64],
    heads: usize,
    lambda: f64,
    scores: Scores,
    quad: &Quadrature,
    par: Par,
    kernel: Kernel,
) -> Result<Population> {
    let d = mix.dim;
    let sigmas = isotropic_sigmas(mix)?;
    check_lambda(lambda)?;
    ensure(heads >= 1, || Error::range("heads", "at least 1", heads))?;
    if params.len() != heads * d {
        return Err(Error::type_("params", format!("H × d = {heads} × {d} values"), values(params.len())));
    }
    finite_rows("params", params, d)?;
    let thetas: Vec<&[f64]> = params.chunks(d).collect();
    let basis = Basis::of(&thetas, d);
    let r = basis.rank();
    ensure(r <= MAX_RANK, || {
        Error::range("params", format!("heads spanning at most {MAX_RANK} dimensions (exact population quantities)"), format!("heads spanning {r}"))
    })?;
    quad.check(r)?;
    let t: Vec<Vec<f64>> = thetas.iter().map(|th| basis.coords(th)).collect();
    let bias: Vec<f64> = match scores {
        Scores::Dot => vec![0.0; heads],
        Scores::Distance => thetas.iter().map(|th| -0.5 * lambda * super::basis::dot(th, th)).collect(),
    };
    let comps: Vec<Component> = (0..mix.k)
        .map(|k| {
            let mu = mix.mean(k);
            let perp = basis.perp(mu);
            Component { weight: mix.weights[k], sigma: sigmas[k], m: basis.coords(mu), perp2: super::basis::dot(&perp, &perp), perp }
        })
        .collect();
    let scale = comps.iter().map(|c| c.weight * (c.perp2 + super::basis::dot(&c.m, &c.m) + d as f64 * c.sigma * c.sigma)).sum::<f64>().max(f64::MIN_POSITIVE);
    let problem = Problem { basis: &basis, t: &t, bias: &bias, thetas: &thetas, lambda, scores, d };
    let out = quad.converge(r, scale, |n| problem.evaluate(&comps, n, par, kernel));
    if out.values.iter().any(|v| !v.is_finite()) {
        return Err(Error::range("lambda", "small enough that the population risk stays finite with these parameters (the scores overflow f64)", lambda)
            .because(Numeric::Overflow));
    }
    Ok(Population { risk: out.values[0], gradient: out.values[1..].to_vec(), rank: r, nodes: out.nodes, error: out.error, converged: out.converged })
}

struct Component {
    weight: f64,
    sigma: f64,
    /// `Pᵀμ_k`.
    m: Vec<f64>,
    /// `(I − PPᵀ)μ_k` and its squared norm.
    perp: Vec<f64>,
    perp2: f64,
}

struct Problem<'a> {
    basis: &'a Basis,
    t: &'a [Vec<f64>],
    bias: &'a [f64],
    thetas: &'a [&'a [f64]],
    lambda: f64,
    scores: Scores,
    d: usize,
}

impl Problem<'_> {
    /// `[R, ∇R (H × d)]` with an `n`-point rule per dimension.
    fn evaluate(&self, comps: &[Component], n: usize, par: Par, kernel: Kernel) -> Vec<f64> {
        let (h, r, d, lambda) = (self.t.len(), self.basis.rank(), self.d, self.lambda);
        let gh = rule(n);
        let rows = if r == 0 { 1 } else { n };
        // A row holds n^(r−1) nodes of ≈ 10·H·r flop each.
        let par = par.above(comps.len() * n.pow(r as u32) * h * (r + 1), 1 << 15);
        let mut out = vec![0.0; 1 + h * d];
        for comp in comps {
            // Per row: [loss, α (H), β (H), A (H × r), B (H × r)], added in row order.
            let parts = par.map(rows, |first| match kernel {
                Kernel::Fixed => self.row_dispatch(comp, &gh, first),
                Kernel::Reference => self.row(comp, &gh, first),
            });
            let mut acc = vec![0.0; 1 + 2 * h + 2 * h * r];
            for part in &parts {
                acc.iter_mut().zip(part).for_each(|(a, v)| *a += v);
            }
            let (loss, rest) = acc.split_first().expect("non-empty");
            let (alpha, rest) = rest.split_at(h);
            let (beta, rest) = rest.split_at(h);
            let (big_a, big_b) = rest.split_at(h * r);
            let sig2 = comp.sigma * comp.sigma;
            out[0] += comp.weight * (loss + comp.perp2 + sig2 * (d - r) as f64);
            for g in 0..h {
                let grad = &mut out[1 + g * d..1 + (g + 1) * d];
                let lifted: Vec<f64> = (0..r).map(|j| -2.0 * comp.weight * (big_a[g * r + j] + lambda * big_b[g * r + j])).collect();
                self.basis.add_lifted(&lifted, grad);
                let cp = -2.0 * comp.weight * (alpha[g] + lambda * beta[g]);
                grad.iter_mut().zip(&comp.perp).for_each(|(o, p)| *o += cp * p);
                if self.scores == Scores::Distance {
                    let ct = 2.0 * comp.weight * lambda * beta[g];
                    grad.iter_mut().zip(self.thetas[g]).for_each(|(o, th)| *o += ct * th);
                }
            }
        }
        out
    }

    /// [`Problem::row`], by [`Problem::row_fixed`] for `H ≤ 3` heads and rank `r ≤ 3` (the same
    /// operations in the same order on arrays of known size: bit for bit the same sums).
    fn row_dispatch(&self, comp: &Component, gh: &Rule, first: usize) -> Vec<f64> {
        match (self.t.len(), self.basis.rank()) {
            (1, 1) => self.row_fixed::<1, 1>(comp, gh, first),
            (1, 2) => self.row_fixed::<1, 2>(comp, gh, first),
            (1, 3) => self.row_fixed::<1, 3>(comp, gh, first),
            (2, 1) => self.row_fixed::<2, 1>(comp, gh, first),
            (2, 2) => self.row_fixed::<2, 2>(comp, gh, first),
            (2, 3) => self.row_fixed::<2, 3>(comp, gh, first),
            (3, 1) => self.row_fixed::<3, 1>(comp, gh, first),
            (3, 2) => self.row_fixed::<3, 2>(comp, gh, first),
            (3, 3) => self.row_fixed::<3, 3>(comp, gh, first),
            _ => self.row(comp, gh, first),
        }
    }

    /// [`Problem::row`] for `H` heads at rank `R ≥ 1`: the nodes of the row visited in the same
    /// order as [`tensor_row`], every sum formed in the same order as there (the reference), with the
    /// per-node state in arrays (no bounds checks, no inner loops of unknown length).
    fn row_fixed<const H: usize, const R: usize>(&self, comp: &Component, gh: &Rule, first: usize) -> Vec<f64> {
        let lambda = self.lambda;
        let t: [[f64; R]; H] = std::array::from_fn(|g| std::array::from_fn(|j| self.t[g][j]));
        let bias: [f64; H] = std::array::from_fn(|g| self.bias[g]);
        let m: [f64; R] = std::array::from_fn(|j| comp.m[j]);
        let sigma = comp.sigma;
        let (nodes, weights) = (&gh.nodes[..], &gh.weights[..]);
        let n = nodes.len();
        let (mut loss, mut alpha, mut beta) = (0.0, [0.0; H], [0.0; H]);
        let (mut big_a, mut big_b) = ([[0.0; R]; H], [[0.0; R]; H]);
        let mut idx = [0usize; R];
        idx[0] = first;
        loop {
            // The node and its weight, as `tensor_row` forms them.
            let mut w = 1.0;
            let mut xi = [0.0; R];
            for j in 0..R {
                xi[j] = nodes[idx[j]];
                w *= weights[idx[j]];
            }
            let z: [f64; R] = std::array::from_fn(|j| m[j] + sigma * xi[j]);
            let s: [f64; H] = std::array::from_fn(|g| lambda * super::basis::dot(&z, &t[g]) + bias[g]);
            let (mut gmax, mut mx) = (0, s[0]);
            for (g, &v) in s.iter().enumerate().skip(1) {
                if v > mx {
                    (gmax, mx) = (g, v);
                }
            }
            let mut a = [0.0; H];
            let mut tot = 0.0;
            for g in 0..H {
                a[g] = if g == gmax { 1.0 } else { (s[g] - mx).exp() };
                tot += a[g];
            }
            let inv = 1.0 / tot;
            a.iter_mut().for_each(|v| *v *= inv);
            let mut e = z;
            for g in 0..H {
                for j in 0..R {
                    e[j] -= a[g] * t[g][j];
                }
            }
            let mut c = [0.0; H];
            let mut cbar = 0.0;
            for g in 0..H {
                c[g] = super::basis::dot(&e, &t[g]);
                cbar += a[g] * c[g];
            }
            loss += w * super::basis::dot(&e, &e);
            for g in 0..H {
                let wa = w * a[g];
                let wb = wa * (c[g] - cbar);
                alpha[g] += wa;
                beta[g] += wb;
                for j in 0..R {
                    big_a[g][j] += wa * e[j];
                    big_b[g][j] += wb * z[j];
                }
            }
            // The next node of the row: the last index fastest, as `tensor_row`.
            let mut j = R;
            loop {
                if j == 1 {
                    let mut acc = Vec::with_capacity(1 + 2 * H + 2 * H * R);
                    acc.push(loss);
                    acc.extend_from_slice(&alpha);
                    acc.extend_from_slice(&beta);
                    big_a.iter().for_each(|r| acc.extend_from_slice(r));
                    big_b.iter().for_each(|r| acc.extend_from_slice(r));
                    return acc;
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

    /// The weighted sums of one row of the rule for one component (see [`Problem::evaluate`]): the
    /// reference for every `H` and rank, kept for what [`Problem::row_fixed`] does not cover.
    fn row(&self, comp: &Component, gh: &Rule, first: usize) -> Vec<f64> {
        let (h, r, lambda) = (self.t.len(), self.basis.rank(), self.lambda);
        let (mut s, mut a, mut e, mut c, mut z) = (vec![0.0; h], vec![0.0; h], vec![0.0; r], vec![0.0; h], vec![0.0; r]);
        let mut acc = vec![0.0; 1 + 2 * h + 2 * h * r];
        tensor_row(gh, r, first, |xi, w| {
            for j in 0..r {
                z[j] = comp.m[j] + comp.sigma * xi[j];
            }
            // a = softmax(λ⟨z, t_h⟩ + bias_h), max-subtracted.
            for g in 0..h {
                s[g] = lambda * super::basis::dot(&z, &self.t[g]) + self.bias[g];
            }
            // (the largest score's term is exp(0) = 1: one exp fewer per node)
            let (mut gmax, mut mx) = (0, s[0]);
            for (g, &v) in s.iter().enumerate().skip(1) {
                if v > mx {
                    (gmax, mx) = (g, v);
                }
            }
            let mut tot = 0.0;
            for g in 0..h {
                a[g] = if g == gmax { 1.0 } else { (s[g] - mx).exp() };
                tot += a[g];
            }
            let inv = 1.0 / tot;
            a.iter_mut().for_each(|v| *v *= inv);
            // e = z − Σ a_g t_g, c_g = ⟨e, t_g⟩, c̄ = Σ a_g c_g.
            e.copy_from_slice(&z);
            for g in 0..h {
                for j in 0..r {
                    e[j] -= a[g] * self.t[g][j];
                }
            }
            let mut cbar = 0.0;
            for g in 0..h {
                c[g] = super::basis::dot(&e, &self.t[g]);
                cbar += a[g] * c[g];
            }
            acc[0] += w * super::basis::dot(&e, &e);
            for g in 0..h {
                let wa = w * a[g];
                let wb = wa * (c[g] - cbar);
                acc[1 + g] += wa;
                acc[1 + h + g] += wb;
                let base = 1 + 2 * h + g * r;
                for j in 0..r {
                    acc[base + j] += wa * e[j];
                    acc[base + h * r + j] += wb * z[j];
                }
            }
        });
        acc
    }
}

#[cfg(test)]
mod tests;
