//! Optimisers and learning-rate schedules for the head parameters.
//!
//! With gradient `g_t` at step `t = 1, 2, …` and learning rate `η_t`:
//!
//! ```text
//! Sgd:       θ ← θ − η_t g_t
//! Momentum:  m ← β m + g_t;                 θ ← θ − η_t m
//! Adam:      m ← β₁ m + (1−β₁) g_t;  v ← β₂ v + (1−β₂) g_t²
//!            θ ← θ − η_t m̂ / (√v̂ + ε),  m̂ = m/(1−β₁ᵗ),  v̂ = v/(1−β₂ᵗ)
//! ```
//!
//! The state (`m`, `v`) is kept in `f64` whatever the parameters' type, in one buffer of `2P`.
//!
//! [`Optim`] (rule, schedule, base rate) is the one optimiser spec of every trainer (model A's
//! online, full-batch and population runs, model C's prompt training), and [`run_steps`] their one
//! step loop: cancellation checkpoint, the trainer's gradient, the update, the divergence check.

use crate::error::{ensure, num, Error, Result};
use crate::kernels::cancel::{attempt, checkpoint};
use crate::kernels::real::Real;

/// The update rule (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Optimizer {
    /// Plain gradient descent `θ ← θ − η_t g_t`.
    Sgd,
    /// Heavy-ball momentum (Polyak 1964) in the `m ← β m + g` form.
    Momentum {
        /// `β ∈ [0, 1)` (0.9 in the JavaScript API).
        beta: f64,
    },
    /// Adam with bias correction (Kingma and Ba 2015, Algorithm 1).
    Adam {
        /// `β₁ ∈ [0, 1)`, the first-moment decay (0.9 in the JavaScript API).
        beta1: f64,
        /// `β₂ ∈ [0, 1)`, the second-moment decay (0.999 in the JavaScript API).
        beta2: f64,
        /// `ε > 0` added to `√v̂` (1e-8 in the JavaScript API).
        eps: f64,
    },
}

/// The learning rate `η_t` of step `t` (0-based) for a base rate `η`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Schedule {
    /// `η_t = η`.
    Constant,
    /// `η_t = η (floor + (1 − floor)(1 + cos(π t / total))/2)`, then `η·floor` after `total`.
    Cosine {
        /// Steps of the decay, `≥ 1`.
        total: u64,
        /// Final fraction of `η`, in `[0, 1]`.
        floor: f64,
    },
    /// `η_t = η / (1 + t/τ)`.
    InverseTime {
        /// Time scale `τ > 0`, in steps.
        tau: f64,
    },
}

/// The optimiser of a training run: update rule, learning-rate schedule and base rate `η > 0`.
/// Defaults of the bindings: momentum `β = 0.9`; Adam `β₁ = 0.9`, `β₂ = 0.999`, `ε = 1e-8`
/// (Kingma & Ba, 2015, Algorithm 1); schedule [`Schedule::Constant`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Optim {
    /// The update rule.
    pub optimizer: Optimizer,
    /// The learning-rate schedule `η_t`.
    pub schedule: Schedule,
    /// Base learning rate `η`.
    pub lr: f64,
}

impl Optim {
    /// Plain SGD at a constant rate `lr`.
    pub fn sgd(lr: f64) -> Self {
        Optim { optimizer: Optimizer::Sgd, schedule: Schedule::Constant, lr }
    }

    /// Errors (range): `lr` not positive and finite; those of [`Optimizer::check`] and
    /// [`Schedule::check`].
    pub fn check(&self) -> Result<()> {
        ensure(self.lr.is_finite() && self.lr > 0.0, || Error::range("lr", "positive and finite", num(self.lr)))?;
        self.optimizer.check()?;
        self.schedule.check()
    }

    /// One update of step `t` (0-based) with the run's schedule; an error (range) when the
    /// parameters leave the finite range (divergence).
    pub fn step<T: Real>(&self, params: &mut [T], grad: &[f64], state: &mut [f64], t: u64) -> Result<()> {
        update(&self.optimizer, params, grad, state, self.schedule.at(self.lr, t), t + 1);
        if params.iter().any(|v| !v.is_finite()) {
            return Err(self.diverged(t, "the parameters are"));
        }
        Ok(())
    }

    /// The error (range) of a run whose `what` ("the parameters are", "the loss is") no longer
    /// finite at step `t`.
    pub fn diverged(&self, t: u64, what: &str) -> Error {
        Error::range("lr", "low enough for training to stay finite", format!("{} (diverged at step {t}: {what} no longer finite; lower it)", self.lr))
    }
}

/// Runs training steps `start .. start + count` of any trainer and returns each step's loss (of
/// the parameters before its update). Step `t` is: a cancellation checkpoint; `grad(params, t,
/// g)`, the trainer's part, which returns the loss and leaves the gradient (`f64`, one per
/// parameter) in `g`; a divergence check (a loss or gradient that is not finite); the update
/// [`Optim::step`]. A cancelled run ([`crate::kernels::cancel`])
/// stops at a step's start or at a chunk boundary inside it, and returns the losses of the steps
/// it completed (their updates kept, the interrupted one dropped). Errors: the trainer's, and a
/// divergence.
pub fn run_steps<T: Real>(
    optim: &Optim,
    params: &mut [T],
    state: &mut [f64],
    start: u64,
    count: u64,
    mut grad: impl FnMut(&[T], u64, &mut [f64]) -> Result<f64>,
) -> Result<Vec<f64>> {
    let mut g = vec![0.0; params.len()];
    let mut losses = Vec::with_capacity(count.min(1 << 16) as usize);
    for t in start..start + count {
        let Some(r) = attempt(|| {
            checkpoint();
            grad(params, t, &mut g)
        }) else {
            break;
        };
        let loss = r?;
        if !loss.is_finite() || g.iter().any(|v| !v.is_finite()) {
            return Err(optim.diverged(t, "the loss or its gradient is"));
        }
        losses.push(loss);
        optim.step(params, &g, state, t)?;
    }
    Ok(losses)
}

