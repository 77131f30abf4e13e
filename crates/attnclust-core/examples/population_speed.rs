//! The cost of one exact population risk-and-gradient evaluation (H = 2) against one online-SGD
//! gradient on 10⁴ fresh samples, on one thread (issue 13's speed target).
//!
//! `cargo run --release --example population_speed`

use attnclust_core::data::gmm::Mixture;
use attnclust_core::models::two_head::{Layer, Scores};
use attnclust_core::population::two_head::{risk_gradient, Quadrature};
use attnclust_core::train::two_head::online_gradient;
use attnclust_core::Par;
use std::time::Instant;

fn time<R>(reps: usize, mut f: impl FnMut() -> R) -> f64 {
    let t = Instant::now();
    for _ in 0..reps {
        std::hint::black_box(f());
    }
    t.elapsed().as_secs_f64() / reps as f64
}

fn main() {
    for d in [2usize, 16, 64] {
        let mut means = vec![0.0; 2 * d];
        means[0] = 4.0;
        means[d + 1] = 4.0;
        let mix = Mixture::isotropic(means, 2, d, &[1.0], None).unwrap();
        let params: Vec<f64> = (0..2 * d).map(|i| 0.3 * ((i * 7 % 5) as f64 - 2.0)).collect();
        let layer = Layer::new(&params[..], 2, d, 1.0, Scores::Dot).unwrap();
        let auto = risk_gradient(&mix, &params, 2, 1.0, Scores::Dot, &Quadrature::default(), Par::Rayon).unwrap();
        let t_auto = time(50, || risk_gradient(&mix, &params, 2, 1.0, Scores::Dot, &Quadrature::default(), Par::Rayon).unwrap());
        let fixed = Quadrature { nodes: Some(auto.nodes), tol: 1e-12 };
        let t_fixed = time(50, || risk_gradient(&mix, &params, 2, 1.0, Scores::Dot, &fixed, Par::Rayon).unwrap());
        let t_sgd = time(50, || online_gradient(&mix, &layer, 10_000, 1, 0, Par::Seq));
        println!(
            "d = {d:>2}: exact risk+gradient {:.1} µs (converged at {} nodes/dim, change {:.1e}; {:.1} µs at that fixed rule); \
             online-SGD gradient on 10⁴ samples {:.1} µs: ratio {:.2}",
            t_auto * 1e6,
            auto.nodes,
            auto.error,
            t_fixed * 1e6,
            t_sgd * 1e6,
            t_sgd / t_auto
        );
    }
}
