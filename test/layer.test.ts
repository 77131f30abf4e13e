/**
 * TwoHeadLayer (model A) against the plain TypeScript reference (test/reference.ts):
 * forward, mean risk and mean gradient over shapes (H ∈ {1,2,3}, d ∈ {1,2,7,8,9,16,17},
 * n ∈ {1,3,1023,1025}, crossing the 1024-token reduction chunk), both score kinds, in f64 (≈1e-12
 * relative) and f32 (a tolerance proportional to the f32 epsilon and the sizes); the gradient
 * against central finite differences of the reference risk; the params getter/setter; and every
 * initialisation kind.
 */
import { describe, expect, it } from 'vitest';
import { GaussianMixture, TwoHeadLayer, type Tensor } from '../src/index';
import * as ref from './reference';

const HEADS = [1, 2, 3];
const DIMS = [1, 2, 7, 8, 9, 16, 17];
const SIZES = [1, 3, 1023, 1025];
const SCORES = ['dot', 'distance'] as const;
const LAMBDA = 0.8;
const EPS32 = 2 ** -23;

/** Tokens around two centres (so the heads' softmax is neither flat nor saturated), and heads. */
function problem(h: number, d: number, n: number, seed: number): { theta: number[][]; x: number[][] } {
  const next = ref.rng(seed);
  const z = ref.normals(next, h * d + n * d + 2 * d);
  const centres = [z.slice(0, d).map((v) => 1 + 0.5 * v), z.slice(d, 2 * d).map((v) => -0.5 + 0.5 * v)];
  const theta = ref.rows(z.slice(2 * d, 2 * d + h * d).map((v) => 0.7 * v), d);
  const x = ref.rows(
    z.slice(2 * d + h * d).map((v, i) => centres[Math.floor(i / d) % 2]![i % d]! + 0.6 * v),
    d,
  );
  return { theta, x };
}

const f32 = (m: number[][]): number[][] => m.map((r) => r.map(Math.fround));
const tensor = (m: number[][], dtype: 'f32' | 'f64'): Tensor => ({
  shape: [m.length, m[0]!.length],
  data: dtype === 'f32' ? Float32Array.from(m.flat()) : Float64Array.from(m.flat()),
});

/**
 * f32 tolerance, relative to the scale of the compared quantity (the heads' scale for outputs, the
 * risk, max(1, max|∇|) for the gradient): the kernel rounds every product and sum of a token to
 * f32, and a dot product of length d carries ≈ d·ε of relative error (plus the H-term softmax).
 * The gradient kernel also sums its per-token terms in f32 over each reduction chunk of up to
 * 1024 tokens before adding chunks in f64; a sum of m rounded terms drifts by ≈ √m·ε.
 * Worst errors observed on this test's data (|scores| ≲ 10): outputs and risk ≈ 0.6·(d + H)·ε,
 * gradient ≈ 10·ε at n ≈ 1024; the tolerances allow 4·(d + H)·ε and 4·(d + H + √m)·ε.
 */
const REDUCE_CHUNK = 1024;
function f32Tol(d: number, h: number): number {
  return 4 * (d + h) * EPS32;
}
function f32GradTol(d: number, h: number, n: number): number {
  return 4 * (d + h + Math.sqrt(Math.min(n, REDUCE_CHUNK))) * EPS32;
}

