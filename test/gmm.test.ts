/**
 * Gaussian mixtures and priors over mixtures (SPEC §1): shapes and labels; the empirical weights,
 * means and covariances of a large sample against the truth, with tolerances of 5 standard errors
 * (so a correct sampler fails with probability < 1e-5 per check; the seeds are fixed anyway);
 * `f32` samples are the `f64` samples rounded; seeds and streams; async = sync. `MixturePrior`:
 * shapes, centroids on the sphere, the minimum separation, per-prompt noise, async = sync.
 */
import { describe, expect, it } from 'vitest';
import { GaussianMixture, MixturePrior, type Tensor } from '../src/index';
import { native } from '../src/native';
import * as ref from './reference';

/** Sample moments of the rows of `x` (`[n, d]`) whose label is `k`. */
function moments(x: Tensor, labels: Uint32Array, k: number): { n: number; mean: number[]; cov: number[][] } {
  const d = x.shape[1] as number;
  const mean = new Array<number>(d).fill(0);
  let n = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] !== k) continue;
    n++;
    for (let j = 0; j < d; j++) mean[j] = (mean[j] as number) + (x.data[i * d + j] as number);
  }
  for (let j = 0; j < d; j++) mean[j] = (mean[j] as number) / n;
  const cov = Array.from({ length: d }, () => new Array<number>(d).fill(0));
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] !== k) continue;
    for (let a = 0; a < d; a++) {
      const da = (x.data[i * d + a] as number) - (mean[a] as number);
      for (let b = 0; b < d; b++) cov[a]![b]! += da * ((x.data[i * d + b] as number) - (mean[b] as number));
    }
  }
  return { n, mean, cov: cov.map((r) => r.map((v) => v / (n - 1))) };
}

/**
 * Checks a large sample against the mixture's parameters, each within 5 standard errors:
 * weight p: √(p(1−p)/n); mean coordinate j: √(Σ_jj/n_k); covariance entry (a, b):
 * √((Σ_aa Σ_bb + Σ_ab²)/n_k) (Gaussian data).
 */
function checkMoments(x: Tensor, labels: Uint32Array, weights: number[], means: number[][], covs: number[][][]): void {
  const n = labels.length;
  weights.forEach((p, k) => {
    const m = moments(x, labels, k);
    expect(Math.abs(m.n / n - p), `weight ${k}`).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / n));
    const S = covs[k]!;
    m.mean.forEach((v, j) => expect(Math.abs(v - means[k]![j]!), `mean ${k},${j}`).toBeLessThan(5 * Math.sqrt(S[j]![j]! / m.n)));
    m.cov.forEach((row, a) =>
      row.forEach((v, b) => {
        const se = Math.sqrt((S[a]![a]! * S[b]![b]! + S[a]![b]! ** 2) / m.n);
        expect(Math.abs(v - S[a]![b]!), `cov ${k},${a},${b}`).toBeLessThan(5 * se);
      }),
    );
  });
}

const diag = (v: number[]): number[][] => v.map((x, i) => v.map((_, j) => (i === j ? x : 0)));

