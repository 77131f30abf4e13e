//! The fused small-`d` forward ([`crate::kernels::attn`]) on every instruction set this CPU has,
//! against the `f64` reference and the tiled kernel, and its score contract bit for bit.

use super::flash::{Head, Kernel, Mask};
use super::reference;
use crate::kernels::attn::score_scalar;
use crate::kernels::par::Par;
use crate::kernels::simd::{attn_scores, Isa};

/// Deterministic values in about `[-scale, scale]`.
fn values(n: usize, salt: u64, scale: f64) -> Vec<f64> {
    (0..n as u64).map(|i| ((i.wrapping_mul(2654435761).wrapping_add(salt * 97) % 1000) as f64 / 500.0 - 1.0) * scale).collect()
}

fn isas() -> Vec<Isa> {
    let all = [Isa::Portable, Isa::Avx2, Isa::Avx512];
    all.into_iter().filter(|i| i.available()).collect()
}

fn rows(v: &[f64], r: usize, c: usize) -> Vec<Vec<f64>> {
    (0..r).map(|i| v[i * c..(i + 1) * c].to_vec()).collect()
}

#[test]
fn scores_follow_the_contract_bit_for_bit() {
    for dk in [1, 2, 3, 7, 15, 16, 17, 33, 64] {
        for (nr, nc) in [(1, 1), (3, 15), (4, 16), (5, 17), (17, 31), (9, 33), (2, 63), (7, 64), (64, 130)] {
            let q: Vec<f32> = values(nr * dk, 1, 1.5).iter().map(|&x| x as f32).collect();
            let k: Vec<f32> = values(nc * dk, 2, 1.5).iter().map(|&x| x as f32).collect();
            let b: Vec<f32> = values(nc, 3, 2.0).iter().map(|&x| x as f32).collect();
            for lambda in [0.7f32, 3.0e5] {
                for bias in [None, Some(&b[..])] {
                    for isa in isas() {
                        let mut s = vec![f32::NAN; nr * nc];
                        attn_scores(isa, &q, &k, nr, nc, dk, lambda, bias, &mut s);
                        for i in 0..nr {
                            for j in 0..nc {
                                let want = score_scalar(&q[i * dk..(i + 1) * dk], &k[j * dk..(j + 1) * dk], lambda, bias.map(|b| b[j]));
                                assert_eq!(s[i * nc + j].to_bits(), want.to_bits(), "{isa:?} dk={dk} {nr}×{nc} ({i},{j})");
                            }
                        }
                    }
                }
            }
        }
    }
}

fn check<const STATS: bool>(l: usize, dk: usize, dv: usize, mask: Mask, bias: bool, lambda: f64) {
    let (q, k, v) = (values(l * dk, 1, 1.0), values(l * dk, 2, 1.0), values(l * dv, 3, 1.0));
    let b = values(l, 4, 0.5);
    let f = |x: &[f64]| x.iter().map(|&y| y as f32).collect::<Vec<f32>>();
    let (qt, kt, vt, bt) = (f(&q), f(&k), f(&v), f(&b));
    let head = Head { q: &qt, k: &kt, v: &vt, l, dk, dv, lambda: lambda as f32, mask, key_bias: if bias { Some(&bt[..]) } else { None } };
    assert!(head.fused());
    // the reference on the f32-rounded inputs
    let d64 = |x: &[f32]| x.iter().map(|&y| f64::from(y)).collect::<Vec<f64>>();
    let b64 = d64(&bt);
    let expect = reference::head(
        &rows(&d64(&qt), l, dk),
        &rows(&d64(&kt), l, dk),
        &rows(&d64(&vt), l, dv),
        f64::from(lambda as f32),
        mask,
        if bias { Some(&b64[..]) } else { None },
    );
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    let tol = 4e-6 * (dk as f64).sqrt() * (1.0 + lambda);
    // the first instruction set's output: every other one gives the same bits
    let mut first: Option<Vec<u32>> = None;
    for isa in isas() {
        let what = format!("{isa:?} l={l} dk={dk} dv={dv} {mask:?} bias={bias} λ={lambda}");
        let mut o = vec![f32::NAN; l * dv];
        let mut lse = vec![0.0f32; l];
        head.forward_kernel(&mut o, &mut lse, Par::Seq, Kernel::Fused(isa));
        for i in 0..l {
            for j in 0..dv {
                let (got, want) = (f64::from(o[i * dv + j]), expect[i][j]);
                assert!((got - want).abs() <= tol * (1.0 + want.abs()), "{what}: ({i},{j}) {got} vs {want}");
            }
        }
        let bits: Vec<u32> = o.iter().map(|x| x.to_bits()).collect();
        match &first {
            None => first = Some(bits),
            Some(f) => assert_eq!(f, &bits, "{what}: the same bits as the first instruction set"),
        }
        // two threads: the same bits
        let mut o2 = vec![f32::NAN; l * dv];
        let mut lse2 = vec![0.0f32; l];
        pool.install(|| head.forward_kernel(&mut o2, &mut lse2, Par::Rayon, Kernel::Fused(isa)));
        assert_eq!(o.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), o2.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), "{what}: threads");
        if STATS {
            // the statistics: m_i is the largest contract score of row i, a_i its first key
            let mut o3 = vec![0.0f32; l * dv];
            let st = head.forward_with_stats_kernel(&mut o3, Par::Seq, Kernel::Fused(isa));
            assert_eq!(o3, o, "{what}: forward_with_stats");
            for i in 0..l {
                let s: Vec<f32> = (0..l)
                    .map(|j| {
                        let masked = match mask {
                            Mask::None => false,
                            Mask::Causal => j > i,
                            Mask::NoSelf => j == i,
                        };
                        if masked {
                            f32::NEG_INFINITY
                        } else {
                            score_scalar(&qt[i * dk..(i + 1) * dk], &kt[j * dk..(j + 1) * dk], lambda as f32, if bias { Some(bt[j]) } else { None })
                        }
                    })
                    .collect();
                let a = (0..l).fold(0, |a, j| if s[j] > s[a] { j } else { a });
                assert_eq!(st.arg[i] as usize, a, "{what}: arg of row {i}");
                assert_eq!(st.max[i].to_bits(), s[a].to_bits(), "{what}: max of row {i}");
                let z: f64 = s.iter().map(|&x| (f64::from(x) - f64::from(s[a])).exp()).sum();
                assert!((f64::from(st.norm[i]) - z).abs() <= 1e-5 * z, "{what}: norm of row {i}: {} vs {z}", st.norm[i]);
            }
        }
    }
}

