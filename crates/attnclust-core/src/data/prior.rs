//! Priors over mixtures: one random mixture per prompt, for in-context experiments.
//!
//! A prompt `b` draws its `K` centroids, then its mixture weights `w` ([`Weights`]: equal, fixed,
//! or `w ~ Dirichlet(α)` per prompt), then its `L` tokens (label `z` with `P(z = k) = w_k`,
//! `x = μ_z + σ ε`), all from the single generator `gen(seed, PRIOR, b)`, so every prompt is a fixed
//! unit of work and the result depends only on `(seed, b)`, not on the thread count. With equal
//! weights no draw is spent on them, and `z = ⌊u K⌋` for a uniform `u` as before.

use crate::data::rng::{self, Gen};
use crate::error::{ensure, num, values, Error, Result};
use crate::kernels::par::Par;
use crate::kernels::real::Real;

/// Where the centroids of a prompt's mixture come from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Centroids {
    /// Uniform on the sphere of radius `r`.
    Sphere {
        /// The radius `r ≥ 0`, in data units.
        radius: f64,
    },
    /// `scale · N(0, I_d)`.
    Gaussian {
        /// The standard deviation `≥ 0` of each coordinate, in data units.
        scale: f64,
    },
}

/// The mixture weights of each prompt.
#[derive(Clone, Debug, PartialEq)]
pub enum Weights {
    /// `w_k = 1/K`.
    Equal,
    /// The same `K` positive weights for every prompt (given summing to 1 within `1e-6`; stored
    /// normalised).
    Fixed(Vec<f64>),
    /// `w ~ Dirichlet(α)`, drawn per prompt (`α`: one positive concentration for all components, or
    /// `K`): `w_k = g_k / Σ g`, `g_k ~ Gamma(α_k, 1)`. When every `g_k` underflows to 0 (tiny `α`),
    /// `w` is one-hot on a component drawn with probability `α_k / Σ α` (the limit as `α → 0`).
    Dirichlet(Vec<f64>),
}

/// A prior over `K`-component isotropic mixtures in dimension `d` (SPEC §1, the in-context
/// experiments of arXiv 2505.13112 with identity attention): built by [`Prior::new`] (equal weights),
/// then [`Prior::with_weights`]; sampled by [`Prior::sample_prompts`].
#[derive(Clone, Debug, PartialEq)]
pub struct Prior {
    /// Components per prompt, `1 ≤ K ≤ 65536`.
    pub k: usize,
    /// Dimension of a token, `1 ≤ d ≤ 2²⁰`.
    pub dim: usize,
    /// Where each prompt's centroids come from.
    pub centroids: Centroids,
    /// Noise level `σ` of each component.
    pub sigma: f64,
    /// Smallest allowed distance between two centroids of one prompt (rejection sampling).
    pub min_separation: f64,
    /// The mixture weights of each prompt (default [`Weights::Equal`]).
    pub weights: Weights,
}

/// Prompts drawn from a prior: `x` is `B × L × d`, `labels` `B × L`, `means` `B × K × d`,
/// `weights` `B × K` (each prompt's mixture weights).
pub struct Prompts<T> {
    /// The tokens, `B × L × d` row-major.
    pub x: Vec<T>,
    /// The component of each token, `B × L`, each `< K`.
    pub labels: Vec<u32>,
    /// Each prompt's centroids, `B × K × d` row-major (drawn in `f64`, rounded to `T`).
    pub means: Vec<T>,
    /// Each prompt's mixture weights, `B × K`, each row summing to 1.
    pub weights: Vec<f64>,
}

/// Most draws of a prompt's centroids before a `min_separation` the draws cannot meet is refused.
pub const MAX_REJECTIONS: usize = 10_000;

/// The first `j` with `u < Σ_{i ≤ j} w_i` (the last positive weight when rounding runs off the end).
fn pick(w: &[f64], mut u: f64) -> usize {
    for (j, &v) in w.iter().enumerate() {
        if u < v {
            return j;
        }
        u -= v;
    }
    w.iter().rposition(|&v| v > 0.0).unwrap_or(w.len() - 1)
}

