//! The full layer of model C on a batch of prompts, forward and backward.
//!
//! Per prompt `b` and head `h`: `Q = X_b W_Q^h`, `K = X_b W_K^h`, `V = X_b W_V^h`, `O = attn(Q, K, V)`
//! (see [`super::flash`]), and `Y_b = Σ_h O W_O^h`. Given `dY`:
//!
//! ```text
//! dW_O^h = Σ_b Oᵀ dY_b,   dO = dY_b W_O^hᵀ,   (dQ, dK, dV) = attn'(dO),
//! dX_b  = Σ_h dQ W_Q^hᵀ + dK W_K^hᵀ + dV W_V^hᵀ,
//! dW_Q^h = Σ_b X_bᵀ dQ,  dW_K^h = Σ_b X_bᵀ dK,  dW_V^h = Σ_b X_bᵀ dV.
//! ```
//!
//! Each `(b, h)` pair is one task; per-task partial results are added in `(b, h)` order, so the
//! result does not depend on the thread count. When there are fewer pairs than threads, the forward
//! splits each head's query blocks across threads instead.

use super::flash::{Head, Mask, Stats};
use crate::error::{ensure, finite_result, finite_tensor, values, Error, Result};
use crate::kernels::par::Par;
use crate::kernels::real::Real;
use crate::kernels::simd;
use crate::kernels::tile::{matmul, View};
use std::borrow::Cow;

/// The weights of all heads, row-major: `wq`, `wk` are `H × d × dk`, `wv` is `H × d × dv`, `wo` is
/// `H × dv × d`.
#[derive(Clone, Copy)]
pub struct Weights<'a, T> {
    /// Number of heads `H ≥ 1`.
    pub heads: usize,
    /// Dimension `d ≥ 1` of a token (input and output).
    pub dim: usize,
    /// Width `dk ≥ 1` of a query or key.
    pub dk: usize,
    /// Width `dv ≥ 1` of a value.
    pub dv: usize,
    /// `W_Q`, `H × d × dk`.
    pub wq: &'a [T],
    /// `W_K`, `H × d × dk`.
    pub wk: &'a [T],
    /// `W_V`, `H × d × dv`.
    pub wv: &'a [T],
    /// `W_O`, `H × dv × d`.
    pub wo: &'a [T],
}

/// Settings of a pass of model C (SPEC §4).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Options {
    /// Inverse temperature `λ > 0` multiplying `QKᵀ` (pass `1/√dk` for the usual scaling).
    pub lambda: f64,
    /// Which scores are excluded.
    pub mask: Mask,
}

/// Gradients of `⟨dY, Attn(X)⟩` and the forward output `y`.
#[derive(Clone, Debug, PartialEq)]
pub struct Grads<T> {
    /// The forward output `Attn(X)`, `B × L × d`.
    pub y: Vec<T>,
    /// `∂/∂X`, `B × L × d`.
    pub dx: Vec<T>,
    /// `∂/∂W_Q`, `H × d × dk`.
    pub dwq: Vec<T>,
    /// `∂/∂W_K`, `H × d × dk`.
    pub dwk: Vec<T>,
    /// `∂/∂W_V`, `H × d × dv`.
    pub dwv: Vec<T>,
    /// `∂/∂W_O`, `H × dv × d`.
    pub dwo: Vec<T>,
}

