// Model C through the public API (attention, attentionBackward, AttentionLayer) against the
// materialised plain-TypeScript reference, over shapes, masks and dtypes; the reference itself
// against finite differences; thread-count independence; the layer's training.
import { afterAll, describe, expect, it } from 'vitest';
import {
  AttentionLayer,
  attention,
  attentionBackward,
  attentionBackwardSync,
  attentionSync,
  getThreads,
  identityAttentionSync,
  identityWeights,
  MixturePrior,
  setThreads,
  type AttentionTrainOptions,
  type AttentionWeights,
  type Tensor,
} from '../src/index';
import { attentionBackwardRef, attentionRef, maxAbs, maxAbsDiff, normals, rng, type AttentionWeightsRef, type MaskRef } from './reference';

const threads = getThreads();
afterAll(() => setThreads(threads));

interface Case {
  b: number;
  l: number;
  d: number;
  h: number;
  dk: number;
  dv: number;
}

const CASES: Case[] = [
  { b: 1, l: 1, d: 1, h: 1, dk: 1, dv: 1 },
  { b: 2, l: 5, d: 3, h: 2, dk: 4, dv: 2 },
  { b: 1, l: 9, d: 8, h: 3, dk: 8, dv: 8 },
  { b: 3, l: 65, d: 7, h: 1, dk: 9, dv: 17 },
  { b: 1, l: 130, d: 16, h: 2, dk: 8, dv: 8 },
];

function nested(v: number[], dims: number[]): number[][][] {
  const [h, r, c] = dims as [number, number, number];
  return Array.from({ length: h }, (_, k) => Array.from({ length: r }, (_, i) => v.slice((k * r + i) * c, (k * r + i + 1) * c)));
}

function make(c: Case, seed: number, dtype: 'f32' | 'f64') {
  const next = rng(seed);
  const arr = (n: number, s: number) => normals(next, n).map((z) => z * s);
  const F = dtype === 'f32' ? Float32Array : Float64Array;
  const shapes = { wq: [c.h, c.d, c.dk], wk: [c.h, c.d, c.dk], wv: [c.h, c.d, c.dv], wo: [c.h, c.dv, c.d] };
  const w = Object.fromEntries(Object.entries(shapes).map(([k, s]) => [k, { shape: s, data: F.from(arr(s[0]! * s[1]! * s[2]!, 0.5)) }])) as unknown as AttentionWeights;
  // The reference gets the values the native call sees (rounded to f32 when dtype is f32).
  const ref: AttentionWeightsRef = { wq: nested([...w.wq.data], shapes.wq), wk: nested([...w.wk.data], shapes.wk), wv: nested([...w.wv.data], shapes.wv), wo: nested([...w.wo.data], shapes.wo) };
  const x: Tensor = { shape: [c.b, c.l, c.d], data: F.from(arr(c.b * c.l * c.d, 1)) };
  const dy: Tensor = { shape: [c.b, c.l, c.d], data: F.from(arr(c.b * c.l * c.d, 1)) };
  return { w, ref, x, dy };
}

function prompts(t: Tensor): number[][][] {
  const [b, l, d] = t.shape as [number, number, number];
  return Array.from({ length: b }, (_, p) => Array.from({ length: l }, (_, i) => [...t.data.subarray((p * l + i) * d, (p * l + i + 1) * d)]));
}

const flat = (m: number[][][]): number[] => m.flat(2);

