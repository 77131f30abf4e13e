//! Model A: the two-head clustering layer (any number of heads `H ≥ 1`).
//!
//! Parameters `Θ = (θ_1 … θ_H)`, `θ_h ∈ Rᵈ`, inverse temperature `λ > 0`. For a token `x`:
//!
//! ```text
//! s_h(x) = λ⟨x, θ_h⟩                  (Scores::Dot)
//! s_h(x) = λ⟨x, θ_h⟩ − λ‖θ_h‖²/2       (Scores::Distance, = −λ‖x − θ_h‖²/2 + const(x))
//! a(x)   = softmax_h s(x),   T(x) = Σ_h a_h(x) θ_h
//! ```
//!
//! The loss of one token is `‖r‖²`, `r = x − T(x)`. With `c_g = ⟨r, θ_g⟩` and `c̄ = Σ_g a_g c_g`
//! its exact gradient is
//!
//! ```text
//! ∇_{θ_h} = −2 a_h [ r + λ (c_h − c̄) x ]            (Dot)
//! ∇_{θ_h} = −2 a_h [ r + λ (c_h − c̄) (x − θ_h) ]    (Distance)
//! ```
//!
//! (`∂T/∂θ_h = a_h I + Σ_g θ_g ∂a_g/∂θ_h` and `∂a_g/∂s_h = a_g(δ_gh − a_h)`). The risk over a sample
//! is the mean loss; it is reduced per fixed chunk of [`REDUCE_CHUNK`] tokens, in `f64`, and the
//! chunks are added in order, so the result does not depend on the thread count.

pub(crate) mod chunk;

use crate::error::{ensure, finite_rows, num, values, Error, Numeric, Result};
use crate::kernels::par::Par;
use crate::kernels::real::{dot, Real};
use crate::kernels::softmax::softmax_in_place;

/// How a head scores a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Scores {
    /// `s_h(x) = λ⟨x, θ_h⟩`, the paper's layer (the default).
    #[default]
    Dot,
    /// `s_h(x) = λ⟨x, θ_h⟩ − λ‖θ_h‖²/2`: the softmax of `−λ‖x − θ_h‖²/2` (a soft nearest head).
    Distance,
}

/// Tokens per chunk of a reduction.
pub const REDUCE_CHUNK: usize = 1024;

/// A borrowed view of the layer's parameters and settings (model A of arXiv 2505.13112, SPEC §2),
/// built by [`Layer::new`], which checks them.
#[derive(Clone, Debug)]
pub struct Layer<'a, T: Real> {
    /// `Θ`, `H × d` row-major: row `h` is `θ_h`, in data units.
    pub params: &'a [T],
    /// Number of heads `H ≥ 1`.
    pub heads: usize,
    /// Dimension `d ≥ 1` of a token.
    pub dim: usize,
    /// Inverse temperature `λ > 0`, rounded to `T` (reciprocal squared data units).
    pub lambda: T,
    /// How a head scores a token.
    pub scores: Scores,
    /// `λ‖θ_h‖²/2` for distance scores, 0 for dot scores.
    offsets: Vec<T>,
}

/// Per-thread work space for one token.
pub struct Scratch<T> {
    /// The attention weights `a(x)`, `H`.
    pub a: Vec<T>,
    c: Vec<T>,
    /// The output `T(x)`, `d`.
    pub t: Vec<T>,
    r: Vec<T>,
}

impl<T: Real> Scratch<T> {
    /// Zeroed work space for a layer of `heads` heads in dimension `dim`.
    pub fn new(heads: usize, dim: usize) -> Self {
        Scratch { a: vec![T::zero(); heads], c: vec![T::zero(); heads], t: vec![T::zero(); dim], r: vec![T::zero(); dim] }
    }
}

/// Most heads a layer may have.
pub const MAX_HEADS: usize = 4096;
/// Largest token dimension of a layer.
pub const MAX_DIM: usize = 1 << 20;

/// Checks the sizes of a layer: `1 ≤ heads ≤ MAX_HEADS`, `1 ≤ dim ≤ MAX_DIM`.
pub fn check_sizes(heads: usize, dim: usize) -> Result<()> {
    ensure((1..=MAX_HEADS).contains(&heads), || Error::range("heads", format!("an integer in [1, {MAX_HEADS}]"), heads))?;
    ensure((1..=MAX_DIM).contains(&dim), || Error::range("dim", format!("an integer in [1, {MAX_DIM}]"), dim))
}