impl<'a, T: Real> Weights<'a, T> {
    /// Checks the shapes against `x` (`b × l × d`) and the options.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Type`] when a weight or `x` does not hold the values its shape needs;
    /// [`crate::ErrorKind::Range`] when a size is 0, a value is not finite, `λ` is not positive and finite, or
    /// the mask is `NoSelf` with `l = 1`.
    pub fn check(&self, x: &[T], b: usize, l: usize, opts: &Options) -> Result<()> {
        let (h, d, dk, dv) = (self.heads, self.dim, self.dk, self.dv);
        ensure(h >= 1 && d >= 1 && dk >= 1 && dv >= 1, || {
            Error::range("weights", "at least one head and positive sizes", format!("H = {h}, d = {d}, dk = {dk}, dv = {dv}"))
        })?;
        let want = |v: &[T], shape: &[usize], name: &str| -> Result<()> {
            let n: usize = shape.iter().product();
            if v.len() != n {
                let dims: Vec<String> = shape.iter().map(|s| s.to_string()).collect();
                return Err(Error::type_(name, format!("{} = {n} values", dims.join(" × ")), values(v.len())));
            }
            finite_tensor(name, v, shape)
        };
        want(self.wq, &[h, d, dk], "weights.wq")?;
        want(self.wk, &[h, d, dk], "weights.wk")?;
        want(self.wv, &[h, d, dv], "weights.wv")?;
        want(self.wo, &[h, dv, d], "weights.wo")?;
        want(x, &[b, l, d], "x")?;
        crate::models::two_head::check_lambda(opts.lambda)?;
        ensure(opts.mask != Mask::NoSelf || l != 1, || Error::range("mask", "not 'no-self' for prompts of one token", "'no-self' with prompts of length 1"))?;
        Ok(())
    }
}

/// Largest buffer (bytes) a thread keeps for the next task, and how many.
const SPARE_BYTES: usize = 1 << 20;
const SPARES: usize = 6;

thread_local! {
    /// This thread's per-task buffers of earlier tasks (`Vec<T>` of either float type), so that a
    /// batch of prompts does not fault fresh pages in for every task.
    static SPARE: std::cell::RefCell<Vec<Box<dyn std::any::Any>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `n` zeros, in a buffer this thread gave back by [`spare`] when there is one of this type.
pub(super) fn zeros<T: Real>(n: usize) -> Vec<T> {
    let kept = SPARE.with(|s| {
        let mut s = s.borrow_mut();
        let i = s.iter().position(|b| b.is::<Vec<T>>())?;
        Some(s.swap_remove(i))
    });
    match kept.and_then(|b| b.downcast::<Vec<T>>().ok()) {
        Some(mut v) => {
            v.clear();
            v.resize(n, T::zero());
            *v
        }
        None => vec![T::zero(); n],
    }
}

/// Keeps `v` for a later [`zeros`] on this thread (up to [`SPARES`] buffers of [`SPARE_BYTES`]).
pub(super) fn spare<T: Real>(v: Vec<T>) {
    if v.capacity() * std::mem::size_of::<T>() <= SPARE_BYTES {
        SPARE.with(|s| {
            let mut s = s.borrow_mut();
            if s.len() < SPARES {
                s.push(Box::new(v));
            }
        });
    }
}

/// Which of one head's weights are exactly the identity (`d = dk = dv`): their products are skipped,
/// as `X I = X` and `dY Iᵀ = dY` exactly (every other term of such a product is a zero; only the
/// sign of a zero may differ from a general product's).
#[derive(Clone, Copy)]
struct Eye {
    q: bool,
    k: bool,
    v: bool,
    o: bool,
}

/// Whether `w` (`rows × cols`, row-major) is the identity matrix.
fn is_identity<T: Real>(w: &[T], rows: usize, cols: usize) -> bool {
    rows == cols && w.len() == rows * cols && w.iter().enumerate().all(|(i, &x)| x == if i % (cols + 1) == 0 { T::one() } else { T::zero() })
}

impl Eye {
    fn of<T: Real>(w: &Weights<T>, h: usize) -> Eye {
        let (d, dk, dv) = (w.dim, w.dk, w.dv);
        Eye {
            q: is_identity(&w.wq[h * d * dk..(h + 1) * d * dk], d, dk),
            k: is_identity(&w.wk[h * d * dk..(h + 1) * d * dk], d, dk),
            v: is_identity(&w.wv[h * d * dv..(h + 1) * d * dv], d, dv),
            o: is_identity(&w.wo[h * dv * d..(h + 1) * dv * d], dv, d),
        }
    }
}

/// What one `(b, h)` task computes in the forward pass besides `O`; `Q`, `K`, `V` borrow the
/// prompt when their weight is the identity (then the fused kernel also packs `K` once for `K` and
/// `V`, and when all three are, the fused backward takes its symmetric form: one score tile for
/// two tiles, `crate::kernels::attn_bwd`).
struct HeadPass<'x, T: Clone> {
    q: Cow<'x, [T]>,
    k: Cow<'x, [T]>,
    v: Cow<'x, [T]>,
    /// Only when the backward needs them.
    stats: Option<Stats<T>>,
}

