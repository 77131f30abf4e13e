//! The infinite-context limit against finite prompts, Monte Carlo, and its K-head-layer form.

use super::*;
use crate::error::ErrorKind;
use crate::kernels::par::Par;
use crate::models::identity::{identity_attention, Options};

fn two_clusters(sigma: f64) -> Mixture {
    Mixture::isotropic(vec![2.0, 0.0, 0.0, 0.0, -0.5, 1.5, 0.0, 0.0], 2, 4, &[sigma], Some(vec![0.6, 0.4])).unwrap()
}

#[test]
fn finite_prompts_converge_to_the_limit_like_one_over_sqrt_l() {
    for scores in [Scores::Dot, Scores::Distance] {
        let mix = two_clusters(0.7);
        let (d, lambda) = (4, 0.5);
        let lengths = [256usize, 1024, 4096, 16384];
        let mut errs = Vec::new();
        for &l in &lengths {
            let mut sq = 0.0;
            let seeds = 4;
            for seed in 0..seeds {
                let (x, _) = mix.sample::<f64>(l, 100 + seed, 0, Par::Rayon);
                let opts = Options { lambda, scores, exclude_self: false, depth: 1, residual: false };
                let y = identity_attention(&x, 1, l, d, &opts, Par::Rayon).unwrap();
                let t = limit(&mix, &x, lambda, scores).unwrap();
                sq += y.iter().zip(&t).map(|(a, b)| (a - b) * (a - b)).sum::<f64>() / l as f64;
            }
            errs.push((sq / seeds as f64).sqrt());
        }
        // Least-squares slope of log(rms error) against log L.
        let xs: Vec<f64> = lengths.iter().map(|&l| (l as f64).ln()).collect();
        let ys: Vec<f64> = errs.iter().map(|e| e.ln()).collect();
        let (mx, my) = (xs.iter().sum::<f64>() / 4.0, ys.iter().sum::<f64>() / 4.0);
        let slope = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum::<f64>() / xs.iter().map(|x| (x - mx) * (x - mx)).sum::<f64>();
        println!("{scores:?}: rms ‖y − T_∞(x)‖ at L = {lengths:?}: {errs:.5?}, fitted slope {slope:.3}");
        assert!((-0.6..=-0.4).contains(&slope), "{scores:?}: slope {slope}, errors {errs:?}");
        assert!(errs[3] < 0.03, "{scores:?}: error at L = 16384 is {}", errs[3]);
    }
}

#[test]
fn equal_sigma_dot_limit_is_a_k_head_layer_plus_drift() {
    let (sigma, lambda) = (0.8, 0.7);
    let mix = Mixture::isotropic(vec![1.0, 2.0, 0.5, -1.0, 0.0, 1.0, 2.0, -2.0, 0.3], 3, 3, &[sigma], Some(vec![0.2, 0.5, 0.3])).unwrap();
    let x = [0.3, -1.2, 2.0, 4.0, 1.0, -0.5];
    let t = limit(&mix, &x, lambda, Scores::Dot).unwrap();
    for (xi, ti) in x.chunks(3).zip(t.chunks(3)) {
        let s: Vec<f64> = (0..3).map(|k| lambda * dot(xi, mix.mean(k)) + mix.weights[k].ln()).collect();
        let mx = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = s.iter().map(|v| (v - mx).exp()).sum();
        for i in 0..3 {
            let layer = (0..3).map(|k| (s[k] - mx).exp() / z * mix.mean(k)[i]).sum::<f64>() + lambda * sigma * sigma * xi[i];
            assert!((layer - ti[i]).abs() < 1e-13, "{layer} vs {}", ti[i]);
        }
    }
}

