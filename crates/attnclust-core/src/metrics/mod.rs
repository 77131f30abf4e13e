//! Metrics of how well a layer or a clustering recovers a mixture.
//!
//! Heads `Θ = (θ_1 … θ_H)` are compared with centroids `M = (μ_1 … μ_K)` under a one-to-one
//! matching `π` of `P = min(H, K)` heads to centroids (the Hungarian method,
//! [`matching::min_cost_matching`]). Both scores are means over the **K centroids**: a centroid
//! left without a head (`H < K`) counts as if its head were the zero vector, so a miss is never
//! hidden; heads left over (`H > K`) are not scored (they are listed by [`fn@matching`]).
//!
//! - `alignment(Θ, M) = (1/K) Σ_{matched (h, k)} cos(θ_h, μ_k)`, `π` maximising the total cosine;
//!   an unmatched centroid contributes 0 (the cosine with a zero vector is 0 by convention);
//! - `centroid_error(Θ, M) = (1/K) [Σ_{matched (h, k)} ‖θ_h − μ_k‖ / ‖μ_k‖ + (K − P)]`, `π`
//!   minimising the total; an unmatched centroid contributes 1 (`‖0 − μ‖/‖μ‖`);
//! - `quantization_ratio = Σ_i ‖y_i − μ_{z_i}‖² / Σ_i ‖x_i − μ_{z_i}‖²` per prompt, averaged over
//!   prompts (below 1: tokens moved toward their own centroid);
//! - `adjusted_rand_index(a, b)`, Hubert and Arabie's chance-corrected Rand index (1985), from a
//!   sparse contingency table: `O(n)` time and memory whatever the number of clusters.

pub mod matching;

use crate::error::{ensure, finite_flat, finite_rows, values, Error, Numeric, Result};
use crate::kernels::real::Real;
use crate::metrics::matching::{min_cost_matching, min_cost_matching_into};

/// Checks that `v` is a non-empty, finite matrix of `d ≥ 1` columns; its row count.
fn check_rows<T: Real>(v: &[T], d: usize, name: &str) -> Result<usize> {
    ensure(d >= 1, || Error::range(name, "a matrix of at least one column", "0 columns"))?;
    if !v.len().is_multiple_of(d) {
        return Err(Error::type_(name, format!("a matrix of {d} columns"), values(v.len())));
    }
    ensure(!v.is_empty(), || Error::range(name, "a matrix of at least one row", "0 rows"))?;
    finite_rows(name, v, d)?;
    Ok(v.len() / d)
}

fn rows<'a, T: Real>(v: &'a [T], d: usize, name: &str) -> Result<Vec<&'a [T]>> {
    check_rows(v, d, name)?;
    Ok(v.chunks(d).collect())
}

/// `max_i |a_i|`: outside [`unscaled`]'s range, vectors are divided by the power of two below it
/// ([`pow2_below`]) before squaring, so no norm overflows or underflows.
fn amax<T: Real>(a: &[T]) -> f64 {
    a.iter().fold(0.0, |m, v| m.max(v.f64().abs()))
}

/// Whether a vector whose largest magnitude is `s` can be squared and summed as it is, in
/// `[2⁻⁴⁵⁰, 2⁴⁵⁰]`: every entry within `2⁻⁶⁰·s` of it has a normal square, smaller ones add less
/// than `2⁻¹²⁰·s²` (far below an ulp of the sum), and no sum of up to `2¹⁰⁰` squares overflows. So
/// dividing by `s` first would change nothing but the rounding.
fn unscaled(s: f64) -> bool {
    (SAFE_LO..=SAFE_HI).contains(&s)
}

/// `2⁻⁴⁵⁰`, the lower end of [`unscaled`]'s range.
const SAFE_LO: f64 = f64::from_bits((1023 - 450) << 52);
/// `2⁴⁵⁰`, the upper end of [`unscaled`]'s range.
const SAFE_HI: f64 = f64::from_bits((1023 + 450) << 52);

/// `⟨a, b⟩ / (‖a‖‖b‖)`, 0 when either is zero. Vectors beyond [`unscaled`]'s range are divided by
/// the power of two below their largest magnitude first (exact), so no square overflows or
/// underflows, and the result is the same, bit for bit, as that of the vectors scaled into range.
fn cosine<T: Real>(a: &[T], b: &[T]) -> f64 {
    let (sa, sb) = (amax(a), amax(b));
    if sa == 0.0 || sb == 0.0 {
        return 0.0;
    }
    let (sa, sb) = (if unscaled(sa) { 1.0 } else { pow2_below(sa) }, if unscaled(sb) { 1.0 } else { pow2_below(sb) });
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (x.f64() / sa, y.f64() / sb);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    ab / (aa.sqrt() * bb.sqrt())
}

