//! The tiled kernels against the materialised reference, and the reference against finite
//! differences.

use super::flash::{Head, Mask};
use super::layer::{backward, forward, Options, Weights};
use super::reference;
use crate::kernels::par::Par;
use crate::kernels::real::Real;

/// Deterministic values in about `[-scale, scale]`.
fn values(n: usize, salt: u64, scale: f64) -> Vec<f64> {
    (0..n as u64).map(|i| ((i.wrapping_mul(2654435761).wrapping_add(salt * 97) % 1000) as f64 / 500.0 - 1.0) * scale).collect()
}

fn cast<T: Real>(v: &[f64]) -> Vec<T> {
    v.iter().map(|&x| T::of(x)).collect()
}

fn rows(v: &[f64], r: usize, c: usize) -> Vec<Vec<f64>> {
    (0..r).map(|i| v[i * c..(i + 1) * c].to_vec()).collect()
}

fn check_head<T: Real>(l: usize, dk: usize, dv: usize, mask: Mask, bias: bool, tol: f64) {
    let (q, k, v) = (values(l * dk, 1, 1.0), values(l * dk, 2, 1.0), values(l * dv, 3, 1.0));
    let b = values(l, 4, 0.5);
    let (qt, kt, vt, bt) = (cast::<T>(&q), cast::<T>(&k), cast::<T>(&v), cast::<T>(&b));
    let lambda = 0.9;
    let head = Head { q: &qt, k: &kt, v: &vt, l, dk, dv, lambda: T::of(lambda), mask, key_bias: if bias { Some(&bt[..]) } else { None } };
    let mut o = vec![T::zero(); l * dv];
    let mut lse = vec![T::zero(); l];
    head.forward(&mut o, &mut lse, Par::Seq);
    let expect = reference::head(&rows(&q, l, dk), &rows(&k, l, dk), &rows(&v, l, dv), lambda, mask, if bias { Some(&b[..]) } else { None });
    for i in 0..l {
        for j in 0..dv {
            let (got, want) = (o[i * dv + j].f64(), expect[i][j]);
            assert!((got - want).abs() <= tol * (1.0 + want.abs()), "{} l={l} dk={dk} dv={dv} {mask:?} bias={bias}: ({i},{j}) {got} vs {want}", T::NAME);
        }
    }
    // the parallel forward is bit-identical
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    let mut o2 = vec![T::zero(); l * dv];
    let mut lse2 = vec![T::zero(); l];
    pool.install(|| head.forward(&mut o2, &mut lse2, Par::Rayon));
    assert_eq!(o, o2);
}

#[test]
fn head_forward_matches_reference_over_shapes() {
    for l in [1, 2, 7, 63, 64, 65, 130] {
        for (dk, dv) in [(1, 1), (3, 5), (8, 8), (9, 7), (16, 17), (64, 64)] {
            for mask in [Mask::None, Mask::Causal, Mask::NoSelf] {
                if mask == Mask::NoSelf && l < 2 {
                    continue;
                }
                for bias in [false, true] {
                    check_head::<f64>(l, dk, dv, mask, bias, 1e-12);
                    check_head::<f32>(l, dk, dv, mask, bias, 2e-5 * (dk as f64).sqrt());
                }
            }
        }
    }
}

#[test]
fn head_forward_survives_huge_scores() {
    let l = 70;
    let q: Vec<f32> = values(l * 4, 5, 1e3).iter().map(|&x| x as f32).collect();
    let head = Head { q: &q, k: &q, v: &q, l, dk: 4, dv: 4, lambda: 1e6, mask: Mask::None, key_bias: None };
    let (mut o, mut lse) = (vec![0.0f32; l * 4], vec![0.0f32; l]);
    head.forward(&mut o, &mut lse, Par::Seq);
    assert!(o.iter().all(|v| v.is_finite()));
}

struct Case {
    b: usize,
    l: usize,
    h: usize,
    d: usize,
    dk: usize,
    dv: usize,
    mask: Mask,
}

fn weights(c: &Case) -> [Vec<f64>; 4] {
    [values(c.h * c.d * c.dk, 11, 0.6), values(c.h * c.d * c.dk, 12, 0.6), values(c.h * c.d * c.dv, 13, 0.6), values(c.h * c.dv * c.d, 14, 0.6)]
}

fn check_layer<T: Real>(c: &Case, tol: f64) {
    check_layer_with::<T>(c, weights(c), tol)
}