describe.each(CASES)('model C, B=$b L=$l d=$d H=$h dk=$dk dv=$dv', (c) => {
  for (const mask of ['none', 'causal', 'no-self'] as MaskRef[]) {
    if (mask === 'no-self' && c.l < 2) continue;
    for (const dtype of ['f64', 'f32'] as const) {
      it(`${mask}, ${dtype}: forward and backward match the reference`, async () => {
        const { w, ref, x, dy } = make(c, c.l * 31 + c.h, dtype);
        const lambda = 0.7;
        const xs = prompts(x);
        const dys = prompts(dy);
        const want = xs.map((xp, p) => attentionBackwardRef(xp, ref, dys[p]!, lambda, mask));
        const g = attentionBackwardSync(x, w, dy, { lambda, mask });
        // f64: ~1e-12; f32: rounding grows with the inner sizes (labelled, size-aware).
        const tol = dtype === 'f64' ? 1e-10 : 4e-6 * (c.d + c.dk + c.dv + Math.sqrt(c.l)) * 8;
        const check = (got: ArrayLike<number>, expected: number[], what: string) => {
          expect(got.length, what).toBe(expected.length);
          expect(maxAbsDiff(got, expected), what).toBeLessThanOrEqual(tol * maxAbs(expected, 1));
        };
        check(g.y.data, want.flatMap((r) => r.y.flat()), 'y');
        check(g.dx.data, want.flatMap((r) => r.dx.flat()), 'dx');
        for (const k of ['wq', 'wk', 'wv', 'wo'] as const) {
          const sum = want.map((r) => flat(r.dweights[k])).reduce((a, b2) => a.map((v, i) => v + (b2[i] as number)));
          check(g.dweights[k].data, sum, `d${k}`);
          expect(g.dweights[k].shape).toEqual(w[k].shape);
        }
        const y = attentionSync(x, w, { lambda, mask });
        expect(Array.from(y.data)).toEqual(Array.from(g.y.data));
        expect(Array.from((await attention(x, w, { lambda, mask })).data)).toEqual(Array.from(y.data));
        const ga = await attentionBackward(x, w, dy, { lambda, mask });
        expect(Array.from(ga.dx.data)).toEqual(Array.from(g.dx.data));
        expect(y.data).toBeInstanceOf(dtype === 'f32' ? Float32Array : Float64Array);
      });
    }
  }
});

describe('the model C reference', () => {
  it('matches central finite differences (f64, relative 1e-8)', () => {
    const c = { b: 1, l: 4, d: 3, h: 2, dk: 2, dv: 3 };
    for (const mask of ['none', 'causal', 'no-self'] as MaskRef[]) {
      const { ref, x, dy } = make(c, 7, 'f64');
      const xs = prompts(x)[0]!;
      const dys = prompts(dy)[0]!;
      const f = (xx: number[][], w: AttentionWeightsRef) => attentionRef(xx, w, 0.8, mask).reduce((s, r, i) => s + r.reduce((t, v, j) => t + v * dys[i]![j]!, 0), 0);
      const g = attentionBackwardRef(xs, ref, dys, 0.8, mask);
      const eps = 1e-6;
      const close = (analytic: number, up: number, down: number) => expect(Math.abs(analytic - (up - down) / (2 * eps))).toBeLessThanOrEqual(1e-8 * (1 + Math.abs(analytic)));
      xs.forEach((row, i) =>
        row.forEach((_, j) => {
          const a = xs.map((r) => [...r]);
          const b2 = xs.map((r) => [...r]);
          a[i]![j]! += eps;
          b2[i]![j]! -= eps;
          close(g.dx[i]![j]!, f(a, ref), f(b2, ref));
        }),
      );
      for (const k of ['wq', 'wk', 'wv', 'wo'] as const) {
        ref[k].forEach((m, h) =>
          m.forEach((row, i) =>
            row.forEach((_, j) => {
              const bump = (s: number): AttentionWeightsRef => {
                const copy = JSON.parse(JSON.stringify(ref)) as AttentionWeightsRef;
                copy[k][h]![i]![j]! += s;
                return copy;
              };
              close(g.dweights[k][h]![i]![j]!, f(xs, bump(eps)), f(xs, bump(-eps)));
            }),
          ),
        );
      }
    }
  });
});

