//! CPU time (not wall time) of the W6 shape on one thread: online SGD, d = 16, H = 2, 'dot',
//! batch 256, λ = 1, lr 0.05, run after run, so it can be read on a busy machine.
//! `cargo run --release --example cpu_sgd_small [-- runs]` (env `D`, `BATCH`, `STEPS` override the shape,
//! `DTYPE=f32|f64` runs one type only).
use attnclust_core::data::gmm::Mixture;
use attnclust_core::models::two_head::Scores;
use attnclust_core::train::optim::Optim;
use attnclust_core::train::two_head::{online, Setup};
use attnclust_core::{Par, Real};

#[path = "common/cpu.rs"]
mod cpu;
use cpu::cpu;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn time<T: Real>(mix: &Mixture, setup: &Setup, runs: usize, steps: u64) -> f64 {
    let d = setup.dim;
    let t = cpu();
    for r in 0..runs {
        let mut p: Vec<T> = (0..2 * d).map(|i| T::of(((i * 7 + r) % 11) as f64 * 0.01)).collect();
        let mut st = vec![0.0; 4 * d];
        online(mix, setup, &mut p, &mut st, 0, steps, Par::Seq).unwrap();
    }
    cpu() - t
}

fn main() {
    let runs: usize = std::env::args().nth(1).and_then(|v| v.parse().ok()).unwrap_or(4);
    let (d, batch, steps) = (env("D", 16), env("BATCH", 256), env("STEPS", 1000) as u64);
    let mut means = vec![0.0; 2 * d];
    means[0] = 3.0;
    means[d + 1] = 3.0;
    let mix = Mixture::isotropic(means, 2, d, &[1.0], None).unwrap();
    let setup = Setup { heads: 2, dim: d, lambda: 1.0, scores: Scores::Dot, optim: Optim::sgd(0.05), batch, seed: 3 };
    let samples = (runs * batch) as f64 * steps as f64;
    let only = std::env::var("DTYPE").unwrap_or_default();
    let mut results = Vec::new();
    if only != "f64" {
        results.push(("f32", time::<f32>(&mix, &setup, runs, steps)));
    }
    if only != "f32" {
        results.push(("f64", time::<f64>(&mix, &setup, runs, steps)));
    }
    for (name, s) in results {
        println!(
            "d={d} batch={batch} {name}: {:.1} ns/sample on one thread ({:.1} M samples/s/thread, {:.1} µs/step)",
            s * 1e9 / samples,
            samples / s / 1e6,
            s * 1e6 / (runs as f64 * steps as f64)
        );
    }
}
