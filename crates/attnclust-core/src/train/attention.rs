//! Training model C on mixture prompts with the reconstruction loss
//!
//! ```text
//! ℒ(W) = 1/(B·L) Σ_b Σ_i ‖x_{b,i} − Attn(X_b)_i‖²,      ∂ℒ/∂Y = 2 (Y − X) / (B·L)
//! ```
//!
//! Each step draws `batch` fresh prompts of `length` tokens from the prior (seed derived from the
//! user's seed and the step number), computes the loss and every weight gradient with
//! [`crate::models::attention::layer::backward`], and updates the weights with the chosen optimiser. The parameters are
//! one flat vector `[W_Q | W_K | W_V | W_O]`; the optimiser state is `2×` its length.

use crate::data::prior::Prior;
use crate::data::rng::{derive, purpose};
use crate::error::{ensure, values, Error, Numeric, Result};
use crate::kernels::par::Par;
use crate::kernels::real::Real;
use crate::models::attention::flash::Mask;
use crate::models::attention::layer::{backward, Options, Weights};
use crate::train::optim::{run_steps, Optim};

/// Settings of a model-C training run (SPEC §4): the layer's sizes and scores, the optimiser and
/// its schedule, the prompts per step and the seed.
#[derive(Clone, Debug, PartialEq)]
pub struct Setup {
    /// Number of heads `H ≥ 1`.
    pub heads: usize,
    /// Dimension `d` of a token (that of the prior).
    pub dim: usize,
    /// Width of a query or key.
    pub dk: usize,
    /// Width of a value.
    pub dv: usize,
    /// Inverse temperature `λ > 0` multiplying `QKᵀ`.
    pub lambda: f64,
    /// Which scores are excluded.
    pub mask: Mask,
    /// Update rule, schedule and base rate (shared with model A's trainers).
    pub optim: Optim,
    /// Prompts per step.
    pub batch: usize,
    /// Tokens per prompt.
    pub length: usize,
    /// Seed of the prompts (step `t` draws with seed `derive(seed, ATTENTION, t)`).
    pub seed: u64,
}

/// Most heads of a trained model-C layer.
pub const MAX_HEADS: usize = 1024;
/// Largest token dimension `d`, query/key width `dk` or value width `dv` of a trained layer.
pub const MAX_WIDTH: usize = 1 << 14;
/// Most prompts per training step.
pub const MAX_BATCH: usize = 1 << 16;
/// Most tokens per training prompt.
pub const MAX_LENGTH: usize = 1 << 20;

/// Checks the sizes of a trained layer: `1 ≤ heads ≤` [`MAX_HEADS`], and `dim`, `dk`, `dv` each
/// in `[1,` [`MAX_WIDTH`]`]`.
///
/// # Errors
/// [`crate::ErrorKind::Range`] naming the first size out of its range.
pub fn check_shape(heads: usize, dim: usize, dk: usize, dv: usize) -> Result<()> {
    ensure((1..=MAX_HEADS).contains(&heads), || Error::range("heads", format!("an integer in [1, {MAX_HEADS}]"), heads))?;
    for (name, v) in [("dim", dim), ("dk", dk), ("dv", dv)] {
        ensure((1..=MAX_WIDTH).contains(&v), || Error::range(name, format!("an integer in [1, {MAX_WIDTH}]"), v))?;
    }
    Ok(())
}

/// Checks the prompts of a training step: `1 ≤ batch ≤` [`MAX_BATCH`], `1 ≤ length ≤`
/// [`MAX_LENGTH`], and at least 2 tokens with the mask [`Mask::NoSelf`] (a token cannot attend
/// to itself alone).
///
/// # Errors
/// [`crate::ErrorKind::Range`] naming `batch` or `length`.
pub fn check_step(batch: usize, length: usize, mask: Mask) -> Result<()> {
    ensure((1..=MAX_BATCH).contains(&batch), || Error::range("batch", format!("an integer in [1, {MAX_BATCH}]"), batch))?;
    ensure((1..=MAX_LENGTH).contains(&length), || Error::range("length", format!("an integer in [1, {MAX_LENGTH}]"), length))?;
    ensure(mask != Mask::NoSelf || length >= 2, || Error::range("length", "at least 2 with the mask 'no-self'", length))
}