describe.each(SCORES)("forward, risk and gradient against the reference ('%s' scores)", (scores) => {
  describe.each(HEADS)('H = %i', (h) => {
    it.each(DIMS)('f64, d = %i, n ∈ {1, 3, 1023, 1025}: ≈1e-12 relative', (d) => {
      for (const n of SIZES) {
        const { theta, x } = problem(h, d, n, 1000 * h + 10 * d + n);
        const layer = new TwoHeadLayer({ dim: d, heads: h, lambda: LAMBDA, scores, init: theta });
        const xt = tensor(x, 'f64');

        const y = layer.forward(xt);
        expect(y.shape).toEqual([n, d]);
        expect(y.data).toBeInstanceOf(Float64Array);
        const yRef = ref.flat(ref.layerForward(theta, x, LAMBDA, scores));
        // outputs are convex combinations of the heads: compare at the heads' scale
        const yScale = ref.maxAbs(theta.flat(), 1);
        expect(ref.maxAbsDiff(y.data, yRef)).toBeLessThanOrEqual(1e-12 * yScale);

        const rRef = ref.layerRisk(theta, x, LAMBDA, scores);
        expect(Math.abs(layer.risk(xt) - rRef)).toBeLessThanOrEqual(1e-12 * rRef);

        const g = layer.gradient(xt);
        expect(g.shape).toEqual([h, d]);
        expect(g.data).toBeInstanceOf(Float64Array);
        const gRef = ref.flat(ref.layerGradient(theta, x, LAMBDA, scores));
        expect(ref.maxAbsDiff(g.data, gRef)).toBeLessThanOrEqual(1e-12 * ref.maxAbs(gRef, 1));
      }
    });

    it.each(DIMS)('f32, d = %i, n ∈ {1, 3, 1023, 1025}: within 4·(d + H)·ε32 (gradient 4·(d + H + √n)·ε32)', (d) => {
      for (const n of SIZES) {
        const p = problem(h, d, n, 7000 + 1000 * h + 10 * d + n);
        // The reference runs in f64 on the f32-rounded inputs: only the kernel's rounding is measured.
        const theta = f32(p.theta);
        const x = f32(p.x);
        const layer = new TwoHeadLayer({ dim: d, heads: h, lambda: LAMBDA, scores, dtype: 'f32', init: theta });
        expect(layer.params.data).toBeInstanceOf(Float32Array);
        const xt = tensor(x, 'f32');
        const tol = f32Tol(d, h);

        const y = layer.forward(xt);
        expect(y.shape).toEqual([n, d]);
        expect(y.data).toBeInstanceOf(Float32Array);
        const yRef = ref.flat(ref.layerForward(theta, x, LAMBDA, scores));
        expect(ref.maxAbsDiff(y.data, yRef)).toBeLessThanOrEqual(tol * ref.maxAbs(theta.flat(), 1));

        const rRef = ref.layerRisk(theta, x, LAMBDA, scores);
        expect(Math.abs(layer.risk(xt) - rRef)).toBeLessThanOrEqual(tol * rRef);

        const g = layer.gradient(xt);
        expect(g.data).toBeInstanceOf(Float64Array);
        const gRef = ref.layerGradient(theta, x, LAMBDA, scores);
        expect(ref.maxAbsDiff(g.data, ref.flat(gRef))).toBeLessThanOrEqual(f32GradTol(d, h, n) * ref.maxAbs(ref.flat(gRef), 1));
      }
    });
  });
});

