//! EM (expectation-maximisation) for Gaussian mixtures with isotropic or diagonal covariances, the
//! classical model-based baseline.
//!
//! The model is `p(x) = Σ_k w_k N(x; μ_k, diag(v_k))`, with `v_k = s_k·1` (isotropic) or a vector of
//! `d` variances (diagonal). With `ℓ_k(x) = ln w_k − ½ Σ_j [ln(2π v_kj) + (x_j − μ_kj)² / v_kj]`:
//!
//! ```text
//! E-step:  m = max_k ℓ_k(x),  ln p(x) = m + ln Σ_k exp(ℓ_k(x) − m),  r_k(x) = exp(ℓ_k(x) − ln p(x))
//! M-step:  N_k = Σ_i r_ik,  w_k = N_k / Σ_g N_g,  μ_k = (1/N_k) Σ_i r_ik x_i,
//!          v_kj = max(v̂_kj, reg),  v̂_kj = (1/N_k) Σ_i r_ik (x_ij − μ_kj)²        (diagonal)
//!          s_k  = max(ŝ_k, reg),   ŝ_k  = (1/(d N_k)) Σ_i r_ik ‖x_i − μ_k‖²         (isotropic)
//! ```
//!
//! The log-sum-exp subtracts the maximum, so no responsibility overflows and at least one term is
//! exactly 1. The floor `reg` keeps a component from collapsing onto a point (where the likelihood
//! is unbounded); since the expected complete log-likelihood is unimodal in each variance, the
//! floored variance is the maximiser under the constraint `v ≥ reg`, and the mean log-likelihood
//! `(1/n) Σ_i ln p(x_i)` still never decreases from one iteration to the next.
//!
//! The M-step sums are taken around the previous means `μ°` (shifted data, which avoids the
//! cancellation of `Σ r x² − N μ²`): with `B_kj = Σ_i r_ik (x_ij − μ°_kj)` and
//! `C_kj = Σ_i r_ik (x_ij − μ°_kj)²`, `μ_kj = μ°_kj + B_kj/N_k` and `v̂_kj = C_kj/N_k − (B_kj/N_k)²`.
//! A component whose responsibilities all underflow (`N_k = 0`) keeps its mean and variance and
//! gets weight 0.
//!
//! **Start.** k-means ([`crate::baselines::kmeans`], same `seed`, default restarts) gives the labels; one
//! M-step from these hard responsibilities gives the start (a cluster of fewer than two points gets
//! the data's mean per-coordinate variance, floored at `reg`).
//!
//! **Stop** after `max_iter` M-steps, or when one iteration raised the mean log-likelihood by less
//! than `tol`. The labels are the argmax of the responsibilities (ties to the lowest index) under
//! the final parameters, and `log_likelihood` is their mean log-likelihood.
//!
//! **Determinism.** Everything is computed in `f64`, in fixed chunks of [`CHUNK`] points whose
//! partial sums are added in chunk order: bit-identical results with any number of threads.

use crate::baselines::kmeans::{self, check_k, check_points, chunk_rows, fold_chunks, group_for, par_for, KMeansOptions, CHUNK};
use crate::error::{ensure, num, Error, Result};
use crate::kernels::par::Par;
use crate::kernels::real::Real;

/// The shape of each component's covariance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum EmCovariance {
    /// `s_k I`: one variance per component.
    Isotropic,
    /// `diag(v_k)`: one variance per component and coordinate.
    #[default]
    Diagonal,
}

/// Options of [`em`].
#[derive(Clone, Debug, PartialEq)]
pub struct EmOptions {
    /// Number of components, `1 ≤ k ≤ n`.
    pub k: usize,
    /// Seed of the k-means start.
    pub seed: u64,
    /// The shape of each covariance (default [`EmCovariance::Diagonal`]).
    pub covariance: EmCovariance,
    /// Maximum number of M-steps, in `[1, MAX_ITER]` (10⁶).
    pub max_iter: usize,
    /// Stop when an iteration raises the mean log-likelihood by less than `tol` (`≥ 0`).
    pub tol: f64,
    /// Variance floor, `> 0`.
    pub reg: f64,
}