/// `x W` (`x`: `l × d`, `W`: `d × cols`), or `x` itself when `W` is the identity (`eye`).
fn project<'x, T: Real>(x: &'x [T], l: usize, d: usize, w: &[T], cols: usize, eye: bool) -> Cow<'x, [T]> {
    if eye {
        return Cow::Borrowed(&x[..l * d]);
    }
    let mut out = vec![T::zero(); l * cols];
    matmul(&mut out, cols, View::rows(x, l, d, d), View::rows(w, d, cols, cols), false, T::one());
    Cow::Owned(out)
}

/// Head `h` on prompt `xb`: writes `O` (`l × dv`) to `o`.
#[allow(clippy::too_many_arguments)]
fn head_forward<'x, T: Real>(xb: &'x [T], l: usize, w: &Weights<T>, h: usize, eye: Eye, opts: &Options, par: Par, stats: bool, o: &mut [T]) -> HeadPass<'x, T> {
    let (d, dk, dv) = (w.dim, w.dk, w.dv);
    let q = project(xb, l, d, &w.wq[h * d * dk..(h + 1) * d * dk], dk, eye.q);
    let k = project(xb, l, d, &w.wk[h * d * dk..(h + 1) * d * dk], dk, eye.k);
    let v = project(xb, l, d, &w.wv[h * d * dv..(h + 1) * d * dv], dv, eye.v);
    let head = Head { q: &q, k: &k, v: &v, l, dk, dv, lambda: T::of(opts.lambda), mask: opts.mask, key_bias: None };
    let stats = if stats {
        Some(head.forward_with_stats(o, par))
    } else {
        head.forward(o, &mut vec![T::zero(); l], par);
        None
    };
    HeadPass { q, k, v, stats }
}

/// `out = O W_O^h` (`O`: `l × dv`; `out`: `l × d`).
fn output<T: Real>(out: &mut [T], o: &[T], l: usize, w: &Weights<T>, h: usize) {
    let (d, dv) = (w.dim, w.dv);
    matmul(out, d, View::rows(o, l, dv, dv), View::rows(&w.wo[h * dv * d..(h + 1) * dv * d], dv, d, d), false, T::one());
}

/// `Aᵀ B` (`A`: `l × m`, `B`: `l × n`, row-major) as a new `m × n` matrix: in `f32` with `n` a
/// multiple of 16 by the fused backward's register-blocked product ([`simd::at_b`]: each element
/// one chain of `fma`s over the `l` rows in order), else by [`matmul`].
fn at_b<T: Real>(a: &[T], b: &[T], l: usize, m: usize, n: usize) -> Vec<T> {
    let mut out = vec![T::zero(); m * n];
    match (T::as_f32(&a[..l * m]), T::as_f32(&b[..l * n])) {
        (Some(af), Some(bf)) if n.is_multiple_of(16) => simd::at_b(simd::isa(), T::as_f32_mut(&mut out).expect("f32"), af, bf, l, m, n),
        _ => matmul(&mut out, n, View::transposed(a, m, l, m), View::rows(b, l, n, n), false, T::one()),
    }
    out
}

/// Splits the work: parallel over `(b, h)` pairs when there are enough, else inside each head.
fn split(par: Par, pairs: usize) -> (Par, Par) {
    let threads = rayon::current_num_threads();
    match par {
        Par::Seq => (Par::Seq, Par::Seq),
        Par::Rayon if pairs >= 2 * threads => (Par::Rayon, Par::Seq),
        Par::Rayon => (Par::Seq, Par::Rayon),
    }
}

