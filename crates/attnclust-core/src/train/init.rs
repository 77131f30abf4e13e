//! Initialisations of the head parameters (SPEC §6 `InitSpec`).
//!
//! - `Random { scale }`: `θ_h = scale · ε_h`, `ε_h ~ N(0, I)` (small or large random);
//! - `Point { at, noise }`: every head at the same point `at` plus `noise · ε_h` (a symmetric start
//!   when `noise` is 0 or tiny);
//! - `Data`: heads on tokens of the data, chosen k-means++-like: the first uniformly, each next one
//!   with probability proportional to its squared distance to the nearest head already chosen.
//!   Distances are computed in `f64` on the tokens scaled by a power of two when their magnitudes
//!   are beyond `2^±400` (as k-means does), so that they neither underflow to 0 nor overflow.

use crate::baselines::kmeans::{rescaling, scaled};
use crate::data::rng::{self, purpose};
use crate::error::{ensure, finite_flat, num, Error, Result};
use crate::kernels::real::Real;

/// How the heads start (see the module documentation).
#[derive(Clone, Debug, PartialEq)]
pub enum Init {
    /// `θ_h = scale · ε_h`, `ε_h ~ N(0, I_d)`.
    Random {
        /// Standard deviation `≥ 0` of each coordinate, in data units.
        scale: f64,
        /// Seed of the draws.
        seed: u64,
    },
    /// Every head at `at` plus `noise · ε_h`.
    Point {
        /// The common point (`d` values; default: the origin).
        at: Option<Vec<f64>>,
        /// Standard deviation `≥ 0` of the perturbation, in data units.
        noise: f64,
        /// Seed of the draws.
        seed: u64,
    },
    /// Heads on data tokens, k-means++-like (Arthur and Vassilvitskii 2007, one candidate per head).
    Data {
        /// Seed of the draws.
        seed: u64,
    },
}

/// Most draws of a mixture that the heads may be chosen from ([`check_draws`]): `2^24` tokens,
/// far more than k-means++-like seeding needs to see every cluster of a mixture.
pub const MAX_DRAWS: usize = 1 << 24;

/// Checks the number `n` of mixture draws to choose the heads from: `1 ≤ n ≤` [`MAX_DRAWS`].
/// (Data given as an array has no such limit: only the memory limit.)
///
/// # Errors
/// [`crate::ErrorKind::Range`] naming `n`.
pub fn check_draws(n: f64) -> Result<()> {
    ensure(n.fract() == 0.0 && (1.0..=MAX_DRAWS as f64).contains(&n), || Error::range("n", format!("an integer in [1, {MAX_DRAWS}]"), num(n)))
}

/// Peak bytes of [`init_params`] with [`Init::Data`] on `n` tokens of dimension `dim`: the tokens
/// rescaled into an `f64` copy and a squared distance per token.
pub fn data_peak_bytes(n: usize, dim: usize) -> f64 {
    let [n, d] = [n, dim].map(|v| v as f64);
    8.0 * n * d + 8.0 * n
}