/// Checks that `lambda` is a usable inverse temperature.
///
/// # Errors
/// [`crate::ErrorKind::Range`] when `lambda` is not positive and finite.
pub fn check_lambda(lambda: f64) -> Result<()> {
    ensure(lambda.is_finite() && lambda > 0.0, || Error::range("lambda", "positive and finite", num(lambda)))
}

impl<'a, T: Real> Layer<'a, T> {
    /// The layer with heads `params` (`heads × dim`, row-major), inverse temperature `lambda` and
    /// `scores`. For distance scores it precomputes the offsets `λ‖θ_h‖²/2`.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Type`] when `params.len() ≠ heads · dim`; [`crate::ErrorKind::Range`] when `heads` or `dim` is
    /// 0, `lambda` is not positive and finite, or a parameter is not finite.
    pub fn new(params: &'a [T], heads: usize, dim: usize, lambda: f64, scores: Scores) -> Result<Self> {
        Self::with_buffer(params, heads, dim, lambda, scores, Vec::new())
    }

    /// [`Layer::new`] that keeps its `H` score offsets in `buffer` (no allocation once it holds `H`
    /// values); [`Layer::into_buffer`] hands it back. For loops that build a layer per step.
    ///
    /// # Errors
    /// As [`Layer::new`].
    pub fn with_buffer(params: &'a [T], heads: usize, dim: usize, lambda: f64, scores: Scores, mut buffer: Vec<T>) -> Result<Self> {
        check_sizes(heads, dim)?;
        check_lambda(lambda)?;
        if params.len() != heads * dim {
            return Err(Error::type_("params", format!("H × d = {heads} × {dim} values"), values(params.len())));
        }
        finite_rows("params", params, dim)?;
        let lambda = T::of(lambda);
        let half = T::of(0.5);
        buffer.clear();
        buffer.extend((0..heads).map(|h| match scores {
            Scores::Dot => T::zero(),
            Scores::Distance => {
                let th = &params[h * dim..(h + 1) * dim];
                lambda * half * dot(th, th)
            }
        }));
        Ok(Layer { params, heads, dim, lambda, scores, offsets: buffer })
    }

    /// The buffer given to [`Layer::with_buffer`], for the next layer.
    pub fn into_buffer(self) -> Vec<T> {
        self.offsets
    }

    /// `θ_h`, row `h` of [`Layer::params`] (`d` values).
    ///
    /// # Panics
    /// If `h ≥ H`.
    #[inline]
    pub fn theta(&self, h: usize) -> &[T] {
        &self.params[h * self.dim..(h + 1) * self.dim]
    }

    /// `a = softmax_h s_h(x)` for one token `x` (`d` values) into `a` (`H` values), max-subtracted
    /// ([`softmax_in_place`]).
    #[inline]
    pub fn attend(&self, x: &[T], a: &mut [T]) {
        for h in 0..self.heads {
            a[h] = self.lambda * dot(x, self.theta(h)) - self.offsets[h];
        }
        softmax_in_place(a);
    }

    /// `out = T(x) = Σ_h a_h(x) θ_h` for one token (`x`, `out`: `d` values); leaves the attention
    /// weights in `a` (`H` values).
    #[inline]
    pub fn forward_one(&self, x: &[T], a: &mut [T], out: &mut [T]) {
        self.attend(x, a);
        out.iter_mut().for_each(|v| *v = T::zero());
        for h in 0..self.heads {
            let ah = a[h];
            for (o, &t) in out.iter_mut().zip(self.theta(h)) {
                *o = *o + ah * t;
            }
        }
    }

    /// Loss `‖x − T(x)‖²` of one token, its exact gradient (the module documentation's formula)
    /// added into `grad` (`H × d`, `f64`): the scalar reference of the chunk kernel.
    #[inline]
    pub fn loss_grad_one(&self, x: &[T], s: &mut Scratch<T>, grad: &mut [f64]) -> f64 {
        let d = self.dim;
        self.forward_one(x, &mut s.a, &mut s.t);
        for i in 0..d {
            s.r[i] = x[i] - s.t[i];
        }
        let loss = dot(&s.r, &s.r);
        let mut cbar = T::zero();
        for h in 0..self.heads {
            s.c[h] = dot(&s.r, self.theta(h));
            cbar = cbar + s.a[h] * s.c[h];
        }
        let two = T::of(2.0);
        for h in 0..self.heads {
            let ah = s.a[h];
            let k = self.lambda * (s.c[h] - cbar);
            let g = &mut grad[h * d..(h + 1) * d];
            let th = self.theta(h);
            match self.scores {
                Scores::Dot => {
                    for i in 0..d {
                        g[i] += (-two * ah * (s.r[i] + k * x[i])).f64();
                    }
                }
                Scores::Distance => {
                    for i in 0..d {
                        g[i] += (-two * ah * (s.r[i] + k * (x[i] - th[i]))).f64();
                    }
                }
            }
        }
        loss.f64()
    }

