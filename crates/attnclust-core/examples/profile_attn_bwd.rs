//! Where the time of W2 goes: model C forward + backward, one head, identity weights, B = 16,
//! L = 1024, d = 64, `f32`, λ = 1/√d. Times the whole `layer::backward` on a pool of `THREADS`
//! threads (default 2), then the pieces of one head on one thread: the forward with its
//! statistics, the head's backward (fused, and the tiled one for comparison), the head's backward
//! spread over the pool, and the rest (projections, `dO`, `dX`, `dW`).
//! `cargo run --release --example profile_attn_bwd` (`THREADS=1` for one thread; `ONLY_BWD=n`
//! runs only the fused backward of one head `n` times, for `perf stat`).
use attnclust_core::kernels::tile::{matmul, View};
use attnclust_core::models::attention::flash::{Head, Kernel, Mask};
use attnclust_core::models::attention::layer::{backward, Options, Weights};
use attnclust_core::Par;
use std::time::Instant;

fn best<F: FnMut()>(reps: usize, mut f: F) -> f64 {
    let mut b = f64::INFINITY;
    for _ in 0..reps {
        let t = Instant::now();
        f();
        b = b.min(t.elapsed().as_secs_f64());
    }
    b
}

fn main() {
    let (b, l, d) = (16usize, 1024usize, 64usize);
    let threads: usize = std::env::var("THREADS").ok().and_then(|s| s.parse().ok()).unwrap_or(2);
    let lambda = 1.0 / (d as f64).sqrt();
    let val = |n: usize, salt: usize| -> Vec<f32> { (0..n).map(|i| ((i * 2654435761 + salt * 97) % 1000) as f32 / 500.0 - 1.0).collect() };
    let x = val(b * l * d, 1);
    let dy = val(b * l * d, 2);
    let eye: Vec<f32> = (0..d * d).map(|i| if i / d == i % d { 1.0 } else { 0.0 }).collect();
    let w = Weights { heads: 1, dim: d, dk: d, dv: d, wq: &eye, wk: &eye, wv: &eye, wo: &eye };
    let opts = Options { lambda, mask: Mask::None };
    let flop = 14.0 * (b * l * l * d) as f64;
    if let Ok(n) = std::env::var("ONLY_BWD") {
        // only the fused backward of one head, n times (for `perf stat`: cycles per call)
        let xb = &x[..l * d];
        let head = Head { q: xb, k: xb, v: xb, l, dk: d, dv: d, lambda: lambda as f32, mask: Mask::None, key_bias: None };
        let mut o = vec![0.0f32; l * d];
        let st = head.forward_with_stats(&mut o, Par::Seq);
        let (mut dq, mut dk, mut dv) = (vec![0.0f32; l * d], vec![0.0f32; l * d], vec![0.0f32; l * d]);
        for _ in 0..n.parse::<usize>().unwrap_or(10) {
            head.backward(&st, &dy[..l * d], &mut dq, &mut dk, &mut dv);
        }
        return;
    }
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    let t = pool.install(|| best(5, || drop(backward(&x, b, l, &w, &dy, &opts, Par::Rayon).unwrap())));
    println!("W2 layer::backward, {threads} threads: {:.1} ms, {:.1} GFLOP/s", t * 1e3, flop / t / 1e9);

    // one head, one thread; this thread's FMA peak now (the machine may be shared)
    let peak1 = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap().install(|| attnclust_core::kernels::calibrate::peak_gflops(0.3));
    println!("one thread's f32 FMA peak now: {peak1:.1} GFLOP/s");
    let xb = &x[..l * d];
    let dyb = &dy[..l * d];
    let head = Head { q: xb, k: xb, v: xb, l, dk: d, dv: d, lambda: lambda as f32, mask: Mask::None, key_bias: None };
    let mut o = vec![0.0f32; l * d];
    let tf = best(7, || drop(head.forward_with_stats(&mut o, Par::Seq)));
    let st = head.forward_with_stats(&mut o, Par::Seq);
    let (mut dq, mut dk, mut dv) = (vec![0.0f32; l * d], vec![0.0f32; l * d], vec![0.0f32; l * d]);
    let tb = best(7, || head.backward(&st, dyb, &mut dq, &mut dk, &mut dv));
    let one = |n: f64| n * (l * l * d) as f64;
    println!(
        "one head, 1 thread: forward+stats {:.2} ms ({:.1} GFLOP/s), backward {:.2} ms ({:.1} GFLOP/s)",
        tf * 1e3,
        one(4.0) / tf / 1e9,
        tb * 1e3,
        one(10.0) / tb / 1e9
    );
    let tt = best(3, || head.backward_kernel(&st, dyb, &mut dq, &mut dk, &mut dv, Par::Seq, Kernel::Tiled));
    println!("one head, 1 thread: the tiled backward (tile products) {:.2} ms ({:.1} GFLOP/s)", tt * 1e3, one(10.0) / tt / 1e9);
    let tp = pool.install(|| best(7, || head.backward_par(&st, dyb, &mut dq, &mut dk, &mut dv, Par::Rayon)));
    println!("one head, {threads} threads (two passes when threads > 1): backward {:.2} ms ({:.1} GFLOP/s counted as 10 L²d)", tp * 1e3, one(10.0) / tp / 1e9);
    // the rest of a (prompt, head) task: three projections, y, dW_O, dO, dX (three), dW (three)
    let mut out = vec![0.0f32; l * d];
    let mut wg = vec![0.0f32; d * d];
    let tr = best(7, || {
        for _ in 0..5 {
            matmul(&mut out, d, View::rows(xb, l, d, d), View::rows(&eye, d, d, d), false, 1.0);
        }
        for _ in 0..4 {
            matmul(&mut out, d, View::rows(dyb, l, d, d), View::transposed(&eye, d, d, d), true, 1.0);
        }
        for _ in 0..4 {
            matmul(&mut wg, d, View::transposed(xb, d, l, d), View::rows(dyb, l, d, d), false, 1.0);
        }
    });
    println!("one head, 1 thread: projections and weight gradients (13 products of L×d×d) {:.2} ms", tr * 1e3);
    let per_task = tf + tb + tr;
    println!(
        "sum per task {:.2} ms; × {b} / {threads} threads = {:.1} ms (measured {:.1} ms)",
        per_task * 1e3,
        per_task * (b as f64) / threads as f64 * 1e3,
        t * 1e3
    );
}