/// Checks that the prompts' prior has the layer's token dimension (a shape mismatch, like a
/// matrix with the wrong number of columns).
///
/// # Errors
/// [`crate::ErrorKind::Type`] naming `prior`.
pub fn check_prior(prior_dim: usize, dim: usize) -> Result<()> {
    ensure(prior_dim == dim, || Error::type_("prior", format!("of the layer's dimension {dim}"), format!("dimension {prior_dim}")))
}

/// Peak bytes of a layer's weights in values of `elem` bytes with their `f64` gradient and the
/// optimiser's `f64` state (two values per weight).
pub fn weights_peak_bytes(heads: usize, dim: usize, dk: usize, dv: usize, elem: usize) -> f64 {
    let w = heads as f64 * (2.0 * dim as f64 * dk as f64 + 2.0 * dim as f64 * dv as f64);
    w * (elem + 24) as f64
}

impl Setup {
    /// Number of parameters `H·(2·d·dk + d·dv + dv·d)`.
    pub fn size(&self) -> usize {
        self.heads * (2 * self.dim * self.dk + 2 * self.dim * self.dv)
    }

    /// The weights held in a flat parameter vector.
    pub fn weights<'a, T>(&self, p: &'a [T]) -> Weights<'a, T> {
        let (h, d, dk, dv) = (self.heads, self.dim, self.dk, self.dv);
        let (wq, rest) = p.split_at(h * d * dk);
        let (wk, rest) = rest.split_at(h * d * dk);
        let (wv, wo) = rest.split_at(h * d * dv);
        Weights { heads: h, dim: d, dk, dv, wq, wk, wv, wo }
    }

    fn check(&self, prior: &Prior) -> Result<()> {
        crate::models::two_head::check_lambda(self.lambda)?;
        self.optim.check()?;
        check_shape(self.heads, self.dim, self.dk, self.dv)?;
        check_step(self.batch, self.length, self.mask)?;
        check_prior(prior.dim, self.dim)
    }
}

/// Mean reconstruction loss and its gradient (flat, `f64`, [`Setup::size`] values) on the prompts
/// of step `t`; a loss that is not finite (weights so large that the forward pass overflows) comes
/// with a NaN gradient.
///
/// # Errors
/// Those of [`crate::data::prior::Prior::sample_prompts`] and of the forward and backward passes.
pub fn loss_grad<T: Real>(prior: &Prior, s: &Setup, params: &[T], t: u64, par: Par) -> Result<(f64, Vec<f64>)> {
    let prompts = prior.sample_prompts::<T>(s.batch, s.length, derive(s.seed, purpose::ATTENTION, t), par)?;
    let x = &prompts.x;
    let w = s.weights(params);
    let opts = Options { lambda: s.lambda, mask: s.mask };
    let n = (s.batch * s.length) as f64;
    // Two passes: the forward gives Y, then dY = 2(Y − X)/n is fed to the backward.
    // (a result the layer reports as an overflow is a divergence here, told by the non-finite loss
    // or gradient: the trainer names `lr`)
    let overflowed = |e: &Error| e.numeric == Some(Numeric::Overflow);
    let y = match crate::models::attention::layer::forward(x, s.batch, s.length, &w, &opts, par) {
        Err(e) if overflowed(&e) => return Ok((f64::INFINITY, vec![f64::NAN; params.len()])),
        r => r?,
    };
    let loss = x.iter().zip(&y).map(|(&a, &b)| (a - b).f64().powi(2)).sum::<f64>() / n;
    if !loss.is_finite() {
        // The weights overflowed the forward pass: no gradient (the trainer reports a divergence).
        return Ok((loss, vec![f64::NAN; params.len()]));
    }
    let scale = T::of(2.0 / n);
    let dy: Vec<T> = y.iter().zip(x).map(|(&b, &a)| (b - a) * scale).collect();
    let g = match backward(x, s.batch, s.length, &w, &dy, &opts, par) {
        Err(e) if overflowed(&e) => return Ok((loss, vec![f64::NAN; params.len()])),
        r => r?,
    };
    let grad = [g.dwq, g.dwk, g.dwv, g.dwo].concat().into_iter().map(|v| v.f64()).collect();
    Ok((loss, grad))
}

