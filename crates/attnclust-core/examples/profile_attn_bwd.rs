//! Where the time of W2 goes: model C forward + backward, one head, identity weights, B = 16,
//! L = 1024, d = 64, `f32`, λ = 1/√d. Every figure is the calling thread's CPU time (best of
//! several), so it can be read on a shared machine: the whole `layer::backward` on this thread
//! (`Par::Seq`), then the phases of one (prompt, head) task: the forward with its statistics, the
//! fused backward, the tiled backward for comparison, and the rest
//! (projections, `y`, `dO`, `dX`, `dW`). With `THREADS=n` (n > 1) it also times the whole call on
//! a pool of `n` threads by wall clock.
//! `cargo run --release --example profile_attn_bwd` (`ONLY_BWD=n` runs only the fused backward of
//! one head `n` times (printing the best), `ONLY_LAYER=n` only `layer::backward` on this thread `n` times, for `perf`).
use attnclust_core::kernels::tile::{matmul, View};
use attnclust_core::models::attention::flash::{Head, Kernel, Mask};
use attnclust_core::models::attention::layer::{backward, Options, Weights};
use attnclust_core::Par;
use std::time::Instant;

#[path = "common/cpu.rs"]
mod cpu;
use cpu::cpu;

/// Best CPU time of `reps` calls.
fn best<F: FnMut()>(reps: usize, mut f: F) -> f64 {
    let mut b = f64::INFINITY;
    for _ in 0..reps {
        let t = cpu();
        f();
        b = b.min(cpu() - t);
    }
    b
}

fn main() {
    let (b, l, d) = (16usize, 1024usize, 64usize);
    let threads: usize = std::env::var("THREADS").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    let lambda = 1.0 / (d as f64).sqrt();
    let val = |n: usize, salt: usize| -> Vec<f32> { (0..n).map(|i| ((i * 2654435761 + salt * 97) % 1000) as f32 / 500.0 - 1.0).collect() };
    let x = val(b * l * d, 1);
    let dy = val(b * l * d, 2);
    let eye: Vec<f32> = (0..d * d).map(|i| if i / d == i % d { 1.0 } else { 0.0 }).collect();
    let w = Weights { heads: 1, dim: d, dk: d, dv: d, wq: &eye, wk: &eye, wv: &eye, wo: &eye };
    let opts = Options { lambda, mask: Mask::None };
    let flop = 14.0 * (b * l * l * d) as f64;
    let xb = &x[..l * d];
    let dyb = &dy[..l * d];
    let head = Head { q: xb, k: xb, v: xb, l, dk: d, dv: d, lambda: lambda as f32, mask: Mask::None, key_bias: None };
    if let Ok(n) = std::env::var("ONLY_BWD") {
        let mut o = vec![0.0f32; l * d];
        let st = head.forward_with_stats(&mut o, Par::Seq);
        let (mut dq, mut dk, mut dv) = (vec![0.0f32; l * d], vec![0.0f32; l * d], vec![0.0f32; l * d]);
        let t = best(n.parse::<usize>().unwrap_or(10), || head.backward(&st, dyb, &mut dq, &mut dk, &mut dv));
        println!("one head: fused backward, best {:.3} ms CPU", t * 1e3);
        return;
    }
    if let Ok(n) = std::env::var("ONLY_LAYER") {
        for _ in 0..n.parse::<usize>().unwrap_or(3) {
            drop(backward(&x, b, l, &w, &dy, &opts, Par::Seq).unwrap());
        }
        return;
    }
    let peak1 = attnclust_core::kernels::calibrate::peak_gflops(0.3);
    println!("this thread's f32 FMA peak now (wall): {peak1:.1} GFLOP/s");
    let t = best(3, || drop(backward(&x, b, l, &w, &dy, &opts, Par::Seq).unwrap()));
    println!(
        "W2 layer::backward on this thread: {:.1} ms CPU ({:.1} GFLOP/s of CPU time; {:.2} ms per task; 2 ideal threads: {:.1} ms)",
        t * 1e3,
        flop / t / 1e9,
        t * 1e3 / b as f64,
        t * 1e3 / 2.0
    );
    if threads > 1 {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let mut bw = f64::INFINITY;
        for _ in 0..5 {
            let s = Instant::now();
            pool.install(|| drop(backward(&x, b, l, &w, &dy, &opts, Par::Rayon).unwrap()));
            bw = bw.min(s.elapsed().as_secs_f64());
        }
        println!("W2 layer::backward, {threads} threads: {:.1} ms wall, {:.1} GFLOP/s", bw * 1e3, flop / bw / 1e9);
    }
    let one = |n: f64| n * (l * l * d) as f64;
    let mut o = vec![0.0f32; l * d];
    let tf = best(9, || drop(head.forward_with_stats(&mut o, Par::Seq)));
    let st = head.forward_with_stats(&mut o, Par::Seq);
    let (mut dq, mut dk, mut dv) = (vec![0.0f32; l * d], vec![0.0f32; l * d], vec![0.0f32; l * d]);
    let tb = best(9, || head.backward(&st, dyb, &mut dq, &mut dk, &mut dv));
    println!("one head: forward+stats {:.2} ms ({:.1} GFLOP/s)", tf * 1e3, one(4.0) / tf / 1e9);
    println!("one head: fused backward {:.2} ms ({:.1} GFLOP/s counted as 10 L²d)", tb * 1e3, one(10.0) / tb / 1e9);
    let tt = best(2, || head.backward_kernel(&st, dyb, &mut dq, &mut dk, &mut dv, Par::Seq, Kernel::Tiled));
    println!("one head: the tiled backward (tile products) {:.2} ms ({:.1} GFLOP/s)", tt * 1e3, one(10.0) / tt / 1e9);
    // the rest of a (prompt, head) task: three projections, y, dW_O, dO, dX (three), dW (three)
    let mut out = vec![0.0f32; l * d];
    let mut wg = vec![0.0f32; d * d];
    let tr = best(9, || {
        for _ in 0..4 {
            matmul(&mut out, d, View::rows(xb, l, d, d), View::rows(&eye, d, d, d), false, 1.0);
        }
        matmul(&mut out, d, View::rows(dyb, l, d, d), View::transposed(&eye, d, d, d), false, 1.0);
        for _ in 0..3 {
            matmul(&mut out, d, View::rows(dyb, l, d, d), View::transposed(&eye, d, d, d), true, 1.0);
        }
        for _ in 0..4 {
            matmul(&mut wg, d, View::transposed(xb, d, l, d), View::rows(dyb, l, d, d), false, 1.0);
        }
    });
    println!("one head: projections and weight gradients (12 products of L×d×d) {:.2} ms", tr * 1e3);
    let per_task = tf + tb + tr;
    println!(
        "sum of phases per task {:.2} ms; measured per task {:.2} ms; unaccounted (allocation, zeroing, sums, page faults) {:.2} ms",
        per_task * 1e3,
        t * 1e3 / b as f64,
        (t / b as f64 - per_task) * 1e3
    );
}
