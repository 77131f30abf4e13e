/**
 * Cancellation: every long call takes a `signal`, which sets a native token that the kernels check
 * at each chunk boundary (a block of queries, a chunk of samples, a training step, a k-means pass).
 * Training rejects with an AbortError and keeps the parameters of its last completed native call.
 * The latency from `abort()` to the rejection is measured and printed (target: 100 ms; the bounds
 * asserted are looser, for a loaded machine). The addon also stops the calls in flight when the
 * process exits or a worker is terminated: the time `process.exit()` and `worker.terminate()` are
 * held is measured too (target: 200 ms).
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import * as api from '../src/index';
import type { Tensor } from '../src/index';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts `run(signal)`, aborts after `after` ms, returns the rejection and the abort latency (ms). */
async function abortAfter(after: number, run: (signal: AbortSignal) => Promise<unknown>): Promise<{ err: unknown; latency: number; settledEarly: boolean }> {
  const ac = new AbortController();
  let settled = false;
  const p = run(ac.signal).then(
    (v) => {
      settled = true;
      return v;
    },
    (e: unknown) => {
      settled = true;
      throw e;
    },
  );
  await sleep(after);
  const settledEarly = settled;
  const t0 = performance.now();
  ac.abort();
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  return { err, latency: performance.now() - t0, settledEarly };
}

function expectAbortError(err: unknown): void {
  expect(err, 'expected a rejection').toBeInstanceOf(Error);
  expect((err as Error).name).toBe('AbortError');
}

const latencies: string[] = [];
function report(name: string, ms: number): void {
  latencies.push(`${name}: ${ms.toFixed(1)} ms`);
  console.log(`abort latency, ${name}: ${ms.toFixed(1)} ms`);
}

describe('training stops within one chunk of work', () => {
  it('TwoHeadLayer.train (online, d = 64, batch 4096, 10^6 steps): aborted after 200 ms, rejects in < 1 s', async () => {
    const means = [Array.from({ length: 64 }, (_, i) => (i === 0 ? 4 : 0)), Array.from({ length: 64 }, (_, i) => (i === 1 ? 4 : 0))];
    const gmm = api.GaussianMixture.isotropic({ means, sigma: 1 });
    const layer = new api.TwoHeadLayer({ dim: 64, lambda: 1, init: { kind: 'random', scale: 0.01, seed: 1 } });
    const before = layer.params.data.slice();
    const steps: number[] = [];
    const { err, latency, settledEarly } = await abortAfter(200, (signal) =>
      layer.train(gmm, { steps: 1_000_000, batch: 4096, lr: 0.05, seed: 2, signal, onStep: (e) => steps.push(e.step) }),
    );
    expect(settledEarly).toBe(false);
    expectAbortError(err);
    report('TwoHeadLayer.train online', latency);
    expect(latency).toBeLessThan(1000);
    // it did work, and kept it: finite parameters that moved
    expect(steps.length).toBeGreaterThan(0);
    expect(layer.params.data.every(Number.isFinite)).toBe(true);
    expect(Array.from(layer.params.data)).not.toEqual(Array.from(before));
  });

  it('TwoHeadLayer.train (fixed sample of 200 000 tokens, d = 32): rejects in < 1 s', async () => {
    const gmm = api.GaussianMixture.isotropic({ means: [Array(32).fill(1), Array(32).fill(-1)], sigma: 1 });
    const x = gmm.sample(200_000, { seed: 1 }).x;
    const layer = new api.TwoHeadLayer({ dim: 32, lambda: 1 });
    const { err, latency } = await abortAfter(200, (signal) => layer.train(x, { steps: 1_000_000, lr: 0.05, seed: 2, signal }));
    expectAbortError(err);
    report('TwoHeadLayer.train full batch', latency);
    expect(latency).toBeLessThan(1000);
  });

  it('tiny steps: d = 1, batch 1, 10^12 steps still stops in < 1 s', async () => {
    const gmm = api.GaussianMixture.isotropic({ means: [[1], [-1]], sigma: 0.5 });
    const layer = new api.TwoHeadLayer({ dim: 1, lambda: 1 });
    const { err, latency } = await abortAfter(200, (signal) => layer.train(gmm, { steps: 1e12, batch: 1, lr: 0.01, seed: 2, signal }));
    expectAbortError(err);
    report('TwoHeadLayer.train tiny steps', latency);
    expect(latency).toBeLessThan(1000);
  });

  it('the parameters kept are exactly those reached: equal to a run stopped at that step', async () => {
    const gmm = api.GaussianMixture.isotropic({ means: [[3, 0, 0, 0], [0, 3, 0, 0]], sigma: 1 });
    const opts = { batch: 2048, lr: 0.05, seed: 7, recordEvery: 1, optimizer: 'adam' as const };
    const layer = new api.TwoHeadLayer({ dim: 4, lambda: 1, init: { kind: 'random', scale: 0.1, seed: 3 } });
    let last = -1;
    const { err } = await abortAfter(150, (signal) => layer.train(gmm, { ...opts, steps: 1_000_000, signal, onStep: (e) => (last = e.step) }));
    expectAbortError(err);
    expect(last).toBeGreaterThanOrEqual(0);
    // recordEvery = 1: each native call is one step; step `last` was recorded before its call, which
    // completed (the loop checks the signal only between calls), so `last + 1` steps were done
    const again = new api.TwoHeadLayer({ dim: 4, lambda: 1, init: { kind: 'random', scale: 0.1, seed: 3 } });
    await again.train(gmm, { ...opts, steps: last + 1 });
    expect(Array.from(layer.params.data)).toEqual(Array.from(again.params.data));
  });

  it('AttentionLayer.train (B = 16, L = 128, d = 16): rejects in < 1 s, weights kept finite', async () => {
    const prior = api.MixturePrior.sphere({ k: 2, dim: 16, radius: 3, sigma: 0.5 });
    const layer = new api.AttentionLayer({ dim: 16 });
    const { err, latency } = await abortAfter(200, (signal) => layer.train(prior, { steps: 1_000_000, batch: 16, length: 128, lr: 0.01, seed: 1, signal }));
    expectAbortError(err);
    report('AttentionLayer.train', latency);
    expect(latency).toBeLessThan(1000);
    expect(api.attentionSync({ shape: [1, 2, 16], data: new Float32Array(32).fill(1) }, layer.weights).data.every(Number.isFinite)).toBe(true);
  });

  it('an already-aborted signal rejects at once, before any work', async () => {
    const layer = new api.TwoHeadLayer({ dim: 2, lambda: 1 });
    const before = Array.from(layer.params.data);
    const ac = new AbortController();
    ac.abort();
    const gmm = api.GaussianMixture.isotropic({ means: [[1, 0]], sigma: 1 });
    expectAbortError(await layer.train(gmm, { steps: 10, batch: 8, lr: 0.1, seed: 0, signal: ac.signal }).catch((e: unknown) => e));
    expect(Array.from(layer.params.data)).toEqual(before);
    expectAbortError(await gmm.sampleAsync(10, { seed: 0, signal: ac.signal }).catch((e: unknown) => e));
    expectAbortError(await api.identityAttention([[1, 2]], { signal: ac.signal }).catch((e: unknown) => e));
    expectAbortError(await api.kmeansAsync([[1], [2]], 1, { seed: 0, signal: ac.signal }).catch((e: unknown) => e));
  });
});

