//! The exact population risk and gradient against finite differences, a brute-force grid and the
//! fused Monte Carlo kernel of online SGD.

use super::*;
use crate::data::gmm::Mixture;
use crate::error::ErrorKind;
use crate::kernels::par::Par;
use crate::models::two_head::{Layer, Scratch};

fn mixture(d: usize) -> Mixture {
    let k = 3;
    let means: Vec<f64> = (0..k * d).map(|i| ((i * 7 + 3) % 11) as f64 * 0.4 - 2.0).collect();
    Mixture::isotropic(means, k, d, &[0.8, 1.1, 0.6], Some(vec![0.5, 0.3, 0.2])).unwrap()
}

fn params(h: usize, d: usize) -> Vec<f64> {
    (0..h * d).map(|i| ((i * 5 + 1) % 9) as f64 * 0.35 - 1.3).collect()
}

#[test]
fn gradient_matches_central_differences() {
    let fixed = Quadrature { nodes: Some(64), tol: 1e-12 };
    for scores in [Scores::Dot, Scores::Distance] {
        for (h, d) in [(1usize, 3usize), (2, 5), (3, 4)] {
            let mix = mixture(d);
            let p = params(h, d);
            let pop = risk_gradient(&mix, &p, h, 0.7, scores, &fixed, Par::Rayon).unwrap();
            let gmax = pop.gradient.iter().fold(0.0f64, |m, g| m.max(g.abs()));
            for i in 0..h * d {
                let step = 1e-5;
                let (mut plus, mut minus) = (p.clone(), p.clone());
                plus[i] += step;
                minus[i] -= step;
                let rp = risk_gradient(&mix, &plus, h, 0.7, scores, &fixed, Par::Rayon).unwrap().risk;
                let rm = risk_gradient(&mix, &minus, h, 0.7, scores, &fixed, Par::Rayon).unwrap().risk;
                let fd = (rp - rm) / (2.0 * step);
                // Central differences: truncation O(step²) ≈ 1e-10, rounding ≈ 1e-16·R/step ≈ 1e-10.
                assert!((fd - pop.gradient[i]).abs() <= 1e-8 * gmax.max(1.0), "{scores:?} H {h} d {d} entry {i}: fd {fd} vs exact {}", pop.gradient[i]);
            }
        }
    }
}

/// `∫ p(x) (loss, grad)(x) dx` by the trapezoid rule on a grid (exponentially accurate for these
/// analytic, rapidly decaying integrands), with the model's own per-token loss and gradient.
fn grid(mix: &Mixture, p: &[f64], h: usize, lambda: f64, scores: Scores, step: f64) -> (f64, Vec<f64>) {
    let d = mix.dim;
    let layer = Layer::new(p, h, d, lambda, scores).unwrap();
    let mut scratch = Scratch::new(h, d);
    let sig = match &mix.factor {
        crate::data::gmm::Factor::Isotropic(s) => s.clone(),
        _ => unreachable!(),
    };
    let half = 10.0f64.max(mix.means.iter().fold(0.0f64, |m, v| m.max(v.abs())) + 9.0 * 1.1);
    let m = (half / step).ceil() as i64;
    let (mut risk, mut grad) = (0.0, vec![0.0; h * d]);
    let mut g = vec![0.0; h * d];
    let mut x = vec![0.0; d];
    let total = (2 * m + 1).pow(d as u32);
    for flat in 0..total {
        let mut rest = flat;
        for xi in x.iter_mut() {
            *xi = (rest % (2 * m + 1) - m) as f64 * step;
            rest /= 2 * m + 1;
        }
        let mut dens = 0.0;
        for k in 0..mix.k {
            let mu = mix.mean(k);
            let q: f64 = x.iter().zip(mu).map(|(a, b)| (a - b) * (a - b)).sum();
            dens += mix.weights[k] * (-q / (2.0 * sig[k] * sig[k])).exp() / (2.0 * std::f64::consts::PI * sig[k] * sig[k]).powf(d as f64 / 2.0);
        }
        if dens < 1e-300 {
            continue;
        }
        g.iter_mut().for_each(|v| *v = 0.0);
        let loss = layer.loss_grad_one(&x, &mut scratch, &mut g);
        let w = dens * step.powi(d as i32);
        risk += w * loss;
        grad.iter_mut().zip(&g).for_each(|(o, v)| *o += w * v);
    }
    (risk, grad)
}

#[test]
fn agrees_with_a_brute_force_grid_in_low_dimension() {
    for scores in [Scores::Dot, Scores::Distance] {
        // d = 2: the heads span the whole space; d = 3 with one head: a 2-dimensional complement.
        for (h, d, step) in [(2usize, 2usize, 0.04), (1, 3, 0.12)] {
            let mix = mixture(d);
            let p = params(h, d);
            let pop = risk_gradient(&mix, &p, h, 0.9, scores, &Quadrature::default(), Par::Rayon).unwrap();
            assert!(pop.converged, "quadrature did not converge: {pop:?}");
            let (risk, grad) = grid(&mix, &p, h, 0.9, scores, step);
            assert!((pop.risk - risk).abs() <= 1e-9 * risk, "{scores:?} d {d}: {} vs grid {risk}", pop.risk);
            for (a, b) in pop.gradient.iter().zip(&grad) {
                assert!((a - b).abs() <= 1e-9 * risk, "{scores:?} d {d}: gradient {a} vs grid {b}");
            }
        }
    }
}