/// Where each `(b, h)` task writes its `l × d` parts (`y`, and `dX` in the backward): with one head,
/// straight into prompt `b`'s rows of the result; with several, into per-task buffers that are then
/// added per prompt in head order (`dst`, `b × l × d`, starts at zero). The same bits either way.
fn with_parts<T: Real, F: FnMut(&mut [T])>(dst: &mut [T], tasks: usize, h: usize, part: usize, mut run: F) {
    if h == 1 {
        run(dst);
        return;
    }
    let mut parts = vec![T::zero(); tasks * part];
    run(&mut parts);
    for (t, p) in parts.chunks_exact(part).enumerate() {
        let db = &mut dst[(t / h) * part..(t / h + 1) * part];
        db.iter_mut().zip(p).for_each(|(a, &s)| *a = *a + s);
    }
}

/// `Attn(X)` for `b` prompts of `l` tokens (`x`: `b × l × d`, row-major), a new `b × l × d`
/// matrix: each head by the tiled kernel of [`super::flash`] (FlashAttention-2, Dao 2023). The
/// same bits for any `par` and thread count. A weight that is exactly the identity costs no
/// product.
///
/// # Errors
/// As [`Weights::check`]; a [`crate::ErrorKind::Range`] error about `x` marked
/// [`crate::Numeric::Overflow`] when the output is not finite (values too large for `T`).
pub fn forward<T: Real>(x: &[T], b: usize, l: usize, w: &Weights<T>, opts: &Options, par: Par) -> Result<Vec<T>> {
    w.check(x, b, l, opts)?;
    let (h, d) = (w.heads, w.dim);
    let mut y = vec![T::zero(); b * l * d];
    if l == 0 || b == 0 {
        return Ok(y);
    }
    let (outer, inner) = split(par, b * h);
    let eyes: Vec<Eye> = (0..h).map(|hi| Eye::of(w, hi)).collect();
    // Each pair's contribution `O W_O^h` (l × d), added per prompt in head order.
    with_parts(&mut y, b * h, h, l * d, |ys| {
        outer.chunks_mut(ys, l * d, |t, yb| {
            let (bi, hi) = (t / h, t % h);
            let xb = &x[bi * l * d..(bi + 1) * l * d];
            if eyes[hi].o {
                // Y = O: the head writes its output in place
                head_forward(xb, l, w, hi, eyes[hi], opts, inner, false, yb);
            } else {
                let mut o = vec![T::zero(); l * w.dv];
                head_forward(xb, l, w, hi, eyes[hi], opts, inner, false, &mut o);
                output(yb, &o, l, w, hi);
            }
        })
    });
    finite_result("x", "the output", &y)?;
    Ok(y)
}

