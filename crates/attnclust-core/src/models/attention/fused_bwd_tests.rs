//! The fused small-`d` backward ([`crate::kernels::attn_bwd`]) on every instruction set this CPU
//! has, in its one-pass and two-pass forms, against the `f64` reference, the tiled backward, and
//! itself (the same bits on every path and thread count).

use super::flash::{Head, Kernel, Mask};
use super::layer::{backward, Options, Weights};
use super::reference;
use crate::kernels::attn_bwd;
use crate::kernels::par::Par;
use crate::kernels::simd::Isa;

/// Deterministic values in about `[-scale, scale]`.
fn values(n: usize, salt: u64, scale: f64) -> Vec<f32> {
    (0..n as u64).map(|i| (((i.wrapping_mul(2654435761).wrapping_add(salt * 97) % 1000) as f64 / 500.0 - 1.0) * scale) as f32).collect()
}

fn isas() -> Vec<Isa> {
    [Isa::Portable, Isa::Avx2, Isa::Avx512].into_iter().filter(|i| i.available()).collect()
}

fn rows(v: &[f32], r: usize, c: usize) -> Vec<Vec<f64>> {
    (0..r).map(|i| v[i * c..(i + 1) * c].iter().map(|&x| f64::from(x)).collect()).collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// `(dQ, dK, dV)` of the fused backward on `isa`, one pass or two, starting from `init` (the
/// kernel adds to its outputs).
fn fused(head: &Head<f32>, st: &super::flash::Stats<f32>, d_o: &[f32], isa: Isa, two_pass: bool, init: f32) -> [Vec<f32>; 3] {
    let (l, dk, dv) = (head.l, head.dk, head.dv);
    let (mut dq, mut dkk, mut dvv) = (vec![init; l * dk], vec![init; l * dk], vec![init; l * dv]);
    attn_bwd::run(isa, &head.fused_input(st, d_o), Par::Seq, two_pass, &mut dq, &mut dkk, &mut dvv);
    [dq, dkk, dvv]
}

/// The `f64` reference gradients of one head (on the `f32` inputs): `dQ = λ dS K`, `dK = λ dSᵀ Q`,
/// `dV = Pᵀ dO`, with the cancellation-free `dS` of [`reference::stable_ds`].
fn expected(head: &Head<f32>, d_o: &[f32]) -> [Vec<f64>; 3] {
    let (l, dk, dv) = (head.l, head.dk, head.dv);
    let (q, k, v, o) = (rows(head.q, l, dk), rows(head.k, l, dk), rows(head.v, l, dv), rows(d_o, l, dv));
    let bias: Option<Vec<f64>> = head.key_bias.map(|b| b.iter().map(|&x| f64::from(x)).collect());
    let lambda = f64::from(head.lambda);
    let p = reference::probabilities(&q, &k, lambda, head.mask, bias.as_deref());
    let dp: Vec<Vec<f64>> = (0..l).map(|i| (0..l).map(|j| (0..dv).map(|c| o[i][c] * v[j][c]).sum()).collect()).collect();
    let ds: Vec<Vec<f64>> = (0..l).map(|i| reference::stable_ds(&p[i], &dp[i])).collect();
    let mut out = [vec![0.0; l * dk], vec![0.0; l * dk], vec![0.0; l * dv]];
    for i in 0..l {
        for c in 0..dk {
            out[0][i * dk + c] = lambda * (0..l).map(|j| ds[i][j] * k[j][c]).sum::<f64>();
            out[1][i * dk + c] = lambda * (0..l).map(|r| ds[r][i] * q[r][c]).sum::<f64>();
        }
        for c in 0..dv {
            out[2][i * dv + c] = (0..l).map(|r| p[r][i] * o[r][c]).sum();
        }
    }
    out
}

/// Largest `|got − want|` over an array, relative to `max |want|` (at least 1).
fn rel_err(got: &[f32], want: &[f64]) -> f64 {
    let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    got.iter().zip(want).map(|(&a, b)| (f64::from(a) - b).abs()).fold(0.0, f64::max) / scale
}

fn check(l: usize, dk: usize, dv: usize, mask: Mask, bias: bool, lambda: f32) {
    let (q, k, v, d_o, b) = (values(l * dk, 1, 1.0), values(l * dk, 2, 1.0), values(l * dv, 3, 1.0), values(l * dv, 4, 1.0), values(l, 5, 0.5));
    let head = Head { q: &q, k: &k, v: &v, l, dk, dv, lambda, mask, key_bias: if bias { Some(&b[..]) } else { None } };
    assert!(head.fused());
    let what = format!("l={l} dk={dk} dv={dv} {mask:?} bias={bias} λ={lambda}");
    let mut o = vec![0.0f32; l * dv];
    let st = head.forward_with_stats(&mut o, Par::Seq);
    let want = expected(&head, &d_o);
    // the tiled backward on the same statistics
    let (mut tq, mut tk, mut tv) = (vec![0.0f32; l * dk], vec![0.0f32; l * dk], vec![0.0f32; l * dv]);
    head.backward_kernel(&st, &d_o, &mut tq, &mut tk, &mut tv, Par::Seq, Kernel::Tiled);
    let tol = 2e-5 * (1.0 + f64::from(lambda)) * (l as f64).sqrt().max(1.0);
    let first = fused(&head, &st, &d_o, Isa::Portable, false, 0.0);
    for (name, g, w, t) in [("dq", &first[0], &want[0], &tq), ("dk", &first[1], &want[1], &tk), ("dv", &first[2], &want[2], &tv)] {
        let e = rel_err(g, w);
        assert!(e <= tol, "{what}: {name} off the reference by {e:e} (tolerance {tol:e})");
        let te = rel_err(t, w);
        assert!(e <= 4.0 * te + 1e-6, "{what}: {name} off the reference by {e:e}, the tiled backward by {te:e}");
    }
    // every instruction set, one pass or two: the same bits
    for isa in isas() {
        for two_pass in [false, true] {
            let g = fused(&head, &st, &d_o, isa, two_pass, 0.0);
            for (t, name) in ["dq", "dk", "dv"].iter().enumerate() {
                assert_eq!(bits(&g[t]), bits(&first[t]), "{what}: {name} on {isa:?}, two passes = {two_pass}");
            }
        }
    }
    // the kernel adds to its outputs
    let g = fused(&head, &st, &d_o, simd_best(), false, 1.5);
    for t in 0..3 {
        for (a, b) in g[t].iter().zip(&first[t]) {
            assert_eq!(*a, 1.5 + b, "{what}: adds to its output");
        }
    }
}

fn simd_best() -> Isa {
    crate::kernels::simd::isa()
}

#[test]
fn fused_backward_matches_reference_over_shapes() {
    for l in [1, 2, 15, 16, 17, 63, 64, 65, 130] {
        for (dk, dv) in [(1, 1), (3, 5), (15, 17), (16, 16), (33, 7), (64, 64)] {
            for mask in [Mask::None, Mask::Causal, Mask::NoSelf] {
                if mask == Mask::NoSelf && l < 2 {
                    continue;
                }
                check(l, dk, dv, mask, false, 0.9);
            }
        }
    }
    // a key bias, a large prompt over several tiles (and a partial last one), a sharp softmax
    check(130, 16, 16, Mask::None, true, 0.9);
    check(200, 64, 64, Mask::None, false, 0.125);
    check(200, 64, 64, Mask::Causal, false, 4.0);
    check(257, 17, 33, Mask::NoSelf, true, 2.0);
}

#[test]
fn fused_backward_of_an_empty_prompt_does_nothing() {
    let head = Head::<f32> { q: &[], k: &[], v: &[], l: 0, dk: 3, dv: 3, lambda: 1.0, mask: Mask::None, key_bias: None };
    let st = head.forward_with_stats(&mut [], Par::Seq);
    for isa in isas() {
        for two_pass in [false, true] {
            assert!(fused(&head, &st, &[], isa, two_pass, 0.0).iter().all(|v| v.is_empty()));
        }
    }
}

/// Saturated softmax (`λ` up to 10²⁰): the two-token prompt at the level of one head
/// (`Q = K = V = X`, `dO = dY`), where `P = I` to far below the rounding error: `dV = dO` and
/// `dQ = dK = 0`, exactly, on every path; and a larger head whose fused gradients stay those of
/// [`Head::backward`] (checked element by element against the reference in `saturated_tests`).
#[test]
fn fused_backward_is_exact_at_saturated_softmax() {
    let x = [0.97f32, 1.12, -0.05, -0.18, 1.31, -1.25];
    let dy = [-0.2f32, -1.0, 0.9, 0.6, -0.5, 1.6];
    for lambda in [1e2f32, 1e4, 1e6, 1e10, 1e20] {
        let head = Head { q: &x, k: &x, v: &x, l: 2, dk: 3, dv: 3, lambda, mask: Mask::None, key_bias: None };
        let mut o = vec![0.0f32; 6];
        let st = head.forward_with_stats(&mut o, Par::Seq);
        for isa in isas() {
            for two_pass in [false, true] {
                let [dq, dk, dv] = fused(&head, &st, &dy, isa, two_pass, 0.0);
                assert_eq!(dv, dy, "{isa:?} λ = {lambda:e}: dV");
                assert!(dq.iter().chain(&dk).all(|v| v.abs() <= 1e-30), "{isa:?} λ = {lambda:e}: dQ = {dq:?}, dK = {dk:?}");
            }
        }
    }
    // values k/8 and λ a power of two: every score is exact in f32, so the reference's f64 scores
    // are the kernel's and the comparison measures the backward's own rounding
    let (l, d) = (150, 64);
    let grid =
        |n: usize, salt: u64| -> Vec<f32> { (0..n as u64).map(|i| ((i.wrapping_mul(2654435761).wrapping_add(salt * 7919)) % 17) as f32 / 8.0 - 1.0).collect() };
    let (q, k, v, d_o) = (grid(l * d, 6), grid(l * d, 7), grid(l * d, 8), grid(l * d, 9));
    for lambda in [2f32.powi(10), 2f32.powi(27), 2f32.powi(66)] {
        for mask in [Mask::None, Mask::Causal] {
            let head = Head { q: &q, k: &k, v: &v, l, dk: d, dv: d, lambda, mask, key_bias: None };
            let mut o = vec![0.0f32; l * d];
            let st = head.forward_with_stats(&mut o, Par::Seq);
            let want = expected(&head, &d_o);
            for isa in isas() {
                let g = fused(&head, &st, &d_o, isa, true, 0.0);
                for (t, name) in ["dq", "dk", "dv"].iter().enumerate() {
                    // relative to each array's largest entry: no error of order λε
                    let e = rel_err(&g[t], &want[t]);
                    assert!(e <= 1e-5, "{isa:?} λ = {lambda:e} {mask:?}: {name} off by {e:e}");
                    assert!(g[t].iter().any(|&x| x != 0.0) || t < 2, "{isa:?} λ = {lambda:e}: dV is zero");
                }
            }
        }
    }
}

/// The layer on one prompt splits the head's tiles over the threads (two passes): the same bits
/// as on one thread, and as on a pool of one.
#[test]
fn layer_backward_is_thread_independent_with_one_prompt() {
    let (b, l, h, d, dk, dv) = (1, 300, 1, 16, 16, 16);
    let x = values(b * l * d, 11, 1.0);
    let dy = values(b * l * d, 12, 1.0);
    let (wq, wk, wv, wo) = (values(h * d * dk, 13, 0.6), values(h * d * dk, 14, 0.6), values(h * d * dv, 15, 0.6), values(h * dv * d, 16, 0.6));
    let w = Weights { heads: h, dim: d, dk, dv, wq: &wq, wk: &wk, wv: &wv, wo: &wo };
    for mask in [Mask::None, Mask::Causal] {
        let opts = Options { lambda: 0.7, mask };
        let g1 = backward(&x, b, l, &w, &dy, &opts, Par::Seq).unwrap();
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let g2 = pool.install(|| backward(&x, b, l, &w, &dy, &opts, Par::Rayon).unwrap());
            assert_eq!(g1, g2, "{threads} threads {mask:?}");
        }
    }
}

