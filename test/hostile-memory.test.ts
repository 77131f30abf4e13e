/**
 * The memory guard (src/memory.ts): a call whose buffers would exceed the limit is refused before
 * anything is allocated, with a RangeError that names the argument that sets the size and states
 * the size and the limit (in binary units); a call under the limit works. The limit is set by
 * `setMemoryLimit(bytes)`, else `ATTNCLUST_MEMORY_LIMIT`, else half of the available memory at
 * first use.
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as api from '../src/index';
import type { Tensor } from '../src/index';
import { cleanupIsolated, runIsolated } from './helpers/isolated';
import { native } from '../src/native';

afterAll(() => cleanupIsolated());

const MiB = 2 ** 20;
let saved = 0;
beforeEach(() => {
  saved = api.setMemoryLimit(4 * MiB);
});
afterEach(() => {
  api.setMemoryLimit(saved);
});

/** A RangeError naming `arg`, with a size in binary units and the limit of 4.0 MiB. */
function refused(f: () => unknown, arg: string): void {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected a RangeError, got no error').toBeInstanceOf(RangeError);
  const m = (err as Error).message;
  expect(m).toContain(`\`${arg}\``);
  expect(m).toMatch(/about \d+(\.\d)? (KiB|MiB|GiB|TiB|PiB)/);
  expect(m).toContain('memory limit of 4.0 MiB');
}

async function refusedAsync(f: () => Promise<unknown>, arg: string): Promise<void> {
  const err = await f().then(
    () => undefined,
    (e: unknown) => e,
  );
  refused(() => {
    if (err) throw err;
  }, arg);
}

const f64 = (shape: number[], fill = (i: number) => Math.sin(i)): Tensor => ({ shape, data: Float64Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => fill(i)) });