/// The forward output and every gradient, given the upstream gradient `dy` (`b × l × d`): the
/// backward of FlashAttention-2 (Dao 2023), with `D_i` split around the dominant key so that a
/// saturated softmax keeps an accurate gradient (see [`super::flash`]). A weight that is exactly
/// the identity costs no product (`X I = X`, `dY Iᵀ = dY`); its gradient is still computed.
///
/// # Errors
/// As [`Weights::check`]; [`crate::ErrorKind::Type`] when `dy` does not hold `b·l·d` values;
/// [`crate::ErrorKind::Range`] when a value of `dy` is not finite, or (marked
/// [`crate::Numeric::Overflow`], about `x`) when the output or a gradient is not finite.
pub fn backward<T: Real>(x: &[T], b: usize, l: usize, w: &Weights<T>, dy: &[T], opts: &Options, par: Par) -> Result<Grads<T>> {
    w.check(x, b, l, opts)?;
    let (h, d, dk, dv) = (w.heads, w.dim, w.dk, w.dv);
    if dy.len() != b * l * d {
        return Err(Error::type_("dy", format!("the shape of `x` ({})", values(b * l * d)), values(dy.len())));
    }
    finite_tensor("dy", dy, &[b, l, d])?;
    let mut g = Grads {
        y: vec![T::zero(); b * l * d],
        dx: vec![T::zero(); b * l * d],
        dwq: vec![T::zero(); h * d * dk],
        dwk: vec![T::zero(); h * d * dk],
        dwv: vec![T::zero(); h * d * dv],
        dwo: vec![T::zero(); h * dv * d],
    };
    if l == 0 || b == 0 {
        return Ok(g);
    }
    /// One task's weight gradients.
    struct Part<T> {
        dwq: Vec<T>,
        dwk: Vec<T>,
        dwv: Vec<T>,
        dwo: Vec<T>,
    }
    let (outer, inner) = split(par, b * h);
    let eyes: Vec<Eye> = (0..h).map(|hi| Eye::of(w, hi)).collect();
    let mut wparts: Vec<Option<Part<T>>> = (0..b * h).map(|_| None).collect();
    let mut y = std::mem::take(&mut g.y);
    let mut dx = std::mem::take(&mut g.dx);
    with_parts(&mut y, b * h, h, l * d, |ys| {
        with_parts(&mut dx, b * h, h, l * d, |dxs| {
            let mut tasks: Vec<(&mut [T], &mut [T], &mut Option<Part<T>>)> =
                ys.chunks_mut(l * d).zip(dxs.chunks_mut(l * d)).zip(wparts.iter_mut()).map(|((a, c), p)| (a, c, p)).collect();
            outer.chunks_mut(&mut tasks, 1, |t, item| {
                let (yb, dxb, part) = &mut item[0];
                let (bi, hi) = (t / h, t % h);
                let eye = eyes[hi];
                let xb = &x[bi * l * d..(bi + 1) * l * d];
                let dyb = &dy[bi * l * d..(bi + 1) * l * d];
                let wo = &w.wo[hi * dv * d..(hi + 1) * dv * d];
                // O is written in place as Y when W_O is the identity
                let mut o_own = if eye.o { Vec::new() } else { vec![T::zero(); l * dv] };
                let p = head_forward(xb, l, w, hi, eye, opts, inner, true, if eye.o { &mut yb[..] } else { &mut o_own });
                let o: &[T] = if eye.o { yb } else { &o_own };
                // dW_O = Oᵀ dY_b; dO = dY_b W_Oᵀ
                let dwo = at_b(o, dyb, l, dv, d);
                let d_o: Cow<[T]> = if eye.o {
                    Cow::Borrowed(dyb)
                } else {
                    output(yb, &o_own, l, w, hi);
                    let mut d_o = vec![T::zero(); l * dv];
                    matmul(&mut d_o, dv, View::rows(dyb, l, d, d), View::transposed(wo, d, dv, d), false, T::one());
                    Cow::Owned(d_o)
                };
                // dQ is accumulated in place as the first term of dX when W_Q is the identity
                // (dxb starts at zero)
                let mut dq_own = if eye.q { Vec::new() } else { vec![T::zero(); l * dk] };
                let (mut dk_, mut dv_) = (zeros::<T>(l * dk), zeros::<T>(l * dv));
                let head = Head { q: &p.q, k: &p.k, v: &p.v, l, dk, dv, lambda: T::of(opts.lambda), mask: opts.mask, key_bias: None };
                let st = p.stats.as_ref().expect("stats were asked for");
                head.backward_par(st, &d_o, if eye.q { &mut dxb[..] } else { &mut dq_own }, &mut dk_, &mut dv_, inner);
                let dq: &[T] = if eye.q { dxb } else { &dq_own };
                // dW = X_bᵀ d(·)
                let xt = |cols: usize, src: &[T]| at_b(xb, src, l, d, cols);
                **part = Some(Part { dwq: xt(dk, dq), dwk: xt(dk, &dk_), dwv: xt(dv, &dv_), dwo });
                // dX_b = dQ W_Qᵀ + dK W_Kᵀ + dV W_Vᵀ, in that order
                let (wq, wk, wv) = (&w.wq[hi * d * dk..(hi + 1) * d * dk], &w.wk[hi * d * dk..(hi + 1) * d * dk], &w.wv[hi * d * dv..(hi + 1) * d * dv]);
                if !eye.q {
                    matmul(dxb, d, View::rows(&dq_own, l, dk, dk), View::transposed(wq, dk, d, dk), false, T::one());
                }
                for (src, wm, cols, id) in [(&dk_, wk, dk, eye.k), (&dv_, wv, dv, eye.v)] {
                    if id {
                        dxb.iter_mut().zip(src.iter()).for_each(|(a, &s)| *a = *a + s);
                    } else {
                        matmul(dxb, d, View::rows(src, l, cols, cols), View::transposed(wm, cols, d, cols), true, T::one());
                    }
                }
                // this task's buffers serve the thread's next task
                if let Some(st) = p.stats {
                    spare(st.rest);
                }
                for v in [dk_, dv_, dq_own, o_own] {
                    spare(v);
                }
            });
        })
    });
    g.y = y;
    g.dx = dx;
    let add = |dst: &mut [T], src: &[T]| dst.iter_mut().zip(src).for_each(|(a, &s)| *a = *a + s);
    for (t, p) in wparts.iter().enumerate() {
        let hi = t % h;
        let p = p.as_ref().expect("every task ran");
        add(&mut g.dwq[hi * d * dk..(hi + 1) * d * dk], &p.dwq);
        add(&mut g.dwk[hi * d * dk..(hi + 1) * d * dk], &p.dwk);
        add(&mut g.dwv[hi * d * dv..(hi + 1) * d * dv], &p.dwv);
        add(&mut g.dwo[hi * dv * d..(hi + 1) * dv * d], &p.dwo);
    }
    finite_result("x", "the output", &g.y)?;
    finite_result("x", "the gradient dx", &g.dx)?;
    for dw in [&g.dwq, &g.dwk, &g.dwv, &g.dwo] {
        finite_result("x", "the weight gradients", dw)?;
    }
    Ok(g)
}