/// The weight-gradient product `C = Aᵀ B` (`crate::kernels::simd::at_b`) against an `f64` sum,
/// over sizes that leave partial register blocks (`m` not a multiple of the block's rows, `n` of
/// 1–4 vectors), one row, long reductions and none; the same bits on every instruction set.
#[test]
fn weight_gradient_product_matches_reference() {
    for (k, m, n) in [(1, 1, 16), (7, 5, 32), (1000, 13, 64), (64, 64, 64), (3, 7, 48), (0, 3, 16)] {
        let (a, b) = (values(k * m, 31, 1.0), values(k * n, 32, 1.0));
        let mut first: Option<Vec<u32>> = None;
        for isa in isas() {
            let mut c = vec![f32::NAN; m * n];
            crate::kernels::simd::at_b(isa, &mut c, &a, &b, k, m, n);
            for i in 0..m {
                for j in 0..n {
                    let want: f64 = (0..k).map(|t| f64::from(a[t * m + i]) * f64::from(b[t * n + j])).sum();
                    let tol = 1e-6 * (k as f64).max(1.0);
                    assert!((f64::from(c[i * n + j]) - want).abs() <= tol, "{isa:?} k={k} m={m} n={n} C[{i}][{j}] = {} vs {want}", c[i * n + j]);
                }
            }
            match &first {
                None => first = Some(bits(&c)),
                Some(f) => assert_eq!(f, &bits(&c), "{isa:?} differs from the first instruction set"),
            }
        }
    }
}

