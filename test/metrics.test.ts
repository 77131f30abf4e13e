/**
 * Metrics against the brute-force reference (test/reference.ts): `alignment` and `centroidError`
 * (best matching over permutations of min(H, K) pairs; permuted heads give 1 and 0; H ≠ K),
 * `quantizationRatio` ([L, d] and [B, L, d] forms: the mean over prompts of per-prompt ratios) and
 * `adjustedRandIndex` (known values, invariance to renaming, random labelings against the
 * contingency-table formula).
 */
import { describe, expect, it } from 'vitest';
import { adjustedRandIndex, alignment, centroidError, matching, metrics, quantizationRatio, type Tensor } from '../src/index';
import * as ref from './reference';

const randomMatrix = (next: () => number, r: number, c: number, scale = 1): number[][] =>
  ref.rows(ref.normals(next, r * c).map((v) => scale * v), c);

describe('alignment and centroidError', () => {
  it('the namespace object exposes the same functions', () => {
    expect(metrics.alignment).toBe(alignment);
    expect(metrics.centroidError).toBe(centroidError);
    expect(metrics.quantizationRatio).toBe(quantizationRatio);
    expect(metrics.adjustedRandIndex).toBe(adjustedRandIndex);
    expect(metrics.matching).toBe(matching);
  });

  it('heads equal to the centroids in any order: alignment 1, centroid error 0', () => {
    const next = ref.rng(1);
    for (const k of [1, 2, 3, 4, 6]) {
      const means = randomMatrix(next, k, 5);
      // a fixed derangement-like permutation
      const perm = means.map((_, i) => means[(i * 5 + 1) % k]!);
      expect(alignment(perm, means)).toBeCloseTo(1, 14);
      expect(centroidError(perm, means)).toBeLessThan(1e-15);
      // scaled heads keep the alignment and have relative error |c − 1|
      const scaled = perm.map((r) => r.map((v) => 1.5 * v));
      expect(alignment(scaled, means)).toBeCloseTo(1, 14);
      expect(centroidError(scaled, means)).toBeCloseTo(0.5, 14);
    }
  });

  it('hand-computed values; the matching maximises the total, not each head greedily', () => {
    const means = [
      [1, 0],
      [0, 2],
    ];
    expect(alignment([[1, 1], [1, 1]], means)).toBeCloseTo(Math.SQRT1_2, 14);
    // the matching is global: head 0 would prefer means[0] alone, but the total is better swapped
    const heads = [
      [1, 0.9],
      [1, 0],
    ];
    expect(alignment(heads, means)).toBeCloseTo(ref.alignmentRef(heads, means), 14);
    expect(alignment(heads, means)).toBeCloseTo((1 + 0.9 / Math.hypot(1, 0.9)) / 2, 14);
  });

  it('random heads and centroids, H and K in 1..5 (H ≠ K included), against brute force', () => {
    const next = ref.rng(2);
    for (let h = 1; h <= 5; h++) {
      for (let k = 1; k <= 5; k++) {
        for (let trial = 0; trial < 4; trial++) {
          const d = 1 + ((h + k + trial) % 4);
          const params = randomMatrix(next, h, d);
          const means = randomMatrix(next, k, d, 2);
          expect(alignment(params, means), `H=${h} K=${k}`).toBeCloseTo(ref.alignmentRef(params, means), 12);
          expect(centroidError(params, means), `H=${h} K=${k}`).toBeCloseTo(ref.centroidErrorRef(params, means), 12);
        }
      }
    }
  });

  it('more heads than centroids: the K matched pairs count, the extra head is listed', () => {
    const means = [
      [1, 0],
      [0, 1],
    ];
    const heads = [
      [0, 3],
      [-1, 0],
      [2, 0],
    ];
    expect(alignment(heads, means)).toBeCloseTo(1, 14);
    expect(centroidError(heads, means)).toBeCloseTo((Math.SQRT2 + 1) / 2, 14); // (-1,0)→e2, (2,0)→e1
    expect(centroidError(heads, means)).toBeCloseTo(ref.centroidErrorRef(heads, means), 14);
    const m = matching(heads, means);
    expect(m.unmatchedHeads).toEqual([1]);
    expect(m.unmatchedCentroids).toEqual([]);
    expect(m.pairs.map((p) => [p.head, p.centroid])).toEqual([
      [0, 1],
      [2, 0],
    ]);
  });

  it('fewer heads than centroids: a missed centroid counts (cosine 0, relative error 1)', () => {
    // issue 10: two heads on three centroids gave alignment 1
    const means = [
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, 1],
    ];
    const heads = [
      [4, 0, 0],
      [0, 4, 0],
    ];
    expect(alignment(heads, means)).toBeCloseTo(2 / 3, 15);
    expect(centroidError(heads, means)).toBeCloseTo((3 + 3 + 1) / 3, 14);
    expect(metrics.matching(heads, means)).toEqual({
      pairs: [
        { head: 0, centroid: 0, cosine: 1, relativeError: 3 },
        { head: 1, centroid: 1, cosine: 1, relativeError: 3 },
      ],
      unmatchedHeads: [],
      unmatchedCentroids: [2],
    });
    // the same with every centroid covered: 1 and 0
    expect(alignment([...heads, [0, 0, 9]], means)).toBe(1);
    expect(alignment([[0, 5]], [[1, 0], [0, 1]])).toBeCloseTo(0.5, 14);
    expect(centroidError([[0, 1.1]], [[1, 0], [0, 1]])).toBeCloseTo(0.55, 14);
    // values beyond the safe range are rescaled, as for centroidError
    const tiny = heads.map((r) => r.map((v) => v * 1e-300));
    const m = matching(tiny, means.map((r) => r.map((v) => v * 1e-300)));
    expect(m.pairs.map((p) => p.relativeError)).toEqual([3, 3]);
    expect(() => matching(heads, [[0, 0, 0]])).toThrow(RangeError);
  });

  it('Tensors of either dtype are accepted; a zero head has cosine 0', () => {
    const means: Tensor = { shape: [2, 3], data: new Float64Array([1, 0, 0, 0, 1, 0]) };
    const heads32: Tensor = { shape: [2, 3], data: new Float32Array([0, 0, 0, 0, 2, 0]) };
    expect(alignment(heads32, means)).toBeCloseTo(0.5, 7);
    expect(centroidError(heads32, means)).toBeCloseTo(1, 7);
  });

  it('the packed fast path (plain finite matrices) gives what the general path gives, bit for bit', () => {
    // The core scales inputs beyond 2^±450 by powers of two, exactly: the scores of inputs scaled
    // by 2^600 must be those at scale 1 to the bit, and the f32 forms must agree among themselves.
    const next = ref.rng(7);
    const up = 2 ** 600;
    for (const [h, k, d] of [[2, 2, 2], [1, 3, 2], [3, 2, 5], [4, 4, 1]] as const) {
      const heads = randomMatrix(next, h, d);
      const means = randomMatrix(next, k, d, 3);
      const big = (m: number[][]) => m.map((r) => r.map((v) => v * up));
      expect(alignment(big(heads), means)).toBe(alignment(heads, means));
      expect(centroidError(big(heads), big(means))).toBe(centroidError(heads, means));
      // f32 heads read `means` in f32, whatever form `means` has; their cosines sum as `matching` reports them
      const h32: Tensor = { shape: [h, d], data: Float32Array.from(heads.flat()) };
      const m32: Tensor = { shape: [k, d], data: Float32Array.from(means.flat()) };
      const m64: Tensor = { shape: [k, d], data: Float64Array.from(means.flat()) };
      expect(alignment(h32, means)).toBe(alignment(h32, m32));
      expect(alignment(h32, m64)).toBe(alignment(h32, m32));
      expect(centroidError(h32, means)).toBe(centroidError(h32, m32));
      const pairs = matching(h32, means).pairs;
      expect(alignment(h32, means)).toBe(pairs.reduce((a, q) => a + q.cosine, 0) / k);
    }
    // f32 heads: a `means` value beyond f32 is refused as before (the general path reports it)
    const h32: Tensor = { shape: [1, 2], data: new Float32Array([1, 0]) };
    expect(() => alignment(h32, [[1e39, 0]])).toThrow(/fit in f32/);
    expect(() => centroidError(h32, { shape: [1, 2], data: new Float64Array([1e39, 0]) })).toThrow(/f32/);
  });

  it('a zero centroid makes the relative error undefined: RangeError naming `means`', () => {
    expect(() => centroidError([[1, 1]], [[0, 0]])).toThrow(RangeError);
    expect(() => centroidError([[1, 1]], [[0, 0]])).toThrow(/`means\[0\]`/);
  });
});