describe('model C properties', () => {
  it('gives bit-identical outputs and gradients with 1 and 2 threads', () => {
    const { w, x, dy } = make({ b: 5, l: 70, d: 8, h: 2, dk: 8, dv: 8 }, 3, 'f32');
    setThreads(1);
    const g1 = attentionBackwardSync(x, w, dy, { mask: 'causal' });
    const y1 = attentionSync({ shape: [1, 300, 8], data: x.data.subarray(0, 2400) }, w);
    setThreads(2);
    const g2 = attentionBackwardSync(x, w, dy, { mask: 'causal' });
    const y2 = attentionSync({ shape: [1, 300, 8], data: x.data.subarray(0, 2400) }, w);
    expect(Array.from(g2.dx.data)).toEqual(Array.from(g1.dx.data));
    expect(Array.from(g2.dweights.wq.data)).toEqual(Array.from(g1.dweights.wq.data));
    expect(Array.from(y2.data)).toEqual(Array.from(y1.data));
  });

  it('with identity weights is identity attention (model B)', () => {
    const p = MixturePrior.sphere({ k: 2, dim: 8, radius: 3, sigma: 0.5 }).samplePrompts(3, 40, { seed: 1 });
    for (const mask of ['none', 'no-self'] as const) {
      const a = attentionSync(p.x, identityWeights(8, { dtype: 'f64' }), { lambda: 0.3, mask });
      const b = identityAttentionSync(p.x, { lambda: 0.3, excludeSelf: mask === 'no-self' });
      expect(maxAbsDiff(a.data, b.data)).toBeLessThanOrEqual(1e-12 * maxAbs(b.data, 1));
    }
  });
});

describe('model C backward when the softmax saturates (issue 9, item 6)', () => {
  // Two tokens whose scores λ⟨x_i, x_j⟩ make each row one-hot on itself at every λ ≥ 100 (the gap
  // 0.84 λ puts the other weight below e^-84): with identity weights the exact gradient is dX = dY
  // and dW_Q = dW_K = 0 (up to 1e-30). The textbook dS = P ∘ (dP − ⟨dO, O⟩) loses this by about λε.
  const x = [0.97, 1.12, -0.05, -0.18, 1.31, -1.25];
  const dy = [-0.2, -1, 0.9, 0.6, -0.5, 1.6];
  for (const dtype of ['f64', 'f32'] as const) {
    it(`${dtype}: dX = dY to 4 ulps at λ from 1e2 to 1e20`, () => {
      const F = dtype === 'f32' ? Float32Array : Float64Array;
      const eps = dtype === 'f32' ? 2 ** -23 : 2 ** -52;
      const w = identityWeights(3, { dtype });
      for (const lambda of [1e2, 1e4, 1e6, 1e10, 1e20]) {
        const g = attentionBackwardSync({ shape: [1, 2, 3], data: F.from(x) }, w, { shape: [1, 2, 3], data: F.from(dy) }, { lambda });
        expect(maxAbsDiff(g.dx.data, [...F.from(dy)]), `dx at λ = ${lambda}`).toBeLessThanOrEqual(4 * eps * 1.6);
        expect(maxAbs([...g.dweights.wq.data, ...g.dweights.wk.data], 0), `dwq, dwk at λ = ${lambda}`).toBeLessThanOrEqual(1e-30);
      }
    });
  }
});