/// `‖v‖` without overflow or underflow: `p·‖v/p‖` with `p` the power of two below `max_i |v_i|`
/// (plainly `√Σv²` within [`unscaled`]'s range). Scaling by `p` is exact, so the result is that of
/// `v` scaled into range, bit for bit, times `p`.
fn scaled_norm(v: impl Iterator<Item = f64> + Clone) -> f64 {
    let s = v.clone().fold(0.0f64, |m, x| m.max(x.abs()));
    if s == 0.0 || !s.is_finite() {
        return s;
    }
    if unscaled(s) {
        return v.map(|x| x * x).sum::<f64>().sqrt();
    }
    let p = pow2_below(s);
    p * v.map(|x| (x / p) * (x / p)).sum::<f64>().sqrt()
}

/// Up to this many head–centroid pairs, [`alignment`] and [`centroid_error`] keep their cost
/// matrix and matching on the stack (a metric of a few heads allocates nothing).
const STACK_PAIRS: usize = 64;

/// `(1/K)·(Σ over the matched pairs of cost(θ, μ) + missed·(K − min(H, K)))` with the matching
/// that minimises `sign·Σ cost` over the `H × K` pairs of `params` and `means`.
#[allow(clippy::too_many_arguments)]
fn matched_mean<T: Real>(params: &[T], means: &[T], d: usize, h: usize, k: usize, cost: impl Fn(&[T], &[T]) -> f64, sign: f64, missed: f64) -> Result<f64> {
    let (mut cs, mut ms) = ([0.0f64; STACK_PAIRS], [None; matching::SMALL]);
    let (mut ch, mut mh) = (Vec::new(), Vec::new());
    let small = h * k <= STACK_PAIRS && h <= k && k <= matching::SMALL;
    let (c, rows): (&mut [f64], &mut [Option<usize>]) = if small {
        (&mut cs[..h * k], &mut ms[..h])
    } else {
        ch.resize(h * k, 0.0);
        mh.resize(h, None);
        (&mut ch, &mut mh)
    };
    for (i, a) in params.chunks(d).enumerate() {
        for (j, b) in means.chunks(d).enumerate() {
            c[i * k + j] = sign * cost(a, b);
        }
    }
    finite_costs(c)?;
    min_cost_matching_into(c, h, k, rows);
    let total: f64 = rows.iter().enumerate().filter_map(|(i, j)| j.map(|j| sign * c[i * k + j])).sum();
    Ok((total + missed * (k - h.min(k)) as f64) / k as f64)
}

/// `2^e` with `2^e ≤ m < 2^(e+1)`, for `m > 0` finite (normal or subnormal): dividing by it is
/// exact wherever the quotient is normal.
fn pow2_below(m: f64) -> f64 {
    if m >= f64::MIN_POSITIVE {
        f64::from_bits(m.to_bits() & (0x7ff << 52))
    } else {
        // subnormal: its highest set bit is the power of two
        f64::from_bits(1u64 << (63 - m.to_bits().leading_zeros()))
    }
}

/// `x · 2^e` for `|e| ≤ 2100`, in two or three exact steps (each factor is within the f64 range).
fn times_pow2(x: f64, e: i32) -> f64 {
    let step = |x: f64, e: i32| x * f64::from_bits(((1023 + e) as u64) << 52);
    let (e1, rest) = (e / 3, e - e / 3);
    let (e2, e3) = (rest / 2, rest - rest / 2);
    step(step(step(x, e1), e2), e3)
}

/// `‖a − b‖ / ‖b‖`, exact to rounding at any finite scale: each norm is computed with its own
/// scale ([`scaled_norm`]), and when the entries are beyond [`unscaled`]'s range the difference is
/// formed after scaling `a` and `b` together by the power of two that brings the largest entry to
/// `[2⁵⁰⁹, 2⁵¹⁰)` (the ratio does not change), so that `a − b` cannot overflow (`|a| + |b|` may
/// exceed the f64 range) and no entry a ratio within range depends on underflows.
fn relative_distance<T: Real>(a: &[T], b: &[T]) -> f64 {
    let s = amax(a).max(amax(b));
    if unscaled(s) {
        let diff = a.iter().zip(b).map(|(x, y)| x.f64() - y.f64());
        return scaled_norm(diff) / scaled_norm(b.iter().map(|y| y.f64()));
    }
    if s == 0.0 {
        return f64::NAN; // 0 / 0: `b` is zero, which the callers refuse first
    }
    let e = 509 - pow2_below(s).log2() as i32;
    let diff = a.iter().zip(b).map(|(x, y)| times_pow2(x.f64(), e) - times_pow2(y.f64(), e));
    scaled_norm(diff) / scaled_norm(b.iter().map(|y| times_pow2(y.f64(), e)))
}