    /// `T(x)` for every row of `x` (`n × d`, row-major), as a new `n × d` matrix.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Type`] when `x.len()` is not a multiple of `d`; [`crate::ErrorKind::Range`] when a value of `x`
    /// is not finite.
    pub fn forward(&self, x: &[T], par: Par) -> Result<Vec<T>> {
        let d = self.dim;
        check_tokens(x, d, "x")?;
        let mut out = vec![T::zero(); x.len()];
        let par = par.above(x.len() * self.heads, 1 << 15);
        par.chunks_mut(&mut out, REDUCE_CHUNK * d, |c, o| {
            let mut a = vec![T::zero(); self.heads];
            let xs = &x[c * REDUCE_CHUNK * d..c * REDUCE_CHUNK * d + o.len()];
            for (xr, or) in xs.chunks(d).zip(o.chunks_mut(d)) {
                self.forward_one(xr, &mut a, or);
            }
        });
        Ok(out)
    }

    /// Mean risk `(1/n) Σ ‖x_i − T(x_i)‖²` and its gradient (`H × d`, `f64`), by the chunk kernel
    /// of `models::two_head::chunk`. The same bits for any `par` and thread count.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Type`] when `x.len()` is not a multiple of `d`; [`crate::ErrorKind::Range`] when `x` is empty,
    /// holds a non-finite value, or the risk or gradient overflows (values or `λ` too large for `T`).
    pub fn risk_grad(&self, x: &[T], par: Par) -> Result<(f64, Vec<f64>)> {
        let d = self.dim;
        if !x.len().is_multiple_of(d) {
            return Err(Error::type_("x", format!("n × {d} values (a multiple of {d})"), values(x.len())));
        }
        let n = x.len() / d;
        ensure(n >= 1, || Error::range("x", "at least one token", "none"))?;
        let chunks = n.div_ceil(REDUCE_CHUNK);
        let par = par.above(x.len() * self.heads, 1 << 15);
        let gram = crate::models::two_head::chunk::gram(self);
        let parts = par.map(chunks, |c| {
            let rows = &x[c * REDUCE_CHUNK * d..((c + 1) * REDUCE_CHUNK).min(n) * d];
            crate::models::two_head::chunk::chunk_gradient(self, &crate::models::two_head::chunk::chunk_sums(self, &gram, rows))
        });
        let (risk, grad) = combine(parts, self.heads * d, n);
        // A non-finite token makes the risk non-finite, so the inputs are scanned only then (one
        // pass over `x` saved on the hot path), to name the bad value or report an overflow.
        if !risk.is_finite() || grad.iter().any(|g| !g.is_finite()) {
            check_tokens(x, d, "x")?;
            return Err(Error::range(
                "x",
                format!("small enough (with `params` and `lambda`) that the risk and its gradient stay within {}", T::NAME),
                format!("an overflow (risk {})", num(risk)),
            )
            .because(Numeric::Overflow));
        }
        Ok((risk, grad))
    }

    /// Mean risk `(1/n) Σ ‖x_i − T(x_i)‖²` only (squared data units), summed in `f64`.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Type`] when `x.len()` is not a multiple of `d`; [`crate::ErrorKind::Range`] when `x` is empty
    /// or holds a non-finite value.
    pub fn risk(&self, x: &[T], par: Par) -> Result<f64> {
        let d = self.dim;
        check_tokens(x, d, "x")?;
        let n = x.len() / d;
        ensure(n >= 1, || Error::range("x", "at least one token", "none"))?;
        let chunks = n.div_ceil(REDUCE_CHUNK);
        let par = par.above(x.len() * self.heads, 1 << 15);
        let parts = par.map(chunks, |c| {
            let rows = &x[c * REDUCE_CHUNK * d..((c + 1) * REDUCE_CHUNK).min(n) * d];
            let (mut a, mut t) = (vec![T::zero(); self.heads], vec![T::zero(); d]);
            rows.chunks(d)
                .map(|xr| {
                    self.forward_one(xr, &mut a, &mut t);
                    xr.iter().zip(&t).map(|(&p, &q)| ((p - q) * (p - q)).f64()).sum::<f64>()
                })
                .sum::<f64>()
        });
        Ok(parts.into_iter().sum::<f64>() / n as f64)
    }
}

