//! Metrics of how well a layer or a clustering recovers a mixture.
//!
//! - `alignment(Θ, M) = (1/P) Σ_h cos(θ_h, μ_{π(h)})`, `π` the matching of heads to centroids that
//!   maximises the total cosine (Hungarian), over the `P = min(H, K)` matched pairs;
//! - `centroid_error(Θ, M) = (1/P) Σ_h ‖θ_h − μ_{π(h)}‖ / ‖μ_{π(h)}‖`, `π` minimising the total;
//! - `quantization_ratio = Σ_i ‖y_i − μ_{z_i}‖² / Σ_i ‖x_i − μ_{z_i}‖²` per prompt, averaged over
//!   prompts (below 1: tokens moved toward their own centroid);
//! - `adjusted_rand_index(a, b)`, Hubert and Arabie's chance-corrected Rand index.

pub mod matching;

use crate::error::{ensure, Error, Result};
use crate::kernels::real::Real;
use crate::metrics::matching::min_cost_matching;

fn rows<'a, T: Real>(v: &'a [T], d: usize, name: &str) -> Result<Vec<&'a [T]>> {
    ensure(d >= 1, || format!("`{name}` must have at least one column"))?;
    if !v.len().is_multiple_of(d) || v.is_empty() {
        return Err(Error::type_(format!("`{name}` must be a non-empty matrix with {d} columns, got {} values", v.len())));
    }
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(Error::range(format!("`{name}` must be finite, got {:?} at row {}, column {}", v[i], i / d, i % d)));
    }
    Ok(v.chunks(d).collect())
}

fn norm<T: Real>(a: &[T]) -> f64 {
    a.iter().map(|v| v.f64() * v.f64()).sum::<f64>().sqrt()
}

/// `max_i |a_i|`: vectors are divided by it before squaring, so no norm overflows.
fn amax<T: Real>(a: &[T]) -> f64 {
    a.iter().fold(0.0, |m, v| m.max(v.f64().abs()))
}

fn cosine<T: Real>(a: &[T], b: &[T]) -> f64 {
    let (sa, sb) = (amax(a), amax(b));
    if sa == 0.0 || sb == 0.0 {
        return 0.0;
    }
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (x.f64() / sa, y.f64() / sb);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    ab / (aa.sqrt() * bb.sqrt())
}

/// `‖v‖` without overflow or underflow: `s·‖v/s‖` with `s = max_i |v_i|`.
fn scaled_norm(v: impl Iterator<Item = f64> + Clone) -> f64 {
    let s = v.clone().fold(0.0f64, |m, x| m.max(x.abs()));
    if s == 0.0 || !s.is_finite() {
        return s;
    }
    s * v.map(|x| (x / s) * (x / s)).sum::<f64>().sqrt()
}

/// `‖a − b‖ / ‖b‖`, each norm computed with its own scale so that neither overflows.
fn relative_distance<T: Real>(a: &[T], b: &[T]) -> f64 {
    let diff = a.iter().zip(b).map(|(x, y)| x.f64() - y.f64());
    scaled_norm(diff) / scaled_norm(b.iter().map(|y| y.f64()))
}

/// The matching needs finite costs; norms of huge vectors overflow `f64`.
fn finite_costs(cost: &[f64]) -> Result<()> {
    ensure(cost.iter().all(|c| c.is_finite()), || "`params` or `means` hold values too large to compare (their norms overflow f64)".into())
}

/// Mean cosine between heads and centroids under the best matching. A zero vector has cosine 0.
pub fn alignment<T: Real>(params: &[T], means: &[T], d: usize) -> Result<f64> {
    let (p, m) = (rows(params, d, "params")?, rows(means, d, "means")?);
    let cost: Vec<f64> = p.iter().flat_map(|a| m.iter().map(move |b| -cosine(a, b))).collect();
    finite_costs(&cost)?;
    let matching = min_cost_matching(&cost, p.len(), m.len());
    let pairs: Vec<f64> = matching.iter().enumerate().filter_map(|(h, j)| j.map(|j| cosine(p[h], m[j]))).collect();
    Ok(pairs.iter().sum::<f64>() / pairs.len() as f64)
}

