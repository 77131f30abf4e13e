//! Gaussian mixtures and their sampling.
//!
//! A mixture has `K` components with weights `π_k > 0`, `Σ π_k = 1`, means `μ_k ∈ Rᵈ` and a
//! covariance `C_k C_kᵀ` given by a factor `C_k` that is `σ_k I` (isotropic), `diag(s_k)` (diagonal,
//! `s_k` the standard deviations) or the lower Cholesky factor of a full covariance. A draw is
//! `z ~ Categorical(π)`, `x = μ_z + C_z ε`, `ε ~ N(0, I_d)`.
//!
//! Sampling is done in chunks of [`SAMPLE_CHUNK`] draws, chunk `c` using the generator
//! `gen(seed, stream, c)`, all in `f64` and rounded once to the output type: the same `(seed,
//! stream)` gives the same samples with any number of threads, and `f32` samples are the `f64`
//! ones rounded.

use crate::data::rng::{self, Gen, SAMPLE_CHUNK};
use crate::error::{ensure, finite_rows, num, values, Error, Result};
use crate::kernels::par::Par;
use crate::kernels::real::Real;

/// The covariance factor `C_k` of each component.
#[derive(Clone, Debug, PartialEq)]
pub enum Factor {
    /// `σ_k`, one per component.
    Isotropic(Vec<f64>),
    /// Standard deviations, `K × d`.
    Diagonal(Vec<f64>),
    /// Lower Cholesky factors, `K × d × d`, row-major.
    Full(Vec<f64>),
}

/// Work space of [`Mixture::draw_chunk_fast_with`]: the generator words, the normals and the means in `T`.
#[derive(Debug, Default)]
pub struct DrawScratch<T> {
    words: Vec<u32>,
    eps: Vec<T>,
    means: Vec<T>,
}

/// A Gaussian mixture (SPEC §1): `K` components with weights, means and covariance factors (see
/// the module documentation). Built by [`Mixture::isotropic`], [`Mixture::diagonal`] or
/// [`Mixture::full`], which check every value; the fields are read-only by convention.
#[derive(Clone, Debug, PartialEq)]
pub struct Mixture {
    /// Number of components `K ≥ 1`.
    pub k: usize,
    /// Dimension `d ≥ 1` of a sample.
    pub dim: usize,
    /// `π_k`, `K` positive values summing to 1 (normalised at construction).
    pub weights: Vec<f64>,
    /// `K × d`, row-major.
    pub means: Vec<f64>,
    /// The covariance factors `C_k` (standard deviations, not variances).
    pub factor: Factor,
    cumulative: Vec<f64>,
}

/// Largest `K · d` (or `K · d²` for full covariances) a mixture may have.
const MAX_PARAMS: usize = 1 << 28;

fn check_means(means: &[f64], k: usize, dim: usize) -> Result<()> {
    ensure(k >= 1, || Error::range("means", "at least one row", "0 rows"))?;
    ensure(dim >= 1, || Error::range("means", "rows of at least one coordinate", "rows of 0"))?;
    ensure(k.saturating_mul(dim) <= MAX_PARAMS, || Error::range("means", format!("at most {MAX_PARAMS} values"), format!("{k} × {dim}")))?;
    if means.len() != k * dim {
        return Err(Error::type_("means", format!("K × d = {k} × {dim} = {} values", k * dim), values(means.len())));
    }
    finite_rows("means", means, dim)
}

/// Checks `weights` (or makes them uniform) and returns them normalised.
fn check_weights(weights: Option<Vec<f64>>, k: usize) -> Result<Vec<f64>> {
    let Some(w) = weights else {
        return Ok(vec![1.0 / k as f64; k]);
    };
    if w.len() != k {
        return Err(Error::type_("weights", format!("one entry per component ({k})"), values(w.len())));
    }
    for (i, &v) in w.iter().enumerate() {
        ensure(v.is_finite() && v > 0.0, || Error::range(format!("weights[{i}]"), "positive and finite", num(v)))?;
    }
    let s: f64 = w.iter().sum();
    ensure((s - 1.0).abs() <= 1e-6, || Error::range("weights", "values summing to 1 (within 1e-6)", format!("a sum of {s}")))?;
    Ok(w.iter().map(|v| v / s).collect())
}