/// The symmetric form (`Q = K = V`, one matrix: identity attention, model C with identity
/// weights; no key bias, no causal mask, one pass): against the reference, and bit for bit against
/// the two-pass form (which never takes it) on every instruction set, over prompts just off the
/// tile size (64) and the register blocks (6 and 4 rows, 16 lanes), and features just off 16.
#[test]
fn symmetric_backward_matches_the_general_form() {
    for l in [1, 2, 5, 63, 64, 65, 127, 128, 129, 200] {
        for d in [1, 15, 16, 17, 33, 64] {
            for mask in [Mask::None, Mask::NoSelf, Mask::Causal] {
                if mask == Mask::NoSelf && l < 2 {
                    continue;
                }
                let x = values(l * d, 21, 1.0);
                let d_o = values(l * d, 22, 1.0);
                let lambda = 1.3;
                let head = Head { q: &x, k: &x, v: &x, l, dk: d, dv: d, lambda, mask, key_bias: None };
                let what = format!("l={l} d={d} {mask:?}");
                let mut o = vec![0.0f32; l * d];
                let st = head.forward_with_stats(&mut o, Par::Seq);
                let want = expected(&head, &d_o);
                let general = fused(&head, &st, &d_o, Isa::Portable, true, 0.0);
                let tol = 2e-5 * (1.0 + f64::from(lambda)) * (l as f64).sqrt().max(1.0);
                for isa in isas() {
                    let g = fused(&head, &st, &d_o, isa, false, 0.0);
                    for (t, name) in ["dq", "dk", "dv"].iter().enumerate() {
                        let e = rel_err(&g[t], &want[t]);
                        assert!(e <= tol, "{what} {isa:?}: {name} off the reference by {e:e} (tolerance {tol:e})");
                        assert_eq!(bits(&g[t]), bits(&general[t]), "{what}: {name} on {isa:?}, one pass against two");
                    }
                }
            }
        }
    }
}

/// The layer with identity weights (the symmetric form of the fused backward) on pools of 1 and 2
/// threads: the same bits as on this thread alone.
#[test]
fn layer_backward_with_identity_weights_is_thread_independent() {
    let (b, l, d) = (5, 129, 17);
    let x = values(b * l * d, 23, 1.0);
    let dy = values(b * l * d, 24, 1.0);
    let eye: Vec<f32> = (0..d * d).map(|i| if i / d == i % d { 1.0 } else { 0.0 }).collect();
    let w = Weights { heads: 1, dim: d, dk: d, dv: d, wq: &eye, wk: &eye, wv: &eye, wo: &eye };
    for mask in [Mask::None, Mask::NoSelf] {
        let opts = Options { lambda: 0.8, mask };
        let g1 = backward(&x, b, l, &w, &dy, &opts, Par::Seq).unwrap();
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let g2 = pool.install(|| backward(&x, b, l, &w, &dy, &opts, Par::Rayon).unwrap());
            assert_eq!(g1, g2, "{threads} threads {mask:?}");
        }
    }
}