describe('AttentionLayer', () => {
  const prior = MixturePrior.sphere({ k: 2, dim: 6, radius: 3, sigma: 0.5 });

  it('trains: the loss falls, the same seed gives the same weights, forward uses them', async () => {
    const run = async () => {
      const layer = new AttentionLayer({ dim: 6, init: { kind: 'random', seed: 4 } });
      const r = await layer.train(prior, { steps: 120, batch: 4, length: 32, lr: 0.01, seed: 9, recordEvery: 10 });
      return { layer, r };
    };
    const a = await run();
    const b = await run();
    expect(a.r.history.map((e) => e.loss)).toEqual(b.r.history.map((e) => e.loss));
    expect(Array.from(a.layer.weights.wq.data)).toEqual(Array.from(b.layer.weights.wq.data));
    const first = a.r.history[0]!.loss;
    const last = a.r.history[a.r.history.length - 1]!.loss;
    expect(last).toBeLessThan(0.7 * first);
    const x = prior.samplePrompts(2, 16, { seed: 3, dtype: 'f32' }).x;
    const y = await a.layer.forward(x);
    const z = attentionSync(x, a.layer.weights, { lambda: a.layer.lambda });
    expect(Array.from(y.data)).toEqual(Array.from(z.data));
    expect(a.layer.queryKey(0).shape).toEqual([6, 6]);
    expect(a.layer.valueOutput(0).shape).toEqual([6, 6]);
  });

  it("starts from identity weights with init 'identity' and rejects bad options", () => {
    const layer = new AttentionLayer({ dim: 4, init: 'identity', dtype: 'f64' });
    expect(Array.from(layer.queryKey(0).data)).toEqual(Array.from({ length: 16 }, (_, i) => (i % 5 === 0 ? 1 : 0)));
    expect(() => new AttentionLayer({ dim: 4, dk: 3, init: 'identity' })).toThrow(RangeError);
    expect(() => new AttentionLayer({ dim: 0 })).toThrow(/`dim`/);
    expect(() => new AttentionLayer({ dim: 4, mask: 'sideways' as never })).toThrow(/`mask` must be one of 'none', 'causal', 'no-self', got 'sideways'/);
  });

  it('takes the optimiser options of TwoHeadLayer: betas, eps and schedules, with the same defaults', async () => {
    const run = async (opts: Partial<AttentionTrainOptions>) => {
      const layer = new AttentionLayer({ dim: 3, dtype: 'f64', init: { kind: 'random', seed: 2 } });
      const r = await layer.train(MixturePrior.sphere({ k: 2, dim: 3, radius: 2, sigma: 0.5 }), { steps: 12, batch: 2, length: 8, lr: 0.02, seed: 5, recordEvery: 1, ...opts });
      return [...r.history.map((e) => e.loss), ...Array.from(layer.weights.wq.data)];
    };
    const dflt = await run({});
    // the defaults spelled out give the same bits: Adam (β₁ 0.9, β₂ 0.999, ε 1e-8), constant rate
    expect(await run({ optimizer: 'adam', schedule: 'constant' })).toEqual(dflt);
    expect(await run({ optimizer: { kind: 'adam', beta1: 0.9, beta2: 0.999, eps: 1e-8 } })).toEqual(dflt);
    // a cosine schedule with floor 1 is the constant rate
    expect(await run({ schedule: { kind: 'cosine', floor: 1 } })).toEqual(dflt);
    // and each setting reaches the core
    for (const o of [
      { optimizer: { kind: 'adam', beta1: 0.5 } },
      { optimizer: { kind: 'adam', beta2: 0.9 } },
      { optimizer: { kind: 'adam', eps: 1e-2 } },
      { schedule: { kind: 'cosine' } },
      { schedule: { kind: 'inverse-time', tau: 2 } },
      { optimizer: { kind: 'momentum', beta: 0.5 } },
      { optimizer: 'sgd' },
    ] as Partial<AttentionTrainOptions>[]) {
      expect(await run(o), JSON.stringify(o)).not.toEqual(dflt);
    }
    await expect(run({ optimizer: { kind: 'adam', beta1: 1 } })).rejects.toThrow(RangeError);
    await expect(run({ optimizer: { kind: 'adam', beta: 0.9 } as never })).rejects.toThrow(/unknown option `beta`/);
    await expect(run({ schedule: { kind: 'cosine', tau: 3 } as never })).rejects.toThrow(/unknown option `tau`/);
    await expect(run({ optimizer: 'adamw' as never })).rejects.toThrow(/`optimizer` must be one of 'sgd', 'momentum', 'adam', got 'adamw'/);
    await expect(run({ schedule: 'cosine' as never })).rejects.toThrow(TypeError);
  });
});