/// Most components a prior may have.
pub const MAX_K: usize = 1 << 16;
/// Largest dimension of a prior.
pub const MAX_DIM: usize = 1 << 20;

impl Prior {
    /// A prior with equal weights: `centroids` (sphere radius or Gaussian scale, `≥ 0`), noise
    /// `sigma ≥ 0` (a standard deviation) and `min_separation ≥ 0` (Euclidean distance, met by
    /// rejection sampling, at most 10 000 tries per prompt).
    ///
    /// # Errors
    /// [`crate::ErrorKind::Range`] when `k` is outside `[1, 65536]`, `dim` outside `[1, 2²⁰]`, the
    /// radius, scale, `sigma` or `min_separation` is negative or not finite, or `min_separation`
    /// exceeds `2·radius` for `K ≥ 2` centroids on a sphere.
    pub fn new(k: usize, dim: usize, centroids: Centroids, sigma: f64, min_separation: f64) -> Result<Self> {
        ensure((1..=MAX_K).contains(&k), || Error::range("k", format!("an integer in [1, {MAX_K}]"), k))?;
        ensure((1..=MAX_DIM).contains(&dim), || Error::range("dim", format!("an integer in [1, {MAX_DIM}]"), dim))?;
        let size = match centroids {
            Centroids::Sphere { radius } => radius,
            Centroids::Gaussian { scale } => scale,
        };
        let name = match centroids {
            Centroids::Sphere { .. } => "radius",
            Centroids::Gaussian { .. } => "scale",
        };
        ensure(size.is_finite() && size >= 0.0, || Error::range(name, "finite and ≥ 0", num(size)))?;
        ensure(sigma.is_finite() && sigma >= 0.0, || Error::range("sigma", "finite and ≥ 0", num(sigma)))?;
        ensure(min_separation.is_finite() && min_separation >= 0.0, || Error::range("min_separation", "finite and ≥ 0", num(min_separation)))?;
        if let Centroids::Sphere { radius } = centroids {
            // K points on a sphere are at most 2r apart; for K > 2 the bound is lower still.
            ensure(k == 1 || min_separation <= 2.0 * radius, || {
                Error::range("min_separation", format!("at most 2·radius = {} for centroids on the sphere", 2.0 * radius), min_separation)
            })?;
        }
        Ok(Prior { k, dim, centroids, sigma, min_separation, weights: Weights::Equal })
    }

    /// This prior with the given mixture weights per prompt.
    ///
    /// # Errors
    /// Type error when `Fixed` does not hold `K` weights or `Dirichlet` holds neither 1 nor `K`
    /// concentrations; range error when one is not finite and positive, or fixed weights do not
    /// sum to 1 within `1e-6`.
    pub fn with_weights(mut self, weights: Weights) -> Result<Self> {
        let k = self.k;
        self.weights = match weights {
            Weights::Equal => Weights::Equal,
            Weights::Fixed(w) => {
                if w.len() != k {
                    return Err(Error::type_("weights", format!("K = {k} values"), values(w.len())));
                }
                if let Some(i) = w.iter().position(|v| !(v.is_finite() && *v > 0.0)) {
                    return Err(Error::range(format!("weights[{i}]"), "positive and finite", num(w[i])));
                }
                let sum: f64 = w.iter().sum();
                ensure((sum - 1.0).abs() <= 1e-6, || Error::range("weights", "values summing to 1 (within 1e-6)", format!("a sum of {sum}")))?;
                Weights::Fixed(w.iter().map(|v| v / sum).collect())
            }
            Weights::Dirichlet(a) => {
                if a.len() != 1 && a.len() != k {
                    return Err(Error::type_("weights.dirichlet", format!("one concentration or K = {k}"), values(a.len())));
                }
                if let Some(i) = a.iter().position(|v| !(v.is_finite() && *v > 0.0)) {
                    return Err(Error::range(format!("weights.dirichlet[{i}]"), "positive and finite", num(a[i])));
                }
                Weights::Dirichlet(if a.len() == k { a } else { vec![a[0]; k] })
            }
        };
        Ok(self)
    }