describe('gradient against central finite differences of the reference risk (f64)', () => {
  const cases: [number, number, number][] = [
    [1, 1, 5],
    [2, 1, 9],
    [2, 2, 37],
    [3, 7, 37],
    [2, 8, 64],
    [3, 9, 20],
    [2, 16, 50],
    [3, 17, 1025],
  ];
  describe.each(SCORES)("'%s' scores", (scores) => {
    it.each(cases)('H = %i, d = %i, n = %i: relative error ≤ 1e-8', (h, d, n) => {
      const { theta, x } = problem(h, d, n, 31 * h + 7 * d + n);
      const layer = new TwoHeadLayer({ dim: d, heads: h, lambda: LAMBDA, scores, init: theta });
      const g = layer.gradient(x);
      const step = 1e-5;
      const scale = ref.maxAbs(g.data, 1e-3);
      for (let k = 0; k < h; k++) {
        for (let j = 0; j < d; j++) {
          const up = theta.map((r) => [...r]);
          const dn = theta.map((r) => [...r]);
          up[k]![j]! += step;
          dn[k]![j]! -= step;
          const fd = (ref.layerRisk(up, x, LAMBDA, scores) - ref.layerRisk(dn, x, LAMBDA, scores)) / (2 * step);
          expect(Math.abs((g.data[k * d + j] as number) - fd), `θ[${k}][${j}]`).toBeLessThanOrEqual(1e-8 * scale);
        }
      }
    });
  });

  it('a larger λ (sharper softmax) still matches', () => {
    const { theta, x } = problem(2, 4, 40, 99);
    for (const scores of SCORES) {
      const lambda = 3;
      const layer = new TwoHeadLayer({ dim: 4, heads: 2, lambda, scores, init: theta });
      const g = layer.gradient(x);
      const scale = ref.maxAbs(g.data, 1e-3);
      for (let p = 0; p < 8; p++) {
        const up = theta.map((r) => [...r]);
        const dn = theta.map((r) => [...r]);
        up[p >> 2]![p & 3]! += 1e-6;
        dn[p >> 2]![p & 3]! -= 1e-6;
        const fd = (ref.layerRisk(up, x, lambda, scores) - ref.layerRisk(dn, x, lambda, scores)) / 2e-6;
        expect(Math.abs((g.data[p] as number) - fd)).toBeLessThanOrEqual(1e-8 * scale);
      }
    }
  });
});

describe('inputs and outputs', () => {
  it('accepts number[][] and Tensors of either dtype; outputs follow the layer dtype', () => {
    const { theta, x } = problem(2, 3, 10, 5);
    for (const dtype of ['f32', 'f64'] as const) {
      const layer = new TwoHeadLayer({ dim: 3, lambda: LAMBDA, dtype, init: theta });
      const fromArrays = layer.forward(x);
      const fromF64 = layer.forward(tensor(x, 'f64'));
      const fromF32 = layer.forward(tensor(f32(x), 'f32'));
      expect(fromArrays.data).toBeInstanceOf(dtype === 'f32' ? Float32Array : Float64Array);
      expect(fromF64.data).toEqual(fromArrays.data);
      if (dtype === 'f32') expect(fromF32.data).toEqual(fromArrays.data);
      expect(layer.risk(x)).toBe(layer.risk(tensor(x, 'f64')));
    }
  });

  it('risk is the mean over tokens: duplicating the sample changes neither risk nor gradient', () => {
    const { theta, x } = problem(2, 5, 30, 8);
    const layer = new TwoHeadLayer({ dim: 5, lambda: LAMBDA, init: theta });
    expect(layer.risk([...x, ...x])).toBeCloseTo(layer.risk(x), 12);
    expect(ref.maxAbsDiff(layer.gradient([...x, ...x]).data, layer.gradient(x).data)).toBeLessThan(1e-13);
  });

  it('the layer settings are exposed', () => {
    const layer = new TwoHeadLayer({ dim: 4, heads: 3, lambda: 2.5, scores: 'distance', dtype: 'f32' });
    expect([layer.dim, layer.heads, layer.lambda, layer.scores, layer.dtype]).toEqual([4, 3, 2.5, 'distance', 'f32']);
    const dflt = new TwoHeadLayer({ dim: 4, lambda: 1 });
    expect([dflt.heads, dflt.scores, dflt.dtype]).toEqual([2, 'dot', 'f64']);
  });
});

