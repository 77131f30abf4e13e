/**
 * Results never depend on the number of threads (SPEC §1, §5): with `setThreads(1)` and
 * `setThreads(2)` the samples (n = 5000 crosses the 1024-draw chunks), prompts, identity-attention
 * outputs, risk and gradient, and a whole training trajectory (history and final parameters) are
 * bit-identical. Training is also independent of how it is cut into native calls: a different
 * `recordEvery` gives the same final parameters and the same risks at common steps.
 * The thread count is restored afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  GaussianMixture,
  MixturePrior,
  TwoHeadLayer,
  getThreads,
  identityAttention,
  identityAttentionSync,
  setThreads,
  type TrainResult,
} from '../src/index';

let original = 0;
beforeAll(() => {
  original = getThreads();
});
afterAll(() => {
  setThreads(original);
});

/** Runs `f` with 1 thread and then with 2, and returns both results. */
async function withOneAndTwo<T>(f: () => T | Promise<T>): Promise<[T, T]> {
  setThreads(1);
  expect(getThreads()).toBe(1);
  const one = await f();
  setThreads(2);
  expect(getThreads()).toBe(2);
  const two = await f();
  return [one, two];
}

const mixture = GaussianMixture.isotropic({
  means: [
    [2, 0, 0, 0, 1, 0, 0, 0],
    [0, 2, 0, 0, 0, -1, 0, 0],
  ],
  sigma: [0.7, 1],
  weights: [0.4, 0.6],
});

describe('bit-identical with 1 and 2 threads', () => {
  it('mixture samples (sync and async, f32 and f64)', async () => {
    for (const dtype of ['f32', 'f64'] as const) {
      const [a, b] = await withOneAndTwo(() => mixture.sample(5000, { seed: 7, stream: 3, dtype }));
      expect(b.x.data).toEqual(a.x.data);
      expect(b.labels).toEqual(a.labels);
      const [c, e] = await withOneAndTwo(() => mixture.sampleAsync(5000, { seed: 7, stream: 3, dtype }));
      expect(c.x.data).toEqual(a.x.data);
      expect(e.x.data).toEqual(a.x.data);
    }
  });

  it('prompts', async () => {
    const prior = MixturePrior.sphere({ k: 3, dim: 16, radius: 3, sigma: 0.5, minSeparation: 1 });
    const [a, b] = await withOneAndTwo(() => prior.samplePrompts(12, 300, { seed: 4 }));
    expect(b.x.data).toEqual(a.x.data);
    expect(b.labels).toEqual(a.labels);
    expect(b.means.data).toEqual(a.means.data);
    const [c, e] = await withOneAndTwo(() => prior.samplePromptsAsync(12, 300, { seed: 4, dtype: 'f32' }));
    expect(e.x.data).toEqual(c.x.data);
  });

  it('identity attention, one long prompt (rows in parallel) and a batch (prompts in parallel)', async () => {
    const prior = MixturePrior.sphere({ k: 2, dim: 16, radius: 3, sigma: 0.5 });
    const one = prior.samplePrompts(1, 400, { seed: 5 }).x;
    const many = prior.samplePrompts(6, 150, { seed: 6, dtype: 'f32' }).x;
    const single = { shape: [400, 16], data: one.data };
    for (const scores of ['dot', 'distance'] as const) {
      for (const x of [single, many]) {
        const o = { lambda: 0.3, scores, depth: 2 };
        const [a, b] = await withOneAndTwo(() => identityAttentionSync(x, o));
        expect(b.data).toEqual(a.data);
        const [c, e] = await withOneAndTwo(() => identityAttention(x, { ...o, excludeSelf: true, residual: true }));
        expect(e.data).toEqual(c.data);
      }
    }
  });

  it('risk and gradient (n = 5000, several reduction chunks)', async () => {
    for (const dtype of ['f32', 'f64'] as const) {
      for (const scores of ['dot', 'distance'] as const) {
        const x = mixture.sample(5000, { seed: 1, dtype }).x;
        const layer = new TwoHeadLayer({ dim: 8, heads: 3, lambda: 0.9, scores, dtype, init: { kind: 'random', scale: 1, seed: 2 } });
        const [a, b] = await withOneAndTwo(() => ({ risk: layer.risk(x), grad: layer.gradient(x).data, y: layer.forward(x).data }));
        expect(b.risk).toBe(a.risk);
        expect(b.grad).toEqual(a.grad);
        expect(b.y).toEqual(a.y);
      }
    }
  });

  it('a full online-SGD training trajectory (history and final params)', async () => {
    const run = (): Promise<TrainResult> =>
      new TwoHeadLayer({ dim: 8, lambda: 1, init: { kind: 'random', scale: 0.01, seed: 1 } }).train(mixture, {
        steps: 120,
        batch: 3000, // three sampling chunks per step
        lr: 0.05,
        seed: 11,
        optimizer: 'adam',
        recordEvery: 10,
      });
    const [a, b] = await withOneAndTwo(run);
    expect(a.history.length).toBe(13);
    expect(b.history).toEqual(a.history);
    expect(b.params.data).toEqual(a.params.data);
  });

  it('a full-batch training trajectory (f32)', async () => {
    const x = mixture.sample(5000, { seed: 2, dtype: 'f32' }).x;
    const run = (): Promise<TrainResult> =>
      new TwoHeadLayer({ dim: 8, lambda: 1, dtype: 'f32', init: { kind: 'point', noise: 0.1, seed: 3 } }).train(x, {
        steps: 40,
        lr: 0.1,
        seed: 0,
        optimizer: { kind: 'momentum', beta: 0.8 },
        means: mixture.means,
      });
    const [a, b] = await withOneAndTwo(run);
    expect(b.history).toEqual(a.history);
    expect(b.params.data).toEqual(a.params.data);
  });
});