/// Mean relative distance between heads and centroids under the best matching.
pub fn centroid_error<T: Real>(params: &[T], means: &[T], d: usize) -> Result<f64> {
    let (p, m) = (rows(params, d, "params")?, rows(means, d, "means")?);
    if let Some(j) = m.iter().position(|r| norm(r) == 0.0) {
        return Err(Error::range(format!("`means` row {j} is zero: the relative centroid error is undefined")));
    }
    let rel = relative_distance::<T>;
    let cost: Vec<f64> = p.iter().flat_map(|a| m.iter().map(move |b| rel(a, b))).collect();
    finite_costs(&cost)?;
    let matching = min_cost_matching(&cost, p.len(), m.len());
    let pairs: Vec<f64> = matching.iter().enumerate().filter_map(|(h, j)| j.map(|j| rel(p[h], m[j]))).collect();
    Ok(pairs.iter().sum::<f64>() / pairs.len() as f64)
}

/// Quantization ratio of `b` prompts of `l` tokens (`x`, `y`: `b × l × d`; `means`: `b × k × d`;
/// `labels`: `b × l`, each `< k`): the mean over prompts of each prompt's ratio.
#[allow(clippy::too_many_arguments)]
pub fn quantization_ratio<T: Real>(x: &[T], y: &[T], means: &[T], labels: &[u32], b: usize, l: usize, k: usize, d: usize) -> Result<f64> {
    ensure(b >= 1 && l >= 1 && k >= 1 && d >= 1, || format!("`x` must hold at least one prompt of one token, got B = {b}, L = {l}"))?;
    let check = |v: &[T], n: usize, name: &str| -> Result<()> {
        if v.len() != n {
            return Err(Error::type_(format!("`{name}` must hold {n} values, got {}", v.len())));
        }
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return Err(Error::range(format!("`{name}` must be finite, got {:?} at index {i}", v[i])));
        }
        Ok(())
    };
    check(x, b * l * d, "x")?;
    check(y, b * l * d, "y")?;
    check(means, b * k * d, "means")?;
    if labels.len() != b * l {
        return Err(Error::type_(format!("`labels` must hold one label per token ({}), got {}", b * l, labels.len())));
    }
    if let Some(i) = labels.iter().position(|&z| z as usize >= k) {
        return Err(Error::range(format!("`labels` must be < K = {k}, got {} at index {i}", labels[i])));
    }
    let mut total = 0.0;
    for p in 0..b {
        let (mut num, mut den) = (0.0, 0.0);
        for i in 0..l {
            let t = p * l + i;
            let mu = &means[(p * k + labels[t] as usize) * d..][..d];
            for j in 0..d {
                let m = mu[j].f64();
                num += (y[t * d + j].f64() - m).powi(2);
                den += (x[t * d + j].f64() - m).powi(2);
            }
        }
        if !num.is_finite() || !den.is_finite() {
            return Err(Error::range(format!("prompt {p}: the squared distances overflow f64: the values of `x`, `y` or `means` are too large")));
        }
        if den == 0.0 {
            return Err(Error::range(format!("prompt {p} has every token on its centroid: its quantization ratio is undefined")));
        }
        total += num / den;
    }
    Ok(total / b as f64)
}

/// Adjusted Rand index of two labelings of the same items (1: identical up to renaming; about 0:
/// chance). Two labelings that each put all items in one cluster give 1.
pub fn adjusted_rand_index(a: &[u32], b: &[u32]) -> Result<f64> {
    if a.len() != b.len() {
        return Err(Error::type_(format!("`a` and `b` must have the same length, got {} and {}", a.len(), b.len())));
    }
    let n = a.len();
    ensure(n >= 1, || "`a` must hold at least one label".into())?;
    let relabel = |v: &[u32]| {
        let mut map = std::collections::HashMap::new();
        v.iter()
            .map(|x| {
                let next = map.len();
                *map.entry(*x).or_insert(next)
            })
            .collect::<Vec<usize>>()
    };
    let (ra, rb) = (relabel(a), relabel(b));
    let (ka, kb) = (ra.iter().max().unwrap() + 1, rb.iter().max().unwrap() + 1);
    let mut table = vec![0u64; ka * kb];
    for (&i, &j) in ra.iter().zip(&rb) {
        table[i * kb + j] += 1;
    }
    let c2 = |x: u64| (x as f64) * (x as f64 - 1.0) / 2.0;
    let sum_ij: f64 = table.iter().map(|&x| c2(x)).sum();
    let sum_a: f64 = (0..ka).map(|i| c2(table[i * kb..(i + 1) * kb].iter().sum())).sum();
    let sum_b: f64 = (0..kb).map(|j| c2((0..ka).map(|i| table[i * kb + j]).sum())).sum();
    let total = c2(n as u64);
    let expected = if total > 0.0 { sum_a * sum_b / total } else { 0.0 };
    let max = (sum_a + sum_b) / 2.0;
    if (max - expected).abs() < 1e-300 {
        return Ok(1.0);
    }
    Ok((sum_ij - expected) / (max - expected))
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
}