#[test]
fn agrees_with_1e8_monte_carlo_samples_within_4_standard_errors() {
    let d = 4;
    let mix = Mixture::isotropic(vec![3.0, 0.0, 0.0, 0.0, 0.0, 3.0, 0.0, 0.0], 2, d, &[1.0], None).unwrap();
    let p = vec![1.0, 0.5, 0.0, 0.2, -0.3, 1.2, 0.1, 0.0];
    let pop = risk_gradient(&mix, &p, 2, 1.0, Scores::Dot, &Quadrature::default(), Par::Rayon).unwrap();
    assert!(pop.converged);
    let layer = Layer::new(&p[..], 2, d, 1.0, Scores::Dot).unwrap();
    let (batches, batch) = (24usize, 1usize << 22);
    let mut vals: Vec<Vec<f64>> = vec![Vec::new(); 1 + 2 * d];
    for b in 0..batches {
        let (risk, grad) = crate::train::two_head::online_gradient(&mix, &layer, batch, 11, b as u64, Par::Rayon);
        vals[0].push(risk);
        for (i, g) in grad.iter().enumerate() {
            vals[1 + i].push(*g);
        }
    }
    let exact: Vec<f64> = std::iter::once(pop.risk).chain(pop.gradient.iter().cloned()).collect();
    for (i, v) in vals.iter().enumerate() {
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
        let se = (var / n).sqrt();
        println!("quantity {i}: exact {:.9}, Monte Carlo {mean:.9} ± {se:.2e} ({:.2} SE)", exact[i], (mean - exact[i]) / se);
        assert!((mean - exact[i]).abs() <= 4.0 * se, "quantity {i}: exact {} vs Monte Carlo {mean} ± {se}", exact[i]);
    }
}

#[test]
fn degenerate_and_bad_inputs() {
    let mix = mixture(3);
    // All heads at 0: rank 0, a(x) uniform, T = 0, R = E‖x‖².
    let pop = risk_gradient(&mix, &[0.0; 6], 2, 1.0, Scores::Dot, &Quadrature::default(), Par::Rayon).unwrap();
    let ex2: f64 = (0..3).map(|k| mix.weights[k] * (mix.mean(k).iter().map(|v| v * v).sum::<f64>() + 3.0 * [0.8f64, 1.1, 0.6][k].powi(2))).sum();
    assert_eq!(pop.rank, 0);
    assert!((pop.risk - ex2).abs() < 1e-12 * ex2);
    // Rank above the limit.
    let mix6 = Mixture::isotropic(vec![0.0; 6], 1, 6, &[1.0], None).unwrap();
    let eye: Vec<f64> = (0..36).map(|i| if i % 7 == 0 { 1.0 } else { 0.0 }).collect();
    assert!(matches!(risk_gradient(&mix6, &eye[..30], 5, 1.0, Scores::Dot, &Quadrature::default(), Par::Rayon), Err(e) if e.kind == ErrorKind::Range));
    assert!(matches!(risk_gradient(&mix, &[0.0; 5], 2, 1.0, Scores::Dot, &Quadrature::default(), Par::Rayon), Err(e) if e.kind == ErrorKind::Type));
    assert!(risk_gradient(&mix, &[f64::NAN; 6], 2, 1.0, Scores::Dot, &Quadrature::default(), Par::Rayon).is_err());
    assert!(risk_gradient(&mix, &[1.0; 6], 2, -1.0, Scores::Dot, &Quadrature::default(), Par::Rayon).is_err());
    let diag = Mixture::diagonal(vec![0.0; 3], 1, 3, &[1.0, 2.0, 3.0], None).unwrap();
    assert!(matches!(risk_gradient(&diag, &[1.0; 3], 1, 1.0, Scores::Dot, &Quadrature::default(), Par::Rayon), Err(e) if e.kind == ErrorKind::Type));
}

#[test]
fn same_bits_with_one_thread_or_many() {
    let mix = mixture(5);
    let p = params(3, 5);
    let seq = risk_gradient(&mix, &p, 3, 0.8, Scores::Distance, &Quadrature::default(), Par::Seq).unwrap();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    let many = pool.install(|| risk_gradient(&mix, &p, 3, 0.8, Scores::Distance, &Quadrature::default(), Par::Rayon).unwrap());
    assert_eq!(seq, many);
    assert_eq!(seq.rank, 3);
}

#[test]
fn fixed_size_rows_are_the_reference_bit_for_bit() {
    // Every (H, rank) the fixed-size kernel covers, and one beyond it (H = 4: the reference path),
    // both score kinds, a fixed rule and the automatic one, sequential and parallel rows.
    for scores in [Scores::Dot, Scores::Distance] {
        for h in 1..=4usize {
            for d in [1usize, 2, 3, 5] {
                let mix = mixture(d);
                let p = params(h, d);
                for quad in [Quadrature { nodes: Some(48), tol: 1e-12 }, Quadrature::default()] {
                    for par in [Par::Seq, Par::Rayon] {
                        let fast = risk_gradient_with(&mix, &p, h, 0.7, scores, &quad, par, Kernel::Fixed);
                        let reference = risk_gradient_with(&mix, &p, h, 0.7, scores, &quad, par, Kernel::Reference);
                        match (fast, reference) {
                            (Ok(a), Ok(b)) => {
                                assert_eq!(a.rank, b.rank);
                                assert_eq!(a.risk.to_bits(), b.risk.to_bits(), "{scores:?} H {h} d {d} rank {}: risk", a.rank);
                                let (ga, gb): (Vec<u64>, Vec<u64>) =
                                    (a.gradient.iter().map(|v| v.to_bits()).collect(), b.gradient.iter().map(|v| v.to_bits()).collect());
                                assert_eq!(ga, gb, "{scores:?} H {h} d {d} rank {}: gradient", a.rank);
                            }
                            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
                            (a, b) => panic!("{scores:?} H {h} d {d}: {a:?} vs {b:?}"),
                        }
                    }
                }
            }
        }
    }
}