describe('a small limit: over it a RangeError with the size, under it the call works', () => {
  const gmm = api.GaussianMixture.isotropic({ means: [[0, 0], [3, 3]], sigma: 1 });

  it('GaussianMixture.sample / sampleAsync (n · d)', async () => {
    refused(() => gmm.sample(1_000_000, { seed: 0 }), 'n'); // 16 MB of x
    await refusedAsync(() => gmm.sampleAsync(1_000_000, { seed: 0 }), 'n');
    expect(gmm.sample(100_000, { seed: 0 }).x.data.length).toBe(200_000); // 1.6 MB
    expect((await gmm.sampleAsync(100_000, { seed: 0, dtype: 'f32' })).x.data.length).toBe(200_000);
  });

  it('MixturePrior.samplePrompts (B · L · d + B · K · d)', async () => {
    const prior = api.MixturePrior.sphere({ k: 2, dim: 8, radius: 3, sigma: 0.5 });
    refused(() => prior.samplePrompts(100, 1000, { seed: 0 }), 'batch');
    await refusedAsync(() => prior.samplePromptsAsync(100, 1000, { seed: 0 }), 'length');
    expect(prior.samplePrompts(10, 100, { seed: 0 }).x.shape).toEqual([10, 100, 8]);
    // ≈ 2.9 MiB of arrays, drawn in place by the core (TypeScript once counted them twice: refused)
    expect(prior.samplePrompts(50, 900, { seed: 0 }).x.shape).toEqual([50, 900, 8]);
    expect(prior.samplePrompts(50, 900, { seed: 0, dtype: 'f32' }).x.shape).toEqual([50, 900, 8]);
  });

  it('planning beside the kernels: the matching counts its transposed costs, quantizationRatio copies only mixed types', () => {
    // H > K: cost, relative errors and the transposed cost, 24·H·K bytes (≈ 4.6 MiB here)
    refused(() => api.matching(f64([500, 2]), f64([400, 2], (i) => Math.cos(i))), 'params');
    expect(api.matching(f64([40, 2]), f64([30, 2], (i) => Math.cos(i))).pairs.length).toBe(30);
    // x, y and means of one float type are read in place: nothing to widen (≈ 9 MiB if they were)
    const n = 300_000;
    const x = f64([n, 2]);
    const y = f64([n, 2], (i) => Math.sin(i) * 0.5);
    const means = f64([2, 2], (i) => i);
    const labels = new Uint32Array(n).map((_, i) => i % 2);
    expect(api.quantizationRatio(x, y, means, labels)).toBeGreaterThan(0);
    refused(() => api.quantizationRatio(x, { shape: y.shape, data: Float32Array.from(y.data) }, means, labels), 'x');
  });

  it('identityAttention(Sync): the kernel’s two work buffers and the async copy', async () => {
    const big = f64([40, 512, 16]); // 2.6 MB of input: about 7.9 MB at the peak
    refused(() => api.identityAttentionSync(big), 'x');
    await refusedAsync(() => api.identityAttention(big), 'x');
    expect(api.identityAttentionSync(f64([4, 512, 16])).shape).toEqual([4, 512, 16]);
  });

  it('attention / attentionBackward (model C): backward holds several B·H·L·d buffers', async () => {
    const w = api.identityWeights(16, { heads: 2, dtype: 'f64' });
    const x = f64([20, 256, 16]); // 655 KB
    // forward: copies of x, y and one output per (prompt, head) ≈ 4 × x: accepted
    expect(api.attentionSync(x, w).shape).toEqual([20, 256, 16]);
    expect((await api.attention(x, w)).shape).toEqual([20, 256, 16]);
    // backward: x, dy, y, dx and, per (prompt, head), its y and dx parts ≈ 8 × x: refused
    refused(() => api.attentionBackwardSync(x, w, x), 'x');
    await refusedAsync(() => api.attentionBackward(x, w, x), 'x');
    expect(api.attentionBackwardSync(f64([4, 256, 16]), w, f64([4, 256, 16])).dx.shape).toEqual([4, 256, 16]);
    refused(() => api.attentionSync(f64([80, 256, 16]), w), 'x');
  });

  it('TwoHeadLayer forward / gradient, and training from a fixed sample', async () => {
    const layer = new api.TwoHeadLayer({ dim: 8, lambda: 1 });
    const big = f64([100_000, 8]); // 6.4 MB out
    refused(() => layer.forward(big), 'x');
    expect(layer.forward(f64([10_000, 8])).shape).toEqual([10_000, 8]);
    // the gradient keeps a partial H × d gradient per 1024 tokens: tiny, so a large x is fine
    expect(layer.gradient(f64([60_000, 8])).shape).toEqual([2, 8]);
    await refusedAsync(() => layer.train(big, { steps: 1, lr: 0.1, seed: 0 }), 'source');
    const r = await layer.train(f64([1000, 8]), { steps: 2, lr: 0.1, seed: 0 });
    expect(r.history.length).toBeGreaterThan(0);
  });

  it('online training streams its batches: a large batch is not refused for its size', async () => {
    const layer = new api.TwoHeadLayer({ dim: 2, lambda: 1 });
    const r = await layer.train(gmm, { steps: 1, batch: 1_000_000, lr: 0.1, seed: 0 });
    expect(r.history.length).toBe(2);
  });

  it('kmeans / kmeansAsync / em', async () => {
    const big = f64([200_000, 2]);
    refused(() => api.kmeans(big, 2, { seed: 0 }), 'x');
    await refusedAsync(() => api.kmeansAsync(big, 2, { seed: 0 }), 'x');
    refused(() => api.em(big, 2, { seed: 0 }), 'x');
    expect(api.kmeans(f64([1000, 2]), 2, { seed: 0 }).centers.shape).toEqual([2, 2]);
  });

  it("kmeans / em are refused at the bytes the core plans (baselines::peak_bytes, no formula in TypeScript)", () => {
    const x = f64([5000, 3]);
    for (const dtype of ['f32', 'f64'] as const) {
      const t = dtype === 'f64' ? x : { shape: x.shape, data: Float32Array.from(x.data) };
      const planned = native.baselinesPeakBytes(5000, 3, 4, dtype);
      expect(planned).toBeGreaterThan(5000 * 3 * (dtype === 'f32' ? 4 : 8));
      api.setMemoryLimit(planned - 1);
      expect(() => api.kmeans(t, 4, { seed: 0 })).toThrow(/`x` is too large/);
      expect(() => api.em(t, 4, { seed: 0 })).toThrow(/`x` is too large/);
      api.setMemoryLimit(planned);
      expect(api.kmeans(t, 4, { seed: 0 }).centers.shape).toEqual([4, 3]);
      expect(api.em(t, 4, { seed: 0, maxIter: 2 }).means.shape).toEqual([4, 3]);
    }
  });

  it('metrics: the matching’s cost matrix, the widened copies, the contingency table', () => {
    refused(() => api.metrics.alignment(f64([1000, 2]), f64([1000, 2])), 'params'); // 16 MB of costs
    expect(api.metrics.alignment(f64([100, 2]), f64([100, 2]))).toBeGreaterThan(-1);
    const x = f64([100_000, 4]);
    // x and y of different float types are widened to f64 copies (one type is read in place: below)
    refused(() => api.metrics.quantizationRatio(x, { shape: x.shape, data: Float32Array.from(x.data) }, f64([2, 4]), new Uint32Array(100_000)), 'x');
    // the contingency table is sparse: O(n) memory (a dense 2000 × 2000 table was refused here)
    const ids = Uint32Array.from({ length: 100_000 }, (_, i) => i);
    refused(() => api.metrics.adjustedRandIndex(ids, ids), 'a'); // hash tables of 100 000 entries
    expect(api.metrics.adjustedRandIndex(ids.subarray(0, 2000), ids.subarray(0, 2000))).toBe(1);
  });

  it('TwoHeadLayer: its parameters and initFromData at the bytes the addon plans', () => {
    // initFromData widens the tokens to f64 and the core rescales them into a copy: 16·n·d + 8·n
    // bytes (≈ 6.5 MiB here; TypeScript once counted 8·n·d + 16·n, ≈ 3.8 MiB, and let it through)
    refused(() => new api.TwoHeadLayer({ dim: 8, lambda: 1 }).initFromData(f64([50_000, 8]), { seed: 0 }), 'source');
    expect(new api.TwoHeadLayer({ dim: 8, lambda: 1 }).initFromData(f64([20_000, 8]), { seed: 0 }).params.shape).toEqual([2, 8]);
    const planned = native.headsLayerPeakBytes(3, 20_000, 'f64');
    api.setMemoryLimit(planned - 1);
    expect(() => new api.TwoHeadLayer({ dim: 20_000, heads: 3, lambda: 1 })).toThrow(/too large/);
    api.setMemoryLimit(planned);
    expect(new api.TwoHeadLayer({ dim: 20_000, heads: 3, lambda: 1 }).heads).toBe(3);
  });

  it('layers whose parameters alone exceed the limit', () => {
    refused(() => new api.TwoHeadLayer({ dim: 1 << 20, heads: 4, lambda: 1 }), 'heads');
    refused(() => new api.AttentionLayer({ dim: 512, heads: 4 }), 'dim');
    refused(() => api.identityWeights(1024, { heads: 4 }), 'dim');
  });
});