    /// The weights of one prompt (`out`, `K` values), drawn from `g` when they are random.
    fn draw_weights(&self, g: &mut Gen, out: &mut [f64]) {
        let k = self.k;
        match &self.weights {
            Weights::Equal => out.fill(1.0 / k as f64),
            Weights::Fixed(w) => out.copy_from_slice(w),
            Weights::Dirichlet(a) => {
                use rand_distr::{Distribution, Gamma};
                for (o, &ak) in out.iter_mut().zip(a) {
                    *o = Gamma::new(ak, 1.0).expect("α checked positive").sample(g);
                }
                let total: f64 = out.iter().sum();
                if total > 0.0 && total.is_finite() {
                    out.iter_mut().for_each(|v| *v /= total);
                } else {
                    let sa: f64 = a.iter().sum();
                    let j = pick(a, rng::uniform(g) * sa);
                    out.fill(0.0);
                    out[j] = 1.0;
                }
            }
        }
    }

    fn draw_centroids(&self, g: &mut Gen, out: &mut [f64]) -> Result<()> {
        let d = self.dim;
        for attempt in 0..=MAX_REJECTIONS {
            for c in 0..self.k {
                let row = &mut out[c * d..(c + 1) * d];
                for v in row.iter_mut() {
                    *v = rng::normal(g);
                }
                if let Centroids::Sphere { radius } = self.centroids {
                    let n = row.iter().map(|v| v * v).sum::<f64>().sqrt().max(f64::MIN_POSITIVE);
                    row.iter_mut().for_each(|v| *v *= radius / n);
                } else if let Centroids::Gaussian { scale } = self.centroids {
                    row.iter_mut().for_each(|v| *v *= scale);
                }
            }
            let ok = (0..self.k).all(|a| {
                (0..a).all(|b| {
                    let s: f64 = (0..d).map(|i| (out[a * d + i] - out[b * d + i]).powi(2)).sum();
                    s.sqrt() >= self.min_separation
                })
            });
            if ok {
                return Ok(());
            }
            if attempt == MAX_REJECTIONS {
                break;
            }
        }
        Err(Error::range("min_separation", format!("low enough to be met by {} centroids within {MAX_REJECTIONS} tries", self.k), self.min_separation))
    }

    /// Draws `batch` prompts of `length` tokens each (see the module documentation): prompt `b`
    /// from the generator `gen(seed, PRIOR, b)`, so the result depends only on `seed`, not on
    /// `par` or the thread count. Centroids on the sphere are normalised Gaussian vectors (uniform
    /// on the sphere, Muller 1959).
    ///
    /// # Errors
    /// [`crate::ErrorKind::Range`] when a prompt's centroids do not meet `min_separation` in 10 000
    /// tries. Cancellable at each prompt (see [`crate::kernels::cancel`]).
    pub fn sample_prompts<T: Real>(&self, batch: usize, length: usize, seed: u64, par: Par) -> Result<Prompts<T>> {
        let (k, d) = (self.k, self.dim);
        let mut out = Prompts {
            x: vec![T::zero(); batch * length * d],
            labels: vec![0; batch * length],
            means: vec![T::zero(); batch * k * d],
            weights: vec![0.0; batch * k],
        };
        self.sample_prompts_into(&mut out.x, &mut out.labels, &mut out.means, &mut out.weights, seed, par)?;
        Ok(out)
    }

    /// Peak bytes of [`Prior::sample_prompts`] for `batch` prompts of `length` tokens in values of
    /// `elem` bytes: the four arrays it returns (`x`, `labels`, `means`, `weights`), which are drawn
    /// in place, prompt by prompt; nothing else grows with the draw.
    pub fn sample_prompts_peak_bytes(&self, batch: usize, length: usize, elem: usize) -> f64 {
        let [b, l, k, d, e] = [batch, length, self.k, self.dim, elem].map(|v| v as f64);
        b * l * (d * e + 4.0) + b * k * (d * e + 8.0)
    }