describe('other long calls take a signal', () => {
  const tokens = (b: number, l: number, d: number): Tensor => ({ shape: [b, l, d], data: Float32Array.from({ length: b * l * d }, (_, i) => Math.sin(i * 0.37)) });

  it('identityAttention on many prompts: rejects in < 1 s; the same result with a signal that never fires', async () => {
    // about 1.2 s uncancelled on 2 quiet cores: several times the 200 ms before the abort
    const x = tokens(256, 1024, 16);
    const { err, latency, settledEarly } = await abortAfter(200, (signal) => api.identityAttention(x, { depth: 8, signal }));
    expect(settledEarly).toBe(false);
    expectAbortError(err);
    report('identityAttention', latency);
    expect(latency).toBeLessThan(1000);
    // with a signal that never fires, the blocked computation equals the one-call computation
    const small = tokens(5, 300, 8);
    for (const o of [{ depth: 3, residual: true }, { depth: 2, scores: 'distance' as const, excludeSelf: true }]) {
      const a = await api.identityAttention(small, { ...o, signal: new AbortController().signal });
      expect(Array.from(a.data)).toEqual(Array.from(api.identityAttentionSync(small, o).data));
    }
  });

  it('attention (model C forward): rejects in < 1 s; the same result with a signal that never fires', async () => {
    const w = api.identityWeights(16, { heads: 2 });
    // about 1.1 s uncancelled on 2 quiet cores (256 prompts took 0.36 s once the kernels were fused)
    const x = tokens(768, 1024, 16);
    const { err, latency, settledEarly } = await abortAfter(200, (signal) => api.attention(x, w, { signal }));
    expect(settledEarly).toBe(false);
    expectAbortError(err);
    report('attention', latency);
    expect(latency).toBeLessThan(1000);
    const small = tokens(7, 200, 16);
    const a = await api.attention(small, w, { mask: 'causal', signal: new AbortController().signal });
    expect(Array.from(a.data)).toEqual(Array.from(api.attentionSync(small, w, { mask: 'causal' }).data));
  });

  it('attentionBackward, sampleAsync, samplePromptsAsync, kmeansAsync stop when aborted', async () => {
    const w = api.identityWeights(16, { heads: 2 });
    const x = tokens(64, 1024, 16);
    let r = await abortAfter(50, (signal) => api.attentionBackward(x, w, x, { signal }));
    expectAbortError(r.err);
    report('attentionBackward', r.latency);
    expect(r.latency).toBeLessThan(100);
    const gmm = api.GaussianMixture.isotropic({ means: [Array(64).fill(0)], sigma: 1 });
    r = await abortAfter(5, (signal) => gmm.sampleAsync(2_000_000, { seed: 0, signal }));
    expectAbortError(r.err);
    report('sampleAsync', r.latency);
    const prior = api.MixturePrior.gaussian({ k: 4, dim: 64, scale: 2, sigma: 1 });
    r = await abortAfter(5, (signal) => prior.samplePromptsAsync(512, 2048, { seed: 0, signal }));
    expectAbortError(r.err);
    report('samplePromptsAsync', r.latency);
    const pts = gmm.sample(200_000, { seed: 1 }).x;
    r = await abortAfter(20, (signal) => api.kmeansAsync(pts, 50, { seed: 0, signal }));
    expectAbortError(r.err);
    report('kmeansAsync', r.latency);
    expect(latencies.length).toBeGreaterThan(0);
  });
});