describe('training does not depend on how it is chunked', () => {
  const train = (recordEvery?: number): Promise<TrainResult> =>
    new TwoHeadLayer({ dim: 8, lambda: 1.5, init: { kind: 'random', scale: 0.01, seed: 4 } }).train(mixture, {
      steps: 200,
      batch: 1500,
      lr: 0.03,
      seed: 5,
      schedule: { kind: 'cosine', floor: 0.1 },
      ...(recordEvery === undefined ? {} : { recordEvery }),
    });

  it('recordEvery 1, 7, 50 and the default give the same final params and the same risks at common steps', async () => {
    const runs = await Promise.all([train(1), train(7), train(50), train()]);
    const [every1] = runs;
    const byStep = new Map(every1!.history.map((e) => [e.step, e]));
    expect(every1!.history.length).toBe(201);
    for (const r of runs) {
      expect(r.params.data).toEqual(every1!.params.data);
      for (const e of r.history) {
        const same = byStep.get(e.step);
        expect(same, `step ${e.step}`).toBeDefined();
        expect(e).toEqual(same);
      }
      // the last entry is the final point
      expect(r.history[r.history.length - 1]!.step).toBe(200);
    }
    expect(runs[1]!.history.map((e) => e.step).slice(0, 4)).toEqual([0, 7, 14, 21]);
  });

  it('onStep sees exactly the recorded history, in order', async () => {
    const seen: number[] = [];
    const layer = new TwoHeadLayer({ dim: 8, lambda: 1, init: { kind: 'random', scale: 0.01, seed: 4 } });
    const r = await layer.train(mixture, { steps: 30, batch: 100, lr: 0.05, seed: 1, recordEvery: 4, onStep: (e) => seen.push(e.step) });
    expect(seen).toEqual(r.history.map((e) => e.step));
    expect(seen).toEqual([0, 4, 8, 12, 16, 20, 24, 28, 30]);
    expect(layer.params.data).toEqual(r.params.data);
  });
});