describe('quantizationRatio', () => {
  /** One prompt per row of `b`: tokens around K centroids, and a "layer output" y between x and μ. */
  function problem(b: number, l: number, k: number, d: number, seed: number) {
    const next = ref.rng(seed);
    const means = new Float64Array(ref.normals(next, b * k * d).map((v) => 3 * v));
    const labels = new Uint32Array(b * l).map(() => Math.floor(next() * k));
    const noise = ref.normals(next, b * l * d);
    const x = new Float64Array(b * l * d);
    const y = new Float64Array(b * l * d);
    for (let p = 0; p < b; p++) {
      const shrink = 0.2 + 0.15 * p; // a different ratio per prompt, larger for the wider prompts
      for (let i = 0; i < l; i++) {
        const z = labels[p * l + i] as number;
        for (let j = 0; j < d; j++) {
          const t = (p * l + i) * d + j;
          const mu = means[(p * k + z) * d + j] as number;
          x[t] = mu + 0.3 * (1 + p) * (noise[t] as number); // prompts of different spread
          y[t] = mu + shrink * ((x[t] as number) - mu) + 0.05 * Math.sin(t);
        }
      }
    }
    return { x, y, means, labels };
  }

  it('[L, d] form against the reference', () => {
    for (const [l, k, d] of [
      [1, 1, 1],
      [5, 2, 3],
      [100, 3, 16],
      [257, 4, 7],
    ] as const) {
      const p = problem(1, l, k, d, l + k + d);
      const r = quantizationRatio({ shape: [l, d], data: p.x }, { shape: [l, d], data: p.y }, { shape: [k, d], data: p.means }, p.labels);
      expect(r).toBeCloseTo(ref.quantizationRatioFlat(p.x, p.y, p.means, p.labels, 1, l, k, d), 13);
    }
  });

  it('[B, L, d] form: the mean over prompts of each prompt’s ratio', () => {
    const [b, l, k, d] = [5, 64, 3, 8];
    const p = problem(b, l, k, d, 7);
    const r = quantizationRatio({ shape: [b, l, d], data: p.x }, { shape: [b, l, d], data: p.y }, { shape: [b, k, d], data: p.means }, p.labels);
    expect(r).toBeCloseTo(ref.quantizationRatioFlat(p.x, p.y, p.means, p.labels, b, l, k, d), 13);
    // ... which is not the pooled ratio Σ num / Σ den (the prompts have different ratios)
    let num = 0;
    let den = 0;
    for (let t = 0; t < b * l; t++) {
      const z = p.labels[t] as number;
      const base = (Math.floor(t / l) * k + z) * d;
      for (let j = 0; j < d; j++) {
        num += ((p.y[t * d + j] as number) - (p.means[base + j] as number)) ** 2;
        den += ((p.x[t * d + j] as number) - (p.means[base + j] as number)) ** 2;
      }
    }
    expect(Math.abs(r - num / den)).toBeGreaterThan(1e-3);
    // each prompt alone in the [L, d] form, averaged, gives the same number
    let mean = 0;
    for (let q = 0; q < b; q++) {
      const sl = (a: Float64Array, n: number) => ({ shape: [n, d], data: a.subarray(q * n * d, (q + 1) * n * d) });
      mean += quantizationRatio(sl(p.x, l), sl(p.y, l), sl(p.means, k), p.labels.subarray(q * l, (q + 1) * l)) / b;
    }
    expect(r).toBeCloseTo(mean, 13);
  });

  it('y = x gives 1, y on the centroids gives 0; nested arrays and f32 are accepted', () => {
    const x = [
      [1, 1],
      [3, -1],
      [0, 2],
    ];
    const means = [
      [0, 0],
      [2, 0],
    ];
    const labels = new Uint32Array([0, 1, 0]);
    expect(quantizationRatio(x, x, means, labels)).toBe(1);
    expect(quantizationRatio(x, [means[0]!, means[1]!, means[0]!], means, labels)).toBe(0);
    const x32: Tensor = { shape: [3, 2], data: Float32Array.from(x.flat()) };
    const half = x.map((r, i) => r.map((v, j) => (v + means[labels[i]!]![j]!) / 2));
    expect(quantizationRatio(x32, half, means, labels)).toBeCloseTo(0.25, 14);
  });
});