/// Runs steps `start .. start + count`; returns each step's loss (before its update). `params`
/// (`[W_Q | W_K | W_V | W_O]`, [`Setup::size`] values) and `state` (twice as many) are updated in
/// place. A cancelled run returns the losses of the steps it completed.
///
/// # Errors
/// [`crate::ErrorKind::Type`] when `params` or `state` has the wrong length; [`crate::ErrorKind::Range`] when `lambda`
/// or `lr` is not positive and finite, a size fails [`check_shape`] or [`check_step`], the prior's
/// dimension is not `dim`, the optimiser or schedule fails its check, a forward or backward check fails
/// ([`crate::models::attention::layer::Weights::check`]), or the weights stop being finite.
pub fn train<T: Real>(prior: &Prior, s: &Setup, params: &mut [T], state: &mut [f64], start: u64, count: u64, par: Par) -> Result<Vec<f64>> {
    s.check(prior)?;
    if params.len() != s.size() || state.len() != 2 * s.size() {
        return Err(Error::type_(
            "params",
            format!("{} (and the optimiser state {})", values(s.size()), values(2 * s.size())),
            format!("{} and {}", values(params.len()), values(state.len())),
        ));
    }
    run_steps(&s.optim, params, state, start, count, |params, t, grad| {
        let (loss, g) = loss_grad(prior, s, params, t, par)?;
        grad.copy_from_slice(&g);
        Ok(loss)
    })
}