/// The matching needs finite costs; norms of huge vectors overflow `f64`.
fn finite_costs(cost: &[f64]) -> Result<()> {
    ensure(cost.iter().all(|c| c.is_finite()), || {
        Error::range("params", "close enough to `means` that each relative error ‖θ − μ‖/‖μ‖ stays within the f64 range", "a relative error that overflows f64")
            .because(Numeric::Overflow)
    })
}

/// Alignment of heads `params` (`H × d`) with centroids `means` (`K × d`), both row-major: the mean
/// over the `K` centroids of the cosine with the matched head, 0 for a centroid left without one
/// (see the module documentation). In `[-1, 1]`; 1 when every centroid has a head along it. A zero
/// vector has cosine 0 with everything.
///
/// # Errors
/// Type error when a matrix is empty or not `d` columns wide; range error for non-finite values.
pub fn alignment<T: Real>(params: &[T], means: &[T], d: usize) -> Result<f64> {
    // (rows are read in place: a call on tiny matrices allocates only the cost matrix and the matching)
    let (h, k) = (check_rows(params, d, "params")?, check_rows(means, d, "means")?);
    matched_mean(params, means, d, h, k, cosine, -1.0, 0.0)
}

/// Relative centroid error of heads `params` (`H × d`) against centroids `means` (`K × d`): the
/// mean over the `K` centroids of `‖θ − μ‖ / ‖μ‖` with the matched head `θ`, 1 for a centroid left
/// without one (see the module documentation). `≥ 0`; 0 when every centroid has its head on it.
///
/// # Errors
/// As [`alignment`], and a range error when a row of `means` is zero (the ratio is undefined).
pub fn centroid_error<T: Real>(params: &[T], means: &[T], d: usize) -> Result<f64> {
    let (h, k) = (check_rows(params, d, "params")?, check_rows(means, d, "means")?);
    check_nonzero(means.chunks(d))?;
    matched_mean(params, means, d, h, k, relative_distance, 1.0, 1.0)
}

fn check_nonzero<'a, T: Real>(mut m: impl Iterator<Item = &'a [T]>) -> Result<()> {
    // (a row's largest magnitude, not its norm: the squares of a tiny non-zero row underflow)
    match m.position(|r| amax(r) == 0.0) {
        Some(j) => Err(Error::range(format!("means[{j}]"), "a non-zero row (the relative centroid error divides by its norm)", "a zero row")),
        None => Ok(()),
    }
}

/// One matched head and centroid.
#[derive(Clone, Debug, PartialEq)]
pub struct Pair {
    /// Row of `params`.
    pub head: usize,
    /// Row of `means`.
    pub centroid: usize,
    /// `cos(θ_head, μ_centroid)`.
    pub cosine: f64,
    /// `‖θ_head − μ_centroid‖ / ‖μ_centroid‖`.
    pub relative_error: f64,
}

/// The matching behind [`alignment`]: its pairs and what it leaves out.
#[derive(Clone, Debug, PartialEq)]
pub struct Matching {
    /// `min(H, K)` pairs, in increasing order of `head`.
    pub pairs: Vec<Pair>,
    /// Heads without a centroid (when `H > K`), increasing.
    pub unmatched_heads: Vec<usize>,
    /// Centroids without a head (when `H < K`), increasing.
    pub unmatched_centroids: Vec<usize>,
}

/// The matching of heads `params` (`H × d`) to centroids `means` (`K × d`) that maximises the total
/// cosine (the one [`alignment`] scores), with each pair's cosine and relative error, and the heads
/// or centroids it leaves unmatched. [`centroid_error`] uses its own matching (minimal total
/// relative error), which can differ when the heads are far from the centroids.
///
/// # Errors
/// As [`centroid_error`].
pub fn matching<T: Real>(params: &[T], means: &[T], d: usize) -> Result<Matching> {
    let (p, m) = (rows(params, d, "params")?, rows(means, d, "means")?);
    check_nonzero(m.iter().copied())?;
    let cost: Vec<f64> = p.iter().flat_map(|a| m.iter().map(move |b| -cosine(a, b))).collect();
    finite_costs(&cost)?;
    let rel: Vec<f64> = p.iter().flat_map(|a| m.iter().map(move |b| relative_distance(a, b))).collect();
    finite_costs(&rel)?;
    let assigned = min_cost_matching(&cost, p.len(), m.len());
    let mut taken = vec![false; m.len()];
    let mut out = Matching { pairs: Vec::new(), unmatched_heads: Vec::new(), unmatched_centroids: Vec::new() };
    for (h, j) in assigned.into_iter().enumerate() {
        match j {
            Some(j) => {
                taken[j] = true;
                out.pairs.push(Pair { head: h, centroid: j, cosine: -cost[h * m.len() + j], relative_error: rel[h * m.len() + j] });
            }
            None => out.unmatched_heads.push(h),
        }
    }
    out.unmatched_centroids = (0..m.len()).filter(|&j| !taken[j]).collect();
    Ok(out)
}

