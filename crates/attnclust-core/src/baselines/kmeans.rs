//! k-means, the classical clustering baseline (Lloyd's algorithm with a k-means++ start).
//!
//! Given points `x_1 … x_n ∈ Rᵈ` and a number of clusters `k`, k-means looks for centres
//! `c_1 … c_k` and labels `z_i` that minimise the **inertia**
//!
//! ```text
//! J(c, z) = Σ_i ‖x_i − c_{z_i}‖²
//! ```
//!
//! (a sum, not a mean, as in scikit-learn). One restart runs:
//!
//! 1. **greedy k-means++ start** (scikit-learn's): the first centre is a point drawn uniformly;
//!    for each next one, `2 + ⌊ln k⌋` candidate points are drawn with probability
//!    `D(x)² / Σ_y D(y)²`, `D(x)` the distance from `x` to the nearest centre already chosen, and the
//!    candidate that lowers the potential `Σ_y D(y)²` most is kept (when every `D` is 0 the draw is
//!    uniform). Plain k-means++ (one candidate) can leave two centres in one well-separated cluster,
//!    which Lloyd's iterations do not undo;
//! 2. **Lloyd iterations**, at most `max_iter` of them: the *update* step replaces each centre by the
//!    mean of its cluster, `c_j = (1/|C_j|) Σ_{i ∈ C_j} x_i`, and the *assignment* step gives each
//!    point the label of its nearest centre (ties to the lowest index). Neither step increases `J`.
//!    A cluster left empty is re-seeded at the point farthest from its own centre among the points
//!    whose cluster has at least two members (ties to the lowest index; such a point always exists
//!    since `k ≤ n`); that point leaves its former cluster. Empty clusters are handled in index order.
//! 3. **Stop** when the labels no longer change, or when the centres moved little:
//!    `Σ_j ‖c_j^new − c_j^old‖² ≤ tol · v̄`, `v̄ = (1/(nd)) Σ_{i,l} (x_il − x̄_l)²` the mean
//!    per-coordinate variance of the data (scikit-learn's criterion: `tol` is scale-free).
//!
//! `n_init` restarts are run, restart `r` drawing its k-means++ start from the generator
//! `gen(seed, stream(KMEANS, r), 0)`; the one with the lowest inertia is kept (ties to the lowest
//! `r`). With `n_init = 1` the result is restart 0, which any larger `n_init` also runs first.
//!
//! **Scale.** The squared distances of `f64` points whose largest magnitude is beyond `2^±400`
//! would overflow or underflow (at `1e-300` every squared distance is 0 and any labelling has
//! inertia 0): such points are first multiplied by the power of two that brings their largest
//! magnitude into `[1, 2)` (exact, save for entries pushed below the normal range), and the centres
//! and inertia are scaled back (the inertia by the square of the factor, which may round to 0 or
//! overflow: the latter is an error).
//!
//! **Determinism.** Distances and sums are computed in `f64`, whatever the point type. The points
//! are cut into fixed chunks of [`CHUNK`] points; each chunk's partial sums (cluster sums and
//! counts, inertia, k-means++ weights) are computed on their own and added in chunk order, so the
//! result is bit-identical with any number of threads.

use crate::data::rng::{self, purpose};
use crate::error::{ensure, num, Error, Result};
use crate::kernels::par::Par;
use crate::kernels::real::Real;
use crate::models::two_head::check_tokens;

/// Points per chunk of work.
pub const CHUNK: usize = 1024;

/// Memory allowed for the per-chunk partial sums that are alive at the same time.
const GROUP_BYTES: usize = 1 << 26;
/// At most this many chunks are reduced at once.
const MAX_GROUP: usize = 64;
/// Below this much work (`n · k · d`), run sequentially.
const PAR_WORK: usize = 1 << 15;

/// Options of [`kmeans`].
#[derive(Clone, Debug, PartialEq)]
pub struct KMeansOptions {
    /// Number of clusters, `1 ≤ k ≤ n`.
    pub k: usize,
    /// Seed of the k-means++ starts (restart `r` uses stream `(KMEANS, r)`).
    pub seed: u64,
    /// Number of restarts (k-means++ starts), in `[1, MAX_N_INIT]` (1000); the lowest inertia is kept.
    pub n_init: usize,
    /// Maximum number of Lloyd updates per restart, in `[1, MAX_ITER]` (10⁶).
    pub max_iter: usize,
    /// Relative tolerance on the centres' movement (see the module documentation), `≥ 0`.
    pub tol: f64,
}

impl KMeansOptions {
    /// `k` clusters with the defaults `n_init = 4`, `max_iter = 300`, `tol = 1e-4`.
    pub fn new(k: usize, seed: u64) -> Self {
        KMeansOptions { k, seed, n_init: 4, max_iter: 300, tol: 1e-4 }
    }
}

/// The result of [`kmeans`].
#[derive(Clone, Debug, PartialEq)]
pub struct KMeansResult<T> {
    /// `k × d`, row-major.
    pub centers: Vec<T>,
    /// The nearest centre of each point (`n`).
    pub labels: Vec<u32>,
    /// `Σ_i ‖x_i − c_{z_i}‖²`, computed in `f64` with the `f64` centres.
    pub inertia: f64,
    /// Lloyd updates done by the kept restart.
    pub iterations: usize,
}