/// Adds chunk results `(loss, gradient of length len)` in chunk order and divides both by `n`:
/// the fixed-order reduction that makes results independent of the thread count.
pub(crate) fn combine(parts: Vec<(f64, Vec<f64>)>, len: usize, n: usize) -> (f64, Vec<f64>) {
    let mut loss = 0.0;
    let mut grad = vec![0.0; len];
    for (l, g) in parts {
        loss += l;
        grad.iter_mut().zip(&g).for_each(|(a, b)| *a += b);
    }
    let inv = 1.0 / n as f64;
    grad.iter_mut().for_each(|v| *v *= inv);
    (loss * inv, grad)
}

/// Checks that `x` is a whole number of finite `d`-dimensional tokens (`d ≥ 1`); `name` is the
/// argument's name in the message.
///
/// # Errors
/// [`crate::ErrorKind::Type`] when `x.len()` is not a multiple of `d`; [`crate::ErrorKind::Range`] naming the row and
/// column of the first non-finite value.
pub fn check_tokens<T: Real>(x: &[T], d: usize, name: &str) -> Result<()> {
    if !x.len().is_multiple_of(d) {
        return Err(Error::type_(name, format!("n × {d} values (a multiple of {d})"), values(x.len())));
    }
    finite_rows(name, x, d)
}

/// Peak bytes of a pass of [`Layer::forward`] (`out_per_token = 1`), [`Layer::risk`] or
/// [`Layer::risk_grad`] (`grad`) over `n` tokens with `heads` heads in dimension `dim`, values of
/// `elem` bytes: the output, and per chunk of [`REDUCE_CHUNK`] tokens its partial risk (and its
/// `H × d` partial gradient with the `H × H` and `H` softmax sums). In `f64`.
pub fn pass_peak_bytes(n: usize, heads: usize, dim: usize, elem: usize, out_per_token: usize, grad: bool) -> f64 {
    let [n, h, d, e] = [n, heads, dim, elem].map(|v| v as f64);
    let chunks = (n / REDUCE_CHUNK as f64).ceil();
    let per_chunk = if grad { h * d * (8.0 + e) + h * h * 8.0 + h * 8.0 } else { 8.0 };
    n * d * out_per_token as f64 * e + chunks * per_chunk
}