describe('GaussianMixture', () => {
  it('isotropic: shapes, labels in range, metadata', () => {
    const means = [
      [1, 2, 3],
      [-1, 0, 4],
    ];
    const g = GaussianMixture.isotropic({ means, sigma: 0.5 });
    expect([g.dim, g.k, g.kind]).toEqual([3, 2, 'isotropic']);
    expect(g.means.shape).toEqual([2, 3]);
    expect(g.means.data).toBeInstanceOf(Float64Array);
    expect(Array.from(g.means.data)).toEqual(means.flat());
    expect(g.weights).toEqual([0.5, 0.5]);
    for (const n of [0, 1, 7, 1024, 1025, 3000]) {
      const s = g.sample(n, { seed: 1 });
      expect(s.x.shape).toEqual([n, 3]);
      expect(s.x.data).toBeInstanceOf(Float64Array);
      expect(s.x.data.length).toBe(3 * n);
      expect(s.labels).toBeInstanceOf(Uint32Array);
      expect(s.labels.length).toBe(n);
      expect(s.labels.every((z) => z < 2)).toBe(true);
      expect(s.x.data.every(Number.isFinite)).toBe(true);
    }
  });

  it('isotropic: empirical weights, means and covariances (n = 200 000, per-component σ)', () => {
    const means = [
      [3, 0, -1],
      [-3, 1, 0],
      [0, 5, 5],
    ];
    const sigma = [0.5, 1, 2];
    const weights = [0.2, 0.5, 0.3];
    const g = GaussianMixture.isotropic({ means, sigma, weights });
    expect(g.weights).toEqual(weights);
    const s = g.sample(200_000, { seed: 11 });
    checkMoments(s.x, s.labels, weights, means, sigma.map((v) => diag([v * v, v * v, v * v])));
  });

  it('diagonal: empirical moments', () => {
    const means = [
      [0, 0],
      [4, -4],
    ];
    const variances = [
      [0.25, 4],
      [1, 0.01],
    ];
    const g = GaussianMixture.diagonal({ means, variances, weights: [0.7, 0.3] });
    expect([g.dim, g.k, g.kind]).toEqual([2, 2, 'diagonal']);
    const s = g.sample(200_000, { seed: 12 });
    checkMoments(s.x, s.labels, [0.7, 0.3], means, variances.map(diag));
  });

  it('full: empirical moments, correlations included', () => {
    const means = [
      [1, -1, 0],
      [-2, 2, 1],
    ];
    const covariances = [
      [
        [2, 0.8, 0.3],
        [0.8, 1, -0.2],
        [0.3, -0.2, 0.5],
      ],
      [
        [1, -0.9, 0],
        [-0.9, 1, 0],
        [0, 0, 0.1],
      ],
    ];
    const g = GaussianMixture.full({ means, covariances });
    expect([g.dim, g.k, g.kind]).toEqual([3, 2, 'full']);
    const s = g.sample(200_000, { seed: 13 });
    checkMoments(s.x, s.labels, [0.5, 0.5], means, covariances);
  });

  it('f32 samples are the f64 samples rounded (Math.fround), with the same labels', () => {
    const g = GaussianMixture.full({
      means: [
        [0.1, 0.2],
        [5, 5],
      ],
      covariances: [
        [
          [1, 0.3],
          [0.3, 0.7],
        ],
        [
          [0.2, 0],
          [0, 0.2],
        ],
      ],
    });
    for (const n of [1, 1023, 1025, 5000]) {
      const a = g.sample(n, { seed: 5, stream: 2 });
      const b = g.sample(n, { seed: 5, stream: 2, dtype: 'f32' });
      expect(b.x.data).toBeInstanceOf(Float32Array);
      expect(b.labels).toEqual(a.labels);
      expect(Array.from(b.x.data)).toEqual(Array.from(a.x.data, Math.fround));
    }
  });

  it('the same (seed, stream) gives identical samples; other seeds and streams differ', () => {
    const g = GaussianMixture.isotropic({ means: [[0, 0], [3, 3]], sigma: 1 });
    const a = g.sample(2000, { seed: 42 });
    const b = g.sample(2000, { seed: 42 });
    expect(b.x.data).toEqual(a.x.data);
    expect(b.labels).toEqual(a.labels);
    expect(g.sample(2000, { seed: 42, stream: 0 }).x.data).toEqual(a.x.data); // stream defaults to 0
    const others = [g.sample(2000, { seed: 43 }), g.sample(2000, { seed: 42, stream: 1 }), g.sample(2000, { seed: 0 })];
    for (const o of others) {
      expect(o.x.data).not.toEqual(a.x.data);
      // not merely shifted: almost no coordinate coincides
      const same = o.x.data.filter((v, i) => v === a.x.data[i]).length;
      expect(same).toBeLessThan(10);
    }
    // a new mixture object with the same parameters draws the same sample
    const g2 = GaussianMixture.isotropic({ means: [[0, 0], [3, 3]], sigma: 1 });
    expect(g2.sample(2000, { seed: 42 }).x.data).toEqual(a.x.data);
  });

  it('a longer sample extends a shorter one (generators are per fixed chunk of draws)', () => {
    const g = GaussianMixture.isotropic({ means: [[1], [-1]], sigma: 0.3 });
    const long = g.sample(5000, { seed: 3 });
    for (const n of [1, 1024, 1500]) {
      const short = g.sample(n, { seed: 3 });
      expect(Array.from(short.x.data)).toEqual(Array.from(long.x.data.subarray(0, n)));
      expect(Array.from(short.labels)).toEqual(Array.from(long.labels.subarray(0, n)));
    }
  });

  it('large seeds (up to 2^53 − 1) work and differ from each other', () => {
    const g = GaussianMixture.isotropic({ means: [[0, 0]], sigma: 1 });
    const a = g.sample(10, { seed: Number.MAX_SAFE_INTEGER });
    const b = g.sample(10, { seed: Number.MAX_SAFE_INTEGER - 1 });
    expect(a.x.data.every(Number.isFinite)).toBe(true);
    expect(a.x.data).not.toEqual(b.x.data);
  });

  it('sampleAsync equals sample', async () => {
    const g = GaussianMixture.diagonal({ means: [[1, 2, 3], [0, 0, 0]], variances: [[1, 2, 3], [0.1, 0.1, 0.1]], weights: [0.4, 0.6] });
    for (const dtype of ['f32', 'f64'] as const) {
      const a = g.sample(4321, { seed: 8, stream: 5, dtype });
      const b = await g.sampleAsync(4321, { seed: 8, stream: 5, dtype });
      expect(b.x.shape).toEqual(a.x.shape);
      expect(b.x.data).toEqual(a.x.data);
      expect(b.labels).toEqual(a.labels);
    }
  });

  it('Tensor means are accepted like number[][]', () => {
    const t: Tensor = { shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) };
    const g = GaussianMixture.isotropic({ means: t, sigma: [1, 2] });
    expect(g.means.data).toBeInstanceOf(Float64Array);
    expect(Array.from(g.means.data)).toEqual([1, 2, 3, 4]);
    const h = GaussianMixture.isotropic({ means: [[1, 2], [3, 4]], sigma: [1, 2] });
    expect(g.sample(100, { seed: 1 }).x.data).toEqual(h.sample(100, { seed: 1 }).x.data);
  });
});