/// A fit with `f64` centres (shared with [`crate::baselines::em`]).
#[derive(Clone, Debug)]
pub(crate) struct Fit {
    pub centers: Vec<f64>,
    pub labels: Vec<u32>,
    pub inertia: f64,
    pub iterations: usize,
}

/// Checks `d` and `x` and returns the number of points `n ≥ 1`.
pub(crate) fn check_points<T: Real>(x: &[T], d: usize) -> Result<usize> {
    ensure(d >= 1, || Error::range("d", "at least 1", d))?;
    check_tokens(x, d, "x")?;
    let n = x.len() / d;
    ensure(n >= 1, || Error::range("x", "at least one point", "none"))?;
    Ok(n)
}

/// Checks `1 ≤ k ≤ n` (and that labels fit in `u32`).
pub(crate) fn check_k(k: usize, n: usize) -> Result<()> {
    ensure(k >= 1, || Error::range("k", "at least 1", k))?;
    ensure(k <= n, || Error::range("k", format!("at most the number of points n = {n}"), k))?;
    ensure(k <= u32::MAX as usize, || Error::range("k", format!("at most {}", u32::MAX), k))
}

/// How many chunks may be reduced at once when each carries `len` partial `f64` values.
pub(crate) fn group_for(len: usize) -> usize {
    (GROUP_BYTES / (8 * len.max(1))).clamp(1, MAX_GROUP)
}

/// Whether `n · k · d` is enough work to use threads.
pub(crate) fn par_for(par: Par, n: usize, k: usize, d: usize) -> Par {
    par.above(n.saturating_mul(k).saturating_mul(d), PAR_WORK)
}

/// Runs `f(c, out_c)` on each fixed chunk `c` of [`CHUNK`] points (`n` in all), `group` chunks at a
/// time (in parallel under `par`), and passes the results to `fold` in chunk order. `out` is either
/// empty (each `f` then gets an empty slice) or holds one value per point, and `out_c` is chunk
/// `c` of it.
pub(crate) fn fold_chunks<O, R, F, G>(par: Par, n: usize, out: &mut [O], group: usize, f: F, mut fold: G)
where
    O: Send,
    R: Send,
    F: Fn(usize, &mut [O]) -> R + Sync + Send,
    G: FnMut(R),
{
    let chunks = n.div_ceil(CHUNK);
    let mut pieces: Vec<(&mut [O], Option<R>)> = Vec::with_capacity(chunks);
    if out.is_empty() {
        pieces.extend((0..chunks).map(|_| (<&mut [O]>::default(), None)));
    } else {
        assert_eq!(out.len(), n);
        pieces.extend(out.chunks_mut(CHUNK).map(|s| (s, None)));
    }
    let group = group.max(1);
    let mut start = 0;
    while start < chunks {
        let end = start.saturating_add(group).min(chunks);
        par.chunks_mut(&mut pieces[start..end], 1, |i, p| {
            let (s, r) = &mut p[0];
            *r = Some(f(start + i, s));
        });
        for p in &mut pieces[start..end] {
            fold(p.1.take().expect("every chunk ran"));
        }
        start = end;
    }
}

/// The rows of chunk `c`.
#[inline]
pub(crate) fn chunk_rows<T>(x: &[T], d: usize, n: usize, c: usize) -> &[T] {
    &x[c * CHUNK * d..((c + 1) * CHUNK).min(n) * d]
}