/// Quantization ratio of `b` prompts of `l` tokens (`x`, `y`: `b × l × d`; `means`: `b × k × d`;
/// `labels`: `b × l`, each `< k`): the mean over prompts of each prompt's ratio (SPEC §3; a
/// ratio below 1 means the tokens moved toward their own centroid). Summed in `f64`.
///
/// # Errors
/// [`crate::ErrorKind::Type`] when `x`, `y`, `means` or `labels` does not hold the values its shape needs;
/// [`crate::ErrorKind::Range`] when a size is 0, a value is not finite, a label is `≥ k`, a prompt's squared
/// distances overflow `f64`, or a prompt has every token on its centroid (ratio undefined).
#[allow(clippy::too_many_arguments)]
pub fn quantization_ratio<T: Real>(x: &[T], y: &[T], means: &[T], labels: &[u32], b: usize, l: usize, k: usize, d: usize) -> Result<f64> {
    ensure(b >= 1 && l >= 1 && k >= 1 && d >= 1, || {
        Error::range("x", "at least one prompt of one token with one coordinate, and K ≥ 1", format!("B = {b}, L = {l}, d = {d}, K = {k}"))
    })?;
    let check = |v: &[T], n: usize, name: &str| -> Result<()> {
        if v.len() != n {
            return Err(Error::type_(name, values(n), values(v.len())));
        }
        finite_flat(name, v)
    };
    check(x, b * l * d, "x")?;
    check(y, b * l * d, "y")?;
    check(means, b * k * d, "means")?;
    if labels.len() != b * l {
        return Err(Error::type_("labels", format!("one label per token ({})", b * l), values(labels.len())));
    }
    if let Some(i) = labels.iter().position(|&z| z as usize >= k) {
        return Err(Error::range(format!("labels[{i}]"), format!("< K = {k}"), labels[i]));
    }
    let mut total = 0.0;
    for p in 0..b {
        let (xs, ys) = (&x[p * l * d..][..l * d], &y[p * l * d..][..l * d]);
        let (ms, zs) = (&means[p * k * d..][..k * d], &labels[p * l..][..l]);
        let r = prompt_ratio(xs, ys, ms, zs, d);
        if r.is_nan() {
            return Err(Error::range(
                format!("x[{p}]"),
                "a prompt with a token off its centroid (the ratio divides by its spread)",
                "every token on its centroid",
            ));
        }
        if !r.is_finite() {
            return Err(Error::range(
                format!("y[{p}]"),
                "within a factor 2^512 of the spread of `x` about `means` (the ratio of squared spreads must stay within f64)",
                "a ratio that overflows f64",
            )
            .because(Numeric::Overflow));
        }
        // (each ratio ≤ f64::MAX, divided before summing so that the mean stays finite)
        total += r / b as f64;
    }
    Ok(total)
}

/// The differences `v_ij − μ_{z_i, j}` of one prompt, row by row (halved first when `half`).
fn differences<'a, T: Real>(v: &'a [T], means: &'a [T], labels: &'a [u32], d: usize, half: bool) -> impl Iterator<Item = f64> + 'a {
    let h = if half { 0.5 } else { 1.0 };
    v.chunks(d).zip(labels).flat_map(move |(row, &z)| {
        let mu = &means[z as usize * d..][..d];
        row.iter().zip(mu).map(move |(a, m)| h * a.f64() - h * m.f64())
    })
}

/// One prompt's `Σ_i ‖y_i − μ_{z_i}‖² / Σ_i ‖x_i − μ_{z_i}‖²` (`x`, `y`: `l × d`; `means`:
/// `k × d`), exact to rounding at any finite scale; NaN when every token of `x` is on its centroid
/// (0/0 or a/0), ±∞ only when the ratio itself exceeds the f64 range.
///
/// The differences are formed as they are, or halved when one overflows (`|x| + |μ|` beyond the
/// f64 range; the halving is exact for every value that matters next to such a difference). The
/// two sums of squares are taken as they are when each one's largest difference `m` is within
/// [`unscaled`]'s range (no square overflows, none that matters underflows), and otherwise on the
/// differences divided by the power of two below `m`, the ratio multiplied back by the square of
/// the ratio of those powers of two (exact).
fn prompt_ratio<'a, T: Real>(x: &'a [T], y: &'a [T], means: &'a [T], labels: &'a [u32], d: usize) -> f64 {
    let diffs = |v: &'a [T], half: bool| differences(v, means, labels, d, half);
    let largest = |half: bool| {
        let m = |v: &'a [T]| diffs(v, half).fold(0.0f64, |m, t| m.max(t.abs()));
        (m(x), m(y))
    };
    let half = false;
    let ((mx, my), half) = match largest(half) {
        (mx, my) if mx.is_finite() && my.is_finite() => ((mx, my), half),
        _ => (largest(true), true),
    };
    if mx == 0.0 {
        return f64::NAN;
    }
    // Σ (t / s)², with s = 1 within the unscaled range, else the power of two below m.
    let sum = |v: &'a [T], m: f64| -> (f64, f64) {
        if m == 0.0 {
            return (0.0, 1.0);
        }
        if unscaled(m) {
            return (diffs(v, half).map(|t| t * t).sum(), 1.0);
        }
        let s = pow2_below(m);
        (diffs(v, half).map(|t| (t / s) * (t / s)).sum(), s)
    };
    let ((num, sy), (den, sx)) = (sum(y, my), sum(x, mx));
    if sx == 1.0 && sy == 1.0 {
        return num / den;
    }
    // (sy/sx)² · num/den: r is an exact power of two, r·q never overflows before the ratio does
    let r = sy / sx;
    let q = num / den;
    r * (r * q)
}