impl Optimizer {
    /// Checks the hyperparameters.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Range`] when a `β` is outside `[0, 1)` or `eps` is not positive and finite.
    pub fn check(&self) -> Result<()> {
        let unit = |v: f64, name: &str| ensure(v.is_finite() && (0.0..1.0).contains(&v), || Error::range(name, "in [0, 1)", num(v)));
        match *self {
            Optimizer::Sgd => Ok(()),
            Optimizer::Momentum { beta } => unit(beta, "beta"),
            Optimizer::Adam { beta1, beta2, eps } => {
                unit(beta1, "beta1")?;
                unit(beta2, "beta2")?;
                ensure(eps.is_finite() && eps > 0.0, || Error::range("eps", "positive and finite", num(eps)))
            }
        }
    }
}

impl Schedule {
    /// Checks the schedule.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Range`] when `total` is 0, `floor` is outside `[0, 1]`, or `tau` is not
    /// positive and finite.
    pub fn check(&self) -> Result<()> {
        match *self {
            Schedule::Constant => Ok(()),
            Schedule::Cosine { total, floor } => {
                ensure(total >= 1, || Error::range("schedule.total", "at least 1", total))?;
                ensure(floor.is_finite() && (0.0..=1.0).contains(&floor), || Error::range("schedule.floor", "in [0, 1]", num(floor)))
            }
            Schedule::InverseTime { tau } => ensure(tau.is_finite() && tau > 0.0, || Error::range("schedule.tau", "positive and finite", num(tau))),
        }
    }

    /// Learning rate at step `t` (0-based) for base rate `lr`.
    pub fn at(&self, lr: f64, t: u64) -> f64 {
        match *self {
            Schedule::Constant => lr,
            Schedule::Cosine { total, floor } => {
                let p = (t as f64 / total as f64).min(1.0);
                lr * (floor + (1.0 - floor) * 0.5 * (1.0 + (std::f64::consts::PI * p).cos()))
            }
            Schedule::InverseTime { tau } => lr / (1.0 + t as f64 / tau),
        }
    }
}

/// One update of `params` (length `P`) given the gradient `grad` (length `P`), the state `state`
/// (length `2P`: `m`, then `v`, in `f64`), the learning rate `lr` of this step and the step number
/// `t ≥ 1` (Adam's bias correction). Inputs are assumed checked.
pub fn update<T: Real>(opt: &Optimizer, params: &mut [T], grad: &[f64], state: &mut [f64], lr: f64, t: u64) {
    let p = params.len();
    debug_assert_eq!(state.len(), 2 * p);
    let (m, v) = state.split_at_mut(p);
    match *opt {
        Optimizer::Sgd => {
            for i in 0..p {
                params[i] = T::of(params[i].f64() - lr * grad[i]);
            }
        }
        Optimizer::Momentum { beta } => {
            for i in 0..p {
                m[i] = beta * m[i] + grad[i];
                params[i] = T::of(params[i].f64() - lr * m[i]);
            }
        }
        Optimizer::Adam { beta1, beta2, eps } => {
            let c1 = 1.0 - beta1.powf(t as f64);
            let c2 = 1.0 - beta2.powf(t as f64);
            for i in 0..p {
                m[i] = beta1 * m[i] + (1.0 - beta1) * grad[i];
                v[i] = beta2 * v[i] + (1.0 - beta2) * grad[i] * grad[i];
                params[i] = T::of(params[i].f64() - lr * (m[i] / c1) / ((v[i] / c2).sqrt() + eps));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optimisers_minimise_a_quadratic() {
        // f(θ) = Σ (θ_i − 3)²; ∇ = 2(θ − 3)
        for (opt, lr) in [(Optimizer::Sgd, 0.1), (Optimizer::Momentum { beta: 0.9 }, 0.02), (Optimizer::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8 }, 0.1)] {
            let mut th = vec![0.0f64, -1.0, 10.0];
            let mut st = vec![0.0; 6];
            for t in 1..=2000 {
                let g: Vec<f64> = th.iter().map(|v| 2.0 * (v - 3.0)).collect();
                update(&opt, &mut th, &g, &mut st, Schedule::Constant.at(lr, t), t);
            }
            assert!(th.iter().all(|v| (v - 3.0).abs() < 1e-3), "{opt:?}: {th:?}");
        }
    }

    #[test]
    fn schedules() {
        let c = Schedule::Cosine { total: 100, floor: 0.1 };
        assert_eq!(c.at(1.0, 0), 1.0);
        assert!((c.at(1.0, 100) - 0.1).abs() < 1e-12);
        assert!((Schedule::InverseTime { tau: 10.0 }.at(1.0, 10) - 0.5).abs() < 1e-15);
        assert!(Optimizer::Adam { beta1: 1.0, beta2: 0.9, eps: 1e-8 }.check().is_err());
    }
}