/// `‖x − c‖²` in `f64`, with eight accumulators (so that the compiler can vectorise it).
#[inline]
pub(crate) fn dist2_to<T: Real>(x: &[T], c: &[f64]) -> f64 {
    debug_assert_eq!(x.len(), c.len());
    let mut acc = [0.0f64; 8];
    let blocks = x.len() / 8;
    for (xb, cb) in x.chunks_exact(8).zip(c.chunks_exact(8)) {
        for l in 0..8 {
            let t = xb[l].f64() - cb[l];
            acc[l] += t * t;
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
    for i in 8 * blocks..x.len() {
        let t = x[i].f64() - c[i];
        s += t * t;
    }
    s
}

/// The nearest centre of `x` (already in `f64`) and its squared distance (ties to the lowest
/// index).
#[inline]
fn nearest(x: &[f64], centers: &[f64], d: usize) -> (u32, f64) {
    let mut best = (0u32, f64::INFINITY);
    for (j, c) in centers.chunks_exact(d).enumerate() {
        let e = dist2_to(x, c);
        if e < best.1 {
            best = (j as u32, e);
        }
    }
    best
}

/// The mean per-coordinate variance `v̄` of the points.
pub(crate) fn mean_variance<T: Real>(x: &[T], d: usize, par: Par) -> f64 {
    let n = x.len() / d;
    let mut mean = vec![0.0; d];
    fold_chunks(
        par,
        n,
        &mut [] as &mut [()],
        MAX_GROUP,
        |c, _| {
            let mut s = vec![0.0; d];
            for row in chunk_rows(x, d, n, c).chunks_exact(d) {
                s.iter_mut().zip(row).for_each(|(a, v)| *a += v.f64());
            }
            s
        },
        |s| mean.iter_mut().zip(&s).for_each(|(a, v)| *a += v),
    );
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let mut total = 0.0;
    fold_chunks(
        par,
        n,
        &mut [] as &mut [()],
        usize::MAX,
        |c, _| chunk_rows(x, d, n, c).chunks_exact(d).map(|row| dist2_to(row, &mean)).sum::<f64>(),
        |s| total += s,
    );
    total / (n as f64 * d as f64)
}

/// Candidates drawn per centre by the greedy k-means++ start: `2 + ⌊ln k⌋` (scikit-learn's
/// choice, after Arthur and Vassilvitskii 2007, §6).
pub fn local_trials(k: usize) -> usize {
    2 + (k as f64).ln().floor() as usize
}

/// The point where the walk of `u ∈ [0, Σ w)` over the weights `w` (chunk sums `sums`, then the
/// weights of that chunk) stops. `u` stays ≥ 0 and `u < w` implies `w > 0`; rounding can only make
/// the walk run off the end, where the last point of positive weight is taken.
fn walk(d2: &[f64], sums: &[f64], mut u: f64) -> usize {
    let n = d2.len();
    let mut chunk = sums.iter().rposition(|&s| s > 0.0).expect("a positive chunk");
    for (c, &s) in sums.iter().enumerate() {
        if u < s {
            chunk = c;
            break;
        }
        u -= s;
    }
    let w = &d2[chunk * CHUNK..((chunk + 1) * CHUNK).min(n)];
    let mut pick = w.iter().rposition(|&v| v > 0.0).expect("a positive weight");
    for (i, &v) in w.iter().enumerate() {
        if u < v {
            pick = i;
            break;
        }
        u -= v;
    }
    chunk * CHUNK + pick
}

/// The greedy k-means++ start of restart `restart`: `k × d` centres, each a data point.
///
/// The first centre is a point drawn uniformly. Each next one: `t =` [`local_trials`]`(k)`
/// candidates are drawn with probability `D(x)² / Σ_y D(y)²` (`D(x)` the distance from `x` to the
/// nearest centre already chosen), and the candidate that leaves the lowest potential
/// `Σ_y min(D(y)², ‖y − c‖²)` is kept (ties to the first drawn). When every `D` is 0 the next centre
/// is drawn uniformly. Plain k-means++ is the case `t = 1`.
fn plusplus<T: Real>(x: &[T], d: usize, k: usize, seed: u64, restart: usize, par: Par) -> Vec<f64> {
    plusplus_with(x, d, k, local_trials(k), seed, restart, par)
}

fn plusplus_with<T: Real>(x: &[T], d: usize, k: usize, trials: usize, seed: u64, restart: usize, par: Par) -> Vec<f64> {
    let n = x.len() / d;
    let mut g = rng::gen(seed, rng::stream(purpose::KMEANS, restart as u64), 0);
    let uniform_index = |g: &mut rng::Gen| ((rng::uniform(g) * n as f64) as usize).min(n - 1);
    let row = |i: usize| x[i * d..(i + 1) * d].iter().map(|v| v.f64()).collect::<Vec<f64>>();
    let mut centers: Vec<f64> = Vec::with_capacity(k * d);
    let first = uniform_index(&mut g);
    centers.extend(row(first));
    let mut d2 = vec![f64::INFINITY; n];
    let mut sums = Vec::with_capacity(n.div_ceil(CHUNK));
    // D² to the nearest centre so far, and its chunk sums.
    let update = |d2: &mut Vec<f64>, sums: &mut Vec<f64>, c: &[f64]| {
        sums.clear();
        fold_chunks(
            par,
            n,
            d2,
            usize::MAX,
            |ch, w| {
                let mut s = 0.0;
                for (r, wi) in chunk_rows(x, d, n, ch).chunks_exact(d).zip(w.iter_mut()) {
                    *wi = wi.min(dist2_to(r, c));
                    s += *wi;
                }
                s
            },
            |s| sums.push(s),
        );
    };
    update(&mut d2, &mut sums, &centers);
    while centers.len() < k * d {
        let total: f64 = sums.iter().sum();
        let next = if total > 0.0 && total.is_finite() {
            let candidates: Vec<usize> = (0..trials).map(|_| walk(&d2, &sums, rng::uniform(&mut g) * total)).collect();
            if candidates.len() == 1 {
                candidates[0]
            } else {
                // The potential each candidate would leave, summed in chunk order.
                let rows: Vec<Vec<f64>> = candidates.iter().map(|&i| row(i)).collect();
                let mut pot = vec![0.0; candidates.len()];
                fold_chunks(
                    par,
                    n,
                    &mut [] as &mut [()],
                    usize::MAX,
                    |ch, _| {
                        let lo = ch * CHUNK;
                        let mut s = vec![0.0; rows.len()];
                        for (i, r) in chunk_rows(x, d, n, ch).chunks_exact(d).enumerate() {
                            for (sj, c) in s.iter_mut().zip(&rows) {
                                *sj += d2[lo + i].min(dist2_to(r, c));
                            }
                        }
                        s
                    },
                    |s| pot.iter_mut().zip(&s).for_each(|(a, b)| *a += b),
                );
                let best = (0..pot.len()).fold(0, |b, j| if pot[j] < pot[b] { j } else { b });
                candidates[best]
            }
        } else {
            uniform_index(&mut g)
        };
        let c = row(next);
        if centers.len() + d < k * d {
            update(&mut d2, &mut sums, &c);
        }
        centers.extend(c);
    }
    centers
}

/// The assignment step: `assign[i] = (label, ‖x_i − c_label‖²)`. Returns how many labels changed
/// and the inertia.
fn assign_pass<T: Real>(x: &[T], d: usize, centers: &[f64], assign: &mut [(u32, f64)], par: Par) -> (usize, f64) {
    let n = assign.len();
    let (mut changed, mut inertia) = (0, 0.0);
    fold_chunks(
        par,
        n,
        assign,
        usize::MAX,
        |c, out| {
            let (mut ch, mut s) = (0usize, 0.0f64);
            let mut buf = vec![0.0f64; d];
            for (row, slot) in chunk_rows(x, d, n, c).chunks_exact(d).zip(out.iter_mut()) {
                buf.iter_mut().zip(row).for_each(|(b, v)| *b = v.f64());
                let (l, e) = nearest(&buf, centers, d);
                ch += usize::from(l != slot.0);
                s += e;
                *slot = (l, e);
            }
            (ch, s)
        },
        |(ch, s)| {
            changed += ch;
            inertia += s;
        },
    );
    (changed, inertia)
}

/// Cluster sums (`k × d`) and counts of the current labels.
fn sums_pass<T: Real>(x: &[T], d: usize, k: usize, assign: &[(u32, f64)], par: Par) -> (Vec<f64>, Vec<usize>) {
    let n = assign.len();
    let (mut sums, mut counts) = (vec![0.0; k * d], vec![0usize; k]);
    fold_chunks(
        par,
        n,
        &mut [] as &mut [()],
        group_for(k * d + k),
        |c, _| {
            let (mut s, mut m) = (vec![0.0; k * d], vec![0usize; k]);
            let labels = &assign[c * CHUNK..((c + 1) * CHUNK).min(n)];
            for (row, &(l, _)) in chunk_rows(x, d, n, c).chunks_exact(d).zip(labels) {
                let l = l as usize;
                m[l] += 1;
                s[l * d..(l + 1) * d].iter_mut().zip(row).for_each(|(a, v)| *a += v.f64());
            }
            (s, m)
        },
        |(s, m)| {
            sums.iter_mut().zip(&s).for_each(|(a, v)| *a += v);
            counts.iter_mut().zip(&m).for_each(|(a, v)| *a += v);
        },
    );
    (sums, counts)
}

/// The update step from cluster sums and counts: writes the new centres into `centers`,
/// re-seeding empty clusters (see the module documentation; `assign` is updated for the points
/// moved). Returns the number of re-seeded clusters.
fn update<T: Real>(x: &[T], d: usize, assign: &mut [(u32, f64)], sums: &mut [f64], counts: &mut [usize], centers: &mut [f64]) -> usize {
    let k = counts.len();
    let mut reseeded = 0;
    for j in 0..k {
        if counts[j] > 0 {
            continue;
        }
        let mut far: Option<usize> = None;
        for (i, &(l, e)) in assign.iter().enumerate() {
            if counts[l as usize] >= 2 && far.is_none_or(|f| e > assign[f].1) {
                far = Some(i);
            }
        }
        let i = far.expect("k ≤ n leaves a cluster with two points");
        let donor = assign[i].0 as usize;
        let row = &x[i * d..(i + 1) * d];
        sums[donor * d..(donor + 1) * d].iter_mut().zip(row).for_each(|(a, v)| *a -= v.f64());
        counts[donor] -= 1;
        sums[j * d..(j + 1) * d].iter_mut().zip(row).for_each(|(a, v)| *a = v.f64());
        counts[j] = 1;
        assign[i] = (j as u32, 0.0);
        reseeded += 1;
    }
    for j in 0..k {
        let inv = 1.0 / counts[j] as f64;
        for (c, s) in centers[j * d..(j + 1) * d].iter_mut().zip(&sums[j * d..(j + 1) * d]) {
            *c = s * inv;
        }
    }
    reseeded
}

/// One restart: k-means++ start, then Lloyd iterations.
fn restart<T: Real>(x: &[T], d: usize, opts: &KMeansOptions, r: usize, shift_tol: f64, par: Par) -> Fit {
    let (n, k) = (x.len() / d, opts.k);
    let mut centers = plusplus(x, d, k, opts.seed, r, par);
    let mut assign = vec![(u32::MAX, 0.0); n];
    let (_, mut inertia) = assign_pass(x, d, &centers, &mut assign, par);
    let mut next = vec![0.0; k * d];
    let mut iterations = 0;
    while iterations < opts.max_iter {
        let (mut sums, mut counts) = sums_pass(x, d, k, &assign, par);
        let reseeded = update(x, d, &mut assign, &mut sums, &mut counts, &mut next);
        let shift: f64 = centers.iter().zip(&next).map(|(a, b)| (a - b) * (a - b)).sum();
        std::mem::swap(&mut centers, &mut next);
        iterations += 1;
        let (changed, s) = assign_pass(x, d, &centers, &mut assign, par);
        inertia = s;
        if shift <= shift_tol || (changed == 0 && reseeded == 0) {
            break;
        }
    }
    Fit { centers, labels: assign.iter().map(|a| a.0).collect(), inertia, iterations }
}

/// Magnitudes whose squares (summed over many points) stay finite and normal.
const SAFE_LO: f64 = pow2(-400);
const SAFE_HI: f64 = pow2(400);

/// The power of two `s` such that `x / s` has its largest magnitude in `[1, 2)`, when `x` lies
/// beyond the safe range `[2^-400, 2^400]`; `None` when it needs no rescaling (or is all zero).
pub(crate) fn rescaling<T: Real>(x: &[T]) -> Option<f64> {
    let m = x.iter().fold(0.0f64, |m, v| m.max(v.f64().abs()));
    if m == 0.0 || (SAFE_LO..=SAFE_HI).contains(&m) {
        return None;
    }
    // m = f · 2^e with f ∈ [1, 2): read e off the bits (m is normal here, or subnormal below 2^-1022)
    let e = if m >= f64::MIN_POSITIVE { ((m.to_bits() >> 52) as i32) - 1023 } else { -1023 - (m.to_bits().leading_zeros() as i32 - 12) };
    Some(pow2(e))
}

/// `2^e` for `e` in `[-1074, 1023]`.
pub(crate) const fn pow2(e: i32) -> f64 {
    if e >= -1022 {
        f64::from_bits(((e + 1023) as u64) << 52)
    } else {
        f64::from_bits(1u64 << (e + 1074))
    }
}

/// `x / s`, in `f64`: `x · 2^-e` as two exact factors when `1/s` is outside the `f64` range.
pub(crate) fn scaled<T: Real>(x: &[T], s: f64) -> Vec<f64> {
    let e = s.log2().round() as i32;
    let (a, b) = (pow2(-e / 2), pow2(-e - (-e / 2)));
    x.iter().map(|v| v.f64() * a * b).collect()
}

/// k-means on checked input, with `f64` centres.
pub(crate) fn fit<T: Real>(x: &[T], d: usize, opts: &KMeansOptions, par: Par) -> Result<Fit> {
    let Some(s) = rescaling(x) else { return fit_in_range(x, d, opts, par) };
    let mut f = fit_in_range(&scaled(x, s), d, opts, par)?;
    f.centers.iter_mut().for_each(|c| *c *= s);
    f.inertia = f.inertia * s * s;
    ensure(f.inertia.is_finite(), || Error::range("x", "small enough in magnitude that its inertia stays within f64", "an inertia beyond f64"))?;
    Ok(f)
}

/// [`fit`] on points whose squared distances neither overflow nor underflow.
fn fit_in_range<T: Real>(x: &[T], d: usize, opts: &KMeansOptions, par: Par) -> Result<Fit> {
    let n = x.len() / d;
    let par = par_for(par, n, opts.k, d);
    let shift_tol = opts.tol * mean_variance(x, d, par);
    let mut best: Option<Fit> = None;
    for r in 0..opts.n_init {
        let f = restart(x, d, opts, r, shift_tol, par);
        if best.as_ref().is_none_or(|b| f.inertia < b.inertia) {
            best = Some(f);
        }
    }
    let best = best.expect("n_init ≥ 1");
    ensure(best.inertia.is_finite(), || {
        Error::range("x", "small enough in magnitude that its squared distances stay within f64", "squared distances beyond f64")
    })?;
    Ok(best)
}

/// Checks the options of [`kmeans`].
pub(crate) fn check_options(opts: &KMeansOptions, n: usize) -> Result<()> {
    check_k(opts.k, n)?;
    ensure((1..=super::MAX_N_INIT).contains(&opts.n_init), || Error::range("n_init", format!("in [1, {}]", super::MAX_N_INIT), opts.n_init))?;
    ensure((1..=super::MAX_ITER).contains(&opts.max_iter), || Error::range("max_iter", format!("in [1, {}]", super::MAX_ITER), opts.max_iter))?;
    ensure(opts.tol.is_finite() && opts.tol >= 0.0, || Error::range("tol", "finite and ≥ 0", num(opts.tol)))
}

/// k-means of the `n × d` points `x` (row-major): `n_init` restarts of a greedy k-means++ start
/// (Arthur and Vassilvitskii 2007; scikit-learn's greedy variant) and Lloyd's iterations (Lloyd
/// 1982), the lowest inertia kept. See the module documentation. The result is the same for any
/// `par` and thread count.
///
/// # Errors
/// [`crate::ErrorKind::Type`] when `x.len()` is not a multiple of `d`; [`crate::ErrorKind::Range`] when
/// `d = 0`, `x` is empty or not finite, `k` is outside `[1, n]`, `n_init` is outside `[1, MAX_N_INIT]`, `max_iter` outside `[1, MAX_ITER]`,
/// `tol` is negative or not finite, or the inertia overflows `f64`.
pub fn kmeans<T: Real>(x: &[T], d: usize, opts: &KMeansOptions, par: Par) -> Result<KMeansResult<T>> {
    let n = check_points(x, d)?;
    check_options(opts, n)?;
    let f = fit(x, d, opts, par)?;
    Ok(KMeansResult { centers: f.centers.iter().map(|&v| T::of(v)).collect(), labels: f.labels, inertia: f.inertia, iterations: f.iterations })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::gmm::Mixture;
    use crate::error::ErrorKind;
    use crate::metrics::adjusted_rand_index;

    fn opts(k: usize, seed: u64) -> KMeansOptions {
        KMeansOptions::new(k, seed)
    }

    fn bits<T: Real>(r: &KMeansResult<T>) -> (Vec<u64>, Vec<u32>, u64, usize) {
        (r.centers.iter().map(|v| v.f64().to_bits()).collect(), r.labels.clone(), r.inertia.to_bits(), r.iterations)
    }

    #[test]
    fn hand_checked_one_dimension() {
        let x = [0.0f64, 0.1, 10.0, 10.1];
        for seed in 0..10 {
            let r = kmeans(&x, 1, &opts(2, seed), Par::Seq).unwrap();
            let mut c = r.centers.clone();
            c.sort_by(f64::total_cmp);
            assert!((c[0] - 0.05).abs() < 1e-12 && (c[1] - 10.05).abs() < 1e-12, "{c:?}");
            assert_eq!(r.labels[0], r.labels[1]);
            assert_eq!(r.labels[2], r.labels[3]);
            assert_ne!(r.labels[0], r.labels[2]);
            // the label names its own centre
            assert!((r.centers[r.labels[0] as usize] - 0.05).abs() < 1e-12);
            assert!((r.inertia - 0.01).abs() < 1e-12, "{}", r.inertia);
            assert!(r.iterations >= 1);
        }
    }

    #[test]
    fn one_cluster_is_the_mean() {
        let x = [1.0f64, 2.0, 3.0, -1.0, 5.0, 0.5];
        let r = kmeans(&x, 2, &opts(1, 3), Par::Seq).unwrap();
        assert!((r.centers[0] - 3.0).abs() < 1e-12 && (r.centers[1] - 0.5).abs() < 1e-12);
        assert_eq!(r.labels, vec![0, 0, 0]);
        // Σ‖x − m‖² = (4 + 2.25) + (0 + 2.25) + (4 + 0) = 12.5
        assert!((r.inertia - 12.5).abs() < 1e-12);
    }

    #[test]
    fn as_many_clusters_as_points() {
        let m = Mixture::isotropic(vec![0.0, 0.0], 1, 2, &[1.0], None).unwrap();
        let (x, _) = m.sample::<f64>(40, 5, 0, Par::Seq);
        let r = kmeans(&x, 2, &opts(40, 1), Par::Seq).unwrap();
        assert_eq!(r.inertia, 0.0);
        let mut l = r.labels.clone();
        l.sort();
        assert_eq!(l, (0..40).collect::<Vec<u32>>());
        for (i, row) in x.chunks(2).enumerate() {
            assert_eq!(row, &r.centers[r.labels[i] as usize * 2..][..2]);
        }
    }

    #[test]
    fn duplicate_points_leave_no_nan() {
        let x = [0.0f64, 0.0, 0.0, 5.0];
        for seed in 0..8 {
            let r = kmeans(&x, 1, &opts(3, seed), Par::Seq).unwrap();
            assert_eq!(r.inertia, 0.0);
            assert!(r.centers.iter().all(|c| *c == 0.0 || *c == 5.0), "{:?}", r.centers);
            assert!(r.labels.iter().all(|&l| l < 3));
            assert_eq!(r.centers[r.labels[3] as usize], 5.0);
        }
    }

    #[test]
    fn empty_cluster_is_reseeded_at_the_farthest_point() {
        // Every point is nearer 0 than 100: cluster 1 is empty, and 10 is the farthest point.
        let x = [0.0f64, 1.0, 2.0, 10.0];
        let mut assign = vec![(u32::MAX, 0.0); 4];
        assign_pass(&x, 1, &[0.0, 100.0], &mut assign, Par::Seq);
        assert!(assign.iter().all(|a| a.0 == 0));
        let (mut sums, mut counts) = sums_pass(&x, 1, 2, &assign, Par::Seq);
        let mut centers = vec![0.0; 2];
        assert_eq!(update(&x, 1, &mut assign, &mut sums, &mut counts, &mut centers), 1);
        assert_eq!(centers, vec![1.0, 10.0]);
        assert_eq!(counts, vec![3, 1]);
    }

    /// Plain Lloyd step: nearest centre by a direct loop, then means.
    fn reference_step(x: &[f64], d: usize, centers: &[f64]) -> (Vec<u32>, Vec<f64>, f64) {
        let k = centers.len() / d;
        let mut labels = Vec::new();
        let mut inertia = 0.0;
        for row in x.chunks(d) {
            let (mut best, mut bd) = (0, f64::INFINITY);
            for j in 0..k {
                let mut s = 0.0;
                for l in 0..d {
                    s += (row[l] - centers[j * d + l]).powi(2);
                }
                if s < bd {
                    best = j;
                    bd = s;
                }
            }
            labels.push(best as u32);
            inertia += bd;
        }
        let mut next = vec![0.0; k * d];
        let mut count = vec![0.0; k];
        for (row, &l) in x.chunks(d).zip(&labels) {
            count[l as usize] += 1.0;
            for c in 0..d {
                next[l as usize * d + c] += row[c];
            }
        }
        for j in 0..k {
            for c in 0..d {
                next[j * d + c] /= count[j];
            }
        }
        (labels, next, inertia)
    }

    #[test]
    fn lloyd_step_matches_reference() {
        let means = vec![0.0, 0.0, 0.0, 4.0, 0.0, 0.0, 0.0, 4.0, 0.0, 4.0, 4.0, 4.0];
        let m = Mixture::isotropic(means, 4, 3, &[1.0], None).unwrap();
        let (x, _) = m.sample::<f64>(5000, 11, 0, Par::Seq);
        let centers = vec![0.5, 0.5, 0.5, 3.0, 0.0, 1.0, 0.0, 3.0, 1.0, 3.0, 3.0, 3.0];
        let (labels, next, inertia) = reference_step(&x, 3, &centers);
        for par in [Par::Seq, Par::Rayon] {
            let mut assign = vec![(u32::MAX, 0.0); 5000];
            let (changed, s) = assign_pass(&x, 3, &centers, &mut assign, par);
            assert_eq!(changed, 5000);
            assert!((s - inertia).abs() <= 1e-10 * inertia);
            assert_eq!(assign.iter().map(|a| a.0).collect::<Vec<_>>(), labels);
            let (mut sums, mut counts) = sums_pass(&x, 3, 4, &assign, par);
            let mut c = vec![0.0; 12];
            assert_eq!(update(&x, 3, &mut assign, &mut sums, &mut counts, &mut c), 0);
            for (a, b) in c.iter().zip(&next) {
                assert!((a - b).abs() < 1e-12, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn recovers_a_separated_mixture() {
        let means = vec![0.0, 0.0, 6.0, 0.0, 0.0, 6.0];
        let m = Mixture::isotropic(means.clone(), 3, 2, &[0.5], Some(vec![0.5, 0.3, 0.2])).unwrap();
        let (x, z) = m.sample::<f64>(20_000, 2, 0, Par::Rayon);
        let r = kmeans(&x, 2, &opts(3, 7), Par::Rayon).unwrap();
        assert!(adjusted_rand_index(&r.labels, &z).unwrap() > 0.99);
        for t in means.chunks(2) {
            let best = r.centers.chunks(2).map(|c| ((c[0] - t[0]).powi(2) + (c[1] - t[1]).powi(2)).sqrt()).fold(f64::INFINITY, f64::min);
            assert!(best < 0.05, "{best}");
        }
        // more restarts never do worse than restart 0 alone
        let one = kmeans(&x, 2, &KMeansOptions { n_init: 1, ..opts(5, 7) }, Par::Rayon).unwrap();
        let many = kmeans(&x, 2, &KMeansOptions { n_init: 6, ..opts(5, 7) }, Par::Rayon).unwrap();
        assert!(many.inertia <= one.inertia);
    }

    #[test]
    fn thread_count_does_not_change_the_result() {
        let means = vec![0.0, 0.0, 0.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0];
        let m = Mixture::isotropic(means, 3, 5, &[1.0], None).unwrap();
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        for n in [1, 3, 1023, 1025, 5000] {
            let (x, _) = m.sample::<f64>(n, 4, 0, Par::Seq);
            for k in [1, 3.min(n), 7.min(n)] {
                let o = opts(k, 9);
                let a = kmeans(&x, 5, &o, Par::Seq).unwrap();
                let b = pool.install(|| kmeans(&x, 5, &o, Par::Rayon)).unwrap();
                assert_eq!(bits(&a), bits(&b), "n = {n}, k = {k}");
                let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
                let af = kmeans(&xf, 5, &o, Par::Seq).unwrap();
                let bf = pool.install(|| kmeans(&xf, 5, &o, Par::Rayon)).unwrap();
                assert_eq!(bits(&af), bits(&bf), "f32, n = {n}, k = {k}");
            }
        }
    }

    #[test]
    fn f32_is_close_to_f64() {
        let m = Mixture::isotropic(vec![0.0, 0.0, 5.0, 5.0], 2, 2, &[0.7], None).unwrap();
        let (x, _) = m.sample::<f64>(3000, 8, 0, Par::Seq);
        let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let a = kmeans(&x, 2, &opts(2, 1), Par::Rayon).unwrap();
        let b = kmeans(&xf, 2, &opts(2, 1), Par::Rayon).unwrap();
        assert_eq!(a.labels, b.labels);
        for (p, q) in a.centers.iter().zip(&b.centers) {
            assert!((p - f64::from(*q)).abs() < 1e-5, "{p} vs {q}");
        }
        assert!((a.inertia - b.inertia).abs() < 1e-5 * a.inertia);
    }

    #[test]
    fn tiny_and_huge_scales_find_the_clusters_of_scale_one() {
        // issue 10: at 1e-300 every squared distance underflowed, all points went to one cluster.
        let unit = [1.0f64, 0.0, 1.1, 0.0, 0.0, 1.0, 0.0, 1.1];
        for scale in [1.0, 1e-300, 1e-310, 1e150, 1e-150, 1e300] {
            let x: Vec<f64> = unit.iter().map(|v| v * scale).collect();
            let r = kmeans(&x, 2, &opts(2, 1), Par::Seq);
            if scale == 1e300 {
                // the inertia itself, 0.01 · 1e600, is beyond f64
                assert!(matches!(r, Err(e) if e.kind == ErrorKind::Range && e.arg == "x"));
                continue;
            }
            let r = r.unwrap();
            assert_eq!(r.labels[0], r.labels[1], "scale {scale}");
            assert_eq!(r.labels[2], r.labels[3], "scale {scale}");
            assert_ne!(r.labels[0], r.labels[2], "scale {scale}");
            let c = &r.centers[r.labels[0] as usize * 2..][..2];
            assert!((c[0] / scale - 1.05).abs() < 1e-9 && c[1] == 0.0, "scale {scale}: {c:?}");
            let expect = 0.01 * scale * scale; // rounds to 0 below 1e-162
            assert!((r.inertia - expect).abs() <= 1e-9 * expect, "scale {scale}: {} vs {expect}", r.inertia);
        }
    }

    /// A well-separated set with per-coordinate spreads 0.3 … 3 (issue 10's hard case).
    fn anisotropic(k: usize, d: usize, n: usize, seed: u64) -> (Vec<f64>, Vec<u32>) {
        let mut g = rng::gen(seed, 7, 0);
        let means: Vec<f64> = (0..k * d).map(|_| 12.0 * rng::normal(&mut g)).collect();
        let vars: Vec<f64> = (0..k * d).map(|_| (0.3 + 2.7 * rng::uniform(&mut g)).powi(2)).collect();
        Mixture::diagonal(means, k, d, &vars, None).unwrap().sample::<f64>(n, seed, 0, Par::Seq)
    }

    #[test]
    fn greedy_start_beats_plain_on_anisotropic_sets() {
        assert_eq!((local_trials(1), local_trials(2), local_trials(10), local_trials(100)), (2, 2, 4, 6));
        // The greedy start's potential is lower on average than the plain one's.
        let (mut greedy, mut plain) = (0.0, 0.0);
        for seed in 0..6 {
            let (x, _) = anisotropic(10, 16, 2000, seed);
            let pot = |c: &[f64]| x.chunks(16).map(|r| c.chunks(16).map(|m| dist2_to(r, m)).fold(f64::INFINITY, f64::min)).sum::<f64>();
            for r in 0..4 {
                greedy += pot(&plusplus(&x, 16, 10, seed, r, Par::Seq));
                plain += pot(&plusplus_with(&x, 16, 10, 1, seed, r, Par::Seq));
            }
        }
        assert!(greedy < 0.8 * plain, "greedy {greedy} vs plain {plain}");
    }

    #[test]
    fn default_recovers_anisotropic_well_separated_sets() {
        for seed in 0..5 {
            let (x, z) = anisotropic(10, 16, 3000, 100 + seed);
            let r = kmeans(&x, 16, &opts(10, seed), Par::Rayon).unwrap();
            let ari = adjusted_rand_index(&r.labels, &z).unwrap();
            assert!(ari > 0.999, "seed {seed}: ARI {ari}");
        }
    }

    #[test]
    fn rejects_bad_input() {
        let x = [0.0f64, 1.0, 2.0, 3.0];
        let range = |r: Result<KMeansResult<f64>>, name: &str| match r {
            Err(e) if e.kind == ErrorKind::Range => assert_eq!(e.root(), name, "{e}"),
            other => panic!("expected a range error naming {name}, got {other:?}"),
        };
        range(kmeans(&x, 1, &opts(0, 0), Par::Seq), "k");
        range(kmeans(&x, 1, &opts(5, 0), Par::Seq), "k");
        range(kmeans(&x, 2, &opts(3, 0), Par::Seq), "k");
        range(kmeans(&[0.0, f64::NAN], 1, &opts(1, 0), Par::Seq), "x");
        range(kmeans(&[0.0, f64::INFINITY], 1, &opts(1, 0), Par::Seq), "x");
        range(kmeans(&x, 0, &opts(1, 0), Par::Seq), "d");
        range(kmeans(&[] as &[f64], 1, &opts(1, 0), Par::Seq), "x");
        range(kmeans(&x, 1, &KMeansOptions { n_init: 0, ..opts(1, 0) }, Par::Seq), "n_init");
        range(kmeans(&x, 1, &KMeansOptions { n_init: super::super::MAX_N_INIT + 1, ..opts(1, 0) }, Par::Seq), "n_init");
        range(kmeans(&x, 1, &KMeansOptions { max_iter: super::super::MAX_ITER + 1, ..opts(1, 0) }, Par::Seq), "max_iter");
        range(kmeans(&x, 1, &KMeansOptions { max_iter: 0, ..opts(1, 0) }, Par::Seq), "max_iter");
        range(kmeans(&x, 1, &KMeansOptions { tol: -1.0, ..opts(1, 0) }, Par::Seq), "tol");
        range(kmeans(&x, 1, &KMeansOptions { tol: f64::NAN, ..opts(1, 0) }, Par::Seq), "tol");
        range(kmeans(&[1e200f64, -1e200], 1, &opts(1, 0), Par::Seq), "x");
        assert!(matches!(kmeans(&x, 3, &opts(1, 0), Par::Seq), Err(e) if e.kind == ErrorKind::Type && e.arg == "x"));
    }
}
