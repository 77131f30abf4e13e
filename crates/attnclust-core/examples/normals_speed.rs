//! ns per standard normal of the bulk Box–Muller generator (`Real::normals`, the dispatched path),
//! in `f32` and `f64`, on one thread: the minimum over many short repetitions of 65 536 draws
//! (a shared machine's interruptions only lengthen some repetitions).
//!
//!     cargo run --release -p attnclust-core --example normals_speed
use attnclust_core::kernels::real::Real;
use std::time::Instant;

fn best<T: Real>(words: &[u32], reps: usize) -> f64 {
    let mut out = vec![T::zero(); words.len()];
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let t = Instant::now();
        T::normals(words, &mut out);
        best = best.min(t.elapsed().as_secs_f64());
        std::hint::black_box(&out);
    }
    best * 1e9 / words.len() as f64
}

fn main() {
    let n = 1 << 16;
    let mut s = 0x9e37_79b9u32;
    let words: Vec<u32> = (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            s
        })
        .collect();
    let reps = 400;
    println!("f32: {:.3} ns per normal", best::<f32>(&words, reps));
    println!("f64: {:.3} ns per normal", best::<f64>(&words, reps));
}
