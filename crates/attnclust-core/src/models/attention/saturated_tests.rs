//! The backward when the softmax saturates (`1 − P_{i a_i}` below the rounding error): the
//! gradients must stay accurate to a few ulps of their own size at every `λ` (issue 9, item 6).
//!
//! Two kinds of check:
//! - an exact case: the issue's two-token prompt with identity weights, where at `λ ≥ 10²` every
//!   row's softmax is one-hot to far below the rounding error, so `dX = dY`, `dW_V = Xᵀ dY` and
//!   `dW_Q = dW_K = 0` up to terms below `10⁻³⁰`;
//! - a sweep against the `f64` reference (which uses the same cancellation-free `dS`): inputs and
//!   weights on the grid `k/8` and `λ` a power of two, so that every score `λ⟨q_i, k_j⟩` and every
//!   `dP_ij` is exact in `f32` as well — the only rounding left is that of the kernels themselves,
//!   and the tolerance can be a small multiple of `ε` relative to each array's largest entry.

use super::flash::{Head, Mask};
use super::layer::{backward, Grads, Options, Weights};
use super::reference;
use crate::kernels::par::Par;
use crate::kernels::real::Real;

fn cast<T: Real>(v: &[f64]) -> Vec<T> {
    v.iter().map(|&x| T::of(x)).collect()
}

fn eye(d: usize) -> Vec<f64> {
    (0..d * d).map(|i| if i / d == i % d { 1.0 } else { 0.0 }).collect()
}

/// Largest `|got − want|` over an array, in units of `max |want|` (at least 1).
fn rel_err<T: Real>(got: &[T], want: &[f64]) -> f64 {
    let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    got.iter().zip(want).map(|(a, b)| (a.f64() - b).abs()).fold(0.0, f64::max) / scale
}

fn issue_case<T: Real>(lambda: f64) -> Grads<T> {
    let x = cast::<T>(&[0.97, 1.12, -0.05, -0.18, 1.31, -1.25]);
    let dy = cast::<T>(&[-0.2, -1.0, 0.9, 0.6, -0.5, 1.6]);
    let i3 = cast::<T>(&eye(3));
    let w = Weights { heads: 1, dim: 3, dk: 3, dv: 3, wq: &i3, wk: &i3, wv: &i3, wo: &i3 };
    backward(&x, 1, 2, &w, &dy, &Options { lambda, mask: Mask::None }, Par::Seq).unwrap()
}

fn check_issue_case<T: Real>(ulps: f64) {
    let eps = T::epsilon().f64();
    let x = [0.97, 1.12, -0.05, -0.18, 1.31, -1.25];
    let dy = [-0.2, -1.0, 0.9, 0.6, -0.5, 1.6];
    // dW_V = Xᵀ dY (3 × 3)
    let dwv: Vec<f64> = (0..9).map(|i| (0..2).map(|t| x[t * 3 + i / 3] * dy[t * 3 + i % 3]).sum()).collect();
    for lambda in [1e2, 1e3, 1e4, 1e6, 1e10, 1e15, 1e20] {
        let g = issue_case::<T>(lambda);
        let what = format!("{} λ = {lambda:e}", T::NAME);
        assert!(rel_err(&g.dx, &dy) <= ulps * eps, "{what}: dx = {:?}, want dy", g.dx);
        assert!(rel_err(&g.y, &x) <= ulps * eps, "{what}: y = {:?}, want x", g.y);
        assert!(rel_err(&g.dwv, &dwv) <= ulps * eps, "{what}: dwv = {:?}", g.dwv);
        assert!(g.dwq.iter().chain(&g.dwk).all(|v| v.f64().abs() <= 1e-30), "{what}: dwq = {:?}, dwk = {:?}", g.dwq, g.dwk);
        // the reference agrees
        let xt = cast::<T>(&x);
        let dyt = cast::<T>(&dy);
        let i3 = cast::<T>(&eye(3));
        let w = Weights { heads: 1, dim: 3, dk: 3, dv: 3, wq: &i3, wk: &i3, wv: &i3, wo: &i3 };
        let r = reference::grads(&xt, 1, 2, &w, &dyt, &Options { lambda, mask: Mask::None });
        assert!(rel_err(&r.dx, &dy) <= 4.0 * eps, "{what}: reference dx = {:?}", r.dx);
    }
}

#[test]
fn issue_example_is_exact_at_every_lambda() {
    // tolerance: 4 ulps of the largest entry (the only rounding is in X·I and the P·dO sum)
    check_issue_case::<f64>(4.0);
    check_issue_case::<f32>(4.0);
}