#[test]
fn full_diagonal_and_isotropic_forms_agree() {
    let means = vec![1.0, -1.0, 0.5, 0.0, 2.0, 1.0];
    let iso = Mixture::isotropic(means.clone(), 2, 3, &[0.6, 0.9], None).unwrap();
    let diag = Mixture::diagonal(means.clone(), 2, 3, &[0.36, 0.36, 0.36, 0.81, 0.81, 0.81], None).unwrap();
    let mut cov = vec![0.0; 18];
    for i in 0..3 {
        cov[i * 4] = 0.36;
        cov[9 + i * 4] = 0.81;
    }
    let full = Mixture::full(means, 2, 3, &cov, None).unwrap();
    let x = [0.2, 1.0, -0.7, 2.0, -1.0, 0.1];
    for scores in [Scores::Dot, Scores::Distance] {
        let a = limit(&iso, &x, 1.3, scores).unwrap();
        let b = limit(&diag, &x, 1.3, scores).unwrap();
        a.iter().zip(&b).for_each(|(u, v)| assert!((u - v).abs() < 1e-14));
    }
    let a = limit(&iso, &x, 1.3, Scores::Dot).unwrap();
    let c = limit(&full, &x, 1.3, Scores::Dot).unwrap();
    a.iter().zip(&c).for_each(|(u, v)| assert!((u - v).abs() < 1e-13));
    assert!(matches!(limit(&full, &x, 1.3, Scores::Distance), Err(e) if e.kind == ErrorKind::Type));
}

#[test]
fn limit_ratio_agrees_with_monte_carlo_within_4_standard_errors() {
    for scores in [Scores::Dot, Scores::Distance] {
        for lambda in [0.1, 0.5, 2.0] {
            let mix = two_clusters(0.7);
            let exact = limit_ratio(&mix, lambda, scores, &Quadrature::default()).unwrap();
            assert!(exact.converged, "{exact:?}");
            // Batch means of the ratio's numerator and denominator (a ratio estimator: the delta
            // method gives its standard error from the batches' spread).
            let (batches, n) = (16u64, 1usize << 16);
            let mut ratios = Vec::new();
            for b in 0..batches {
                let (x, labels) = mix.sample::<f64>(n, 7, b, Par::Rayon);
                let t = limit(&mix, &x, lambda, scores).unwrap();
                let (mut num, mut den) = (0.0, 0.0);
                for i in 0..n {
                    let mu = mix.mean(labels[i] as usize);
                    for j in 0..4 {
                        num += (t[i * 4 + j] - mu[j]).powi(2);
                        den += (x[i * 4 + j] - mu[j]).powi(2);
                    }
                }
                ratios.push(num / den);
            }
            let m = ratios.iter().sum::<f64>() / batches as f64;
            let se = (ratios.iter().map(|r| (r - m) * (r - m)).sum::<f64>() / (batches as f64 - 1.0) / batches as f64).sqrt();
            println!("{scores:?} λ {lambda}: exact {:.6}, Monte Carlo {m:.6} ± {se:.1e}", exact.ratio);
            assert!((m - exact.ratio).abs() <= 4.0 * se + 1e-12, "{scores:?} λ {lambda}: exact {} vs {m} ± {se}", exact.ratio);
        }
    }
}

#[test]
fn bad_inputs() {
    let mix = two_clusters(0.7);
    assert!(matches!(limit(&mix, &[1.0; 5], 1.0, Scores::Dot), Err(e) if e.kind == ErrorKind::Type));
    assert!(limit(&mix, &[f64::NAN; 4], 1.0, Scores::Dot).is_err());
    assert!(limit(&mix, &[1.0; 4], 0.0, Scores::Dot).is_err());
    let uneq = Mixture::isotropic(vec![1.0, 0.0, 0.0, 1.0], 2, 2, &[0.5, 0.6], None).unwrap();
    assert!(matches!(limit_ratio(&uneq, 1.0, Scores::Dot, &Quadrature::default()), Err(e) if e.kind == ErrorKind::Type));
    assert_eq!(limit(&mix, &[], 1.0, Scores::Dot).unwrap(), Vec::<f64>::new());
}