/// Lower Cholesky factor `L` (`d × d`, row-major, `A = LLᵀ`) of a symmetric positive-definite
/// `d × d` row-major matrix `a`, by the Cholesky–Banachiewicz order (row by row); only the lower
/// triangle of `a` is read. `None` when a pivot is not positive and finite (not positive-definite).
///
/// # Panics
/// If `a.len() < d²`.
pub fn cholesky(a: &[f64], d: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            let mut s = a[i * d + j];
            for p in 0..j {
                s -= l[i * d + p] * l[j * d + p];
            }
            if i == j {
                if !(s > 0.0) || !s.is_finite() {
                    return None;
                }
                l[i * d + i] = s.sqrt();
            } else {
                l[i * d + j] = s / l[j * d + j];
            }
        }
    }
    Some(l)
}

impl Mixture {
    fn build(k: usize, dim: usize, weights: Vec<f64>, means: Vec<f64>, factor: Factor) -> Self {
        let mut acc = 0.0;
        let mut cumulative: Vec<f64> = weights
            .iter()
            .map(|w| {
                acc += w;
                acc
            })
            .collect();
        // Guard against rounding: the last bucket always catches u < 1.
        if let Some(last) = cumulative.last_mut() {
            *last = f64::INFINITY;
        }
        Mixture { k, dim, weights, means, factor, cumulative }
    }

    /// Isotropic components `N(μ_k, σ_k² I)`: `means` is `K × d` row-major, `sigma` (standard
    /// deviations, not variances) has one value (shared) or one per component, `weights` has `K`
    /// entries (default: uniform `1/K`).
    ///
    /// # Errors
    /// [`crate::ErrorKind::Type`] when `means` does not hold `K·d` values or `sigma`/`weights` have the wrong
    /// length; [`crate::ErrorKind::Range`] when `K` or `d` is 0, `K·d > 2²⁸`, a mean is not finite, a `σ` is
    /// not positive and finite, or the weights are not positive and finite or do not sum to 1
    /// within `1e-6`.
    pub fn isotropic(means: Vec<f64>, k: usize, dim: usize, sigma: &[f64], weights: Option<Vec<f64>>) -> Result<Self> {
        check_means(&means, k, dim)?;
        let sigmas = match sigma.len() {
            1 => vec![sigma[0]; k],
            n if n == k => sigma.to_vec(),
            n => return Err(Error::type_("sigma", format!("one number or one per component ({k})"), values(n))),
        };
        for (i, &s) in sigma.iter().enumerate() {
            ensure(s.is_finite() && s > 0.0, || {
                let arg = if sigma.len() == 1 { "sigma".to_string() } else { format!("sigma[{i}]") };
                Error::range(arg, "positive and finite", num(s))
            })?;
        }
        let weights = check_weights(weights, k)?;
        Ok(Self::build(k, dim, weights, means, Factor::Isotropic(sigmas)))
    }

    /// Diagonal components `N(μ_k, diag(v_k))`: `means` and `variances` are `K × d` row-major (the
    /// factor keeps their square roots), `weights` as in [`Mixture::isotropic`].
    ///
    /// # Errors
    /// As [`Mixture::isotropic`], with `variances` in place of `sigma` (`K·d` values, each positive
    /// and finite).
    pub fn diagonal(means: Vec<f64>, k: usize, dim: usize, variances: &[f64], weights: Option<Vec<f64>>) -> Result<Self> {
        check_means(&means, k, dim)?;
        if variances.len() != k * dim {
            return Err(Error::type_("variances", format!("K × d = {k} × {dim} values"), values(variances.len())));
        }
        for (i, &v) in variances.iter().enumerate() {
            ensure(v.is_finite() && v > 0.0, || Error::range(format!("variances[{}][{}]", i / dim, i % dim), "positive and finite", num(v)))?;
        }
        let weights = check_weights(weights, k)?;
        let sd = variances.iter().map(|v| v.sqrt()).collect();
        Ok(Self::build(k, dim, weights, means, Factor::Diagonal(sd)))
    }

