//! Optimal assignment (the Hungarian method, with potentials, `O(n²m)`).
//!
//! Given a cost matrix `C ∈ R^{n×m}`, finds the one-to-one matching of `min(n, m)` rows and
//! columns that minimises the total cost. Used to match heads to centroids. The method is Kuhn's
//! (1955) and Munkres' (1957), in the shortest-augmenting-path form with dual potentials `u`, `v`
//! (one Dijkstra-like search per row, as in Jonker and Volgenant 1987).

/// Problems with at most this many columns keep their work arrays on the stack.
pub const SMALL: usize = 16;

/// For each row of the `n × m` row-major `cost`, its column, or `None` when `n > m` left the row
/// unmatched. Ties go to the first optimum the search meets (deterministic).
///
/// # Panics
/// If `cost.len() ≠ n·m`, or a cost is not finite (the search would never end): callers check first.
pub fn min_cost_matching(cost: &[f64], n: usize, m: usize) -> Vec<Option<usize>> {
    let mut rows = vec![None; n];
    min_cost_matching_into(cost, n, m, &mut rows);
    rows
}

/// [`min_cost_matching`] written into `rows` (`n` entries): a matching of at most [`SMALL`]
/// columns with `n ≤ m` allocates nothing.
///
/// # Panics
/// As [`min_cost_matching`], and if `rows.len() ≠ n`.
pub fn min_cost_matching_into(cost: &[f64], n: usize, m: usize, rows: &mut [Option<usize>]) {
    assert_eq!(cost.len(), n * m);
    assert_eq!(rows.len(), n);
    assert!(cost.iter().all(|c| c.is_finite()), "min_cost_matching needs finite costs");
    rows.fill(None);
    if n == 0 || m == 0 {
        return;
    }
    if n > m {
        // Match the columns to rows instead, then invert.
        let t: Vec<f64> = (0..m * n).map(|idx| cost[(idx % n) * m + idx / n]).collect();
        for (c, r) in min_cost_matching(&t, m, n).into_iter().enumerate() {
            if let Some(r) = r {
                rows[r] = Some(c);
            }
        }
        return;
    }
    let a = |i: usize, j: usize| cost[(i - 1) * m + (j - 1)];
    let inf = f64::INFINITY;
    // The work arrays, on the stack for small problems (a metric on a few heads allocates nothing
    // here), else on the heap: `u` (n + 1 ≤ m + 1), `v`, `minv`; `p`, `way`; `used`.
    let (mut fs, mut us, mut bs) = ([0.0f64; 3 * (SMALL + 1)], [0usize; 2 * (SMALL + 1)], [false; SMALL + 1]);
    let (mut fh, mut uh, mut bh) = (Vec::new(), Vec::new(), Vec::new());
    let (fbuf, ubuf, used): (&mut [f64], &mut [usize], &mut [bool]) = if m <= SMALL {
        (&mut fs[..3 * (m + 1)], &mut us[..2 * (m + 1)], &mut bs[..m + 1])
    } else {
        fh.resize(3 * (m + 1), 0.0);
        uh.resize(2 * (m + 1), 0);
        bh.resize(m + 1, false);
        (&mut fh, &mut uh, &mut bh)
    };
    let (u, rest) = fbuf.split_at_mut(m + 1);
    let (v, minv) = rest.split_at_mut(m + 1);
    let (p, way) = ubuf.split_at_mut(m + 1);
    // Each row's search starts from `minv = ∞` and no column used (reset per row).
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0;
        minv.fill(inf);
        used.fill(false);
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let mut delta = inf;
            let mut j1 = 0;
            for j in 1..=m {
                if !used[j] {
                    let cur = a(i0, j) - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=m {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    for j in 1..=m {
        if p[j] != 0 {
            rows[p[j] - 1] = Some(j - 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute(cost: &[f64], n: usize, m: usize) -> f64 {
        // every injective map of rows to columns (n ≤ m)
        fn rec(i: usize, n: usize, m: usize, used: &mut Vec<bool>, cost: &[f64]) -> f64 {
            if i == n {
                return 0.0;
            }
            let mut best = f64::INFINITY;
            for j in 0..m {
                if !used[j] {
                    used[j] = true;
                    best = best.min(cost[i * m + j] + rec(i + 1, n, m, used, cost));
                    used[j] = false;
                }
            }
            best
        }
        rec(0, n, m, &mut vec![false; m], cost)
    }

    #[test]
    fn matches_brute_force() {
        let mut seed = 12345u64;
        // (beyond 16 columns the work arrays are on the heap, not the stack)
        for (n, m) in [(1, 1), (2, 2), (3, 3), (2, 4), (4, 2), (5, 5), (6, 7), (7, 6), (2, 18), (18, 2), (3, 17), (4, 16)] {
            for _ in 0..20 {
                let cost: Vec<f64> = (0..n * m)
                    .map(|_| {
                        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                        (seed >> 33) as f64 / (1u64 << 31) as f64
                    })
                    .collect();
                let r = min_cost_matching(&cost, n, m);
                let total: f64 = r.iter().enumerate().filter_map(|(i, j)| j.map(|j| cost[i * m + j])).sum();
                let expect = if n <= m {
                    brute(&cost, n, m)
                } else {
                    let t: Vec<f64> = (0..m * n).map(|idx| cost[(idx % n) * m + idx / n]).collect();
                    brute(&t, m, n)
                };
                assert!((total - expect).abs() < 1e-12, "{n}x{m}: {total} vs {expect}");
                assert_eq!(r.iter().filter(|j| j.is_some()).count(), n.min(m));
            }
        }
    }
}
