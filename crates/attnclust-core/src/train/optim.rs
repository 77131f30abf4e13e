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

use crate::error::{ensure, num, Error, Result};
use crate::kernels::real::Real;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Optimizer {
    Sgd,
    Momentum { beta: f64 },
    Adam { beta1: f64, beta2: f64, eps: f64 },
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Schedule {
    Constant,
    /// `η_t = η (floor + (1 − floor)(1 + cos(π t / total))/2)`, then `η·floor` after `total`.
    Cosine {
        total: u64,
        floor: f64,
    },
    /// `η_t = η / (1 + t/τ)`.
    InverseTime {
        tau: f64,
    },
}

impl Optimizer {
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

/// One update of `params` (length `P`) given the gradient `grad`, the state `state` (length `2P`)
/// and the step number `t ≥ 1`.
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