/// Peak bytes of [`forward`] (`backward = false`) or [`backward`] on `b` prompts of `l` tokens,
/// for the sizes `heads`, `dim` (`d`), `dk`, `dv`, values of `elem` bytes, on `threads` threads.
/// Forward: the output `y`, the per-(prompt, head) outputs kept until they are summed, and per
/// thread `Q`, `K`, `V`, `O`, the log-sum-exp and two score tiles. Backward: `y`, `dx` and the
/// weight gradients, per (prompt, head) its `y`, `dx` and `dW` parts, and per thread `Q`, `K`, `V`,
/// `O`, `dO`, `dQ`, `dK`, `dV`, `dX`, the forward's row statistics around each row's dominant key
/// (`O − V_a`, the max, norm and index, and `dO/z` with its two row sums), a head's weight gradients
/// and two tiles, plus the fused forward's scratch ([`super::flash::fused_scratch`]) and, in the
/// backward, the fused backward's (`crate::kernels::attn_bwd::scratch`). In `f64`.
#[allow(clippy::too_many_arguments)]
pub fn peak_bytes(b: usize, l: usize, heads: usize, dim: usize, dk: usize, dv: usize, elem: usize, threads: usize, backward: bool) -> f64 {
    use crate::models::attention::flash::{BC, BR};
    let [b, l, h, d, dk, dv, t] = [b, l, heads, dim, dk, dv, threads].map(|v| v as f64);
    let n = b * l * d;
    let w = h * (2.0 * d * dk + 2.0 * d * dv);
    // the score tiles, and the fused f32 forward's scratch when it runs
    let tile = 2.0 * (BR * BC) as f64 + super::flash::fused_scratch(elem, l as usize, dk as usize, dv as usize);
    let values = if backward {
        let wh = 2.0 * d * dk + 2.0 * d * dv;
        let fused_bwd = crate::kernels::attn_bwd::scratch(elem, l as usize, dk as usize, dv as usize);
        2.0 * n + w + b * h * (2.0 * l * d + wh) + t * (l * (4.0 * dk + 6.0 * dv + 2.0 * d + 7.0) + wh + tile + fused_bwd)
    } else {
        n + b * h * l * d + t * (l * (2.0 * dk + 2.0 * dv + d + 1.0) + tile)
    };
    elem as f64 * values
}
