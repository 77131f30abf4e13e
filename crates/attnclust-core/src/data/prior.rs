//! Priors over mixtures: one random mixture per prompt, for in-context experiments.
//!
//! A prompt `b` draws its `K` centroids and then its `L` tokens (labels uniform over the `K`
//! components, `x = μ_z + σ ε`) from the single generator `gen(seed, PRIOR, b)`, so every prompt is
//! a fixed unit of work and the result does not depend on the thread count.

use crate::data::rng::{self, Gen};
use crate::error::{ensure, Result};
use crate::kernels::par::Par;
use crate::kernels::real::Real;

/// Where the centroids of a prompt's mixture come from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Centroids {
    /// Uniform on the sphere of radius `r`.
    Sphere { radius: f64 },
    /// `scale · N(0, I_d)`.
    Gaussian { scale: f64 },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Prior {
    pub k: usize,
    pub dim: usize,
    pub centroids: Centroids,
    /// Noise level `σ` of each component.
    pub sigma: f64,
    /// Smallest allowed distance between two centroids of one prompt (rejection sampling).
    pub min_separation: f64,
}

/// Prompts drawn from a prior: `x` is `B × L × d`, `labels` `B × L`, `means` `B × K × d`.
pub struct Prompts<T> {
    pub x: Vec<T>,
    pub labels: Vec<u32>,
    pub means: Vec<T>,
}

const MAX_REJECTIONS: usize = 10_000;

impl Prior {
    pub fn new(k: usize, dim: usize, centroids: Centroids, sigma: f64, min_separation: f64) -> Result<Self> {
        ensure((1..=1 << 16).contains(&k), || format!("`k` must be an integer in [1, 65536], got {k}"))?;
        ensure((1..=1 << 20).contains(&dim), || format!("`dim` must be an integer in [1, 1048576], got {dim}"))?;
        let size = match centroids {
            Centroids::Sphere { radius } => radius,
            Centroids::Gaussian { scale } => scale,
        };
        let name = match centroids {
            Centroids::Sphere { .. } => "radius",
            Centroids::Gaussian { .. } => "scale",
        };
        ensure(size.is_finite() && size >= 0.0, || format!("`{name}` must be finite and ≥ 0, got {size}"))?;
        ensure(sigma.is_finite() && sigma >= 0.0, || format!("`sigma` must be finite and ≥ 0, got {sigma}"))?;
        ensure(min_separation.is_finite() && min_separation >= 0.0, || format!("`minSeparation` must be finite and ≥ 0, got {min_separation}"))?;
        if let Centroids::Sphere { radius } = centroids {
            // K points on a sphere are at most 2r apart; for K > 2 the bound is lower still.
            ensure(k == 1 || min_separation <= 2.0 * radius, || {
                format!("`minSeparation` must be at most 2·radius = {} for centroids on the sphere, got {min_separation}", 2.0 * radius)
            })?;
        }
        Ok(Prior { k, dim, centroids, sigma, min_separation })
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
        Err(crate::Error::range(format!(
            "`minSeparation` = {} could not be met by {} centroids in {} tries: lower it",
            self.min_separation, self.k, MAX_REJECTIONS
        )))
    }

    /// Draws `batch` prompts of `length` tokens each.
    pub fn sample_prompts<T: Real>(&self, batch: usize, length: usize, seed: u64, par: Par) -> Result<Prompts<T>> {
        let (k, d) = (self.k, self.dim);
        let par = par.above(batch * length * d, 1 << 14);
        let per: Vec<Result<(Vec<T>, Vec<u32>, Vec<T>)>> = par.map(batch, |b| {
            let mut g = rng::gen(seed, rng::purpose::PRIOR, b as u64);
            let mut mu = vec![0.0f64; k * d];
            self.draw_centroids(&mut g, &mut mu)?;
            let mut x = Vec::with_capacity(length * d);
            let mut labels = Vec::with_capacity(length);
            for _ in 0..length {
                let z = ((rng::uniform(&mut g) * k as f64) as usize).min(k - 1);
                labels.push(z as u32);
                for i in 0..d {
                    x.push(T::of(mu[z * d + i] + self.sigma * rng::normal(&mut g)));
                }
            }
            Ok((x, labels, mu.into_iter().map(T::of).collect()))
        });
        let mut out =
            Prompts { x: Vec::with_capacity(batch * length * d), labels: Vec::with_capacity(batch * length), means: Vec::with_capacity(batch * k * d) };
        for p in per {
            let (x, l, m) = p?;
            out.x.extend(x);
            out.labels.extend(l);
            out.means.extend(m);
        }
        Ok(out)
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
}