/// Bounds on the intermediates of forward, risk and gradient for tokens of norm ≤ `r`, heads of
/// norm ≤ `t`, inverse temperature `lambda`, `heads` heads and `n` tokens: `.0` bounds what the
/// kernels form in the layer's type (dot products, norms, scores, the residual, the per-chunk sums
/// `Σ coef·x` over [`REDUCE_CHUNK`] tokens), `.1` the `f64` sums over all tokens. An intermediate
/// overflows only if its bound does; the caller compares them with the float range.
pub fn intermediate_bounds(r: f64, t: f64, lambda: f64, heads: usize, n: usize) -> (f64, f64) {
    let c = 2.0 + 4.0 * lambda * (r * t + t * t); // |α + β| of a token
    let in_t = [r * r, r * t, t * t, (r + t).powi(2), 4.0 * lambda * (r * t + t * t), c * (REDUCE_CHUNK as f64 * r + heads as f64 * t)]
        .into_iter()
        .fold(0.0, f64::max);
    let n = n as f64;
    (in_t, in_t.max(n * (r + t).powi(2)).max(n * c * (r + t)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::gmm::Mixture;

    /// Plain reference: softmax over heads written out, loss summed in f64.
    fn reference_loss(params: &[f64], h: usize, d: usize, lambda: f64, scores: Scores, x: &[f64]) -> f64 {
        let n = x.len() / d;
        let mut total = 0.0;
        for i in 0..n {
            let xi = &x[i * d..(i + 1) * d];
            let s: Vec<f64> = (0..h)
                .map(|k| {
                    let th = &params[k * d..(k + 1) * d];
                    match scores {
                        Scores::Dot => lambda * xi.iter().zip(th).map(|(a, b)| a * b).sum::<f64>(),
                        Scores::Distance => -0.5 * lambda * xi.iter().zip(th).map(|(a, b)| (a - b) * (a - b)).sum::<f64>(),
                    }
                })
                .collect();
            let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = s.iter().map(|v| (v - m).exp()).collect();
            let z: f64 = e.iter().sum();
            for j in 0..d {
                let t: f64 = (0..h).map(|k| e[k] / z * params[k * d + j]).sum();
                total += (xi[j] - t) * (xi[j] - t);
            }
        }
        total / n as f64
    }

    fn sample(n: usize, d: usize) -> Vec<f64> {
        let mut means = vec![0.0; 2 * d];
        means[0] = 1.5;
        means[d] = -1.0;
        means[d + d.min(2) - 1] += 0.7;
        Mixture::isotropic(means, 2, d, &[0.6], None).unwrap().sample::<f64>(n, 5, 0, Par::Seq).0
    }

    #[test]
    fn gradient_matches_finite_differences() {
        for scores in [Scores::Dot, Scores::Distance] {
            for (h, d) in [(1, 1), (2, 3), (3, 5), (2, 16)] {
                let x = sample(37, d);
                let params: Vec<f64> = (0..h * d).map(|i| ((i * 7 % 11) as f64 - 5.0) * 0.13).collect();
                let lambda = 0.8;
                let layer = Layer::new(&params, h, d, lambda, scores).unwrap();
                let (risk, grad) = layer.risk_grad(&x, Par::Seq).unwrap();
                let r0 = reference_loss(&params, h, d, lambda, scores, &x);
                assert!((risk - r0).abs() <= 1e-12 * (1.0 + r0), "{risk} vs {r0}");
                for p in 0..h * d {
                    let eps = 1e-5;
                    let (mut up, mut dn) = (params.clone(), params.clone());
                    up[p] += eps;
                    dn[p] -= eps;
                    let fd = (reference_loss(&up, h, d, lambda, scores, &x) - reference_loss(&dn, h, d, lambda, scores, &x)) / (2.0 * eps);
                    let scale = grad.iter().map(|g| g.abs()).fold(1e-3, f64::max);
                    assert!((grad[p] - fd).abs() <= 1e-8 * scale, "{scores:?} h={h} d={d} p={p}: {} vs {fd}", grad[p]);
                }
            }
        }
    }

    #[test]
    fn f32_close_to_f64_and_thread_independent() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        for (h, d) in [(2, 1), (2, 7), (3, 8), (2, 9), (4, 17)] {
            for n in [1, 3, 1023, 1025, 4100] {
                let x = sample(n, d);
                let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
                let params: Vec<f64> = (0..h * d).map(|i| ((i * 5 % 7) as f64 - 3.0) * 0.2).collect();
                let pf: Vec<f32> = params.iter().map(|&v| v as f32).collect();
                for scores in [Scores::Dot, Scores::Distance] {
                    let l64 = Layer::new(&params, h, d, 1.0, scores).unwrap();
                    let l32 = Layer::new(&pf, h, d, 1.0, scores).unwrap();
                    let (r, g) = l64.risk_grad(&x, Par::Seq).unwrap();
                    let (r2, g2) = pool.install(|| l64.risk_grad(&x, Par::Rayon).unwrap());
                    assert_eq!(r.to_bits(), r2.to_bits());
                    assert_eq!(g, g2);
                    assert!((l64.risk(&x, Par::Rayon).unwrap() - r).abs() <= 1e-12 * (1.0 + r));
                    let (rf, gf) = l32.risk_grad(&xf, Par::Rayon).unwrap();
                    assert!((rf - r).abs() <= 1e-4 * (1.0 + r), "{rf} vs {r}");
                    let gs = g.iter().map(|v| v.abs()).fold(1.0, f64::max);
                    assert!(g.iter().zip(&gf).all(|(a, b)| (a - b).abs() <= 1e-4 * gs));
                    let y = l64.forward(&x, Par::Rayon).unwrap();
                    assert_eq!(y.len(), x.len());
                }
            }
        }
    }

    #[test]
    fn huge_lambda_stays_finite() {
        let params = vec![1e3, 0.0, -1e3, 0.0];
        let x = vec![1e3, 1.0, -5.0, 2.0];
        let l = Layer::new(&params, 2, 2, 1e6, Scores::Dot).unwrap();
        let (r, g) = l.risk_grad(&x, Par::Seq).unwrap();
        assert!(r.is_finite() && g.iter().all(|v| v.is_finite()));
        assert!(Layer::new(&params, 2, 2, 0.0, Scores::Dot).is_err());
        assert!(Layer::new(&params, 2, 2, f64::NAN, Scores::Dot).is_err());
    }
}