describe('cancellation inside one kernel call (issue 10)', () => {
  // (L = 16384 finished inside the 200 ms once the symmetric kernel took long prompts: the one
  // application must outlast the abort by far — about 3 s here — so that only checks inside the
  // kernel can meet the bound; L = 32768 without them still met it, at 500 ms)
  it('one large prompt (B = 1, L = 65536, d = 64): abort → rejection within a few blocks of queries', async () => {
    const x: Tensor = { shape: [1, 65536, 64], data: Float32Array.from({ length: 65536 * 64 }, (_, i) => Math.sin(i * 0.37)) };
    const { err, latency, settledEarly } = await abortAfter(200, (signal) => api.identityAttention(x, { signal }));
    expect(settledEarly).toBe(false);
    expectAbortError(err);
    report('identityAttention B = 1, L = 65536, d = 64', latency);
    // Target 100 ms; generous for a loaded machine (before: 5.6 s, the whole call).
    expect(latency).toBeLessThan(500);
  }, 30_000);

  // (L = 8192, d = 32 finished inside the 150 ms once the backward was fused: the call must outlast the abort)
  it('model C backward on one long prompt (L = 16384): stops within one block of keys', async () => {
    const w = api.identityWeights(64, { heads: 1 });
    const x: Tensor = { shape: [1, 16384, 64], data: Float32Array.from({ length: 16384 * 64 }, (_, i) => Math.sin(i * 0.11)) };
    const { err, latency, settledEarly } = await abortAfter(150, (signal) => api.attentionBackward(x, w, x, { signal }));
    expect(settledEarly).toBe(false);
    expectAbortError(err);
    report('attentionBackward B = 1, L = 16384, d = 64', latency);
    expect(latency).toBeLessThan(500);
  }, 30_000);
});

const root = resolve(__dirname, '..');

/** Node code that starts a long identityAttention and a long sampleAsync, then says so. */
const longWork = (req: string) => `
  const api = require(${JSON.stringify(root)});
  const x = { shape: [1, 16384, 64], data: Float32Array.from({ length: 16384 * 64 }, (_, i) => Math.sin(i * 0.37)) };
  api.identityAttention(x).catch(() => {});
  const gmm = api.GaussianMixture.isotropic({ means: [Array(64).fill(0)], sigma: 1 });
  gmm.sampleAsync(30000000, { seed: 0 }).catch(() => {});
  ${req}
`;

/**
 * Runs `code` in a child process that prints `exit <ms>` just before calling `process.exit()`;
 * resolves with how long the process then took to end (ms).
 */
async function exitHeld(code: string): Promise<number> {
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  const end = await new Promise<number>((res) => child.on('exit', () => res(Date.now())));
  const at = Number(/exit (\d+)/.exec(out)?.[1]);
  expect(Number.isFinite(at)).toBe(true);
  return end - at;
}

