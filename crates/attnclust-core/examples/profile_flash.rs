//! Times the pieces of one attention head (L = 1024, d = 64, f32) on one thread: the score tile
//! products, the exp, the P·V products, and the whole forward. `cargo run --release --example
//! profile_flash`.
use attnclust_core::kernels::tile::{matmul, View};
use attnclust_core::models::attention::flash::{Head, Mask, BC, BR};
use attnclust_core::{Par, Real};
use std::time::Instant;

fn best<F: FnMut()>(mut f: F) -> f64 {
    let mut b = f64::INFINITY;
    for _ in 0..7 {
        let t = Instant::now();
        f();
        b = b.min(t.elapsed().as_secs_f64());
    }
    b
}

fn main() {
    let (l, d) = (1024usize, 64usize);
    let x: Vec<f32> = (0..l * d).map(|i| (i * 7919 % 1000) as f32 / 500.0 - 1.0).collect();
    let lambda = 0.125f32;
    let flop = 4.0 * (l * l * d) as f64;
    let head = Head { q: &x, k: &x, v: &x, l, dk: d, dv: d, lambda, mask: Mask::None, key_bias: None };
    let (mut o, mut lse) = (vec![0.0f32; l * d], vec![0.0f32; l]);
    let t = best(|| head.forward(&mut o, &mut lse, Par::Seq));
    println!("forward: {:.2} ms, {:.1} GFLOP/s", t * 1e3, flop / t / 1e9);
    let mut s = vec![0.0f32; BR * BC];
    let t = best(|| {
        for i0 in (0..l).step_by(BR) {
            for j0 in (0..l).step_by(BC) {
                matmul(&mut s, BC, View::rows(&x[i0 * d..], BR, d, d), View::transposed(&x[j0 * d..], d, BC, d), false, lambda);
            }
        }
    });
    println!("S tiles: {:.2} ms, {:.1} GFLOP/s", t * 1e3, flop / 2.0 / t / 1e9);
    let mut o2 = vec![0.0f32; BR * d];
    let t = best(|| {
        for _i0 in (0..l).step_by(BR) {
            for j0 in (0..l).step_by(BC) {
                matmul(&mut o2, d, View::rows(&s, BR, BC, BC), View::rows(&x[j0 * d..], BC, d, d), true, 1.0);
            }
        }
    });
    println!("PV tiles: {:.2} ms, {:.1} GFLOP/s", t * 1e3, flop / 2.0 / t / 1e9);
    let t = best(|| {
        for _ in 0..(l / BR) * (l / BC) {
            for r in 0..BR {
                f32::exp_sub_sum(&mut s[r * BC..(r + 1) * BC], 0.5);
            }
        }
    });
    println!("exp: {:.2} ms for {} values, {:.2} ns/value", t * 1e3, l * l, t * 1e9 / (l * l) as f64);
    let t = best(|| {
        for _ in 0..(l / BR) * (l / BC) {
            for r in 0..BR {
                let m = s[r * BC..(r + 1) * BC].iter().copied().fold(f32::NEG_INFINITY, f32::max);
                std::hint::black_box(m);
            }
        }
    });
    println!("row max: {:.2} ms", t * 1e3);
}