/// Peak bytes of [`alignment`], [`centroid_error`] or [`fn@matching`] for `h` heads and `k`
/// centroids: the cost and relative-error matrices (`h × k` values of 8 bytes each), the transposed
/// cost when `h > k`, and the Hungarian method's work arrays (a few of `max(h, k) + 1` entries).
pub fn matching_peak_bytes(h: usize, k: usize) -> f64 {
    let (hf, kf) = (h as f64, k as f64);
    8.0 * hf * kf * if h > k { 3.0 } else { 2.0 } + 64.0 * (hf + kf)
}

/// Bytes [`adjusted_rand_index`] holds at its peak for `n` labels: three hash tables (the pairs
/// of labels, and each labeling's clusters) of at most `n` entries each, at their largest load.
pub fn adjusted_rand_index_peak_bytes(n: usize) -> usize {
    // a hash table of (key, count) entries grows to at most 2 × its length plus a control byte
    // per slot: (16 + 1) · 2 for the pairs, (12 + 1) · 2 for each labeling.
    n.saturating_mul(2 * 17 + 2 * 2 * 13).saturating_add(1 << 12)
}

/// Adjusted Rand index of two labelings of the same items (1: identical up to renaming; about 0:
/// chance; Hubert and Arabie 1985): `(I − E) / (½(A + B) − E)` with `I = Σ_ij C(n_ij, 2)`,
/// `A = Σ_i C(a_i, 2)`, `B = Σ_j C(b_j, 2)`, `E = A·B / C(n, 2)`, `n_ij` the contingency counts.
/// Two labelings that each put all items in one cluster (or each item in its own) give 1.
///
/// The contingency table is sparse (a hash of the pairs that occur): `O(n)` time and memory
/// ([`adjusted_rand_index_peak_bytes`]). The sums of pair counts are exact integers, so the result
/// does not depend on the hash order.
///
/// # Errors
/// Type error when the lengths differ; range error when they are empty.
pub fn adjusted_rand_index(a: &[u32], b: &[u32]) -> Result<f64> {
    if a.len() != b.len() {
        return Err(Error::type_("b", format!("as long as `a` ({})", a.len()), values(b.len())));
    }
    let n = a.len();
    ensure(n >= 1, || Error::range("a", "at least one label", "none"))?;
    let mut pairs: Counts<u64> = Counts::default();
    let (mut rows, mut cols): (Counts<u32>, Counts<u32>) = (Counts::default(), Counts::default());
    for (&x, &y) in a.iter().zip(b) {
        *pairs.entry((u64::from(x) << 32) | u64::from(y)).or_insert(0) += 1;
        *rows.entry(x).or_insert(0) += 1;
        *cols.entry(y).or_insert(0) += 1;
    }
    // C(x, 2) ≤ 2^63 for x < 2^32: exact in u128 sums.
    let c2 = |x: u64| u128::from(x) * u128::from(x.saturating_sub(1)) / 2;
    let sum = |m: &mut dyn Iterator<Item = u64>| m.map(c2).sum::<u128>();
    let sum_ij = sum(&mut pairs.values().copied());
    let sum_a = sum(&mut rows.values().copied());
    let sum_b = sum(&mut cols.values().copied());
    Ok(adjusted_from_sums(sum_ij, sum_a, sum_b, c2(n as u64)))
}

/// A hash map of counts keyed by labels, hashed with the SplitMix64 finaliser (labels are not
/// adversarial input to a server: no need for SipHash's keyed hashing, and this is several times
/// faster).
type Counts<K> = std::collections::HashMap<K, u64, std::hash::BuildHasherDefault<Mix>>;

#[derive(Default)]
struct Mix(u64);