fn check_layer_with<T: Real>(c: &Case, [wq, wk, wv, wo]: [Vec<f64>; 4], tol: f64) {
    let x = values(c.b * c.l * c.d, 21, 1.0);
    let dy = values(c.b * c.l * c.d, 22, 1.0);
    let (xt, dyt, wqt, wkt, wvt, wot) = (cast::<T>(&x), cast::<T>(&dy), cast::<T>(&wq), cast::<T>(&wk), cast::<T>(&wv), cast::<T>(&wo));
    let w = Weights { heads: c.h, dim: c.d, dk: c.dk, dv: c.dv, wq: &wqt, wk: &wkt, wv: &wvt, wo: &wot };
    let opts = Options { lambda: 0.7, mask: c.mask };
    let g = backward(&xt, c.b, c.l, &w, &dyt, &opts, Par::Seq).unwrap();
    let r = reference::grads(&xt, c.b, c.l, &w, &dyt, &opts);
    let close = |got: &[T], want: &[f64], name: &str| {
        let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        for (i, (a, b)) in got.iter().zip(want).enumerate() {
            assert!(
                (a.f64() - b).abs() <= tol * scale,
                "{} {name}[{i}]: {} vs {b} (b={} l={} h={} d={} dk={} dv={} {:?})",
                T::NAME,
                a.f64(),
                c.b,
                c.l,
                c.h,
                c.d,
                c.dk,
                c.dv,
                c.mask
            );
        }
    };
    close(&g.y, &r.y, "y");
    close(&g.dx, &r.dx, "dx");
    close(&g.dwq, &r.dwq, "dwq");
    close(&g.dwk, &r.dwk, "dwk");
    close(&g.dwv, &r.dwv, "dwv");
    close(&g.dwo, &r.dwo, "dwo");
    let y = forward(&xt, c.b, c.l, &w, &opts, Par::Seq).unwrap();
    assert_eq!(y, g.y, "forward and backward's forward agree");
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    let g2 = pool.install(|| backward(&xt, c.b, c.l, &w, &dyt, &opts, Par::Rayon).unwrap());
    assert_eq!(g, g2, "thread count changed the gradients");
    let pool3 = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
    let g3 = pool3.install(|| backward(&xt, c.b, c.l, &w, &dyt, &opts, Par::Rayon).unwrap());
    assert_eq!(g, g3, "thread count changed the gradients");
    let y2 = pool.install(|| forward(&xt, c.b, c.l, &w, &opts, Par::Rayon).unwrap());
    assert_eq!(y, y2, "thread count changed the output");
}

#[test]
fn layer_matches_reference() {
    let cases = [
        Case { b: 1, l: 1, h: 1, d: 1, dk: 1, dv: 1, mask: Mask::None },
        Case { b: 2, l: 5, h: 2, d: 3, dk: 4, dv: 2, mask: Mask::Causal },
        Case { b: 1, l: 9, h: 3, d: 8, dk: 8, dv: 8, mask: Mask::NoSelf },
        Case { b: 3, l: 65, h: 1, d: 7, dk: 9, dv: 17, mask: Mask::None },
        Case { b: 2, l: 70, h: 2, d: 16, dk: 8, dv: 8, mask: Mask::Causal },
        Case { b: 1, l: 129, h: 1, d: 4, dk: 4, dv: 4, mask: Mask::NoSelf },
    ];
    for c in &cases {
        check_layer::<f64>(c, 1e-11);
        check_layer::<f32>(c, 2e-4);
    }
}

/// `H` identity matrices `d × d`.
fn eyes(h: usize, d: usize) -> Vec<f64> {
    (0..h * d * d).map(|i| if (i % (d * d)).is_multiple_of(d + 1) { 1.0 } else { 0.0 }).collect()
}

