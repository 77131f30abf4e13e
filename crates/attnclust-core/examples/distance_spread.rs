//! Measures the error of identity attention with distance scores against a plain `f64` reference
//! (all scores `−λ‖x_i − x_j‖²/2` from differences, max-subtracted softmax) over spreads
//! `λ·max‖x_i‖² = 10⁰ … 10²⁰`, for the key-bias form of the online kernels (`Path::Online`, in `f32`
//! and in `f64`), the difference form (`Path::Difference`) and what `identity_attention` chooses:
//! the figures behind `DISTANCE_F32_SPREAD` and `DISTANCE_F64_SPREAD`. Error: the largest
//! `|y − y_ref| / (1 + |y_ref|)` over the outputs. Two data sets: tokens in `[−1, 1]^d` and the
//! same tokens shifted by 30 along every axis (large `‖x‖`, the same distances).
//! `cargo run --release --example distance_spread [-- L d]` (default `L = 65, d = 3`).
use attnclust_core::kernels::simd;
use attnclust_core::models::identity::{apply_prompt_path, identity_attention, Options, Path};
use attnclust_core::models::two_head::Scores;
use attnclust_core::Par;

fn reference(x: &[f64], l: usize, d: usize, lambda: f64, exclude_self: bool) -> Vec<f64> {
    let mut y = vec![0.0; l * d];
    for i in 0..l {
        let s: Vec<f64> = (0..l)
            .map(
                |j| if exclude_self && i == j { f64::NEG_INFINITY } else { -0.5 * lambda * (0..d).map(|f| (x[i * d + f] - x[j * d + f]).powi(2)).sum::<f64>() },
            )
            .collect();
        let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = s.iter().map(|v| (v - m).exp()).sum();
        for j in 0..l {
            let w = (s[j] - m).exp() / z;
            for f in 0..d {
                y[i * d + f] += w * x[j * d + f];
            }
        }
    }
    y
}

fn err(y: impl Iterator<Item = f64>, r: &[f64]) -> f64 {
    y.zip(r).map(|(a, &e)| if a.is_finite() { (a - e).abs() / (1.0 + e.abs()) } else { f64::INFINITY }).fold(0.0, f64::max)
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("L d")).collect();
    let (l, d) = if args.len() == 2 { (args[0], args[1]) } else { (65, 3) };
    for shift in [0.0f32, 30.0] {
        // f32 tokens (so the f32 and f64 runs see the same values)
        let x: Vec<f32> = (0..l * d).map(|i: usize| (i.wrapping_mul(2654435761) % 100_003) as f32 / 50_001.5 - 1.0 + shift).collect();
        let x64: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
        let max_sq = x64.chunks(d).map(|r| r.iter().map(|v| v * v).sum::<f64>()).fold(0.0, f64::max);
        println!("L = {l}, d = {d}, shift {shift}, max‖x‖² = {max_sq:.3e}");
        println!("{:>8} {:>5} {:>11} {:>11} {:>11} {:>11} {:>11}", "spread", "self", "bias f32", "bias f64", "diff", "chosen f32", "chosen f64");
        for e in 0..=20 {
            let spread = 10f64.powi(e);
            let lambda = spread / max_sq;
            for exclude_self in [false, true] {
                let o = Options { lambda, scores: Scores::Distance, exclude_self, depth: 1, residual: false };
                let r = reference(&x64, l, d, lambda, exclude_self);
                let isa = simd::isa();
                let mut bf = vec![0.0f32; l * d];
                apply_prompt_path(&x, &mut bf, d, &o, Path::Online, isa);
                let mut bd = vec![0.0f64; l * d];
                apply_prompt_path(&x64, &mut bd, d, &o, Path::Online, isa);
                let mut df = vec![0.0f64; l * d];
                apply_prompt_path(&x64, &mut df, d, &o, Path::Difference, isa);
                let cf = identity_attention(&x, 1, l, d, &o, Par::Seq).unwrap();
                let cd = identity_attention(&x64, 1, l, d, &o, Par::Seq).unwrap();
                println!(
                    "{spread:>8.0e} {:>5} {:>11.2e} {:>11.2e} {:>11.2e} {:>11.2e} {:>11.2e}",
                    exclude_self,
                    err(bf.iter().map(|&v| f64::from(v)), &r),
                    err(bd.iter().copied(), &r),
                    err(df.iter().copied(), &r),
                    err(cf.iter().map(|&v| f64::from(v)), &r),
                    err(cd.iter().copied(), &r),
                );
            }
        }
    }
}