    /// Full components `N(μ_k, Σ_k)`: `covariances` is `K × d × d` row-major, each symmetric
    /// (within `1e-9` relative) and positive-definite; it is stored as its Cholesky factor
    /// ([`cholesky`]). `weights` as in [`Mixture::isotropic`].
    ///
    /// # Errors
    /// As [`Mixture::isotropic`]; [`crate::ErrorKind::Type`] when `covariances` does not hold `K·d²` values;
    /// [`crate::ErrorKind::Range`] when `K·d² > 2²⁸`, a matrix is not symmetric and finite, or its Cholesky
    /// factorisation fails (not positive-definite).
    pub fn full(means: Vec<f64>, k: usize, dim: usize, covariances: &[f64], weights: Option<Vec<f64>>) -> Result<Self> {
        check_means(&means, k, dim)?;
        ensure(k.saturating_mul(dim).saturating_mul(dim) <= MAX_PARAMS, || {
            Error::range("covariances", format!("at most {MAX_PARAMS} values"), format!("{k} × {dim} × {dim}"))
        })?;
        if covariances.len() != k * dim * dim {
            return Err(Error::type_("covariances", format!("K × d × d = {k} × {dim} × {dim} values"), values(covariances.len())));
        }
        let mut chol = Vec::with_capacity(k * dim * dim);
        for c in 0..k {
            let a = &covariances[c * dim * dim..(c + 1) * dim * dim];
            for i in 0..dim {
                for j in 0..i {
                    let (x, y) = (a[i * dim + j], a[j * dim + i]);
                    ensure(x.is_finite() && (x - y).abs() <= 1e-9 * (1.0 + x.abs().max(y.abs())), || {
                        Error::range(format!("covariances[{c}]"), "symmetric and finite", format!("{} at [{i}][{j}] and {} at [{j}][{i}]", num(x), num(y)))
                    })?;
                }
            }
            let l = cholesky(a, dim)
                .ok_or_else(|| Error::range(format!("covariances[{c}]"), "positive-definite", "a matrix whose Cholesky factorisation fails"))?;
            chol.extend_from_slice(&l);
        }
        let weights = check_weights(weights, k)?;
        Ok(Self::build(k, dim, weights, means, Factor::Full(chol)))
    }

    /// `μ_k`, the `d` coordinates of row `k` of [`Mixture::means`].
    ///
    /// # Panics
    /// If `k ≥ K`.
    pub fn mean(&self, k: usize) -> &[f64] {
        &self.means[k * self.dim..(k + 1) * self.dim]
    }

    /// Draws one sample into `out` (length `d`, `f64`) and returns its component: `z` by inverse
    /// transform of one uniform on the cumulative weights, then `x = μ_z + C_z ε` with `ε` from
    /// [`rng::normal`].
    #[inline]
    pub fn draw(&self, g: &mut Gen, out: &mut [f64]) -> u32 {
        let u = rng::uniform(g);
        let z = self.cumulative.iter().position(|&c| u < c).unwrap_or(self.k - 1);
        let d = self.dim;
        let mu = self.mean(z);
        match &self.factor {
            Factor::Isotropic(s) => {
                for i in 0..d {
                    out[i] = mu[i] + s[z] * rng::normal(g);
                }
            }
            Factor::Diagonal(s) => {
                let s = &s[z * d..(z + 1) * d];
                for i in 0..d {
                    out[i] = mu[i] + s[i] * rng::normal(g);
                }
            }
            Factor::Full(l) => {
                let l = &l[z * d * d..(z + 1) * d * d];
                // ε is drawn first, then x = μ + Lε (L lower triangular).
                for i in 0..d {
                    out[i] = rng::normal(g);
                }
                for i in (0..d).rev() {
                    let mut s = 0.0;
                    for j in 0..=i {
                        s += l[i * d + j] * out[j];
                    }
                    out[i] = mu[i] + s;
                }
            }
        }
        z as u32
    }

    /// Fills `x` (`n × d`, row-major) and `labels` (`n`, each `< K`) with `n` draws from stream
    /// `stream` of `seed`: chunk `c` of [`SAMPLE_CHUNK`] draws from [`Mixture::draw_chunk`], so the
    /// result does not depend on `par` or the thread count.
    ///
    /// # Panics
    /// If `x.len() ≠ labels.len() · d`.
    pub fn sample_into<T: Real>(&self, x: &mut [T], labels: &mut [u32], seed: u64, stream: u64, par: Par) {
        let d = self.dim;
        let n = labels.len();
        assert_eq!(x.len(), n * d);
        // Pair each chunk of x with its chunk of labels.
        let mut pieces: Vec<(&mut [T], &mut [u32])> = x.chunks_mut(SAMPLE_CHUNK * d).zip(labels.chunks_mut(SAMPLE_CHUNK)).collect();
        let par = par.above(n * d, 1 << 14);
        par.chunks_mut(&mut pieces, 1, |c, piece| {
            let (xs, ls) = &mut piece[0];
            self.draw_chunk(xs, ls, seed, rng::stream(rng::purpose::SAMPLE, stream), c as u64);
        });
    }

