//! A fingerprint of model A's numerics: the bits of online-SGD histories and parameters (f32 and
//! f64; H = 1…5; d = 1…64; batches of one block to several chunks) and of `risk_grad` on a fixed
//! sample, hashed. Run it before and after a change to a kernel: the same line means the same bits.
//! `cargo run --release --example history_bits`
use attnclust_core::data::gmm::Mixture;
use attnclust_core::models::two_head::{Layer, Scores};
use attnclust_core::train::optim::Optim;
use attnclust_core::train::two_head::{online, Setup};
use attnclust_core::{Par, Real};

fn fnv(h: &mut u64, bits: u64) {
    for b in bits.to_le_bytes() {
        *h = (*h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
}

fn run<T: Real>(h: &mut u64) {
    for (heads, d, batch, steps) in [(2, 16, 256, 200), (2, 64, 3000, 5), (1, 3, 7, 50), (3, 9, 1100, 10), (4, 17, 515, 10), (5, 8, 300, 10), (2, 2, 4097, 5)] {
        for scores in [Scores::Dot, Scores::Distance] {
            let mut means = vec![0.0; 2 * d];
            means[0] = 3.0;
            means[d + 1.min(d - 1)] = -3.0;
            let mix = Mixture::isotropic(means, 2, d, &[1.0], None).unwrap();
            let setup = Setup { heads, dim: d, lambda: 1.0, scores, optim: Optim::sgd(0.05), batch, seed: 7 };
            let mut p: Vec<T> = (0..heads * d).map(|i| T::of(((i * 7 % 11) as f64 - 5.0) * 0.01)).collect();
            let mut st = vec![0.0; 2 * heads * d];
            let risks = online(&mix, &setup, &mut p, &mut st, 0, steps, Par::Rayon).unwrap();
            risks.iter().for_each(|r| fnv(h, r.to_bits()));
            p.iter().for_each(|v| fnv(h, v.f64().to_bits()));
            let (x, _) = mix.sample::<T>(2500, 3, 0, Par::Rayon);
            let layer = Layer::new(&p, heads, d, 1.0, scores).unwrap();
            let (r, g) = layer.risk_grad(&x, Par::Rayon).unwrap();
            fnv(h, r.to_bits());
            g.iter().for_each(|v| fnv(h, v.to_bits()));
        }
    }
}

fn main() {
    let (mut a, mut b) = (0xcbf2_9ce4_8422_2325u64, 0xcbf2_9ce4_8422_2325u64);
    run::<f32>(&mut a);
    run::<f64>(&mut b);
    println!("f32 {a:016x}  f64 {b:016x}");
}