describe('adjustedRandIndex', () => {
  const u = (a: number[]): Uint32Array => Uint32Array.from(a);

  it('known values', () => {
    // sklearn.metrics.adjusted_rand_score gives the same numbers
    expect(adjustedRandIndex(u([0, 0, 1, 1]), u([0, 0, 1, 2]))).toBeCloseTo(0.5714285714285715, 14);
    expect(adjustedRandIndex(u([0, 1, 0, 1]), u([0, 0, 1, 1]))).toBeCloseTo(-0.5, 14);
    expect(adjustedRandIndex(u([0, 0, 1, 1]), u([1, 1, 0, 0]))).toBe(1);
  });

  it('identical up to renaming → 1 (labels need not be 0..K−1)', () => {
    const next = ref.rng(3);
    for (const n of [2, 10, 1000]) {
      const a = new Uint32Array(n).map(() => Math.floor(next() * 5));
      const rename = [17, 3, 99, 0, 4000000000];
      const b = a.map((z) => rename[z]!);
      expect(adjustedRandIndex(a, b)).toBe(1);
    }
    // the degenerate cases: one cluster on both sides, or all singletons on both sides
    expect(adjustedRandIndex(u([0, 0, 0]), u([5, 5, 5]))).toBe(1);
    expect(adjustedRandIndex(u([0, 1, 2]), u([2, 0, 1]))).toBe(1);
    expect(adjustedRandIndex(u([7]), u([3]))).toBe(1);
  });

  it('random labelings against the contingency-table reference; symmetric; about 0 for independent labelings', () => {
    const next = ref.rng(4);
    for (const [n, ka, kb] of [
      [5, 2, 2],
      [20, 3, 4],
      [100, 5, 2],
      [1000, 8, 8],
      [3000, 2, 30],
    ] as const) {
      for (let trial = 0; trial < 3; trial++) {
        const a = new Uint32Array(n).map(() => Math.floor(next() * ka));
        // b agrees with a on part of the items
        const b = a.map((z) => (next() < 0.5 ? z % kb : Math.floor(next() * kb)));
        const expected = ref.adjustedRandIndexRef(a, b);
        expect(adjustedRandIndex(a, b), `n=${n}`).toBeCloseTo(expected, 12);
        expect(adjustedRandIndex(b, a)).toBeCloseTo(expected, 12);
      }
    }
    const a = new Uint32Array(20000).map(() => Math.floor(next() * 4));
    const b = new Uint32Array(20000).map(() => Math.floor(next() * 4));
    expect(Math.abs(adjustedRandIndex(a, b))).toBeLessThan(0.005);
  });

  it('all-singleton labelings of 10^6 points: a sparse table, O(n) memory (a dense one was refused from ~39 000)', () => {
    const n = 1_000_000;
    const a = new Uint32Array(n).map((_, i) => i);
    const b = new Uint32Array(n).map((_, i) => n - 1 - i);
    expect(adjustedRandIndex(a, b)).toBe(1);
    // singletons against pairs: I = A = 0, B = n/2 → index 0
    expect(adjustedRandIndex(a, a.map((i) => i >> 1))).toBe(0);
  });
});