    /// Fills one chunk (`labels.len()` draws, at most [`SAMPLE_CHUNK`]) from the generator of
    /// `(seed, stream, chunk)`.
    pub fn draw_chunk<T: Real>(&self, xs: &mut [T], labels: &mut [u32], seed: u64, stream: u64, chunk: u64) {
        let d = self.dim;
        let mut g = rng::gen(seed, stream, chunk);
        let mut buf = vec![0.0f64; d];
        for (row, label) in xs.chunks_mut(d).zip(labels.iter_mut()) {
            *label = self.draw(&mut g, &mut buf);
            for (o, &v) in row.iter_mut().zip(&buf) {
                *o = T::of(v);
            }
        }
    }

    /// Fills one chunk like [`Mixture::draw_chunk`], with the bulk generators: words from eight
    /// xoshiro128++ lanes keyed by `(seed, stream, chunk)` (`data::lanes`), normals by Box–Muller
    /// in `T` (`data::normals`): the fast path of online training. Component `z` comes from one word `w` each, `u = ⌊w/2⁸⌋·2⁻²⁴`. The draws differ
    /// from [`Mixture::draw_chunk`]'s but are just as deterministic.
    pub fn draw_chunk_fast<T: Real>(&self, xs: &mut [T], labels: &mut [u32], seed: u64, stream: u64, chunk: u64) {
        self.draw_chunk_fast_with(xs, labels, seed, stream, chunk, &mut DrawScratch::default())
    }

    /// [`Mixture::draw_chunk_fast`] with its work space passed in (the same draws): no allocation
    /// once `scratch` has grown to the chunk's size.
    pub fn draw_chunk_fast_with<T: Real>(&self, xs: &mut [T], labels: &mut [u32], seed: u64, stream: u64, chunk: u64, scratch: &mut DrawScratch<T>) {
        let (d, count) = (self.dim, labels.len());
        let n = count * d;
        let m = n + n % 2;
        let DrawScratch { words, eps, means } = scratch;
        words.resize(m + count, 0);
        crate::data::lanes::Lanes::new(rng::derive(seed, stream, chunk)).fill(words);
        eps.resize(m, T::zero());
        T::normals(&words[..m], eps);
        if means.len() != self.means.len() || means.iter().zip(&self.means).any(|(a, &b)| *a != T::of(b)) {
            means.clear();
            means.extend(self.means.iter().map(|&v| T::of(v)));
        }
        let uniform = &words[m..];
        #[cfg(target_arch = "x86_64")]
        if crate::kernels::simd::has_avx2() {
            // SAFETY: AVX2 and FMA are present.
            unsafe { self.mix_rows_avx2(uniform, eps, means, xs, labels) };
            return;
        }
        self.mix_rows(uniform, eps, means, xs, labels);
    }

    /// `x_i = μ_z + C_z ε_i` with `z` from word `uniform[i]`, row by row (the rows are vectorised by
    /// the compiler, AVX2 when compiled inside [`Mixture::mix_rows_avx2`]: the same operations, so
    /// the same bits).
    #[inline(always)]
    fn mix_rows<T: Real>(&self, uniform: &[u32], eps: &[T], means: &[T], xs: &mut [T], labels: &mut [u32]) {
        let d = self.dim;
        if let Factor::Isotropic(s) = &self.factor {
            return self.mix_rows_isotropic(s, uniform, eps, means, xs, labels);
        }
        for (i, label) in labels.iter_mut().enumerate() {
            let u = f64::from(uniform[i] >> 8) * (1.0 / 16_777_216.0);
            let z = self.component(u);
            *label = z as u32;
            let (row, e) = (&mut xs[i * d..(i + 1) * d], &eps[i * d..(i + 1) * d]);
            let mu = &means[z * d..(z + 1) * d];
            // (zipped slices: no bounds checks, so the compiler vectorises the rows)
            match &self.factor {
                Factor::Isotropic(s) => {
                    let sz = T::of(s[z]);
                    for ((r, &m), &e) in row.iter_mut().zip(mu).zip(e) {
                        *r = m + sz * e;
                    }
                }
                Factor::Diagonal(s) => {
                    for (((r, &m), &e), &sj) in row.iter_mut().zip(mu).zip(e).zip(&s[z * d..(z + 1) * d]) {
                        *r = m + T::of(sj) * e;
                    }
                }
                Factor::Full(l) => {
                    let l = &l[z * d * d..(z + 1) * d * d];
                    for j in 0..d {
                        let mut acc = 0.0;
                        for k in 0..=j {
                            acc += l[j * d + k] * e[k].f64();
                        }
                        row[j] = mu[j] + T::of(acc);
                    }
                }
            }
        }
    }