/// Values `k/8`, `k ∈ [−8, 8]`, deterministic.
fn grid(n: usize, salt: u64) -> Vec<f64> {
    (0..n as u64).map(|i| ((i.wrapping_mul(2654435761).wrapping_add(salt * 7919)) % 17) as f64 / 8.0 - 1.0).collect()
}

fn sweep<T: Real>(tol_ulps: f64) {
    let eps = T::epsilon().f64();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    for &(b, l, h, d, dk, dv) in &[(1, 2, 1, 3, 3, 3), (2, 9, 2, 4, 3, 5), (1, 70, 1, 8, 8, 8), (1, 130, 2, 5, 4, 3)] {
        for mask in [Mask::None, Mask::Causal, Mask::NoSelf] {
            let x = cast::<T>(&grid(b * l * d, 1));
            let dy = cast::<T>(&grid(b * l * d, 2));
            let (wq, wk, wv, wo) =
                (cast::<T>(&grid(h * d * dk, 3)), cast::<T>(&grid(h * d * dk, 4)), cast::<T>(&grid(h * d * dv, 5)), cast::<T>(&grid(h * dv * d, 6)));
            let w = Weights { heads: h, dim: d, dk, dv, wq: &wq, wk: &wk, wv: &wv, wo: &wo };
            for p in [0, 2, 4, 8, 12, 16, 20, 30, 40, 66] {
                let opts = Options { lambda: (2.0f64).powi(p), mask };
                let g = backward(&x, b, l, &w, &dy, &opts, Par::Seq).unwrap();
                let r = reference::grads(&x, b, l, &w, &dy, &opts);
                for (name, got, want) in [
                    ("y", &g.y, &r.y),
                    ("dx", &g.dx, &r.dx),
                    ("dwq", &g.dwq, &r.dwq),
                    ("dwk", &g.dwk, &r.dwk),
                    ("dwv", &g.dwv, &r.dwv),
                    ("dwo", &g.dwo, &r.dwo),
                ] {
                    let e = rel_err(got, want);
                    assert!(e <= tol_ulps * eps, "{} {name}: error {:.2} ulps (b={b} l={l} h={h} d={d} dk={dk} dv={dv} {mask:?} λ = 2^{p})", T::NAME, e / eps);
                }
                let g2 = pool.install(|| backward(&x, b, l, &w, &dy, &opts, Par::Rayon).unwrap());
                assert_eq!(g, g2, "thread count changed the gradients");
            }
        }
    }
}

#[test]
fn saturated_layer_gradients_match_the_reference() {
    // Tolerance relative to each array's largest entry: 4096 ulps in f32 (5e-4), set
    // by the partly saturated rows near λ = 2^8, whose dS entries cancel in the sums of dQ, dK and
    // dW (Σ_j dS_ij = 0); the per-element bound is `saturated_head_gradients_are_accurate_elementwise`.
    // What this sweep checks is that the error does not grow with λ: the textbook dS is off by
    // about λε, at λ = 2^66 by 10^14 times the scale in f32.
    // In f64 the reference rounds as much as the kernel does: 16384 ulps (3.6e-12).
    sweep::<f64>(16384.0);
    sweep::<f32>(4096.0);
}