describe('exiting while native work runs', () => {
  it('process.exit() is not held by a running identityAttention and sampleAsync', async () => {
    const code = longWork(`setTimeout(() => { process.stdout.write('exit ' + Date.now() + '\\n'); process.exit(0); }, 300);`);
    const held = await exitHeld(code);
    report('process.exit() held', held);
    // Target 200 ms (before: up to 12 s); generous for a loaded machine.
    expect(held).toBeLessThan(1000);
  }, 60_000);

  it('worker.terminate() is not held by a running identityAttention and sampleAsync', async () => {
    const w = new Worker(longWork(`require('node:worker_threads').parentPort.postMessage('started');`), { eval: true });
    await new Promise<void>((res, rej) => {
      w.once('message', () => res());
      w.once('error', rej);
    });
    await sleep(300);
    const t0 = performance.now();
    await w.terminate();
    const held = performance.now() - t0;
    report('worker.terminate() held', held);
    // Target 200 ms (before: 16–54 s).
    expect(held).toBeLessThan(1000);
  }, 60_000);
});

/** Worker code that says so, then blocks its thread in one long synchronous call. */
const longSync = (prep: string, call: string) => `
  const api = require(${JSON.stringify(root)});
  ${prep}
  require('node:worker_threads').parentPort.postMessage('started');
  ${call};
  require('node:worker_threads').parentPort.postMessage('returned');
`;
const bigPrompt = `const x = { shape: [1, 65536, 64], data: Float32Array.from({ length: 65536 * 64 }, (_, i) => Math.sin(i * 0.37)) };`;

describe('a long synchronous call in a worker (issue 10)', () => {
  // Node cannot tear a worker down while its thread is in native code: a synchronous call waits
  // for the pool while asking Node every 10 ms whether its environment is stopping, and stops
  // its kernels at their next chunk boundary when it is.
  const cases: [string, string, string][] = [
    ['identityAttentionSync (B = 1, L = 65536, d = 64: seconds)', bigPrompt, 'api.identityAttentionSync(x)'],
    [
      'kmeans (200 000 points, d = 32, K = 64, 10 passes: seconds)',
      `const g = api.GaussianMixture.isotropic({ means: [Array(32).fill(0), Array(32).fill(1)], sigma: 1 }); const pts = g.sample(200000, { seed: 1 }).x;`,
      'api.kmeans(pts, 64, { seed: 0, nInit: 1, maxIter: 10, tol: 0 })',
    ],
  ];
  for (const [name, prep, call] of cases) {
    it(`worker.terminate() is not held by ${name}`, async () => {
      const w = new Worker(longSync(prep, call), { eval: true });
      let returned = false;
      await new Promise<void>((res, rej) => {
        w.once('message', () => res());
        w.once('error', rej);
      });
      w.on('message', (m) => (returned ||= m === 'returned'));
      await sleep(300);
      const t0 = performance.now();
      await w.terminate();
      const held = performance.now() - t0;
      expect(returned, 'the call ended before the terminate: make it longer').toBe(false);
      report(`worker.terminate() held by ${name.split(' (')[0]}`, held);
      // Target 200 ms (before: the rest of the call, 4–7 s); generous for a loaded machine.
      expect(held).toBeLessThan(1000);
    }, 60_000);
  }

  it('left alone, a synchronous call in a worker returns the same result as on the main thread', async () => {
    const prep = `const x = { shape: [2, 512, 16], data: Float32Array.from({ length: 2 * 512 * 16 }, (_, i) => Math.sin(i * 0.37)) };`;
    const w = new Worker(
      `const api = require(${JSON.stringify(root)}); ${prep} require('node:worker_threads').parentPort.postMessage(Array.from(api.identityAttentionSync(x, { depth: 3 }).data));`,
      { eval: true },
    );
    const got = await new Promise<number[]>((res, rej) => {
      w.once('message', res);
      w.once('error', rej);
    });
    await w.terminate();
    const x: Tensor = { shape: [2, 512, 16], data: Float32Array.from({ length: 2 * 512 * 16 }, (_, i) => Math.sin(i * 0.37)) };
    expect(got).toEqual(Array.from(api.identityAttentionSync(x, { depth: 3 }).data));
  }, 60_000);

  it('process.exit() on the main thread is not held by a worker in identityAttentionSync', async () => {
    const code = `
      const { Worker } = require('node:worker_threads');
      const w = new Worker(${JSON.stringify(longSync(bigPrompt, 'api.identityAttentionSync(x)'))}, { eval: true });
      w.once('message', () => setTimeout(() => { process.stdout.write('exit ' + Date.now() + '\\n'); process.exit(0); }, 300));
    `;
    const held = await exitHeld(code);
    report('process.exit() held by a worker in identityAttentionSync', held);
    expect(held).toBeLessThan(1000);
  }, 60_000);
});