    /// The component of uniform `u ∈ [0, 1)`: the first `z` with `u < cumulative[z]` (the last is
    /// `+∞`). For up to 16 components it is counted without branches, `Σ_{z < K−1} [cumulative[z] ≤ u]`
    /// (the same index, as the cumulative weights do not decrease): a label drawn at random is a
    /// branch no predictor can learn.
    #[inline(always)]
    fn component(&self, u: f64) -> usize {
        let head = &self.cumulative[..self.k - 1];
        if head.len() <= 15 {
            head.iter().map(|&c| usize::from(c <= u)).sum()
        } else {
            self.cumulative.iter().position(|&c| u < c).unwrap_or(self.k - 1)
        }
    }

    /// [`Mixture::mix_rows`] for an isotropic mixture (the same operations, `μ + σ·ε` rounded
    /// twice, so the same bits): the component of a row from its word, then the row eight
    /// coordinates at a time in fixed-size pieces (one vector each, with no loop set up per row
    /// for the short rows of small `d`) and the rest one by one.
    #[inline(always)]
    fn mix_rows_isotropic<T: Real>(&self, s: &[f64], uniform: &[u32], eps: &[T], means: &[T], xs: &mut [T], labels: &mut [u32]) {
        let d = self.dim;
        let rows = xs.chunks_exact_mut(d).zip(eps.chunks_exact(d)).zip(labels.iter_mut().zip(uniform));
        for ((row, e), (label, &w)) in rows {
            let u = f64::from(w >> 8) * (1.0 / 16_777_216.0);
            let z = self.component(u);
            *label = z as u32;
            let sz = T::of(s[z]);
            let mu = &means[z * d..(z + 1) * d];
            let (mut r8, mut m8, mut e8) = (row.chunks_exact_mut(8), mu.chunks_exact(8), e.chunks_exact(8));
            for ((r, m), e) in r8.by_ref().zip(m8.by_ref()).zip(e8.by_ref()) {
                let (r, m, e): (&mut [T; 8], &[T; 8], &[T; 8]) = (r.try_into().unwrap(), m.try_into().unwrap(), e.try_into().unwrap());
                for j in 0..8 {
                    r[j] = m[j] + sz * e[j];
                }
            }
            for ((r, &m), &e) in r8.into_remainder().iter_mut().zip(m8.remainder()).zip(e8.remainder()) {
                *r = m + sz * e;
            }
        }
    }

    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn mix_rows_avx2<T: Real>(&self, uniform: &[u32], eps: &[T], means: &[T], xs: &mut [T], labels: &mut [u32]) {
        self.mix_rows(uniform, eps, means, xs, labels)
    }