impl EmOptions {
    /// `k` diagonal components with the defaults `max_iter = 200`, `tol = 1e-6`, `reg = 1e-6`.
    pub fn new(k: usize, seed: u64) -> Self {
        EmOptions { k, seed, covariance: EmCovariance::Diagonal, max_iter: 200, tol: 1e-6, reg: 1e-6 }
    }
}

/// The result of [`em`].
#[derive(Clone, Debug, PartialEq)]
pub struct EmResult<T> {
    /// `K` mixture weights, summing to 1.
    pub weights: Vec<f64>,
    /// `K × d`, row-major.
    pub means: Vec<T>,
    /// `K` (isotropic) or `K × d` (diagonal) variances.
    pub variances: Vec<T>,
    /// The most responsible component of each point (`n`).
    pub labels: Vec<u32>,
    /// Mean log-likelihood per point, `(1/n) Σ_i ln p(x_i)`.
    pub log_likelihood: f64,
    /// M-steps done.
    pub iterations: usize,
}

/// Parameters in `f64`; variances are always `K × d` (equal along a row when isotropic).
#[derive(Clone, Debug)]
struct Params {
    weights: Vec<f64>,
    means: Vec<f64>,
    vars: Vec<f64>,
}

/// Sufficient statistics, laid out as `[N (K) | B (K×d) | C (K×d) | Σ ln p]`.
fn stats_len(k: usize, d: usize) -> usize {
    k + 2 * k * d + 1
}

/// Adds `b` into `a`.
fn add_into(a: &mut [f64], b: &[f64]) {
    a.iter_mut().zip(b).for_each(|(p, q)| *p += q);
}

/// Statistics of hard responsibilities (`labels`) around `means`.
fn hard_stats<T: Real>(x: &[T], d: usize, k: usize, labels: &[u32], means: &[f64], par: Par) -> Vec<f64> {
    let n = labels.len();
    let len = stats_len(k, d);
    let mut total = vec![0.0; len];
    fold_chunks(
        par,
        n,
        &mut [] as &mut [()],
        group_for(len),
        |c, _| {
            let mut s = vec![0.0; len];
            let (a, rest) = s.split_at_mut(k);
            let (b, rest) = rest.split_at_mut(k * d);
            let cc = &mut rest[..k * d];
            let ls = &labels[c * CHUNK..((c + 1) * CHUNK).min(n)];
            for (row, &l) in chunk_rows(x, d, n, c).chunks_exact(d).zip(ls) {
                let l = l as usize;
                a[l] += 1.0;
                for j in 0..d {
                    let t = row[j].f64() - means[l * d + j];
                    b[l * d + j] += t;
                    cc[l * d + j] += t * t;
                }
            }
            s
        },
        |s| add_into(&mut total, &s),
    );
    total
}