    /// [`Prior::sample_prompts`] into the caller's arrays (the same values): `x` (`B × L × d`),
    /// `labels` (`B × L`), `means` (`B × K × d`) and `weights` (`B × K`), all row-major, with `B`
    /// the number of prompts (`weights.len() / K`) and `L` the tokens per prompt.
    ///
    /// # Errors
    /// As [`Prior::sample_prompts`]; on an error the arrays hold partial draws.
    ///
    /// # Panics
    /// When the lengths are not those of one `B` and one `L` (`x.len() = labels.len()·d`,
    /// `means.len() = weights.len()·d`, `labels.len()` a multiple of `B`; with `B = 0`, all empty).
    pub fn sample_prompts_into<T: Real>(&self, x: &mut [T], labels: &mut [u32], means: &mut [T], weights: &mut [f64], seed: u64, par: Par) -> Result<()> {
        let (k, d) = (self.k, self.dim);
        let batch = weights.len() / k;
        assert!(weights.len() == batch * k && means.len() == batch * k * d && x.len() == labels.len() * d, "sample_prompts_into: inconsistent lengths");
        if batch == 0 {
            assert!(labels.is_empty(), "sample_prompts_into: tokens without prompts");
            return Ok(());
        }
        let length = labels.len() / batch;
        assert_eq!(labels.len(), batch * length, "sample_prompts_into: labels not a whole number of prompts");
        let par = par.above(batch * length * d, 1 << 14);
        let equal = self.weights == Weights::Equal;
        // Each prompt's four pieces, and its outcome.
        type Piece<'a, T> = (&'a mut [T], &'a mut [u32], &'a mut [T], &'a mut [f64], Result<()>);
        let mut pieces: Vec<Piece<'_, T>> = x
            .chunks_mut((length * d).max(1))
            .chain(std::iter::repeat_with(<&mut [_]>::default))
            .zip(labels.chunks_mut(length.max(1)).chain(std::iter::repeat_with(<&mut [_]>::default)))
            .zip(means.chunks_mut(k * d).zip(weights.chunks_mut(k)))
            .map(|((x, l), (m, w))| (x, l, m, w, Ok(())))
            .collect();
        par.chunks_mut(&mut pieces, 1, |b, piece| {
            let (x, labels, means, w, outcome) = &mut piece[0];
            let mut g = rng::gen(seed, rng::purpose::PRIOR, b as u64);
            let mut mu = vec![0.0f64; k * d];
            if let Err(e) = self.draw_centroids(&mut g, &mut mu) {
                *outcome = Err(e);
                return;
            }
            self.draw_weights(&mut g, w);
            for (t, z_out) in labels.iter_mut().enumerate() {
                let u = rng::uniform(&mut g);
                let z = if equal { ((u * k as f64) as usize).min(k - 1) } else { pick(w, u) };
                *z_out = z as u32;
                for i in 0..d {
                    x[t * d + i] = T::of(mu[z * d + i] + self.sigma * rng::normal(&mut g));
                }
            }
            for (m, &v) in means.iter_mut().zip(&mu) {
                *m = T::of(v);
            }
        });
        pieces.into_iter().try_for_each(|p| p.4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sphere_prompts() {
        let p = Prior::new(3, 8, Centroids::Sphere { radius: 3.0 }, 0.1, 1.0).unwrap();
        let a = p.sample_prompts::<f64>(5, 17, 11, Par::Seq).unwrap();
        assert_eq!(a.x.len(), 5 * 17 * 8);
        assert_eq!(a.labels.len(), 5 * 17);
        for m in a.means.chunks(8) {
            let n: f64 = m.iter().map(|v| v * v).sum::<f64>().sqrt();
            assert!((n - 3.0).abs() < 1e-12);
        }
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let b = pool.install(|| p.sample_prompts::<f64>(5, 17, 11, Par::Rayon).unwrap());
        assert_eq!(a.x, b.x);
        assert_eq!(a.labels, b.labels);
    }

    #[test]
    fn impossible_separation_is_an_error() {
        assert!(Prior::new(2, 2, Centroids::Sphere { radius: 1.0 }, 0.1, 3.0).is_err());
        let p = Prior::new(50, 2, Centroids::Sphere { radius: 1.0 }, 0.1, 1.9).unwrap();
        assert!(p.sample_prompts::<f64>(1, 1, 0, Par::Seq).is_err());
    }

    #[test]
    fn fixed_and_dirichlet_weights() {
        let base = Prior::new(3, 2, Centroids::Gaussian { scale: 5.0 }, 0.1, 0.0).unwrap();
        // equal weights: the same draws as before weights existed (no draw spent on them)
        let eq = base.clone().with_weights(Weights::Equal).unwrap().sample_prompts::<f64>(2, 50, 3, Par::Seq).unwrap();
        let plain = base.sample_prompts::<f64>(2, 50, 3, Par::Seq).unwrap();
        assert_eq!(eq.x, plain.x);
        assert_eq!(eq.weights, vec![1.0 / 3.0; 6]);
        // fixed: the label frequencies follow the weights
        let fixed = base.clone().with_weights(Weights::Fixed(vec![0.7, 0.2, 0.1])).unwrap();
        let p = fixed.sample_prompts::<f64>(4, 20_000, 9, Par::Rayon).unwrap();
        let mut count = [0usize; 3];
        p.labels.iter().for_each(|&z| count[z as usize] += 1);
        for (c, w) in count.iter().zip([0.7, 0.2, 0.1]) {
            assert!((*c as f64 / 80_000.0 - w).abs() < 0.01, "{count:?}");
        }
        assert!(p.weights.chunks(3).all(|w| w.iter().zip([0.7, 0.2, 0.1]).all(|(a, b)| (a - b).abs() < 1e-15)));
        // Dirichlet: per prompt, deterministic per (seed, prompt), independent of the thread count
        let dir = base.clone().with_weights(Weights::Dirichlet(vec![0.5])).unwrap();
        let a = dir.sample_prompts::<f64>(64, 10, 5, Par::Seq).unwrap();
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let b = pool.install(|| dir.sample_prompts::<f64>(64, 10, 5, Par::Rayon).unwrap());
        assert_eq!((a.x.clone(), a.labels.clone(), a.weights.clone()), (b.x, b.labels, b.weights));
        let first = dir.sample_prompts::<f64>(1, 10, 5, Par::Seq).unwrap();
        assert_eq!(first.weights, a.weights[..3].to_vec());
        for w in a.weights.chunks(3) {
            assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12 && w.iter().all(|v| *v >= 0.0));
        }
        // E[w_k] = α_k / Σα = 1/3; with α = 0.5 the weights vary a lot between prompts
        let mean0 = a.weights.chunks(3).map(|w| w[0]).sum::<f64>() / 64.0;
        assert!((mean0 - 1.0 / 3.0).abs() < 0.1, "{mean0}");
        assert!(a.weights.chunks(3).any(|w| w[0] > 0.7) && a.weights.chunks(3).any(|w| w[0] < 0.05));
        // a tiny concentration gives one-hot weights, not NaN
        let tiny = base.clone().with_weights(Weights::Dirichlet(vec![1e-300, 1e-300, 1e-300])).unwrap();
        let t = tiny.sample_prompts::<f64>(8, 5, 1, Par::Seq).unwrap();
        assert!(t.weights.chunks(3).all(|w| w.iter().filter(|&&v| v == 1.0).count() == 1));
        // refused
        assert!(base.clone().with_weights(Weights::Fixed(vec![0.5, 0.5])).is_err());
        assert!(base.clone().with_weights(Weights::Fixed(vec![0.5, 0.6, -0.1])).is_err());
        assert!(base.clone().with_weights(Weights::Fixed(vec![0.5, 0.3, 0.3])).is_err());
        assert!(base.clone().with_weights(Weights::Dirichlet(vec![1.0, 1.0])).is_err());
        assert!(base.with_weights(Weights::Dirichlet(vec![0.0])).is_err());
    }
}
