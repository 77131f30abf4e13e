//! Identity attention (model B) in the limit of an infinite prompt.
//!
//! For a prompt of `L` tokens drawn from one mixture, identity attention maps a token `x` to
//! `Σ_j e^{s(x, x_j)} x_j / Σ_j e^{s(x, x_j)}`; as `L → ∞` both sums, divided by `L`, tend to
//! their expectations over `x′` from the mixture:
//!
//! ```text
//! T_∞(x) = E[x′ e^{s(x, x′)}] / E[e^{s(x, x′)}]
//! ```
//!
//! For a Gaussian component `N(μ_k, Σ_k)` both expectations are closed form. With 'dot' scores
//! `s = λ⟨x, x′⟩`, `E e^{λ⟨x,x′⟩} = exp(λ⟨x, μ_k⟩ + λ² xᵀΣ_k x / 2)` and the tilted mean is
//! `μ_k + λΣ_k x`. With 'distance' scores `s = −λ‖x − x′‖²/2` (diagonal `Σ_k = diag(v_k)`, `q_{ki} =
//! 1 + λ v_{ki}`), the tilted component is again Gaussian, with mean `(μ_{ki} + λ v_{ki} x_i)/q_{ki}`,
//! and, up to a factor that does not depend on `k`,
//! `log Z_k(x) = Σ_i [ −½ log q_{ki} + λ (2μ_{ki} x_i + λ v_{ki} x_i² − μ_{ki}²) / (2 q_{ki}) ]`. So
//!
//! ```text
//! T_∞(x) = Σ_k w_k(x) m_k(x),    w_k(x) ∝ π_k Z_k(x),    m_k(x) the tilted mean of component k
//! ```
//!
//! With equal isotropic `σ` and 'dot' scores the `‖x‖²` terms cancel in `w`:
//! `T_∞(x) = Σ_k softmax_k(λ⟨x, μ_k⟩ + log π_k) μ_k + λσ² x` — a `K`-head layer with heads at the
//! centroids and biases `log π_k`, plus a drift `λσ²x` that pushes tokens away from the origin: the
//! window of `λ` in which the layer quantizes, in one formula.
//!
//! The limiting **quantization ratio** `E‖T_∞(x) − μ_z‖² / E‖x − μ_z‖²` (the large-`L` limit of
//! SPEC §3's ratio) needs equal isotropic `σ`: then `w` depends on `x` only through
//! `z = Pᵀx`, `P` an orthonormal basis of the span of the centroids (rank `r ≤ K`), and with
//! `T_∞(x) = a Σ_j w_j μ_j + b x` (`a = 1, b = λσ²` for 'dot'; `a = 1/q, b = λσ²/q`, `q = 1 + λσ²`,
//! for 'distance'):
//!
//! ```text
//! E_k‖T_∞(x) − μ_k‖² = E_z‖a Σ_j w_j(z) m_j + b z − m_k‖² + b² σ² (d − r),   z ~ N(m_k, σ² I_r)
//! ```
//!
//! an `r`-dimensional Gaussian integral, by the same quadrature as model A's population risk.

use super::basis::{dot, Basis};
use super::hermite::{rule, tensor};
use super::two_head::{isotropic_sigmas, Quadrature, MAX_RANK};
use crate::data::gmm::{Factor, Mixture};
use crate::error::{ensure, finite_rows, values, Error, Result};
use crate::models::two_head::{check_lambda, Scores};

/// `T_∞(x)` for each of the `n` tokens in `x` (`n × d`, row-major), under `mix`.
///
/// Supports isotropic and diagonal mixtures with both scores, and full covariances with 'dot'
/// scores. Errors: `x` of a length not a multiple of `d` (type) or non-finite, `lambda` not positive
/// and finite, full covariances with 'distance' scores, a result that overflows (range).
pub fn limit(mix: &Mixture, x: &[f64], lambda: f64, scores: Scores) -> Result<Vec<f64>> {
    let d = mix.dim;
    check_lambda(lambda)?;
    if !x.len().is_multiple_of(d) {
        return Err(Error::type_("x", format!("n × d values with d = {d}"), values(x.len())));
    }
    finite_rows("x", x, d)?;
    if matches!(mix.factor, Factor::Full(_)) && scores == Scores::Distance {
        return Err(Error::type_("mixture", "isotropic or diagonal for the limit with 'distance' scores", "a full-covariance mixture"));
    }
    let mut out = vec![0.0; x.len()];
    let (mut logw, mut means) = (vec![0.0; mix.k], vec![0.0; mix.k * d]);
    for (xi, yi) in x.chunks(d).zip(out.chunks_mut(d)) {
        for k in 0..mix.k {
            logw[k] = mix.weights[k].ln() + tilt(mix, k, xi, lambda, scores, &mut means[k * d..(k + 1) * d]);
        }
        let mx = logw.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let tot: f64 = logw.iter().map(|l| (l - mx).exp()).sum();
        for k in 0..mix.k {
            let w = (logw[k] - mx).exp() / tot;
            yi.iter_mut().zip(&means[k * d..(k + 1) * d]).for_each(|(y, m)| *y += w * m);
        }
    }
    if out.iter().any(|v| !v.is_finite()) {
        return Err(Error::range("lambda", "small enough that the limit stays within f64 for these tokens", lambda));
    }
    Ok(out)
}