describe('MixturePrior', () => {
  it('sphere: shapes, labels, each prompt’s centroids on the sphere of the radius', () => {
    const prior = MixturePrior.sphere({ k: 3, dim: 5, radius: 2.5, sigma: 0.1 });
    expect([prior.k, prior.dim]).toEqual([3, 5]);
    const p = prior.samplePrompts(7, 40, { seed: 1 });
    expect(p.x.shape).toEqual([7, 40, 5]);
    expect(p.x.data.length).toBe(7 * 40 * 5);
    expect(p.x.data).toBeInstanceOf(Float64Array);
    expect(p.labels).toBeInstanceOf(Uint32Array);
    expect(p.labels.length).toBe(7 * 40);
    expect(p.labels.every((z) => z < 3)).toBe(true);
    expect(p.means.shape).toEqual([7, 3, 5]);
    for (const m of ref.rows(p.means.data, 5)) expect(Math.abs(ref.norm(m) - 2.5)).toBeLessThan(1e-12);
    // prompts have different centroids
    expect(Array.from(p.means.data.subarray(0, 15))).not.toEqual(Array.from(p.means.data.subarray(15, 30)));
  });

  it('sphere: tokens are their centroid plus σ-noise; labels are about uniform', () => {
    const sigma = 0.5;
    const [B, L, K, d] = [20, 500, 4, 6];
    const p = MixturePrior.sphere({ k: K, dim: d, radius: 3, sigma }).samplePrompts(B, L, { seed: 2 });
    let ss = 0;
    const counts = new Array<number>(K).fill(0);
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < L; i++) {
        const z = p.labels[b * L + i] as number;
        counts[z]!++;
        for (let j = 0; j < d; j++) ss += ((p.x.data[(b * L + i) * d + j] as number) - (p.means.data[(b * K + z) * d + j] as number)) ** 2;
      }
    }
    const N = B * L * d;
    // the sample variance of N standard normals × σ²: s.e. σ²·√(2/N)
    expect(Math.abs(ss / N - sigma ** 2)).toBeLessThan(5 * sigma ** 2 * Math.sqrt(2 / N));
    for (const c of counts) expect(Math.abs(c / (B * L) - 1 / K)).toBeLessThan(5 * Math.sqrt((1 / K) * (1 - 1 / K) / (B * L)));
  });

  it('sphere: minSeparation is respected', () => {
    const prior = MixturePrior.sphere({ k: 4, dim: 3, radius: 1, sigma: 0.1, minSeparation: 1.2 });
    const p = prior.samplePrompts(50, 2, { seed: 3 });
    let closest = Infinity;
    for (let b = 0; b < 50; b++) {
      const m = ref.rows(p.means.data.subarray(b * 12, (b + 1) * 12), 3);
      for (let i = 0; i < 4; i++) for (let j = 0; j < i; j++) closest = Math.min(closest, Math.sqrt(ref.sqDist(m[i]!, m[j]!)));
    }
    expect(closest).toBeGreaterThanOrEqual(1.2);
    // without the constraint, such close pairs do occur: the constraint is doing something
    const free = MixturePrior.sphere({ k: 4, dim: 3, radius: 1, sigma: 0.1 }).samplePrompts(50, 2, { seed: 3 });
    let freeClosest = Infinity;
    for (let b = 0; b < 50; b++) {
      const m = ref.rows(free.means.data.subarray(b * 12, (b + 1) * 12), 3);
      for (let i = 0; i < 4; i++) for (let j = 0; j < i; j++) freeClosest = Math.min(freeClosest, Math.sqrt(ref.sqDist(m[i]!, m[j]!)));
    }
    expect(freeClosest).toBeLessThan(1.2);
  });

  it('gaussian: centroids scale · N(0, I)', () => {
    const p = MixturePrior.gaussian({ k: 2, dim: 8, scale: 3, sigma: 0.2 }).samplePrompts(400, 3, { seed: 4 });
    expect(p.means.shape).toEqual([400, 2, 8]);
    const v = Array.from(p.means.data).reduce((s, x) => s + x * x, 0) / p.means.data.length;
    expect(Math.abs(v - 9)).toBeLessThan(5 * 9 * Math.sqrt(2 / p.means.data.length));
  });

  it('same seed → same prompts; other seed → other prompts; f32 = f64 rounded', () => {
    const prior = MixturePrior.sphere({ k: 2, dim: 4, radius: 3, sigma: 0.5 });
    const a = prior.samplePrompts(5, 100, { seed: 9 });
    const b = prior.samplePrompts(5, 100, { seed: 9 });
    expect(b.x.data).toEqual(a.x.data);
    expect(b.labels).toEqual(a.labels);
    expect(b.means.data).toEqual(a.means.data);
    expect(prior.samplePrompts(5, 100, { seed: 10 }).x.data).not.toEqual(a.x.data);
    const f = prior.samplePrompts(5, 100, { seed: 9, dtype: 'f32' });
    expect(f.x.data).toBeInstanceOf(Float32Array);
    expect(f.means.data).toBeInstanceOf(Float32Array);
    expect(f.labels).toEqual(a.labels);
    expect(Array.from(f.x.data)).toEqual(Array.from(a.x.data, Math.fround));
    expect(Array.from(f.means.data)).toEqual(Array.from(a.means.data, Math.fround));
    // a prompt does not depend on how many prompts are drawn with it
    const more = prior.samplePrompts(8, 100, { seed: 9 });
    expect(Array.from(more.x.data.subarray(0, a.x.data.length))).toEqual(Array.from(a.x.data));
  });

  it('samplePromptsAsync equals samplePrompts', async () => {
    for (const prior of [
      MixturePrior.sphere({ k: 3, dim: 16, radius: 3, sigma: 0.5, minSeparation: 2 }),
      MixturePrior.gaussian({ k: 2, dim: 2, scale: 1, sigma: 0.1 }),
    ]) {
      for (const dtype of ['f32', 'f64'] as const) {
        const a = prior.samplePrompts(6, 300, { seed: 21, dtype });
        const b = await prior.samplePromptsAsync(6, 300, { seed: 21, dtype });
        expect(b.x.shape).toEqual(a.x.shape);
        expect(b.x.data).toEqual(a.x.data);
        expect(b.labels).toEqual(a.labels);
        expect(b.means.data).toEqual(a.means.data);
      }
    }
  });

  it('empty batches are empty tensors', () => {
    const prior = MixturePrior.sphere({ k: 2, dim: 3, radius: 1, sigma: 0.1 });
    const p = prior.samplePrompts(0, 10, { seed: 1 });
    expect(p.x.shape).toEqual([0, 10, 3]);
    expect(p.x.data.length).toBe(0);
    expect(p.means.shape).toEqual([0, 2, 3]);
    const q = prior.samplePrompts(2, 0, { seed: 1 });
    expect(q.x.shape).toEqual([2, 0, 3]);
    expect(q.labels.length).toBe(0);
    expect(q.means.shape).toEqual([2, 2, 3]);
  });
});