/// `Σ_j (x_j − μ_j)² w_j`, with eight accumulators (so that the compiler can vectorise it).
#[inline]
fn weighted_dist2(x: &[f64], mu: &[f64], w: &[f64]) -> f64 {
    let mut acc = [0.0f64; 8];
    let blocks = x.len() / 8;
    for ((xb, mb), wb) in x.chunks_exact(8).zip(mu.chunks_exact(8)).zip(w.chunks_exact(8)) {
        for l in 0..8 {
            let t = xb[l] - mb[l];
            acc[l] += t * t * wb[l];
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
    for i in 8 * blocks..x.len() {
        let t = x[i] - mu[i];
        s += t * t * w[i];
    }
    s
}

/// `Σ_j (x_j − μ_j)² / v_j`, for variances whose inverse overflows (a subnormal floor `reg`): a
/// point on the mean then contributes `0 / v = 0`, not `0 · ∞`.
fn divided_dist2(x: &[f64], mu: &[f64], v: &[f64]) -> f64 {
    x.iter().zip(mu).zip(v).map(|((a, m), v)| (a - m) * (a - m) / v).sum()
}

/// The E-step under `p`: statistics (around `p.means`) and the labels.
fn e_step<T: Real>(x: &[T], d: usize, p: &Params, labels: &mut [u32], par: Par) -> Vec<f64> {
    let n = labels.len();
    let k = p.weights.len();
    let len = stats_len(k, d);
    // ln w_k − ½ Σ_j ln(2π v_kj), and 1 / v_kj.
    let two_pi = 2.0 * std::f64::consts::PI;
    let logc: Vec<f64> = (0..k).map(|c| p.weights[c].ln() - 0.5 * p.vars[c * d..(c + 1) * d].iter().map(|v| (two_pi * v).ln()).sum::<f64>()).collect();
    let inv: Vec<f64> = p.vars.iter().map(|v| 1.0 / v).collect();
    let inverted: Vec<bool> = inv.chunks_exact(d).map(|r| r.iter().all(|v| v.is_finite())).collect();
    let means = &p.means;
    let mut total = vec![0.0; len];
    fold_chunks(
        par,
        n,
        labels,
        group_for(len),
        |c, out| {
            let mut s = vec![0.0; len];
            let (a, rest) = s.split_at_mut(k);
            let (b, rest) = rest.split_at_mut(k * d);
            let (cc, ll) = rest.split_at_mut(k * d);
            let mut e = vec![0.0; k];
            let mut row = vec![0.0f64; d];
            for (xr, label) in chunk_rows(x, d, n, c).chunks_exact(d).zip(out.iter_mut()) {
                row.iter_mut().zip(xr).for_each(|(o, v)| *o = v.f64());
                let (mut best, mut m) = (0usize, f64::NEG_INFINITY);
                for g in 0..k {
                    let mu = &means[g * d..(g + 1) * d];
                    let q = if inverted[g] { weighted_dist2(&row, mu, &inv[g * d..(g + 1) * d]) } else { divided_dist2(&row, mu, &p.vars[g * d..(g + 1) * d]) };
                    e[g] = logc[g] - 0.5 * q;
                    if e[g] > m {
                        best = g;
                        m = e[g];
                    }
                }
                *label = best as u32;
                if !m.is_finite() {
                    // Only when squared distances overflow: reported by the caller.
                    ll[0] += f64::NEG_INFINITY;
                    continue;
                }
                let mut sum = 0.0;
                for v in e.iter_mut() {
                    *v = (*v - m).exp();
                    sum += *v;
                }
                ll[0] += m + sum.ln();
                let inv_sum = 1.0 / sum;
                for g in 0..k {
                    let r = e[g] * inv_sum;
                    if r > 0.0 {
                        a[g] += r;
                        let mu = &means[g * d..(g + 1) * d];
                        let (bg, cg) = (&mut b[g * d..(g + 1) * d], &mut cc[g * d..(g + 1) * d]);
                        for j in 0..d {
                            let t = row[j] - mu[j];
                            bg[j] += r * t;
                            cg[j] += r * t * t;
                        }
                    }
                }
            }
            s
        },
        |s| add_into(&mut total, &s),
    );
    total
}

/// The M-step from statistics taken around `old.means`. `fallback`: the variance of a component
/// with `N_k < 2` (used at the start).
fn m_step(stats: &[f64], old: &Params, d: usize, cov: EmCovariance, reg: f64, fallback: Option<f64>) -> Params {
    let k = old.weights.len();
    let (a, rest) = stats.split_at(k);
    let (b, rest) = rest.split_at(k * d);
    let c = &rest[..k * d];
    let total: f64 = a.iter().sum();
    let mut p = Params { weights: a.iter().map(|v| v / total).collect(), means: old.means.clone(), vars: old.vars.clone() };
    let mut var = vec![0.0; d];
    for g in 0..k {
        let n = a[g];
        if n.is_nan() || n <= 0.0 {
            continue;
        }
        for j in 0..d {
            let mb = b[g * d + j] / n;
            p.means[g * d + j] = old.means[g * d + j] + mb;
            var[j] = (c[g * d + j] / n - mb * mb).max(0.0);
        }
        if let (Some(f), true) = (fallback, n < 2.0) {
            var.iter_mut().for_each(|v| *v = f);
        } else if cov == EmCovariance::Isotropic {
            let s = var.iter().sum::<f64>() / d as f64;
            var.iter_mut().for_each(|v| *v = s);
        }
        p.vars[g * d..(g + 1) * d].iter_mut().zip(&var).for_each(|(o, v)| *o = v.max(reg));
    }
    p
}

/// Checks the options of [`em`].
fn check_options(opts: &EmOptions, n: usize) -> Result<()> {
    check_k(opts.k, n)?;
    ensure((1..=super::MAX_ITER).contains(&opts.max_iter), || Error::range("max_iter", format!("in [1, {}]", super::MAX_ITER), opts.max_iter))?;
    ensure(opts.tol.is_finite() && opts.tol >= 0.0, || Error::range("tol", "finite and ≥ 0", num(opts.tol)))?;
    ensure(opts.reg.is_finite() && opts.reg > 0.0, || Error::range("reg", "positive and finite", num(opts.reg)))
}

fn check_finite(ll: f64) -> Result<()> {
    ensure(ll.is_finite(), || {
        Error::range(
            "x",
            "small enough in magnitude that its log-likelihood stays within f64 (or `reg` large enough for its spread)",
            "a log-likelihood beyond the f64 range",
        )
    })
}

/// [`em`], also returning the mean log-likelihood of the start and after each iteration.
pub(crate) fn em_traced<T: Real>(x: &[T], d: usize, opts: &EmOptions, par: Par) -> Result<(EmResult<T>, Vec<f64>)> {
    let n = check_points(x, d)?;
    check_options(opts, n)?;
    let (k, reg, cov) = (opts.k, opts.reg, opts.covariance);
    let km = kmeans::fit(x, d, &KMeansOptions::new(k, opts.seed), par)?;
    let par = par_for(par, n, k, d);
    let v0 = kmeans::mean_variance(x, d, par).max(reg);
    let start = Params { weights: vec![1.0 / k as f64; k], means: km.centers, vars: vec![v0; k * d] };
    let stats = hard_stats(x, d, k, &km.labels, &start.means, par);
    let mut params = m_step(&stats, &start, d, cov, reg, Some(v0));

    let mut labels = vec![0u32; n];
    let mut stats = e_step(x, d, &params, &mut labels, par);
    let mut ll = stats[stats.len() - 1] / n as f64;
    check_finite(ll)?;
    let mut trace = vec![ll];
    let mut iterations = 0;
    while iterations < opts.max_iter {
        params = m_step(&stats, &params, d, cov, reg, None);
        iterations += 1;
        stats = e_step(x, d, &params, &mut labels, par);
        let next = stats[stats.len() - 1] / n as f64;
        check_finite(next)?;
        trace.push(next);
        let gain = next - ll;
        ll = next;
        if gain < opts.tol {
            break;
        }
    }
    let variances = match cov {
        EmCovariance::Isotropic => params.vars.chunks_exact(d).map(|r| T::of(r[0])).collect(),
        EmCovariance::Diagonal => params.vars.iter().map(|&v| T::of(v)).collect(),
    };
    let result =
        EmResult { weights: params.weights, means: params.means.iter().map(|&v| T::of(v)).collect(), variances, labels, log_likelihood: ll, iterations };
    Ok((result, trace))
}

/// EM for a Gaussian mixture on the `n × d` points `x` (row-major), started from k-means. See
/// the module documentation (Dempster, Laird and Rubin 1977; the updates of Bishop, *Pattern
/// Recognition and Machine Learning*, §9.2.2, restricted to isotropic or diagonal covariances).
/// Variances are in squared data units; the result is the same for any `par` and thread count.
///
/// # Errors
/// [`crate::ErrorKind::Type`] when `x.len()` is not a multiple of `d`; [`crate::ErrorKind::Range`] when
/// `d = 0`, `x` is empty or not finite, `k` is outside `[1, n]`, `max_iter` is outside `[1, MAX_ITER]`, `tol` is
/// negative or not finite, `reg` is not positive and finite, or the log-likelihood leaves the
/// `f64` range (data too large, or `reg` too small for their spread).
pub fn em<T: Real>(x: &[T], d: usize, opts: &EmOptions, par: Par) -> Result<EmResult<T>> {
    em_traced(x, d, opts, par).map(|(r, _)| r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::gmm::Mixture;
    use crate::error::ErrorKind;
    use crate::metrics::adjusted_rand_index;
    use crate::metrics::matching::min_cost_matching;

    fn opts(k: usize, seed: u64, cov: EmCovariance) -> EmOptions {
        EmOptions { covariance: cov, ..EmOptions::new(k, seed) }
    }

    fn bits<T: Real>(r: &EmResult<T>) -> Vec<u64> {
        let mut v: Vec<u64> = r.weights.iter().map(|w| w.to_bits()).collect();
        v.extend(r.means.iter().chain(&r.variances).map(|w| w.f64().to_bits()));
        v.extend(r.labels.iter().map(|&l| u64::from(l)));
        v.push(r.log_likelihood.to_bits());
        v.push(r.iterations as u64);
        v
    }

    /// For each true component, the index of the estimated one matched to it.
    fn matching(est: &[f64], truth: &[f64], d: usize) -> Vec<usize> {
        let (ke, kt) = (est.len() / d, truth.len() / d);
        let cost: Vec<f64> = (0..kt).flat_map(|t| (0..ke).map(move |e| (0..d).map(|j| (truth[t * d + j] - est[e * d + j]).powi(2)).sum())).collect();
        min_cost_matching(&cost, kt, ke).into_iter().map(|m| m.unwrap()).collect()
    }

    #[test]
    fn hand_checked_one_dimension() {
        let x = [0.0f64, 0.1, 10.0, 10.1];
        for cov in [EmCovariance::Isotropic, EmCovariance::Diagonal] {
            let r = em(&x, 1, &opts(2, 3, cov), Par::Seq).unwrap();
            let lo = if r.means[0] < r.means[1] { 0 } else { 1 };
            assert!((r.means[lo] - 0.05).abs() < 1e-12 && (r.means[1 - lo] - 10.05).abs() < 1e-12, "{:?}", r.means);
            assert!(r.weights.iter().all(|w| (w - 0.5).abs() < 1e-12));
            assert!(r.variances.iter().all(|v| (v - 0.0025).abs() < 1e-12), "{:?}", r.variances);
            assert_eq!(r.labels, vec![lo as u32, lo as u32, 1 - lo as u32, 1 - lo as u32]);
            // ln ½ − ½ ln(2π · 0.0025) − ½ (each point is one standard deviation from its mean)
            let want = 0.5f64.ln() - 0.5 * (2.0 * std::f64::consts::PI * 0.0025).ln() - 0.5;
            assert!((r.log_likelihood - want).abs() < 1e-12, "{} vs {want}", r.log_likelihood);
            assert!(r.iterations >= 1);
        }
    }

    #[test]
    fn one_component_is_the_gaussian_fit() {
        let m = Mixture::diagonal(vec![1.0, -2.0], 1, 2, &[4.0, 0.25], None).unwrap();
        let (x, _) = m.sample::<f64>(2000, 3, 0, Par::Seq);
        let n = 2000.0;
        let mean: Vec<f64> = (0..2).map(|j| x.chunks(2).map(|r| r[j]).sum::<f64>() / n).collect();
        let var: Vec<f64> = (0..2).map(|j| x.chunks(2).map(|r| (r[j] - mean[j]).powi(2)).sum::<f64>() / n).collect();
        let tau = 2.0 * std::f64::consts::PI;
        let r = em(&x, 2, &opts(1, 0, EmCovariance::Diagonal), Par::Seq).unwrap();
        assert_eq!(r.weights, vec![1.0]);
        for j in 0..2 {
            assert!((r.means[j] - mean[j]).abs() < 1e-12 && (r.variances[j] - var[j]).abs() < 1e-12);
        }
        let want = -0.5 * var.iter().map(|v| (tau * v).ln() + 1.0).sum::<f64>();
        assert!((r.log_likelihood - want).abs() < 1e-12);
        let r = em(&x, 2, &opts(1, 0, EmCovariance::Isotropic), Par::Seq).unwrap();
        let s = (var[0] + var[1]) / 2.0;
        assert!((r.variances[0] - s).abs() < 1e-12 && r.variances.len() == 1);
        assert!((r.log_likelihood - (-(tau * s).ln() - 1.0)).abs() < 1e-12);
    }

    #[test]
    fn recovers_a_diagonal_mixture() {
        let means = vec![0.0, 0.0, 6.0, 0.0, 0.0, 6.0];
        let vars = vec![0.25, 1.0, 1.0, 0.25, 0.5, 0.5];
        let w = vec![0.5, 0.3, 0.2];
        let m = Mixture::diagonal(means.clone(), 3, 2, &vars, Some(w.clone())).unwrap();
        let (x, z) = m.sample::<f64>(40_000, 12, 0, Par::Rayon);
        let (r, trace) = em_traced(&x, 2, &opts(3, 5, EmCovariance::Diagonal), Par::Rayon).unwrap();
        let pi = matching(&r.means, &means, 2);
        for t in 0..3 {
            let e = pi[t];
            let err = ((r.means[2 * e] - means[2 * t]).powi(2) + (r.means[2 * e + 1] - means[2 * t + 1]).powi(2)).sqrt();
            assert!(err < 0.05, "mean {t}: {err}");
            assert!((r.weights[e] - w[t]).abs() < 0.02, "weight {t}: {}", r.weights[e]);
            for j in 0..2 {
                let rel = r.variances[2 * e + j] / vars[2 * t + j];
                assert!((rel - 1.0).abs() < 0.1, "variance {t},{j}: {rel}");
            }
        }
        assert!((r.weights.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(adjusted_rand_index(&r.labels, &z).unwrap() > 0.97);
        assert_eq!(trace.len(), r.iterations + 1);
        assert_eq!(*trace.last().unwrap(), r.log_likelihood);
        for p in trace.windows(2) {
            assert!(p[1] >= p[0] - 1e-12, "log-likelihood decreased: {trace:?}");
        }
    }

    #[test]
    fn recovers_an_isotropic_mixture() {
        let means = vec![0.0, 0.0, 6.0, 0.0, 0.0, 6.0, 6.0, 6.0];
        let sigma = [0.5, 0.8, 0.6, 1.0];
        let w = vec![0.4, 0.3, 0.2, 0.1];
        let m = Mixture::isotropic(means.clone(), 4, 2, &sigma, Some(w.clone())).unwrap();
        let (x, _) = m.sample::<f32>(40_000, 13, 0, Par::Rayon);
        // a tolerance of 0 runs until the log-likelihood stops rising
        let o = EmOptions { tol: 0.0, max_iter: 500, ..opts(4, 5, EmCovariance::Isotropic) };
        let (r, trace) = em_traced(&x, 2, &o, Par::Rayon).unwrap();
        assert_eq!(r.variances.len(), 4);
        let est: Vec<f64> = r.means.iter().map(|&v| f64::from(v)).collect();
        let pi = matching(&est, &means, 2);
        for t in 0..4 {
            let e = pi[t];
            let err = ((est[2 * e] - means[2 * t]).powi(2) + (est[2 * e + 1] - means[2 * t + 1]).powi(2)).sqrt();
            assert!(err < 0.05, "mean {t}: {err}");
            assert!((r.weights[e] - w[t]).abs() < 0.02);
            assert!((f64::from(r.variances[e]).sqrt() / sigma[t] - 1.0).abs() < 0.05);
        }
        for p in trace.windows(2) {
            assert!(p[1] >= p[0] - 1e-12, "log-likelihood decreased: {trace:?}");
        }
    }

    #[test]
    fn thread_count_does_not_change_the_result() {
        let means = vec![0.0, 0.0, 0.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0];
        let m = Mixture::isotropic(means, 3, 5, &[1.0], None).unwrap();
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        for n in [1, 3, 1023, 1025, 5000] {
            let (x, _) = m.sample::<f64>(n, 4, 0, Par::Seq);
            let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            for k in [1, 3.min(n), 7.min(n)] {
                for cov in [EmCovariance::Isotropic, EmCovariance::Diagonal] {
                    let o = EmOptions { max_iter: 20, ..opts(k, 9, cov) };
                    let a = em(&x, 5, &o, Par::Seq).unwrap();
                    let b = pool.install(|| em(&x, 5, &o, Par::Rayon)).unwrap();
                    assert_eq!(bits(&a), bits(&b), "n = {n}, k = {k}, {cov:?}");
                    assert!(a.log_likelihood.is_finite() && a.weights.iter().all(|w| w.is_finite()));
                    let af = em(&xf, 5, &o, Par::Seq).unwrap();
                    let bf = pool.install(|| em(&xf, 5, &o, Par::Rayon)).unwrap();
                    assert_eq!(bits(&af), bits(&bf), "f32, n = {n}, k = {k}, {cov:?}");
                }
            }
        }
    }

    #[test]
    fn f32_is_close_to_f64() {
        let m = Mixture::isotropic(vec![0.0, 0.0, 5.0, 5.0], 2, 2, &[0.7, 1.0], None).unwrap();
        let (x, _) = m.sample::<f64>(3000, 8, 0, Par::Seq);
        let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        for cov in [EmCovariance::Isotropic, EmCovariance::Diagonal] {
            let a = em(&x, 2, &opts(2, 1, cov), Par::Rayon).unwrap();
            let b = em(&xf, 2, &opts(2, 1, cov), Par::Rayon).unwrap();
            assert_eq!(a.labels, b.labels);
            for (p, q) in a.means.iter().zip(&b.means).chain(a.variances.iter().zip(&b.variances)) {
                assert!((p - f64::from(*q)).abs() < 1e-4, "{p} vs {q}");
            }
            for (p, q) in a.weights.iter().zip(&b.weights) {
                assert!((p - q).abs() < 1e-5);
            }
            assert!((a.log_likelihood - b.log_likelihood).abs() < 1e-5);
        }
    }

    #[test]
    fn subnormal_variance_floor_is_honoured() {
        // issue 10: a component collapsed on repeated points floors its variance at a subnormal
        // `reg`, whose inverse is +∞: 0 · ∞ made the log-likelihood NaN ("x too large").
        let x = [0.0f64, 0.0, 0.0, 5.2, 5.2, 5.2, 2.0, 0.4];
        for cov in [EmCovariance::Diagonal, EmCovariance::Isotropic] {
            for reg in [1e-310, 5e-324, 1e-300, 1e-6] {
                let r = em(&x, 1, &EmOptions { reg, ..opts(2, 1, cov) }, Par::Seq).unwrap_or_else(|e| panic!("reg {reg}: {e}"));
                assert!(r.log_likelihood.is_finite(), "reg {reg}");
                assert!(r.variances.iter().all(|&v| v >= reg && v.is_finite()));
                assert!(r.weights.iter().all(|w| w.is_finite()));
            }
        }
    }

    #[test]
    fn rejects_bad_input() {
        let x = [0.0f64, 1.0, 2.0, 3.0];
        let o = |k| opts(k, 0, EmCovariance::Diagonal);
        let range = |r: Result<EmResult<f64>>, name: &str| match r {
            Err(e) if e.kind == ErrorKind::Range => assert_eq!(e.root(), name, "{e}"),
            other => panic!("expected a range error naming {name}, got {other:?}"),
        };
        range(em(&x, 1, &o(0), Par::Seq), "k");
        range(em(&x, 1, &o(5), Par::Seq), "k");
        range(em(&[0.0, f64::NAN], 1, &o(1), Par::Seq), "x");
        range(em(&x, 0, &o(1), Par::Seq), "d");
        range(em(&[] as &[f64], 1, &o(1), Par::Seq), "x");
        range(em(&x, 1, &EmOptions { reg: 0.0, ..o(1) }, Par::Seq), "reg");
        range(em(&x, 1, &EmOptions { reg: f64::NAN, ..o(1) }, Par::Seq), "reg");
        range(em(&x, 1, &EmOptions { tol: -1.0, ..o(1) }, Par::Seq), "tol");
        range(em(&x, 1, &EmOptions { max_iter: 0, ..o(1) }, Par::Seq), "max_iter");
        range(em(&x, 1, &EmOptions { max_iter: super::super::MAX_ITER + 1, ..o(1) }, Par::Seq), "max_iter");
        range(em(&[1e200f64, -1e200], 1, &o(1), Par::Seq), "x");
        assert!(matches!(em(&x, 3, &o(1), Par::Seq), Err(e) if e.kind == ErrorKind::Type && e.arg == "x"));
    }
}