#[test]
fn fused_forward_matches_reference_over_shapes() {
    // key panels of 64 (L = 63, 64, 65, 128, 130), blocks of 64 query rows in micro-blocks of 6 and
    // 1 (phase 1) and 16, 12, 8, 6, 6, 3, 2, 1 rows (phase 2, by dv rounded up to 16, 32, 48, 64)
    for l in [1, 2, 15, 16, 17, 31, 33, 63, 64, 65, 128, 130] {
        for (dk, dv) in [(1, 1), (2, 2), (3, 5), (16, 16), (17, 15), (5, 20), (40, 47), (33, 63), (64, 64)] {
            for mask in [Mask::None, Mask::Causal, Mask::NoSelf] {
                if mask == Mask::NoSelf && l < 2 {
                    continue;
                }
                for bias in [false, true] {
                    check::<true>(l, dk, dv, mask, bias, 0.9);
                }
            }
        }
    }
}

#[test]
fn fused_forward_large_prompt_and_saturated_rows() {
    check::<false>(517, 16, 16, Mask::None, false, 0.3);
    check::<false>(300, 8, 4, Mask::Causal, true, 0.5);
    // longer than 1024 keys (16 panels)
    check::<false>(1100, 8, 8, Mask::Causal, false, 0.5);
    check::<false>(1090, 5, 3, Mask::NoSelf, true, 0.5);
    // saturated rows: the dominant key alone, the others below the rounding error
    for lambda in [1e3, 1e6, 1e12] {
        let l = 70;
        let q: Vec<f32> = values(l * 4, 5, 1.0).iter().map(|&x| x as f32).collect();
        let head = Head { q: &q, k: &q, v: &q, l, dk: 4, dv: 4, lambda: lambda as f32, mask: Mask::None, key_bias: None };
        for isa in isas() {
            let (mut o, mut lse) = (vec![0.0f32; l * 4], vec![0.0f32; l]);
            head.forward_kernel(&mut o, &mut lse, Par::Seq, Kernel::Fused(isa));
            assert!(o.iter().all(|v| v.is_finite()), "{isa:?} λ={lambda}");
            let (mut ot, mut lset) = (vec![0.0f32; l * 4], vec![0.0f32; l]);
            head.forward_kernel(&mut ot, &mut lset, Par::Seq, Kernel::Tiled);
            for (a, b) in o.iter().zip(&ot) {
                assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{isa:?} λ={lambda}: {a} vs tiled {b}");
            }
        }
    }
}

#[test]
fn empty_prompt() {
    let head = Head::<f32> { q: &[], k: &[], v: &[], l: 0, dk: 3, dv: 3, lambda: 1.0, mask: Mask::None, key_bias: None };
    for isa in isas() {
        head.forward_kernel(&mut [], &mut [], Par::Seq, Kernel::Fused(isa));
    }
}

#[test]
fn sequential_forward_in_reused_buffers_gives_the_same_bits() {
    // one set of buffers through heads that grow, shrink and change shape, mask and bias
    let mut bufs = super::flash::FusedBufs::default();
    for (l, dk, dv, mask, bias) in [
        (130, 16, 16, Mask::None, true),
        (1, 1, 1, Mask::None, false),
        (17, 64, 64, Mask::NoSelf, false),
        (16, 3, 5, Mask::Causal, true),
        (65, 16, 16, Mask::None, false),
        (0, 4, 4, Mask::None, false),
        (1100, 8, 8, Mask::Causal, true),
        (33, 2, 2, Mask::NoSelf, true),
    ] {
        let f = |x: Vec<f64>| x.iter().map(|&y| y as f32).collect::<Vec<f32>>();
        let (q, k, v, b) = (f(values(l * dk, 1, 1.0)), f(values(l * dk, 2, 1.0)), f(values(l * dv, 3, 1.0)), f(values(l, 4, 0.5)));
        for same_kv in [false, true] {
            let (k, v, dv) = if same_kv && dk == dv { (&q, &q, dk) } else { (&k, &v, dv) };
            let head = Head { q: &q, k, v, l, dk, dv, lambda: 0.8, mask, key_bias: if bias { Some(&b[..]) } else { None } };
            let (mut want, mut lse) = (vec![0.0f32; l * dv], vec![0.0f32; l]);
            head.forward(&mut want, &mut lse, Par::Seq);
            let mut got = vec![f32::NAN; l * dv];
            head.forward_fused_seq(&mut got, &mut bufs);
            assert_eq!(
                got.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                want.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                "l={l} dk={dk} dv={dv} {mask:?}"
            );
        }
    }
}