describe("f32 prompts: refused before drawing by the core's bound on its normals (issue 10)", () => {
  const F32_MAX = 3.4028234663852886e38;
  const z = native.MAX_ABS_NORMAL;
  it('the bound is the core generator\'s (|z| ≤ √(64 ln 2) ≈ 6.66 plus rounding), exported, not a copy', () => {
    expect(z).toBeGreaterThanOrEqual(Math.sqrt(64 * Math.LN2));
    expect(z).toBeLessThan(9);
  });
  it('tokens that fit f32 by that bound are drawn (finite); beyond it the draw is refused, naming `dtype`', () => {
    // Z·(size + σ) just inside F32_MAX: drawn (a bound of 10·(size + σ) refused this)
    const size = F32_MAX / (z + 0.5);
    const p = MixturePrior.gaussian({ k: 3, dim: 4, scale: size, sigma: size / 100 });
    const { x, means } = p.samplePrompts(16, 32, { seed: 1, dtype: 'f32' });
    expect(x.data.every(Number.isFinite) && means.data.every(Number.isFinite)).toBe(true);
    // Z·(size + σ) beyond F32_MAX: refused before drawing; f64 still draws
    const big = MixturePrior.gaussian({ k: 3, dim: 4, scale: F32_MAX / (z - 0.5), sigma: 1 });
    expect(() => big.samplePrompts(2, 2, { seed: 1, dtype: 'f32' })).toThrow(RangeError);
    expect(() => big.samplePrompts(2, 2, { seed: 1, dtype: 'f32' })).toThrow(/`dtype` 'f32' cannot hold/);
    expect(big.samplePrompts(2, 2, { seed: 1 }).x.data.every(Number.isFinite)).toBe(true);
  });
});

