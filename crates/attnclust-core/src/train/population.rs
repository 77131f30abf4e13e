//! Gradient descent on the exact population risk of model A: the deterministic trajectory (a
//! discretised gradient flow, or momentum/Adam on it) that online SGD follows in expectation.
//!
//! Step `t` computes `R(Θ_t)` and `∇R(Θ_t)` by quadrature ([`crate::population::two_head`]) and
//! updates the parameters with the run's optimiser and schedule ([`crate::train::optim`]). No
//! randomness: the trajectory is a function of the initial parameters and the settings alone. The
//! risk recorded for step `t` is that of the parameters before its update.

use crate::data::gmm::Mixture;
use crate::error::{ensure, Error, Result};
use crate::kernels::par::Par;
use crate::kernels::real::Real;
use crate::population::two_head::{risk_gradient, Quadrature};
use crate::train::optim::run_steps;
use crate::train::two_head::{check_state, Setup};

/// Runs steps `start .. start + count` of gradient descent on the population risk, updating
/// `params` (`H × d`) and the optimiser `state` (`2 · H · d`), and returns the risk before each
/// step. `setup.batch` and `setup.seed` are not used.
///
/// Errors: those of [`Setup::check`] and [`risk_gradient`]; a quadrature that does not reach its
/// tolerance (range, naming the step); divergence (range).
pub fn population<T: Real>(mix: &Mixture, setup: &Setup, params: &mut [T], state: &mut [f64], start: u64, count: u64, quad: &Quadrature) -> Result<Vec<f64>> {
    check_state(setup, params, state)?;
    ensure(mix.dim == setup.dim, || Error::type_("mixture", format!("of the layer's dimension {}", setup.dim), format!("dimension {}", mix.dim)))?;
    let mut theta = vec![0.0f64; setup.heads * setup.dim];
    run_steps(&setup.optim, params, state, start, count, |params, t, grad| {
        theta.iter_mut().zip(params.iter()).for_each(|(o, v)| *o = v.f64());
        let pop = risk_gradient(mix, &theta, setup.heads, setup.lambda, setup.scores, quad, Par::Rayon)?;
        if !pop.converged {
            return Err(Error::range(
                "quadrature.tol",
                format!("reachable (at step {t} the change was {:.1e} at {} nodes per dimension): raise it or set `nodes`", pop.error, pop.nodes),
                quad.tol,
            ));
        }
        grad.copy_from_slice(&pop.gradient);
        Ok(pop.risk)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::two_head::Scores;
    use crate::train::optim::Optim;

    #[test]
    fn descends_to_the_centroids_deterministically() {
        let d = 3;
        let mix = Mixture::isotropic(vec![4.0, 0.0, 0.0, 0.0, 4.0, 0.0], 2, d, &[1.0], None).unwrap();
        let setup = Setup { heads: 2, dim: d, lambda: 1.0, scores: Scores::Dot, optim: Optim::sgd(0.1), batch: 1, seed: 0 };
        let init = vec![0.03, -0.01, 0.02, -0.02, 0.04, 0.01];
        let run = |chunks: &[u64]| {
            let (mut p, mut st, mut risks, mut t) = (init.clone(), vec![0.0; 12], Vec::new(), 0);
            for &c in chunks {
                risks.extend(population(&mix, &setup, &mut p, &mut st, t, c, &Quadrature::default()).unwrap());
                t += c;
            }
            (p, risks)
        };
        let (p, risks) = run(&[300]);
        // Resuming in pieces gives the same trajectory, bit for bit.
        assert_eq!(run(&[100, 7, 193]), (p.clone(), risks.clone()));
        assert!(risks.windows(2).all(|w| w[1] <= w[0] + 1e-12), "the risk must decrease under exact gradient descent");
        let align = crate::metrics::alignment(&p, &mix.means, d).unwrap();
        assert!(align > 0.999, "alignment {align}, params {p:?}");
    }
}