describe('the default limit, the environment variable and setMemoryLimit', () => {
  it('with the default limit, gmm.sample(2^32 − 1) in d = 1000 is refused at once, not attempted', async () => {
    const r = await runIsolated(
      `
      const gmm = api.GaussianMixture.isotropic({ means: [new Array(1000).fill(0)], sigma: 1 });
      const t = Date.now();
      try { gmm.sample(2 ** 32 - 1, { seed: 0 }); console.log('sampled?'); }
      catch (e) { console.log(JSON.stringify({ cls: e.constructor.name, msg: e.message, ms: Date.now() - t, limit: api.getMemoryLimit(), free: require('os').freemem() })); }
      `,
      20_000,
    );
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim()) as { cls: string; msg: string; ms: number; limit: number; free: number };
    expect(out.cls).toBe('RangeError');
    expect(out.msg).toContain('`n`');
    expect(out.msg).toMatch(/about 3\d\.\d TiB/); // (2^32 − 1) × 1000 × 8 bytes ≈ 32 TiB
    expect(out.msg).toMatch(/memory limit of \d+(\.\d)? (MiB|GiB)/);
    expect(out.ms).toBeLessThan(100);
    // the default: half of the memory available at first use
    expect(out.limit).toBeGreaterThan(0.3 * out.free);
    expect(out.limit).toBeLessThan(0.7 * out.free + 1);
  });

  it('ATTNCLUST_MEMORY_LIMIT sets the limit (bytes or binary units); a bad value is a RangeError naming it', async () => {
    for (const [v, want] of [
      ['536870912', 512 * MiB],
      ['512MiB', 512 * MiB],
      ['1.5G', 1.5 * 2 ** 30],
      ['64k', 64 * 1024],
      ['Infinity', Infinity],
    ] as const) {
      const s = await runIsolated(`process.env.ATTNCLUST_MEMORY_LIMIT = ${JSON.stringify(v)}; console.log(api.getMemoryLimit());`, 20_000);
      expect(Number(s.stdout.trim()), `${v}: ${s.stderr}`).toBe(want);
    }
    const bad = await runIsolated(
      `process.env.ATTNCLUST_MEMORY_LIMIT = 'lots';
       try { api.GaussianMixture.isotropic({ means: [[0]], sigma: 1 }).sample(10, { seed: 0 }); console.log('no error'); }
       catch (e) { console.log(e.constructor.name, e.message); }`,
      20_000,
    );
    expect(bad.stdout).toMatch(/^RangeError `ATTNCLUST_MEMORY_LIMIT` must be/);
  });

  it('setMemoryLimit checks its argument, returns the previous limit; Infinity turns the guard off', () => {
    expect(api.setMemoryLimit(123_456)).toBe(4 * MiB);
    expect(api.getMemoryLimit()).toBe(123_456);
    for (const bad of [0, -1, NaN, 1.5, -Infinity]) expect(() => api.setMemoryLimit(bad)).toThrow(RangeError);
    expect(() => api.setMemoryLimit('1GiB' as never)).toThrow(TypeError);
    expect(() => api.setMemoryLimit(0)).toThrow(/`bytes`/);
    api.setMemoryLimit(Infinity);
    expect(api.getMemoryLimit()).toBe(Infinity);
    expect(api.GaussianMixture.isotropic({ means: [[0]], sigma: 1 }).sample(10, { seed: 0 }).x.data.length).toBe(10);
  });

});