describe('MixturePrior weights (issue 10)', () => {
  const base = { k: 3, dim: 2, scale: 5, sigma: 0.1 };

  it('default: equal weights, and the same prompts as before weights existed', () => {
    const p = MixturePrior.gaussian(base).samplePrompts(2, 10, { seed: 3 });
    expect(Array.from(p.weights.data)).toEqual(new Array(6).fill(1 / 3));
    expect(p.weights.shape).toEqual([2, 3]);
  });

  it('fixed weights: the label frequencies follow them, in every prompt', () => {
    const prior = MixturePrior.sphere({ k: 3, dim: 2, radius: 4, sigma: 0.1, weights: [0.7, 0.2, 0.1] });
    const p = prior.samplePrompts(4, 20000, { seed: 9 });
    const count = [0, 0, 0];
    for (const z of p.labels) count[z]! += 1;
    [0.7, 0.2, 0.1].forEach((w, i) => expect(count[i]! / 80000).toBeCloseTo(w, 1));
    expect(p.weights.data[0]).toBeCloseTo(0.7, 14);
  });

  it('Dirichlet weights: drawn per prompt, deterministic per (seed, prompt), rows summing to 1', () => {
    const prior = MixturePrior.gaussian({ ...base, weights: { dirichlet: 0.5 } });
    const a = prior.samplePrompts(32, 50, { seed: 5 });
    const b = prior.samplePrompts(32, 50, { seed: 5 });
    expect(a.weights.data).toEqual(b.weights.data);
    expect(a.x.data).toEqual(b.x.data);
    // prompt 0 alone is prompt 0 of the batch
    expect(Array.from(prior.samplePrompts(1, 50, { seed: 5 }).weights.data)).toEqual(Array.from(a.weights.data.subarray(0, 3)));
    const w = a.weights.data;
    for (let i = 0; i < 32; i++) expect((w[3 * i] as number) + (w[3 * i + 1] as number) + (w[3 * i + 2] as number)).toBeCloseTo(1, 12);
    // unequal: some prompt has a component above 0.7
    expect(Array.from(w).some((v) => v > 0.7)).toBe(true);
    // a different seed draws other weights
    expect(prior.samplePrompts(32, 50, { seed: 6 }).weights.data).not.toEqual(a.weights.data);
    // K concentrations
    expect(MixturePrior.gaussian({ ...base, weights: { dirichlet: [5, 1, 0.2] } }).samplePrompts(2, 5, { seed: 1 }).weights.shape).toEqual([2, 3]);
  });

  it('bad weights: TypeError for the shape, RangeError for the values, naming `weights`', () => {
    expect(() => MixturePrior.gaussian({ ...base, weights: [0.5, 0.5] })).toThrow(TypeError);
    expect(() => MixturePrior.gaussian({ ...base, weights: [0.5, 0.6, -0.1] }).samplePrompts(1, 1, { seed: 0 })).toThrow(/`weights/);
    expect(() => MixturePrior.gaussian({ ...base, weights: [0.5, 0.3, 0.3] }).samplePrompts(1, 1, { seed: 0 })).toThrow(RangeError);
    expect(() => MixturePrior.gaussian({ ...base, weights: { dirichlet: 0 } }).samplePrompts(1, 1, { seed: 0 })).toThrow(RangeError);
    expect(() => MixturePrior.gaussian({ ...base, weights: { dirichlet: [1, 1] } }).samplePrompts(1, 1, { seed: 0 })).toThrow(TypeError);
    expect(() => MixturePrior.gaussian({ ...base, weights: { alpha: 1 } as never })).toThrow(TypeError);
  });
});

describe('small draws fill arrays allocated in TypeScript (issue 9)', () => {
  // A draw whose results fit in native.RESULT_COPY_BYTES is written into arrays made in JS, a
  // larger one into arrays made by the addon: the two paths must give the same values, types and
  // shapes. Prompt b and the draws of chunk 0 do not depend on how many follow them.
  it('sample: the first draws of a small sample are those of a large one', () => {
    const m = GaussianMixture.isotropic({ means: [[3, 0, 1], [-3, 0, 2]], sigma: [0.5, 2], weights: [0.3, 0.7] });
    for (const dtype of ['f32', 'f64'] as const) {
      for (const stream of [0, 5]) {
        const big = m.sample(5000, { seed: 11, dtype, stream });
        for (const n of [0, 1, 16, 200]) {
          const small = m.sample(n, { seed: 11, dtype, stream });
          expect(small.x.data.constructor).toBe(big.x.data.constructor);
          expect(small.x.shape).toEqual([n, 3]);
          expect(small.labels).toBeInstanceOf(Uint32Array);
          expect(Array.from(small.x.data)).toEqual(Array.from(big.x.data.subarray(0, 3 * n)));
          expect(Array.from(small.labels)).toEqual(Array.from(big.labels.subarray(0, n)));
          // each result has its own buffer (the caller may transfer one without the other)
          expect(small.x.data.buffer).not.toBe(small.labels.buffer);
        }
      }
    }
  });

  it('samplePrompts: a small batch holds the first prompts of a large one', () => {
    const prior = MixturePrior.sphere({ k: 3, dim: 4, radius: 3, sigma: 0.5, minSeparation: 1, weights: { dirichlet: 0.8 } });
    for (const dtype of ['f32', 'f64'] as const) {
      const big = prior.samplePrompts(100, 40, { seed: 3, dtype });
      for (const b of [0, 1, 2]) {
        const small = prior.samplePrompts(b, 40, { seed: 3, dtype });
        expect(small.x.shape).toEqual([b, 40, 4]);
        expect(small.means.shape).toEqual([b, 3, 4]);
        expect(small.weights.shape).toEqual([b, 3]);
        expect(small.x.data.constructor).toBe(big.x.data.constructor);
        expect(small.means.data.constructor).toBe(big.means.data.constructor);
        expect(Array.from(small.x.data)).toEqual(Array.from(big.x.data.subarray(0, b * 160)));
        expect(Array.from(small.labels)).toEqual(Array.from(big.labels.subarray(0, b * 40)));
        expect(Array.from(small.means.data)).toEqual(Array.from(big.means.data.subarray(0, b * 12)));
        expect(Array.from(small.weights.data)).toEqual(Array.from(big.weights.data.subarray(0, b * 3)));
      }
    }
  });

  it('samplePrompts: a small draw that cannot meet minSeparation is refused as a large one is', () => {
    const prior = MixturePrior.sphere({ k: 4, dim: 1, radius: 1, sigma: 0.1, minSeparation: 1.5 });
    expect(() => prior.samplePrompts(1, 2, { seed: 1 })).toThrow(/minSeparation/);
    expect(() => prior.samplePrompts(500, 64, { seed: 1 })).toThrow(/minSeparation/);
  });
});