describe('params getter and setter', () => {
  it('params is an [H, d] tensor of the layer dtype; the setter copies and converts', () => {
    for (const dtype of ['f32', 'f64'] as const) {
      const layer = new TwoHeadLayer({ dim: 3, heads: 4, lambda: 1, dtype });
      expect(layer.params.shape).toEqual([4, 3]);
      expect(layer.params.data).toBeInstanceOf(dtype === 'f32' ? Float32Array : Float64Array);
      expect(layer.params.data.length).toBe(12);

      const m = [[0.1, 0.2, 0.3], [1, 2, 3], [-1, 0, 1], [5, 6, 7]];
      layer.params = m as unknown as Tensor; // number[][] is accepted too
      expect(Array.from(layer.params.data)).toEqual(m.flat().map(dtype === 'f32' ? Math.fround : (v: number) => v));

      const other: Tensor = { shape: [4, 3], data: new Float64Array(12).fill(0.25) };
      layer.params = other;
      expect(layer.params.data).toBeInstanceOf(dtype === 'f32' ? Float32Array : Float64Array);
      expect(Array.from(layer.params.data)).toEqual(new Array(12).fill(0.25));
      // the layer does not alias a converted or copied input
      other.data[0] = 99;
      expect(layer.params.data[0]).toBe(0.25);
      expect(layer.params.shape).toEqual([4, 3]);
    }
  });

  it('setting params changes forward and risk accordingly', () => {
    const { theta, x } = problem(2, 3, 20, 17);
    const layer = new TwoHeadLayer({ dim: 3, lambda: LAMBDA });
    layer.params = tensor(theta, 'f64');
    expect(layer.risk(x)).toBeCloseTo(ref.layerRisk(theta, x, LAMBDA, 'dot'), 12);
  });

  it('rejects a wrong shape with a TypeError naming `params`', () => {
    const layer = new TwoHeadLayer({ dim: 3, heads: 2, lambda: 1 });
    expect(() => {
      layer.params = { shape: [3, 2], data: new Float64Array(6) };
    }).toThrow(TypeError);
    expect(() => {
      layer.params = { shape: [2, 3], data: new Float64Array(5) };
    }).toThrow(/`params/);
  });
});

describe('initialisation', () => {
  it("default is { kind: 'random', scale: 0.01, seed: 0 }", () => {
    const a = new TwoHeadLayer({ dim: 5, lambda: 1 });
    const b = new TwoHeadLayer({ dim: 5, lambda: 1, init: { kind: 'random', scale: 0.01, seed: 0 } });
    expect(a.params.data).toEqual(b.params.data);
    expect(ref.maxAbs(a.params.data)).toBeLessThan(0.01 * 6);
    expect(ref.maxAbs(a.params.data)).toBeGreaterThan(0);
  });

  it("'random': scale · N(0, I), deterministic in the seed, exactly proportional to scale", () => {
    const make = (scale: number, seed: number) => new TwoHeadLayer({ dim: 256, heads: 4, lambda: 1, init: { kind: 'random', scale, seed } }).params.data;
    const unit = make(1, 3);
    expect(make(1, 3)).toEqual(unit);
    expect(make(1, 4)).not.toEqual(unit);
    expect(make(0, 3).every((v) => v === 0)).toBe(true);
    const big = make(4, 3);
    unit.forEach((v, i) => expect(big[i]).toBe(4 * v));
    // 1024 standard normals: sample mean within 4 standard errors of 0, variance within 15% of 1
    const n = unit.length;
    const mean = Array.from(unit).reduce((p, q) => p + q, 0) / n;
    const variance = Array.from(unit).reduce((p, q) => p + (q - mean) ** 2, 0) / (n - 1);
    expect(Math.abs(mean)).toBeLessThan(4 / Math.sqrt(n));
    expect(Math.abs(variance - 1)).toBeLessThan(0.15);
    // f32 layers get the same draws rounded
    const f = new TwoHeadLayer({ dim: 256, heads: 4, lambda: 1, dtype: 'f32', init: { kind: 'random', scale: 1, seed: 3 } }).params.data;
    expect(f).toBeInstanceOf(Float32Array);
    expect(Array.from(f)).toEqual(Array.from(unit, Math.fround));
  });

  it("'point': every head at `at` (default the origin) plus noise · N(0, I)", () => {
    const at = [1, -2, 3];
    const exact = new TwoHeadLayer({ dim: 3, heads: 5, lambda: 1, init: { kind: 'point', at, noise: 0, seed: 1 } });
    expect(ref.rows(exact.params.data, 3)).toEqual(new Array(5).fill(at));
    const origin = new TwoHeadLayer({ dim: 3, heads: 2, lambda: 1, init: { kind: 'point', noise: 0, seed: 1 } });
    expect(Array.from(origin.params.data)).toEqual([0, 0, 0, 0, 0, 0]);

    const noisy = new TwoHeadLayer({ dim: 200, heads: 3, lambda: 1, init: { kind: 'point', at: new Array(200).fill(5), noise: 0.1, seed: 2 } });
    const dev = Array.from(noisy.params.data, (v) => v - 5);
    const sd = Math.sqrt(dev.reduce((p, q) => p + q * q, 0) / dev.length);
    expect(Math.abs(sd - 0.1)).toBeLessThan(0.015); // 600 draws: relative s.e. of the sd ≈ 3%
    const heads = ref.rows(noisy.params.data, 200);
    expect(heads[0]).not.toEqual(heads[1]); // the noise breaks the symmetry
    const again = new TwoHeadLayer({ dim: 200, heads: 3, lambda: 1, init: { kind: 'point', at: new Array(200).fill(5), noise: 0.1, seed: 2 } });
    expect(again.params.data).toEqual(noisy.params.data);
  });

  it("'data' in the constructor needs data: a TypeError pointing to initFromData", () => {
    expect(() => new TwoHeadLayer({ dim: 2, lambda: 1, init: { kind: 'data', seed: 1 } })).toThrow(TypeError);
    expect(() => new TwoHeadLayer({ dim: 2, lambda: 1, init: { kind: 'data', seed: 1 } })).toThrow(/initFromData/);
  });

  it('initFromData on a tensor puts the heads on distinct tokens, k-means++-like', () => {
    // two groups of identical tokens: after the first head, the second must come from the other group
    const x = [...new Array(10).fill([0, 0]), ...new Array(7).fill([10, 10])] as number[][];
    for (let seed = 0; seed < 10; seed++) {
      const layer = new TwoHeadLayer({ dim: 2, lambda: 1 }).initFromData(x, { seed });
      const heads = ref.rows(layer.params.data, 2).map((r) => r.join());
      expect(new Set(heads)).toEqual(new Set(['0,0', '10,10']));
    }
    // every head is a token of the data, for any H, and the draw is deterministic
    const { x: y } = problem(1, 3, 50, 4);
    const a = new TwoHeadLayer({ dim: 3, heads: 5, lambda: 1 }).initFromData(tensor(y, 'f64'), { seed: 9 });
    const b = new TwoHeadLayer({ dim: 3, heads: 5, lambda: 1 }).initFromData(y, { seed: 9 });
    expect(a.params.data).toEqual(b.params.data);
    const tokens = new Set(y.map((r) => r.join()));
    for (const r of ref.rows(a.params.data, 3)) expect(tokens.has(r.join())).toBe(true);
    // f32 layers get f32 heads
    const c = new TwoHeadLayer({ dim: 3, heads: 2, lambda: 1, dtype: 'f32' }).initFromData(y, { seed: 9 });
    expect(c.params.data).toBeInstanceOf(Float32Array);
  });

  it('initFromData on a mixture puts one head near each well-separated component', () => {
    const means = [
      [20, 0, 0],
      [0, 20, 0],
      [0, 0, 20],
    ];
    const mix = GaussianMixture.isotropic({ means, sigma: 0.5 });
    for (let seed = 0; seed < 5; seed++) {
      const layer = new TwoHeadLayer({ dim: 3, heads: 3, lambda: 1 }).initFromData(mix, { seed });
      const nearest = ref.rows(layer.params.data, 3).map((h) => {
        const dists = means.map((m) => Math.sqrt(ref.sqDist(h, m)));
        const k = dists.indexOf(Math.min(...dists));
        expect(dists[k]).toBeLessThan(4); // a token of its component: ‖x − μ‖ ≈ σ√d ≈ 0.87, centroids 28 apart
        return k;
      });
      expect(new Set(nearest).size).toBe(3);
    }
  });

  it('an explicit init: a Tensor or number[][] of shape [H, d]', () => {
    const m = [
      [1, 2],
      [3, 4],
      [5.1, 6],
    ];
    const a = new TwoHeadLayer({ dim: 2, heads: 3, lambda: 1, init: m });
    expect(Array.from(a.params.data)).toEqual(m.flat());
    const t: Tensor = { shape: [3, 2], data: Float64Array.from(m.flat()) };
    const b = new TwoHeadLayer({ dim: 2, heads: 3, lambda: 1, init: t });
    expect(Array.from(b.params.data)).toEqual(m.flat());
    t.data[0] = 42; // the layer keeps its own copy
    expect(b.params.data[0]).toBe(1);
    const c = new TwoHeadLayer({ dim: 2, heads: 3, lambda: 1, dtype: 'f32', init: t });
    expect(c.params.data).toBeInstanceOf(Float32Array);
    expect(Array.from(c.params.data)).toEqual([42, 2, 3, 4, Math.fround(5.1), 6]);
    expect(() => new TwoHeadLayer({ dim: 2, heads: 2, lambda: 1, init: m })).toThrow(TypeError);
    expect(() => new TwoHeadLayer({ dim: 2, heads: 2, lambda: 1, init: m })).toThrow(/`init`/);
  });
});

describe('edges (issue 10)', () => {
  it('initFromData at 1e-300 picks three distinct points for three heads (distances no longer underflow)', () => {
    const pts = [
      [1, 0],
      [1.1, 0],
      [0, 1],
      [0, 1.1],
    ];
    for (const s of [1, 1e-300, 1e-310, 1e300]) {
      const x = pts.map((p) => p.map((v) => v * s));
      for (let seed = 0; seed < 10; seed++) {
        const l = new TwoHeadLayer({ dim: 2, heads: 3, lambda: 1 }).initFromData(x, { seed });
        const rows = new Set([0, 1, 2].map((h) => `${l.params.data[2 * h]},${l.params.data[2 * h + 1]}`));
        expect(rows.size, `scale ${s}, seed ${seed}`).toBe(3);
      }
    }
  });

  it('trains at λ = 1e300 on tokens of norm ≈ 22, where forward and gradient are exact (was refused up front)', async () => {
    const m = GaussianMixture.isotropic({ means: [[20, 0], [0, 20]], sigma: 1 });
    const x = m.sample(500, { seed: 1 }).x;
    const layer = new TwoHeadLayer({ dim: 2, lambda: 1e300 }).initFromData(x, { seed: 1 });
    const risk0 = layer.risk(x);
    expect(Number.isFinite(risk0)).toBe(true);
    const r = await layer.train(x, { steps: 5, lr: 0.01, seed: 0 });
    expect(r.history[0]!.risk).toBeCloseTo(risk0, 12);
    expect(r.history.every((e) => Number.isFinite(e.risk))).toBe(true);
    const online = await layer.train(m, { steps: 3, lr: 0.01, seed: 0, batch: 100 });
    expect(online.history.every((e) => Number.isFinite(e.risk))).toBe(true);
  });

  it('train names `source` in its errors (not `x`), and an overflow at the start is not called a divergence', async () => {
    const layer = new TwoHeadLayer({ dim: 2, lambda: 1 });
    const err = (await layer.train([[1e200, 0], [0, 1e200]], { steps: 2, lr: 0.1, seed: 0 }).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(RangeError);
    expect(err.message).toMatch(/`source`/);
    expect(err.message).not.toMatch(/`x`|diverged/);
    const nan = (await layer.train([[NaN, 0]], { steps: 1, lr: 0.1, seed: 0 }).catch((e: unknown) => e)) as Error;
    expect(nan.message).toMatch(/`source/);
  });
});