/// `log Z_k(x)` (up to a term common to all components) and the tilted mean `m_k(x)` into `mean`.
fn tilt(mix: &Mixture, k: usize, x: &[f64], lambda: f64, scores: Scores, mean: &mut [f64]) -> f64 {
    let (d, mu) = (mix.dim, mix.mean(k));
    let var = |i: usize| -> f64 {
        match &mix.factor {
            Factor::Isotropic(s) => s[k] * s[k],
            Factor::Diagonal(sd) => sd[k * d + i] * sd[k * d + i],
            Factor::Full(_) => unreachable!("full covariances take their own branch"),
        }
    };
    match (&mix.factor, scores) {
        (Factor::Full(chol), _) => {
            // Σ = CCᵀ: xᵀΣx = ‖Cᵀx‖², Σx = C(Cᵀx).
            let c = &chol[k * d * d..(k + 1) * d * d];
            let ctx: Vec<f64> = (0..d).map(|j| (j..d).map(|i| c[i * d + j] * x[i]).sum()).collect();
            for i in 0..d {
                mean[i] = mu[i] + lambda * (0..=i).map(|j| c[i * d + j] * ctx[j]).sum::<f64>();
            }
            lambda * dot(x, mu) + 0.5 * lambda * lambda * dot(&ctx, &ctx)
        }
        (_, Scores::Dot) => {
            let mut lz = 0.0;
            for i in 0..d {
                let v = var(i);
                mean[i] = mu[i] + lambda * v * x[i];
                lz += lambda * x[i] * mu[i] + 0.5 * lambda * lambda * v * x[i] * x[i];
            }
            lz
        }
        (_, Scores::Distance) => {
            let mut lz = 0.0;
            for i in 0..d {
                let v = var(i);
                let q = 1.0 + lambda * v;
                mean[i] = (mu[i] + lambda * v * x[i]) / q;
                lz += -0.5 * q.ln() + lambda * (2.0 * mu[i] * x[i] + lambda * v * x[i] * x[i] - mu[i] * mu[i]) / (2.0 * q);
            }
            lz
        }
    }
}

/// The limiting quantization ratio and how it was computed.
#[derive(Clone, Debug, PartialEq)]
pub struct LimitRatio {
    /// `E‖T_∞(x) − μ_z‖² / E‖x − μ_z‖²`.
    pub ratio: f64,
    /// Rank of the span of the centroids.
    pub rank: usize,
    /// Gauss–Hermite nodes per dimension of the final level.
    pub nodes: usize,
    /// Change between the last two quadrature levels, relative to the ratio's denominator.
    pub error: f64,
    /// Whether that change is within the requested tolerance (`false`: the ratio is not exact).
    pub converged: bool,
}

/// The quantization ratio of identity attention on an infinite prompt from `mix` (equal isotropic
/// `σ`; see the module doc). Errors: a mixture that is not isotropic with one `σ` (type), `lambda`
/// not positive and finite, centroids spanning more than [`MAX_RANK`] dimensions (range).
pub fn limit_ratio(mix: &Mixture, lambda: f64, scores: Scores, quad: &Quadrature) -> Result<LimitRatio> {
    let d = mix.dim;
    check_lambda(lambda)?;
    let sigmas = isotropic_sigmas(mix)?;
    let sigma = sigmas[0];
    if sigmas.iter().any(|&s| s != sigma) {
        return Err(Error::type_(
            "mixture",
            "isotropic with one `sigma` shared by every component (for the limiting quantization ratio)",
            "components of different `sigma`",
        ));
    }
    let mus: Vec<&[f64]> = (0..mix.k).map(|k| mix.mean(k)).collect();
    let basis = Basis::of(&mus, d);
    let r = basis.rank();
    ensure(r <= MAX_RANK, || {
        Error::range("mixture", format!("a mixture whose centroids span at most {MAX_RANK} dimensions (the exact limit)"), format!("centroids spanning {r}"))
    })?;
    quad.check(r)?;
    let s2 = sigma * sigma;
    let (a, b, c1) = match scores {
        Scores::Dot => (1.0, lambda * s2, lambda),
        Scores::Distance => {
            let q = 1.0 + lambda * s2;
            (1.0 / q, lambda * s2 / q, lambda / q)
        }
    };
    let m: Vec<Vec<f64>> = mus.iter().map(|mu| basis.coords(mu)).collect();
    // log w_j = log π_j + c1 ⟨m_j, z⟩ + c0_j.
    let c0: Vec<f64> = match scores {
        Scores::Dot => vec![0.0; mix.k],
        Scores::Distance => mus.iter().map(|mu| -c1 * dot(mu, mu) / 2.0).collect(),
    };
    let denom = d as f64 * s2;
    let eval = |n: usize| -> Vec<f64> {
        let gh = rule(n);
        let (mut z, mut v, mut lw) = (vec![0.0; r], vec![0.0; r], vec![0.0; mix.k]);
        let mut num = 0.0;
        for k in 0..mix.k {
            let mut acc = 0.0;
            tensor(&gh, r, |xi, w| {
                for j in 0..r {
                    z[j] = m[k][j] + sigma * xi[j];
                }
                for j in 0..mix.k {
                    lw[j] = mix.weights[j].ln() + c1 * dot(&m[j], &z) + c0[j];
                }
                let mx = lw.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let tot: f64 = lw.iter().map(|l| (l - mx).exp()).sum();
                for i in 0..r {
                    v[i] = b * z[i] - m[k][i];
                }
                for j in 0..mix.k {
                    let wj = a * (lw[j] - mx).exp() / tot;
                    for i in 0..r {
                        v[i] += wj * m[j][i];
                    }
                }
                acc += w * dot(&v, &v);
            });
            num += mix.weights[k] * (acc + b * b * s2 * (d - r) as f64);
        }
        vec![num / denom]
    };
    let out = quad.converge(r, 1.0, eval);
    let ratio = out.values[0];
    if !ratio.is_finite() {
        return Err(Error::range("lambda", "small enough that the limiting ratio stays within f64", lambda));
    }
    Ok(LimitRatio { ratio, rank: r, nodes: out.nodes, error: out.error, converged: out.converged })
}

#[cfg(test)]
mod tests;
