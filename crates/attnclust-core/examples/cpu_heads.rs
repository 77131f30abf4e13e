//! CPU time (not wall time) of W5 and W4 kernels on one thread, so it can be read on a busy machine.
//! `cargo run --release --example cpu_heads`.
use attnclust_core::data::gmm::Mixture;
use attnclust_core::models::two_head::{Layer, Scores};
use attnclust_core::train::optim::Optim;
use attnclust_core::train::two_head::{online, Setup};
use attnclust_core::Par;

fn cpu() -> f64 {
    let mut ts = libc_timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec into the valid, exclusively borrowed `ts`.
    unsafe { clock_gettime(3, &mut ts) }; // CLOCK_THREAD_CPUTIME_ID
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}
#[repr(C)]
struct libc_timespec {
    tv_sec: i64,
    tv_nsec: i64,
}
extern "C" {
    fn clock_gettime(clk: i32, ts: *mut libc_timespec) -> i32;
}

fn main() {
    let (n, d) = (1usize << std::env::var("LOG2N").ok().and_then(|v| v.parse().ok()).unwrap_or(20), 64usize);
    let mut means = vec![0.0; 2 * d];
    means[0] = 4.0;
    means[d + 1] = 4.0;
    let mix = Mixture::isotropic(means, 2, d, &[1.0], None).unwrap();
    let (x, _) = mix.sample::<f32>(n, 1, 0, Par::Seq);
    let params: Vec<f32> = (0..2 * d).map(|i| (i % 7) as f32 * 0.05).collect();
    let layer = Layer::new(&params, 2, d, 0.125, Scores::Dot).unwrap();
    let t = cpu();
    layer.risk_grad(&x, Par::Seq).unwrap();
    let s = cpu() - t;
    println!("W5 one thread: {:.1} ms CPU = {:.1} ns/sample", s * 1e3, s * 1e9 / n as f64);
    let t = cpu();
    let mut xs = vec![0.0f32; 1024 * d];
    let mut ls = vec![0u32; 1024];
    for c in 0..(n / 1024) as u64 {
        mix.draw_chunk_fast(&mut xs, &mut ls, 1, 2, c);
    }
    let s = cpu() - t;
    println!("fast sampling one thread: {:.1} ms CPU = {:.1} ns/sample", s * 1e3, s * 1e9 / n as f64);
    let setup = Setup { heads: 2, dim: d, lambda: 0.125, scores: Scores::Dot, optim: Optim::sgd(0.01), batch: n, seed: 3 };
    let (mut p, mut st) = (params.clone(), vec![0.0; 4 * d]);
    let t = cpu();
    online(&mix, &setup, &mut p, &mut st, 0, 1, Par::Seq).unwrap();
    let s = cpu() - t;
    println!("W4 one thread: {:.1} ms CPU = {:.1} ns/sample", s * 1e3, s * 1e9 / n as f64);
}
