//! Times the two-head layer's risk + gradient on a fixed sample (W5) and one online SGD step with
//! sampling (W4), n = 2^20, d = 64, H = 2, f32, on the current rayon pool.
//! `cargo run --release --example profile_heads`.
use attnclust_core::data::gmm::Mixture;
use attnclust_core::models::two_head::{Layer, Scores};
use attnclust_core::train::optim::Optim;
use attnclust_core::train::two_head::{online, Setup};
use attnclust_core::Par;
use std::time::Instant;

fn main() {
    let (n, d) = (1usize << 20, 64usize);
    let mut means = vec![0.0; 2 * d];
    means[0] = 4.0;
    means[d + 1] = 4.0;
    let mix = Mixture::isotropic(means, 2, d, &[1.0], None).unwrap();
    let (x, _) = mix.sample::<f32>(n, 1, 0, Par::Rayon);
    let params: Vec<f32> = (0..2 * d).map(|i| (i % 7) as f32 * 0.05).collect();
    let layer = Layer::new(&params, 2, d, 0.125, Scores::Dot).unwrap();
    for _ in 0..2 {
        let t = Instant::now();
        let (r, _) = layer.risk_grad(&x, Par::Rayon).unwrap();
        let s = t.elapsed().as_secs_f64();
        println!("W5 risk+grad: {:.1} ms, {:.1} GB/s (risk {r:.3})", s * 1e3, (n * d * 4) as f64 / s / 1e9);
    }
    let setup = Setup { heads: 2, dim: d, lambda: 0.125, scores: Scores::Dot, optim: Optim::sgd(0.01), batch: n, seed: 3 };
    let mut p = params.clone();
    let mut st = vec![0.0; 4 * d];
    for t0 in 0..3 {
        let t = Instant::now();
        online(&mix, &setup, &mut p, &mut st, t0, 1, Par::Rayon).unwrap();
        let s = t.elapsed().as_secs_f64();
        println!("W4 online step: {:.1} ms, {:.1} M samples/s", s * 1e3, n as f64 / s / 1e6);
    }
    let t = Instant::now();
    let _ = mix.sample::<f32>(n, 1, 0, Par::Rayon);
    println!("exact sampler (Ziggurat, f64): {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
}