/// Heads `H × d` (row-major) for the given spec; `data` (`n × d`) is needed only by
/// `Init::Data`.
///
/// # Errors
/// [`crate::ErrorKind::Type`] when `Init::Data` has no data or `at` does not hold `d` values;
/// [`crate::ErrorKind::Range`] when `heads` or `dim` is 0, `scale` or `noise` is negative or not finite, `at`
/// is not finite, or the data hold no token.
pub fn init_params<T: Real>(spec: &Init, heads: usize, dim: usize, data: Option<&[T]>) -> Result<Vec<T>> {
    crate::models::two_head::check_sizes(heads, dim)?;
    match spec {
        Init::Random { scale, seed } => {
            ensure(scale.is_finite() && *scale >= 0.0, || Error::range("init.scale", "finite and ≥ 0", num(*scale)))?;
            let mut g = rng::gen(*seed, rng::stream(purpose::INIT, 0), 0);
            Ok((0..heads * dim).map(|_| T::of(scale * rng::normal(&mut g))).collect())
        }
        Init::Point { at, noise, seed } => {
            ensure(noise.is_finite() && *noise >= 0.0, || Error::range("init.noise", "finite and ≥ 0", num(*noise)))?;
            let at = at.clone().unwrap_or_else(|| vec![0.0; dim]);
            if at.len() != dim {
                return Err(Error::type_("init.at", format!("{dim} coordinates"), at.len()));
            }
            finite_flat("init.at", &at)?;
            let mut g = rng::gen(*seed, rng::stream(purpose::INIT, 1), 0);
            Ok((0..heads * dim).map(|i| T::of(at[i % dim] + noise * rng::normal(&mut g))).collect())
        }
        Init::Data { seed } => {
            let x = data.ok_or_else(|| Error::type_("init.kind", "'random' or 'point' without data to draw from", "'data'"))?;
            let n = x.len() / dim;
            ensure(n >= 1, || Error::range("x", "at least one token to draw heads from (`init` of kind 'data')", "none"))?;
            let s = rescaling(x).unwrap_or(1.0);
            let xs = scaled(x, s);
            let mut g = rng::gen(*seed, rng::stream(purpose::INIT, 2), 0);
            let mut chosen = Vec::with_capacity(heads);
            chosen.push(((rng::uniform(&mut g) * n as f64) as usize).min(n - 1));
            let mut d2: Vec<f64> = vec![f64::INFINITY; n];
            while chosen.len() < heads {
                let last = &xs[chosen[chosen.len() - 1] * dim..][..dim];
                for (i, row) in xs.chunks(dim).enumerate() {
                    let d: f64 = row.iter().zip(last).map(|(a, b)| (a - b).powi(2)).sum();
                    d2[i] = d2[i].min(d);
                }
                let total: f64 = d2.iter().sum();
                let next = if total > 0.0 {
                    let mut u = rng::uniform(&mut g) * total;
                    d2.iter()
                        .position(|&w| {
                            u -= w;
                            u < 0.0
                        })
                        .unwrap_or(n - 1)
                } else {
                    ((rng::uniform(&mut g) * n as f64) as usize).min(n - 1)
                };
                chosen.push(next);
            }
            Ok(chosen.iter().flat_map(|&i| x[i * dim..(i + 1) * dim].iter().copied()).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_number_of_draws_is_checked_here_naming_n() {
        assert!(check_draws(1.0).is_ok() && check_draws(MAX_DRAWS as f64).is_ok());
        for bad in [0.0, -1.0, 1.5, MAX_DRAWS as f64 + 1.0, f64::NAN, f64::INFINITY] {
            let e = check_draws(bad).unwrap_err();
            assert_eq!((e.kind, e.arg.as_str()), (crate::ErrorKind::Range, "n"), "{bad}");
            assert_eq!(e.expected, format!("an integer in [1, {MAX_DRAWS}]"));
        }
    }

    #[test]
    fn kinds() {
        let r: Vec<f64> = init_params(&Init::Random { scale: 0.0, seed: 1 }, 2, 3, None).unwrap();
        assert_eq!(r, vec![0.0; 6]);
        let p: Vec<f64> = init_params(&Init::Point { at: Some(vec![1.0, 2.0]), noise: 0.0, seed: 1 }, 3, 2, None).unwrap();
        assert_eq!(p, vec![1.0, 2.0, 1.0, 2.0, 1.0, 2.0]);
        let x = vec![0.0f64, 0.0, 10.0, 10.0];
        let d: Vec<f64> = init_params(&Init::Data { seed: 4 }, 2, 2, Some(&x)).unwrap();
        // k-means++ must pick both distinct points
        assert!(d == vec![0.0, 0.0, 10.0, 10.0] || d == vec![10.0, 10.0, 0.0, 0.0]);
        assert!(init_params::<f64>(&Init::Data { seed: 4 }, 2, 2, None).is_err());
    }

    #[test]
    fn data_init_at_tiny_and_huge_scales() {
        // issue 10: at 1e-300 every squared distance underflowed to 0 and the draw was uniform.
        for scale in [1.0, 1e-300, 1e-310, 1e300] {
            let x: Vec<f64> = [1.0, 0.0, 1.1, 0.0, 0.0, 1.0, 0.0, 1.1].iter().map(|v| v * scale).collect();
            for seed in 0..20 {
                let p: Vec<f64> = init_params(&Init::Data { seed }, 3, 2, Some(&x)).unwrap();
                let mut rows: Vec<Vec<u64>> = p.chunks(2).map(|r| r.iter().map(|v| v.to_bits()).collect()).collect();
                rows.sort();
                rows.dedup();
                assert_eq!(rows.len(), 3, "scale {scale}, seed {seed}: {p:?}");
                assert!(p.iter().all(|v| x.contains(v)));
            }
        }
    }
}