/// Weights that are exactly the identity skip their products (`X I = X`, `dY Iᵀ = dY`): all four,
/// or some of them per head (the others general), on one or several heads, with every mask, on
/// the fused kernel's sizes and past them; against the reference and on 1–3 threads.
#[test]
fn identity_weights_match_reference() {
    let cases = [
        Case { b: 2, l: 70, h: 1, d: 16, dk: 16, dv: 16, mask: Mask::None },
        Case { b: 3, l: 129, h: 1, d: 8, dk: 8, dv: 8, mask: Mask::Causal },
        Case { b: 1, l: 65, h: 2, d: 5, dk: 5, dv: 5, mask: Mask::NoSelf },
        Case { b: 1, l: 33, h: 1, d: 72, dk: 72, dv: 72, mask: Mask::None },
    ];
    for c in &cases {
        let general = weights(c);
        let eye = eyes(c.h, c.d);
        check_layer_with::<f64>(c, [eye.clone(), eye.clone(), eye.clone(), eye.clone()], 1e-11);
        check_layer_with::<f32>(c, [eye.clone(), eye.clone(), eye.clone(), eye.clone()], 2e-4);
        // the first head's W_Q and W_V and the last head's W_O are the identity, the rest general
        let (n, hd) = (c.d * c.d, c.h * c.d * c.d);
        let mix = |w: &[f64], first: bool| -> Vec<f64> {
            let mut m = w.to_vec();
            let at = if first { 0 } else { hd - n };
            m[at..at + n].copy_from_slice(&eye[at..at + n]);
            m
        };
        let mixed = [mix(&general[0], true), general[1].clone(), mix(&general[2], true), mix(&general[3], false)];
        check_layer_with::<f64>(c, mixed.clone(), 1e-11);
        check_layer_with::<f32>(c, mixed, 2e-4);
    }
}

#[test]
fn reference_gradients_match_finite_differences() {
    for c in [
        Case { b: 2, l: 4, h: 2, d: 3, dk: 2, dv: 3, mask: Mask::None },
        Case { b: 1, l: 5, h: 1, d: 2, dk: 3, dv: 2, mask: Mask::Causal },
        Case { b: 1, l: 4, h: 2, d: 2, dk: 2, dv: 2, mask: Mask::NoSelf },
    ] {
        let x = values(c.b * c.l * c.d, 31, 1.0);
        let dy = values(c.b * c.l * c.d, 32, 1.0);
        let ws = weights(&c);
        let opts = Options { lambda: 0.8, mask: c.mask };
        // f(params) = ⟨dY, Attn(X)⟩ through the reference forward
        let f = |x: &[f64], ws: &[Vec<f64>; 4]| {
            let w = Weights { heads: c.h, dim: c.d, dk: c.dk, dv: c.dv, wq: &ws[0], wk: &ws[1], wv: &ws[2], wo: &ws[3] };
            reference::grads(x, c.b, c.l, &w, &dy, &opts).y.iter().zip(&dy).map(|(a, b)| a * b).sum::<f64>()
        };
        let w = Weights { heads: c.h, dim: c.d, dk: c.dk, dv: c.dv, wq: &ws[0], wk: &ws[1], wv: &ws[2], wo: &ws[3] };
        let g = reference::grads(&x, c.b, c.l, &w, &dy, &opts);
        let eps = 1e-6;
        let check = |analytic: f64, up: f64, down: f64, what: &str| {
            let fd = (up - down) / (2.0 * eps);
            assert!((analytic - fd).abs() <= 1e-8 * (1.0 + fd.abs()), "{what}: {analytic} vs {fd}");
        };
        for i in 0..x.len() {
            let (mut a, mut b) = (x.clone(), x.clone());
            a[i] += eps;
            b[i] -= eps;
            check(g.dx[i], f(&a, &ws), f(&b, &ws), &format!("dx[{i}]"));
        }
        let analytic = [&g.dwq, &g.dwk, &g.dwv, &g.dwo];
        for which in 0..4 {
            for i in 0..ws[which].len() {
                let (mut a, mut b) = (ws.clone(), ws.clone());
                a[which][i] += eps;
                b[which][i] -= eps;
                check(analytic[which][i], f(&x, &a), f(&x, &b), &format!("dw{which}[{i}]"));
            }
        }
    }
}

#[test]
fn bad_input_is_refused() {
    let x = vec![0.0f64; 2 * 3];
    let w1 = vec![0.0f64; 3 * 2];
    let w = Weights { heads: 1, dim: 3, dk: 2, dv: 2, wq: &w1, wk: &w1, wv: &w1, wo: &w1[..5] };
    assert!(forward(&x, 1, 2, &w, &Options { lambda: 1.0, mask: Mask::None }, Par::Seq).is_err());
    let w = Weights { wo: &w1, ..w };
    assert!(forward(&x, 1, 2, &w, &Options { lambda: 0.0, mask: Mask::None }, Par::Seq).is_err());
    assert!(forward(&x[..3], 1, 1, &w, &Options { lambda: 1.0, mask: Mask::NoSelf }, Par::Seq).is_err());
    assert!(forward(&x, 1, 2, &w, &Options { lambda: 1.0, mask: Mask::None }, Par::Seq).is_ok());
}