/// One head at the level of [`Head::backward`], element by element, against the `f64` reference
/// with a bound that follows the rounding of each sum: with `w_ij = P_ij (|dP_ij| + |c_i| + E_i)`
/// (`j ≠ a_i`), `w_{i a_i} = P_{i a_i} E_i`, `E_i = Σ_{k≠a_i} P_ik (|dP_ik| + |c_i|)`,
///
/// ```text
/// |dQ_ic − ref| ≤ C ε λ Σ_j w_ij |K_jc|,   |dK_jc − ref| ≤ C ε λ Σ_i w_ij |Q_ic|,   |dV_jc − ref| ≤ C ε Σ_i P_ij |dO_ic|
/// ```
///
/// (`C` = 64: sums over up to 130 terms and the f32 exp's 3e-7). This bound is `O(1 − P_{ia})`
/// for a saturated row; the textbook formula's error `λ ε |dP| |K|` is not.
fn check_head<T: Real>(l: usize, dk: usize, dv: usize, mask: Mask, p: i32) {
    let lambda = (2.0f64).powi(p);
    let (q, k, v, d_o) = (grid(l * dk, 11), grid(l * dk, 12), grid(l * dv, 13), grid(l * dv, 14));
    let (qt, kt, vt, dot) = (cast::<T>(&q), cast::<T>(&k), cast::<T>(&v), cast::<T>(&d_o));
    let head = Head { q: &qt, k: &kt, v: &vt, l, dk, dv, lambda: T::of(lambda), mask, key_bias: None };
    let mut o = vec![T::zero(); l * dv];
    let st = head.forward_with_stats(&mut o, Par::Seq);
    let (mut dq, mut dkk, mut dvv) = (vec![T::zero(); l * dk], vec![T::zero(); l * dk], vec![T::zero(); l * dv]);
    head.backward(&st, &dot, &mut dq, &mut dkk, &mut dvv);
    let m = |x: &[f64], c: usize| (0..l).map(|i| x[i * c..(i + 1) * c].to_vec()).collect::<Vec<_>>();
    let (qm, km, vm, dom) = (m(&q, dk), m(&k, dk), m(&v, dv), m(&d_o, dv));
    let pr = reference::probabilities(&qm, &km, lambda, mask, None);
    let dp: Vec<Vec<f64>> = (0..l).map(|i| (0..l).map(|j| (0..dv).map(|c| dom[i][c] * vm[j][c]).sum()).collect()).collect();
    let ds: Vec<Vec<f64>> = (0..l).map(|i| reference::stable_ds(&pr[i], &dp[i])).collect();
    let w: Vec<Vec<f64>> = (0..l)
        .map(|i| {
            let a = (0..l).fold(0, |a, j| if pr[i][j] > pr[i][a] { j } else { a });
            let c = dp[i][a].abs();
            let big_e: f64 = (0..l).filter(|&j| j != a).map(|j| pr[i][j] * (dp[i][j].abs() + c)).sum();
            (0..l).map(|j| if j == a { pr[i][j] * big_e } else { pr[i][j] * (dp[i][j].abs() + c + big_e) }).collect()
        })
        .collect();
    let cte = 64.0 * T::epsilon().f64();
    // Underflow floor: probabilities below the smallest normal number (f32's exp flushes below
    // e^-87.3) are dropped, each worth at most λ·tiny·|dP|·|K| = λ·tiny·(4·dv)·4 on this grid.
    let floor = 64.0 * T::min_positive_value().f64() * (l * dv) as f64 * 16.0;
    let what = |name: &str, i: usize, c: usize| format!("{} {name}[{i}][{c}] l={l} dk={dk} dv={dv} {mask:?} λ = 2^{p}", T::NAME);
    for i in 0..l {
        for c in 0..dk {
            let want: f64 = lambda * (0..l).map(|j| ds[i][j] * km[j][c]).sum::<f64>();
            let bound = cte * lambda * (0..l).map(|j| w[i][j] * km[j][c].abs()).sum::<f64>() + lambda * floor;
            assert!((dq[i * dk + c].f64() - want).abs() <= bound, "{}: {} vs {want} (bound {bound:e})", what("dq", i, c), dq[i * dk + c].f64());
            let want: f64 = lambda * (0..l).map(|r| ds[r][i] * qm[r][c]).sum::<f64>();
            let bound = cte * lambda * (0..l).map(|r| w[r][i] * qm[r][c].abs()).sum::<f64>() + lambda * floor;
            assert!((dkk[i * dk + c].f64() - want).abs() <= bound, "{}: {} vs {want} (bound {bound:e})", what("dk", i, c), dkk[i * dk + c].f64());
        }
        for c in 0..dv {
            let want: f64 = (0..l).map(|r| pr[r][i] * dom[r][c]).sum();
            let bound = cte * (0..l).map(|r| pr[r][i] * dom[r][c].abs()).sum::<f64>() + floor;
            assert!((dvv[i * dv + c].f64() - want).abs() <= bound, "{}: {} vs {want}", what("dv", i, c), dvv[i * dv + c].f64());
        }
    }
}

#[test]
fn saturated_head_gradients_are_accurate_elementwise() {
    for (l, dk, dv) in [(2, 3, 3), (9, 4, 5), (70, 8, 8), (130, 3, 2)] {
        for mask in [Mask::None, Mask::Causal, Mask::NoSelf] {
            for p in [0, 2, 4, 8, 12, 16, 20, 30, 40, 66] {
                check_head::<f64>(l, dk, dv, mask, p);
                check_head::<f32>(l, dk, dv, mask, p);
            }
        }
    }
}