/// Peak bytes of one training step on `batch` prompts of `length` tokens from a prior with `k`
/// centroids, for the sizes `heads`, `dim`, `dk`, `dv`, values of `elem` bytes, on `threads`
/// threads: the prompts (drawn per prompt, then joined), `y` and `dy`, the backward pass
/// ([`crate::models::attention::layer::peak_bytes`]), and the `f64` gradient and optimiser state.
#[allow(clippy::too_many_arguments)]
pub fn step_peak_bytes(batch: usize, length: usize, k: usize, heads: usize, dim: usize, dk: usize, dv: usize, elem: usize, threads: usize) -> f64 {
    let [b, l, kf, h, d] = [batch, length, k, heads, dim].map(|v| v as f64);
    let n = b * l * d;
    let w = h * (2.0 * d * dk as f64 + 2.0 * d * dv as f64);
    let backward = crate::models::attention::layer::peak_bytes(batch, length, heads, dim, dk, dv, elem, threads, true);
    elem as f64 * (4.0 * n + 2.0 * b * kf * d) + backward + 8.0 * (b * l + 3.0 * w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::prior::Centroids;
    use crate::train::optim::{Optimizer, Schedule};

    #[test]
    fn a_prior_of_another_dimension_is_a_type_error_naming_prior() {
        assert!(check_prior(3, 3).is_ok());
        let e = check_prior(2, 3).unwrap_err();
        assert_eq!((e.kind, e.arg.as_str()), (crate::ErrorKind::Type, "prior"));
        assert_eq!(e.message(), "`prior` must be of the layer's dimension 3, got dimension 2");
    }

    #[test]
    fn sizes_are_checked_here_naming_the_argument() {
        assert!(check_shape(MAX_HEADS, MAX_WIDTH, 1, MAX_WIDTH).is_ok());
        for (args, name) in [
            ((0, 1, 1, 1), "heads"),
            ((MAX_HEADS + 1, 1, 1, 1), "heads"),
            ((1, MAX_WIDTH + 1, 1, 1), "dim"),
            ((1, 1, 0, 1), "dk"),
            ((1, 1, 1, MAX_WIDTH + 1), "dv"),
        ] {
            let e = check_shape(args.0, args.1, args.2, args.3).unwrap_err();
            assert_eq!((e.kind, e.arg.as_str()), (crate::ErrorKind::Range, name));
        }
        assert!(check_step(MAX_BATCH, MAX_LENGTH, Mask::NoSelf).is_ok());
        assert!(check_step(1, 1, Mask::Causal).is_ok());
        for (b, l, mask, name) in [
            (0, 1, Mask::None, "batch"),
            (MAX_BATCH + 1, 1, Mask::None, "batch"),
            (1, 0, Mask::None, "length"),
            (1, MAX_LENGTH + 1, Mask::None, "length"),
            (1, 1, Mask::NoSelf, "length"),
        ] {
            let e = check_step(b, l, mask).unwrap_err();
            assert_eq!((e.kind, e.arg.as_str()), (crate::ErrorKind::Range, name));
        }
    }

    #[test]
    fn loss_decreases_and_is_thread_independent() {
        let prior = Prior::new(2, 4, Centroids::Sphere { radius: 3.0 }, 0.5, 0.0).unwrap();
        let s = Setup {
            heads: 1,
            dim: 4,
            dk: 4,
            dv: 4,
            lambda: 0.5,
            mask: Mask::None,
            optim: Optim { optimizer: Optimizer::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8 }, schedule: Schedule::Constant, lr: 0.01 },
            batch: 4,
            length: 32,
            seed: 7,
        };
        // start near identity weights
        let mut p: Vec<f64> = vec![0.0; s.size()];
        for block in 0..4 {
            for i in 0..4 {
                p[block * 16 + i * 4 + i] = 1.0;
            }
        }
        let p0 = p.clone();
        let mut st = vec![0.0; 2 * s.size()];
        let losses = train(&prior, &s, &mut p, &mut st, 0, 150, Par::Seq).unwrap();
        let early: f64 = losses[..10].iter().sum::<f64>() / 10.0;
        let late: f64 = losses[140..].iter().sum::<f64>() / 10.0;
        assert!(late < early, "{early} → {late}");
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let (mut p2, mut st2) = (p0, vec![0.0; 2 * s.size()]);
        let l2 = pool.install(|| train(&prior, &s, &mut p2, &mut st2, 0, 150, Par::Rayon)).unwrap();
        assert_eq!(losses, l2);
        assert_eq!(p, p2);
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let prior = Prior::new(2, 3, Centroids::Sphere { radius: 2.0 }, 0.5, 0.0).unwrap();
        let s = Setup { heads: 2, dim: 3, dk: 2, dv: 2, lambda: 0.7, mask: Mask::Causal, optim: Optim::sgd(0.1), batch: 2, length: 5, seed: 1 };
        let p: Vec<f64> = (0..s.size()).map(|i| ((i * 37 % 17) as f64 / 8.5 - 1.0) * 0.5).collect();
        let (_, g) = loss_grad(&prior, &s, &p, 3, Par::Seq).unwrap();
        for i in 0..p.len() {
            let eps = 1e-6;
            let (mut a, mut b) = (p.clone(), p.clone());
            a[i] += eps;
            b[i] -= eps;
            let fd = (loss_grad(&prior, &s, &a, 3, Par::Seq).unwrap().0 - loss_grad(&prior, &s, &b, 3, Par::Seq).unwrap().0) / (2.0 * eps);
            assert!((g[i] - fd).abs() <= 1e-7 * (1.0 + fd.abs()), "param {i}: {} vs {fd}", g[i]);
        }
    }

    #[test]
    fn adam_with_a_schedule_matches_a_plain_reference_step_by_step() {
        // The shared optimiser spec on model C: Adam (non-default betas and eps) under a cosine
        // schedule, run in two resumed pieces, against Adam written out here from Kingma & Ba
        // (2015, Algorithm 1) and the cosine rate, on the same gradients (f64).
        let prior = Prior::new(2, 3, Centroids::Sphere { radius: 2.0 }, 0.5, 0.0).unwrap();
        let (b1, b2, eps, lr, total, floor) = (0.8, 0.99, 1e-6, 0.02, 9u64, 0.25);
        let s = Setup {
            heads: 2,
            dim: 3,
            dk: 2,
            dv: 3,
            lambda: 0.6,
            mask: Mask::Causal,
            optim: Optim { optimizer: Optimizer::Adam { beta1: b1, beta2: b2, eps }, schedule: Schedule::Cosine { total, floor }, lr },
            batch: 2,
            length: 6,
            seed: 11,
        };
        let p0: Vec<f64> = (0..s.size()).map(|i| ((i * 29 % 13) as f64 / 6.5 - 1.0) * 0.4).collect();
        let (mut p, mut st) = (p0.clone(), vec![0.0; 2 * s.size()]);
        let mut losses = train(&prior, &s, &mut p, &mut st, 0, 5, Par::Seq).unwrap();
        losses.extend(train(&prior, &s, &mut p, &mut st, 5, 7, Par::Seq).unwrap());
        let (mut q, mut m, mut v) = (p0, vec![0.0; s.size()], vec![0.0; s.size()]);
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * (1.0 + b.abs());
        for t in 0..12u64 {
            // the reference's parameters at step t give the loss the trainer recorded
            let (loss, g) = loss_grad(&prior, &s, &q, t, Par::Seq).unwrap();
            assert!(close(losses[t as usize], loss), "step {t}: loss {} vs {loss}", losses[t as usize]);
            let progress = (t as f64 / total as f64).min(1.0);
            let eta = lr * (floor + (1.0 - floor) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()));
            let k = (t + 1) as i32;
            for i in 0..q.len() {
                m[i] = b1 * m[i] + (1.0 - b1) * g[i];
                v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
                let (mh, vh) = (m[i] / (1.0 - b1.powi(k)), v[i] / (1.0 - b2.powi(k)));
                q[i] -= eta * mh / (vh.sqrt() + eps);
            }
        }
        assert!(p.iter().zip(&q).all(|(a, b)| close(*a, *b)), "{p:?} vs {q:?}");
        // the optimiser state is [m | v]
        assert!(st[..m.len()].iter().zip(&m).chain(st[m.len()..].iter().zip(&v)).all(|(a, b)| close(*a, *b)));
        // and the options matter: default betas give another trajectory
        let mut s2 = s.clone();
        s2.optim.optimizer = Optimizer::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8 };
        let mut p2 = q.clone();
        p2.copy_from_slice(&(0..s.size()).map(|i| ((i * 29 % 13) as f64 / 6.5 - 1.0) * 0.4).collect::<Vec<_>>());
        train(&prior, &s2, &mut p2, &mut vec![0.0; 2 * s.size()], 0, 12, Par::Seq).unwrap();
        assert!(p2.iter().zip(&q).any(|(a, b)| !close(*a, *b)));
    }

    #[test]
    fn divergence_is_an_error_naming_lr() {
        let prior = Prior::new(2, 2, Centroids::Sphere { radius: 2.0 }, 0.5, 0.0).unwrap();
        let s = Setup { heads: 1, dim: 2, dk: 2, dv: 2, lambda: 1.0, mask: Mask::None, optim: Optim::sgd(1e300), batch: 1, length: 4, seed: 0 };
        let mut p = vec![0.5f64; s.size()];
        let e = train(&prior, &s, &mut p, &mut vec![0.0; 2 * s.size()], 0, 20, Par::Seq).unwrap_err();
        assert!(e.message().contains("diverged") && e.message().contains("`lr`"), "{}", e.message());
    }
}
