/**
 * The baselines at the edges (issue 10): k-means and EM on points beyond 2^±400 (rescaled by a
 * power of two, exact), a subnormal variance floor in EM, and the greedy k-means++ start on
 * anisotropic, well-separated sets (K = 10, d = 16) that plain k-means++ missed.
 */
import { describe, expect, it } from 'vitest';
import { adjustedRandIndex, em, GaussianMixture, kmeans } from '../src/index';
import * as ref from './reference';

const unit = [
  [1, 0],
  [1.1, 0],
  [0, 1],
  [0, 1.1],
];

describe('kmeans at the edges of f64', () => {
  it('at 1e-300, 1e-310 and 1e150 the clusters of scale 1 ([0, 0, 1, 1]), not one cluster of inertia 0', () => {
    for (const s of [1, 1e-300, 1e-310, 1e-150, 1e150]) {
      const r = kmeans(unit.map((p) => p.map((v) => v * s)), 2, { seed: 1 });
      const l = Array.from(r.labels);
      expect(l[0], `scale ${s}`).toBe(l[1]);
      expect(l[2], `scale ${s}`).toBe(l[3]);
      expect(l[0], `scale ${s}`).not.toBe(l[2]);
      const c = r.centers.data[2 * (l[0] as number)] as number;
      expect(c / s).toBeCloseTo(1.05, 9);
      // 0.01 s², which rounds to 0 below s ≈ 1e-162 (the true value, not a collapse)
      if (s >= 1e-150) expect(r.inertia / (s * s)).toBeCloseTo(0.01, 9);
      else expect(r.inertia).toBe(0);
    }
  });
});

describe('em with a subnormal variance floor', () => {
  it('reg = 1e-310 on data in [0, 5.2] fits (was refused as "x too large")', () => {
    const x = [[0], [0], [0], [5.2], [5.2], [5.2], [2], [0.4]];
    for (const covariance of ['diagonal', 'isotropic'] as const) {
      const r = em(x, 2, { seed: 1, reg: 1e-310, covariance });
      expect(Number.isFinite(r.logLikelihood)).toBe(true);
      expect(Array.from(r.variances.data).every((v) => v >= 1e-310)).toBe(true);
    }
  });
});

describe('kmeans default against the field’s standard', () => {
  /** K = 10 centroids 12·N(0, I_16), per-component, per-coordinate σ uniform in [0.3, 3]. */
  function anisotropic(seed: number, n: number) {
    const next = ref.rng(seed);
    const [k, d] = [10, 16];
    const means = ref.rows(ref.normals(next, k * d).map((v) => 12 * v), d);
    const variances = ref.rows(Array.from({ length: k * d }, () => (0.3 + 2.7 * next()) ** 2), d);
    return GaussianMixture.diagonal({ means, variances }).sample(n, { seed });
  }

  it('recovers anisotropic, well-separated sets (ARI 1 against the truth, as scikit-learn does)', () => {
    for (let seed = 1; seed <= 6; seed++) {
      const s = anisotropic(seed, 2000);
      const r = kmeans(s.x, 10, { seed: 0 });
      expect(adjustedRandIndex(r.labels, s.labels), `set ${seed}`).toBeGreaterThan(0.999);
    }
  });
});

describe('kmeans and em on huge values', () => {
  it('two clusters of repeated points 2e200 apart: inertia 0, not refused up front', () => {
    // (distinct points at 1e200 differ by ≥ 1e200 · 2^-52, whose square is beyond f64)
    const x = [[1e200, 3e199], [1e200, 3e199], [-1e200, 0], [-1e200, 0]];
    const r = kmeans(x, 2, { seed: 0 });
    expect(r.labels[0]).toBe(r.labels[1]);
    expect(r.labels[0]).not.toBe(r.labels[2]);
    expect(r.inertia).toBe(0);
    expect(Array.from(r.centers.data).sort()).toEqual([-1e200, 0, 1e200, 3e199].sort());
  });

  it('an inertia beyond f64 is a RangeError naming `x`', () => {
    expect(() => kmeans([[1e300], [-1e300], [0]], 1, { seed: 0 })).toThrow(RangeError);
    expect(() => kmeans([[1e300], [-1e300], [0]], 1, { seed: 0 })).toThrow(/`x`/);
    expect(() => em([[1e300], [-1e300], [0]], 1, { seed: 0 })).toThrow(/`x`/);
  });
});