impl std::hash::Hasher for Mix {
    fn finish(&self) -> u64 {
        let mut z = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u32(&mut self, v: u32) {
        self.0 = u64::from(v);
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// The index from the exact pair counts `I`, `A`, `B` and `C(n, 2)`.
fn adjusted_from_sums(sum_ij: u128, sum_a: u128, sum_b: u128, total: u128) -> f64 {
    // ½(A + B) = E only when A = B ∈ {0, C(n, 2)}: both labelings trivial and identical.
    if sum_a == sum_b && (sum_a == 0 || sum_a == total) {
        return 1.0;
    }
    let (i, a, b, t) = (sum_ij as f64, sum_a as f64, sum_b as f64, total as f64);
    let expected = a * (b / t);
    (i - expected) / ((a + b) / 2.0 - expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment_and_error_use_the_best_matching() {
        let means = [1.0, 0.0, 0.0, 2.0];
        let params = [0.0, 2.0, 1.0, 0.0]; // swapped heads
        assert!((alignment(&params, &means, 2).unwrap() - 1.0).abs() < 1e-15);
        assert!(centroid_error(&params, &means, 2).unwrap().abs() < 1e-15);
        let params = [1.0, 1.0, 1.0, 1.0];
        let a = alignment(&params, &means, 2).unwrap();
        assert!((a - 0.5f64.sqrt()).abs() < 1e-12);
        // three heads, two centroids: only two pairs count
        let p3 = [0.0, 2.0, 1.0, 0.0, -1.0, 0.0];
        assert!((alignment(&p3, &means, 2).unwrap() - 1.0).abs() < 1e-15);
        assert!(alignment(&p3, &[f64::NAN, 0.0], 2).is_err());
    }

    #[test]
    fn a_missed_centroid_counts() {
        // Two heads on three centroids (issue 10): the third centroid has no head.
        let means = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
        let params = [4.0, 0.0, 0.0, 0.0, 4.0, 0.0];
        assert!((alignment(&params, &means, 3).unwrap() - 2.0 / 3.0).abs() < 1e-15);
        // |4e − e| / |e| = 3 for both pairs, 1 for the missed centroid
        assert!((centroid_error(&params, &means, 3).unwrap() - 7.0 / 3.0).abs() < 1e-15);
        let m = matching(&params, &means, 3).unwrap();
        assert_eq!(
            m.pairs,
            vec![Pair { head: 0, centroid: 0, cosine: 1.0, relative_error: 3.0 }, Pair { head: 1, centroid: 1, cosine: 1.0, relative_error: 3.0 }]
        );
        assert_eq!(m.unmatched_centroids, vec![2]);
        assert!(m.unmatched_heads.is_empty());
        // heads on every centroid: 1 and 0
        let on = [0.0, 0.0, 2.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0];
        assert_eq!(alignment(&on, &means, 3).unwrap(), 1.0);
        assert_eq!(centroid_error(&[0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0], &means, 3).unwrap(), 0.0);
        // an extra head is listed, not scored
        let four = [0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, -1.0, 0.0, 0.0];
        assert_eq!(alignment(&four, &means, 3).unwrap(), 1.0);
        let m = matching(&four, &means, 3).unwrap();
        assert_eq!(m.unmatched_heads, vec![3]);
        assert!(m.unmatched_centroids.is_empty());
        assert_eq!(m.pairs.iter().map(|p| (p.head, p.centroid)).collect::<Vec<_>>(), vec![(0, 2), (1, 0), (2, 1)]);
        assert!(matching(&params, &[0.0, 0.0, 0.0], 3).is_err());
    }

    /// The index from a dense `ka × kb` table (labels already `0 … ka−1`, `0 … kb−1`).
    fn ari_dense(a: &[u32], b: &[u32]) -> f64 {
        let (ka, kb) = (*a.iter().max().unwrap() as usize + 1, *b.iter().max().unwrap() as usize + 1);
        let mut table = vec![0u64; ka * kb];
        for (&i, &j) in a.iter().zip(b) {
            table[i as usize * kb + j as usize] += 1;
        }
        let c2 = |x: u64| (x as f64) * (x as f64 - 1.0) / 2.0;
        let sum_ij: f64 = table.iter().map(|&x| c2(x)).sum();
        let sum_a: f64 = (0..ka).map(|i| c2(table[i * kb..(i + 1) * kb].iter().sum())).sum();
        let sum_b: f64 = (0..kb).map(|j| c2((0..ka).map(|i| table[i * kb + j]).sum())).sum();
        let total = c2(a.len() as u64);
        let expected = sum_a * sum_b / total;
        let max = (sum_a + sum_b) / 2.0;
        if max == expected {
            return 1.0;
        }
        (sum_ij - expected) / (max - expected)
    }

    #[test]
    fn ari_sparse_matches_the_dense_table() {
        let mut seed = 99u64;
        let mut next = |m: u32| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((seed >> 33) % u64::from(m)) as u32
        };
        for n in [2usize, 3, 10, 57, 300] {
            for (ka, kb) in [(1, 2), (2, 2), (3, 5), (7, 4), (20, 20)] {
                let a: Vec<u32> = (0..n).map(|_| next(ka)).collect();
                let b: Vec<u32> = (0..n).map(|_| next(kb)).collect();
                let (s, r) = (adjusted_rand_index(&a, &b).unwrap(), ari_dense(&a, &b));
                assert!((s - r).abs() <= 1e-12, "n = {n}, {ka}×{kb}: {s} vs {r}");
                // renaming the labels (sparse, large values) changes nothing
                let a2: Vec<u32> = a.iter().map(|&v| u32::MAX - 7 * v).collect();
                assert_eq!(adjusted_rand_index(&a2, &b).unwrap(), s);
            }
        }
    }

    #[test]
    fn ari_of_a_million_singletons_is_linear() {
        let n = 1_000_000u32;
        let a: Vec<u32> = (0..n).collect();
        let b: Vec<u32> = (0..n).rev().collect();
        let t = std::time::Instant::now();
        assert_eq!(adjusted_rand_index(&a, &b).unwrap(), 1.0);
        // pairs of singletons against a two-cluster split: I = 0, A = 0: index 0
        let halves: Vec<u32> = (0..n).map(|i| i % 2).collect();
        assert_eq!(adjusted_rand_index(&a, &halves).unwrap(), 0.0);
        // (not a timing assertion: a dense n × n table could not even be allocated)
        eprintln!("two ARIs of 10^6 labels: {:?}", t.elapsed());
    }

    #[test]
    fn ari_known_values() {
        assert_eq!(adjusted_rand_index(&[0, 0, 1, 1], &[1, 1, 0, 0]).unwrap(), 1.0);
        assert_eq!(adjusted_rand_index(&[0, 0, 0], &[5, 5, 5]).unwrap(), 1.0);
        // sklearn: adjusted_rand_score([0,0,1,1],[0,0,1,2]) = 0.5714285714285715
        let v = adjusted_rand_index(&[0, 0, 1, 1], &[0, 0, 1, 2]).unwrap();
        assert!((v - 0.5714285714285715).abs() < 1e-12, "{v}");
        // sklearn: adjusted_rand_score([0,0,1,2],[0,1,0,1]) = -0.5 ... computed by hand:
        let v = adjusted_rand_index(&[0, 1, 0, 1], &[0, 0, 1, 1]).unwrap();
        assert!((v + 0.5).abs() < 1e-12, "{v}");
        assert!(adjusted_rand_index(&[0], &[0, 1]).is_err());
    }

    #[test]
    fn quantization_ratio_per_prompt_mean() {
        // prompt 0: y halfway to the centroid (ratio 1/4); prompt 1: y = x (ratio 1)
        let x = [2.0, 0.0, 0.0, 2.0];
        let y = [1.0, 0.0, 0.0, 2.0];
        let means = [0.0, 0.0, 0.0, 0.0];
        let r = quantization_ratio(&x, &y, &means, &[0, 0], 2, 1, 1, 2).unwrap();
        assert!((r - 0.625).abs() < 1e-15);
        assert!(quantization_ratio(&x, &y, &means, &[0, 1], 2, 1, 1, 2).is_err());
    }
    /// `v · 2^e`, exact (the test inputs stay normal or are integers times `2^-1074`).
    fn scaled(v: &[f64], e: i32) -> Vec<f64> {
        v.iter().map(|&x| times_pow2(x, e)).collect()
    }

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(f64::MIN_POSITIVE)
    }

    #[test]
    fn every_metric_is_exact_at_any_finite_scale() {
        // The reference: the same values at scale 1 (squares far inside the f64 range). Scaling by
        // a power of two is exact, and so is every scaling the metrics do: they must agree to the
        // bit; at 1e±300 (not a power of two: the inputs themselves round) to 1e-13.
        let params = [1.0, 0.25, -0.5, 2.0, 0.75, 0.75];
        let means = [1.5, 0.0, 0.0, 1.0];
        let (a0, c0) = (alignment(&params, &means, 2).unwrap(), centroid_error(&params, &means, 2).unwrap());
        let m0 = matching(&params, &means, 2).unwrap();
        let (x, y, m) = ([2.0, 1.0, -1.0, 0.5, 3.0, 3.0, 0.0, 1.0], [1.5, 1.0, -0.5, 0.5, 2.0, 2.5, 0.5, 1.0], [1.0, 1.0, 0.0, 0.0, 2.0, 2.0, 1.0, 1.0]);
        let z = [0, 1, 0, 1];
        let q0 = quantization_ratio(&x, &y, &m, &z, 2, 2, 2, 2).unwrap();
        for e in [-1060, -1000, -997, -500, -451, 451, 500, 997, 1000, 1020] {
            let (p, mu) = (scaled(&params, e), scaled(&means, e));
            assert_eq!(alignment(&p, &mu, 2).unwrap(), a0, "alignment at 2^{e}");
            assert_eq!(centroid_error(&p, &mu, 2).unwrap(), c0, "centroid error at 2^{e}");
            let mm = matching(&p, &mu, 2).unwrap();
            assert_eq!(mm.unmatched_heads, m0.unmatched_heads);
            for (q, r) in mm.pairs.iter().zip(&m0.pairs) {
                assert_eq!((q.head, q.centroid), (r.head, r.centroid));
                assert_eq!((q.cosine, q.relative_error), (r.cosine, r.relative_error), "matching at 2^{e}");
            }
            let q = quantization_ratio(&scaled(&x, e), &scaled(&y, e), &scaled(&m, e), &z, 2, 2, 2, 2).unwrap();
            assert_eq!(q, q0, "quantization ratio at 2^{e}");
        }
        for s in [1e-300, 1e300] {
            let sc = |v: &[f64]| v.iter().map(|x| x * s).collect::<Vec<_>>();
            assert!(close(alignment(&sc(&params), &sc(&means), 2).unwrap(), a0, 1e-13));
            assert!(close(centroid_error(&sc(&params), &sc(&means), 2).unwrap(), c0, 1e-13));
            assert!(close(quantization_ratio(&sc(&x), &sc(&y), &sc(&m), &z, 2, 2, 2, 2).unwrap(), q0, 1e-13));
        }
        // mixed rows: the cosine is invariant row by row (heads at 2^-1000 and 2^1000, a centroid at 2^-1060)
        let p = [scaled(&params[..2], -1000), scaled(&params[2..4], 1000), scaled(&params[4..], 0)].concat();
        let mu = [scaled(&means[..2], 900), scaled(&means[2..], -1060)].concat();
        assert_eq!(alignment(&p, &mu, 2).unwrap(), a0);
        // and so is each prompt's quantization ratio (prompt 0 at 2^-1000, prompt 1 at 2^1000)
        let (xs, ys, ms) = (
            [scaled(&x[..4], -1000), scaled(&x[4..], 1000)].concat(),
            [scaled(&y[..4], -1000), scaled(&y[4..], 1000)].concat(),
            [scaled(&m[..4], -1000), scaled(&m[4..], 1000)].concat(),
        );
        assert_eq!(quantization_ratio(&xs, &ys, &ms, &z, 2, 2, 2, 2).unwrap(), q0);
    }

    #[test]
    fn subnormal_and_overflowing_differences_are_exact() {
        let t = f64::from_bits(1); // 2^-1074
                                   // subnormal integers: cos((3,4), (4,3)) = 24/25, ‖(3,4) − (0,4)‖/‖(0,4)‖ = 3/4
        assert!(close(alignment(&[3.0 * t, 4.0 * t], &[4.0 * t, 3.0 * t], 2).unwrap(), 0.96, 1e-15));
        assert_eq!(centroid_error(&[3.0 * t, 4.0 * t], &[0.0, 4.0 * t], 2).unwrap(), 0.75);
        // a centroid with a tiny non-zero norm is not a zero row
        assert!(centroid_error(&[t, 0.0], &[2.0 * t, 0.0], 2).is_ok());
        assert_eq!(quantization_ratio(&[4.0 * t], &[2.0 * t], &[0.0], &[0], 1, 1, 1, 1).unwrap(), 0.25);
        // differences beyond the f64 range (|a| + |b| > f64::MAX): a = −b, ‖a − b‖/‖b‖ = 2
        let big = 1.5e308;
        assert!(close(centroid_error(&[big, -big], &[-big, big], 2).unwrap(), 2.0, 1e-15));
        assert!(close(quantization_ratio(&[big], &[0.75 * big], &[-big], &[0], 1, 1, 1, 1).unwrap(), (2.625f64 / 3.0).powi(2), 1e-15));
        // very different spreads whose ratio is within range (1e300), and one beyond it (an overflow)
        assert!(close(quantization_ratio(&[1e-160], &[1e-10], &[0.0], &[0], 1, 1, 1, 1).unwrap(), 1e300, 1e-13));
        let e = quantization_ratio(&[1e-200], &[1e200], &[0.0], &[0], 1, 1, 1, 1).unwrap_err();
        assert_eq!((e.arg.as_str(), e.numeric), ("y[0]", Some(Numeric::Overflow)));
        // every token on its centroid: the ratio is undefined (a plain rule, not a float fault)
        let e = quantization_ratio(&[1.0], &[2.0], &[1.0], &[0], 1, 1, 1, 1).unwrap_err();
        assert_eq!((e.arg.as_str(), e.numeric), ("x[0]", None));
    }
}
