//! The plain version of model C: every matrix materialised, the softmax written out, all in `f64`.
//! It is the oracle the tiled kernels are tested against (and is checked itself by finite
//! differences).

use super::flash::Mask;
use super::layer::{Grads, Options, Weights};
use crate::kernels::real::Real;

type Mat = Vec<Vec<f64>>;

fn mat<T: Real>(v: &[T], rows: usize, cols: usize) -> Mat {
    (0..rows).map(|i| (0..cols).map(|j| v[i * cols + j].f64()).collect()).collect()
}

fn mul(a: &Mat, b: &Mat) -> Mat {
    let (n, k, m) = (a.len(), b.len(), b.first().map_or(0, |r| r.len()));
    (0..n).map(|i| (0..m).map(|j| (0..k).map(|p| a[i][p] * b[p][j]).sum()).collect()).collect()
}

fn t(a: &Mat, cols: usize) -> Mat {
    (0..cols).map(|j| a.iter().map(|r| r[j]).collect()).collect()
}

fn masked(mask: Mask, i: usize, j: usize) -> bool {
    match mask {
        Mask::None => false,
        Mask::Causal => j > i,
        Mask::NoSelf => i == j,
    }
}

/// `P = softmax_rows(λ Q Kᵀ + bias + mask)`.
pub fn probabilities(q: &Mat, k: &Mat, lambda: f64, mask: Mask, bias: Option<&[f64]>) -> Mat {
    let l = q.len();
    (0..l)
        .map(|i| {
            let s: Vec<f64> = (0..l)
                .map(|j| {
                    if masked(mask, i, j) {
                        f64::NEG_INFINITY
                    } else {
                        lambda * q[i].iter().zip(&k[j]).map(|(a, b)| a * b).sum::<f64>() + bias.map_or(0.0, |b| b[j])
                    }
                })
                .collect();
            let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = s.iter().map(|v| (v - m).exp()).collect();
            let z: f64 = e.iter().sum();
            e.into_iter().map(|v| v / z).collect()
        })
        .collect()
}

/// One row of `dS = P ⊙ (dP − Σ_k P_k dP_k)`, written around the dominant entry `a = argmax_k P_k`
/// (the first on ties) so that no term is a difference with the dominant one:
/// `e = Σ_{k≠a} P_k (dP_k − dP_a)`, `dS_j = P_j ((dP_j − dP_a) − e)` for `j ≠ a`, `dS_a = −P_a e`.
/// (Exact algebra: `Σ_k P_k dP_k = dP_a + e`.) A row of zeros (no key seen) gives zeros.
pub fn stable_ds(p: &[f64], dp: &[f64]) -> Vec<f64> {
    let a = (0..p.len()).fold(0, |a, k| if p[k] > p[a] { k } else { a });
    if p.is_empty() || p[a] == 0.0 {
        return vec![0.0; p.len()];
    }
    let c = dp[a];
    let e: f64 = (0..p.len()).filter(|&k| k != a).map(|k| p[k] * (dp[k] - c)).sum();
    (0..p.len()).map(|j| if j == a { -(p[a] * e) } else { p[j] * ((dp[j] - c) - e) }).collect()
}

/// One head: `softmax(λQKᵀ + bias + mask) V`.
pub fn head(q: &Mat, k: &Mat, v: &Mat, lambda: f64, mask: Mask, bias: Option<&[f64]>) -> Mat {
    mul(&probabilities(q, k, lambda, mask, bias), v)
}

fn slice(w: &[f64], h: usize, rows: usize, cols: usize) -> Mat {
    mat(&w[h * rows * cols..(h + 1) * rows * cols], rows, cols)
}

/// Forward output and gradients of `⟨dY, Attn(X)⟩`, in `f64`.
pub fn grads<T: Real>(x: &[T], b: usize, l: usize, w: &Weights<T>, dy: &[T], opts: &Options) -> Grads<f64> {
    let (hn, d, dk, dv) = (w.heads, w.dim, w.dk, w.dv);
    let to = |v: &[T]| v.iter().map(|x| x.f64()).collect::<Vec<f64>>();
    let (wq, wk, wv, wo) = (to(w.wq), to(w.wk), to(w.wv), to(w.wo));
    let mut g = Grads {
        y: vec![0.0; b * l * d],
        dx: vec![0.0; b * l * d],
        dwq: vec![0.0; wq.len()],
        dwk: vec![0.0; wk.len()],
        dwv: vec![0.0; wv.len()],
        dwo: vec![0.0; wo.len()],
    };
    for bi in 0..b {
        let xb = mat(&x[bi * l * d..(bi + 1) * l * d], l, d);
        let dyb = mat(&dy[bi * l * d..(bi + 1) * l * d], l, d);
        for h in 0..hn {
            let (mq, mk, mv, mo) = (slice(&wq, h, d, dk), slice(&wk, h, d, dk), slice(&wv, h, d, dv), slice(&wo, h, dv, d));
            let (q, k, v) = (mul(&xb, &mq), mul(&xb, &mk), mul(&xb, &mv));
            let p = probabilities(&q, &k, opts.lambda, opts.mask, None);
            let o = mul(&p, &v);
            let y = mul(&o, &mo);
            let dwo = mul(&t(&o, dv), &dyb);
            let d_o = mul(&dyb, &t(&mo, d));
            let dp = mul(&d_o, &t(&v, dv));
            let dvv = mul(&t(&p, l), &d_o);
            let ds: Mat = (0..l).map(|i| stable_ds(&p[i], &dp[i])).collect();
            let dq: Mat = mul(&ds, &k).into_iter().map(|r| r.into_iter().map(|v| v * opts.lambda).collect()).collect();
            let dkk: Mat = mul(&t(&ds, l), &q).into_iter().map(|r| r.into_iter().map(|v| v * opts.lambda).collect()).collect();
            let dx = [mul(&dq, &t(&mq, dk)), mul(&dkk, &t(&mk, dk)), mul(&dvv, &t(&mv, dv))];
            let xt = t(&xb, d);
            let add = |dst: &mut [f64], src: &Mat| {
                for (i, r) in src.iter().enumerate() {
                    for (j, v) in r.iter().enumerate() {
                        dst[i * r.len() + j] += v;
                    }
                }
            };
            add(&mut g.y[bi * l * d..(bi + 1) * l * d], &y);
            for part in &dx {
                add(&mut g.dx[bi * l * d..(bi + 1) * l * d], part);
            }
            add(&mut g.dwq[h * d * dk..(h + 1) * d * dk], &mul(&xt, &dq));
            add(&mut g.dwk[h * d * dk..(h + 1) * d * dk], &mul(&xt, &dkk));
            add(&mut g.dwv[h * d * dv..(h + 1) * d * dv], &mul(&xt, &dvv));
            add(&mut g.dwo[h * dv * d..(h + 1) * dv * d], &dwo);
        }
    }
    g
}