    /// `n` draws as a new `(x, labels)` pair (`x` is `n × d` row-major): [`Mixture::sample_into`]
    /// on fresh buffers.
    pub fn sample<T: Real>(&self, n: usize, seed: u64, stream: u64, par: Par) -> (Vec<T>, Vec<u32>) {
        let mut x = vec![T::zero(); n * self.dim];
        let mut labels = vec![0u32; n];
        self.sample_into(&mut x, &mut labels, seed, stream, par);
        (x, labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn two() -> Mixture {
        Mixture::isotropic(vec![3.0, 0.0, -3.0, 0.0], 2, 2, &[0.5], Some(vec![0.25, 0.75])).unwrap()
    }

    #[test]
    fn branch_free_component_is_the_first_bucket_above_u() {
        for k in [1usize, 2, 3, 7, 16, 17, 40] {
            // uneven weights, some tiny (equal cumulative sums after rounding are possible)
            let w: Vec<f64> = (0..k).map(|i| if i % 5 == 3 { 1e-18 } else { 1.0 + (i * 7 % 5) as f64 }).collect();
            let total: f64 = w.iter().sum();
            let w: Vec<f64> = w.iter().map(|v| v / total).collect();
            let m = Mixture::isotropic(vec![0.0; k], k, 1, &[1.0], Some(w)).unwrap();
            let mut us: Vec<f64> = (0..4000).map(|i| i as f64 / 4000.0).collect();
            us.extend(m.cumulative.iter().filter(|c| c.is_finite()).flat_map(|&c| [c, c.next_down(), c.next_up()]));
            us.push(1.0f64.next_down());
            for u in us.into_iter().filter(|u| (0.0..1.0).contains(u)) {
                let z = m.cumulative.iter().position(|&c| u < c).unwrap_or(k - 1);
                assert_eq!(m.component(u), z, "k={k} u={u}");
            }
        }
    }

    #[test]
    fn weights_and_moments() {
        let m = two();
        let (x, l) = m.sample::<f64>(100_000, 7, 0, Par::Rayon);
        let frac = l.iter().filter(|&&z| z == 1).count() as f64 / l.len() as f64;
        assert!((frac - 0.75).abs() < 0.01, "{frac}");
        // per-component mean and spread
        for c in 0..2u32 {
            let rows: Vec<&[f64]> = x.chunks(2).zip(&l).filter(|(_, &z)| z == c).map(|(r, _)| r).collect();
            let n = rows.len() as f64;
            let mx = rows.iter().map(|r| r[0]).sum::<f64>() / n;
            let vy = rows.iter().map(|r| r[1] * r[1]).sum::<f64>() / n;
            assert!((mx - m.mean(c as usize)[0]).abs() < 0.02);
            assert!((vy - 0.25).abs() < 0.01, "{vy}");
        }
    }

    #[test]
    fn thread_count_and_dtype_do_not_change_samples() {
        let m = two();
        for n in [0, 1, 1023, 1024, 1025, 5000] {
            let (a, la) = m.sample::<f64>(n, 3, 9, Par::Seq);
            let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
            let (b, lb) = pool.install(|| m.sample::<f64>(n, 3, 9, Par::Rayon));
            assert_eq!(a, b);
            assert_eq!(la, lb);
            let (c, lc) = m.sample::<f32>(n, 3, 9, Par::Rayon);
            assert_eq!(la, lc);
            assert!(a.iter().zip(&c).all(|(&p, &q)| p as f32 == q));
        }
    }

    #[test]
    fn fast_chunks_have_the_right_moments() {
        let m = two();
        let count = 1000;
        let (mut x, mut l) = (vec![0.0f32; 2 * count * 100], vec![0u32; count * 100]);
        for c in 0..100 {
            m.draw_chunk_fast(&mut x[c * 2 * count..(c + 1) * 2 * count], &mut l[c * count..(c + 1) * count], 4, 0, c as u64);
        }
        let frac = l.iter().filter(|&&z| z == 1).count() as f64 / l.len() as f64;
        assert!((frac - 0.75).abs() < 0.01, "{frac}");
        let rows: Vec<&[f32]> = x.chunks(2).zip(&l).filter(|(_, &z)| z == 0).map(|(r, _)| r).collect();
        let n = rows.len() as f64;
        let mx = rows.iter().map(|r| r[0] as f64).sum::<f64>() / n;
        let vy = rows.iter().map(|r| (r[1] as f64).powi(2)).sum::<f64>() / n;
        assert!((mx - 3.0).abs() < 0.02 && (vy - 0.25).abs() < 0.01, "{mx} {vy}");
        // f64 draws use the same words: close to the f32 ones
        let (mut y, mut l2) = (vec![0.0f64; 2 * count], vec![0u32; count]);
        m.draw_chunk_fast(&mut y, &mut l2, 4, 0, 0);
        assert_eq!(&l2[..], &l[..count]);
        assert!(y.iter().zip(&x).all(|(a, b)| (a - *b as f64).abs() < 1e-4));
    }

    fn mix_same_bits<T: Real>() {
        for d in [1, 3, 8, 16, 17] {
            let means: Vec<f64> = (0..2 * d).map(|i| i as f64 * 0.37 - 1.0).collect();
            let var: Vec<f64> = (0..2 * d).map(|i| 0.5 + i as f64 * 0.01).collect();
            let mut cov = vec![0.0; 2 * d * d];
            for k in 0..2 {
                for j in 0..d {
                    cov[k * d * d + j * d + j] = 1.0 + k as f64;
                    if j > 0 {
                        cov[k * d * d + j * d + j - 1] = 0.3;
                        cov[k * d * d + (j - 1) * d + j] = 0.3;
                    }
                }
            }
            let mixes = [
                Mixture::isotropic(means.clone(), 2, d, &[0.7, 1.3], None).unwrap(),
                Mixture::diagonal(means.clone(), 2, d, &var, None).unwrap(),
                Mixture::full(means.clone(), 2, d, &cov, None).unwrap(),
            ];
            for m in &mixes {
                let count = 37;
                let uniform: Vec<u32> = (0..count as u32).map(|i| i.wrapping_mul(2_654_435_761)).collect();
                let eps: Vec<T> = (0..count * d).map(|i| T::of(((i * 7919 % 997) as f64 / 498.5 - 1.0) * 3.0)).collect();
                let mu: Vec<T> = m.means.iter().map(|&v| T::of(v)).collect();
                let (mut a, mut la) = (vec![T::zero(); count * d], vec![0u32; count]);
                #[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut, unused_variables))]
                let (mut b, mut lb) = (a.clone(), la.clone());
                m.mix_rows(&uniform, &eps, &mu, &mut a, &mut la);
                #[cfg(target_arch = "x86_64")]
                if crate::kernels::simd::has_avx2() {
                    // SAFETY: AVX2 and FMA are present.
                    unsafe { m.mix_rows_avx2(&uniform, &eps, &mu, &mut b, &mut lb) };
                    assert_eq!(la, lb);
                    assert!(a.iter().zip(&b).all(|(p, q)| p.f64().to_bits() == q.f64().to_bits()), "{} d={d}", T::NAME);
                }
                assert!(la.contains(&0) && la.contains(&1));
            }
        }
    }

    #[test]
    fn avx2_mixing_gives_the_same_bits() {
        mix_same_bits::<f32>();
        mix_same_bits::<f64>();
    }

    #[test]
    fn full_covariance_matches() {
        let cov = [2.0, 0.8, 0.8, 1.0];
        let m = Mixture::full(vec![1.0, -1.0], 1, 2, &cov, None).unwrap();
        let n = 200_000;
        let (x, _) = m.sample::<f64>(n, 1, 0, Par::Rayon);
        let mut c = [0.0; 4];
        for r in x.chunks(2) {
            let (a, b) = (r[0] - 1.0, r[1] + 1.0);
            c[0] += a * a;
            c[1] += a * b;
            c[3] += b * b;
        }
        for v in &mut c {
            *v /= n as f64;
        }
        assert!((c[0] - 2.0).abs() < 0.03 && (c[1] - 0.8).abs() < 0.02 && (c[3] - 1.0).abs() < 0.02, "{c:?}");
    }

    #[test]
    fn rejects_bad_parameters() {
        let err = |r: Result<Mixture>| r.map(|_| ()).unwrap_err();
        let is = |e: Error, kind: ErrorKind, arg: &str| assert!(e.kind == kind && e.arg == arg, "{e:?}");
        is(err(Mixture::isotropic(vec![0.0; 4], 2, 2, &[0.0], None)), ErrorKind::Range, "sigma");
        is(err(Mixture::isotropic(vec![0.0; 4], 2, 2, &[1.0, -1.0], None)), ErrorKind::Range, "sigma[1]");
        is(err(Mixture::isotropic(vec![0.0; 3], 2, 2, &[1.0], None)), ErrorKind::Type, "means");
        is(err(Mixture::isotropic(vec![0.0; 4], 2, 2, &[1.0], Some(vec![0.5, 0.6]))), ErrorKind::Range, "weights");
        is(err(Mixture::isotropic(vec![f64::NAN; 4], 2, 2, &[1.0], None)), ErrorKind::Range, "means[0][0]");
        is(err(Mixture::full(vec![0.0; 2], 1, 2, &[1.0, 2.0, 2.0, 1.0], None)), ErrorKind::Range, "covariances[0]");
        is(err(Mixture::diagonal(vec![0.0; 2], 1, 2, &[1.0, -1.0], None)), ErrorKind::Range, "variances[0][1]");
        let e = Mixture::isotropic(vec![0.0; 4], 2, 2, &[1.0], Some(vec![0.5, 0.6])).unwrap_err();
        assert!(e.message().contains("`weights`"));
    }
}
