/**
 * The fixed benchmark workloads W1–W8 of SPEC §9, on attnclust. `f32` throughout, λ = 1/√d unless said.
 *
 * | id | workload                                                                | counted work            |
 * |----|-------------------------------------------------------------------------|-------------------------|
 * | W1 | identity attention forward, B = 16, L = 1024, d = 64                    | 4·B·L²·d flop           |
 * | W2 | model C forward + backward, one head, identity weights, B = 16, L = 1024 | 14·B·L²·d flop          |
 * | W3 | identity attention forward, B = 1, L = 16384, d = 64                    | time, extra memory      |
 * | W4 | two-head online SGD step with sampling, n = 2^20, d = 64, H = 2         | samples/s               |
 * | W5 | two-head risk + gradient on a fixed sample, n = 2^20, d = 64            | GB/s of input read      |
 * | W6 | 64 independent online-SGD runs, d = 16, H = 2, batch 256, 1000 steps, λ = 1 | samples/s           |
 * | W7 | identity attention forward, B = 4096, L = 256, d = 16, λ = 0.3            | 4·B·L²·d flop           |
 * | W8 | `identityAttentionSync` on one [16, 2] prompt, repeated                  | µs per call             |
 *
 * - W2 calls `attentionBackwardSync`, which returns `y` and every gradient (`dX`, `dW_Q`, `dW_K`,
 *   `dW_V`, `dW_O`) in one call, for a random upstream gradient `dY`.
 * - W4 times `layer.train(gmm, { steps: 1, batch: 2^20, recordFinal: false })` (`f32`): one online SGD
 *   step on `2^20` fresh samples of a 2-component mixture (sampling fused with the forward, the risk
 *   and the exact gradient, then the update; the history's one entry, step 0, adds the alignment).
 *   With the default `recordFinal: true`, `train` also evaluates the risk after the step on one more
 *   fresh batch of `2^20` (a second pass): `w4Final` times that, reported beside it.
 * - W5 calls `layer.gradient(x)`: one pass that computes the risk and the gradient together
 *   (`n·d·4` bytes of input read).
 * - W6 (the E1–E3 shape) starts 64 `TwoHeadLayer.train` calls under `Promise.all`, one per run
 *   (own layer, own seed), `'dot'` scores, lr 0.05, `recordEvery: 1000` (history at steps 0 and 1000,
 *   plus the default `recordFinal`: the risk on one more batch per run, 0.1 % of the samples), on a
 *   2-component mixture `±3 e_1`, σ = 1, in d = 16. Counted: 64·1000·256 samples per call.
 * - W7 (the E5 shape): one `identityAttentionSync` call on 4096 prompts of 256 tokens in d = 16.
 * - W8: one call of `run()` makes {@link W8_CALLS} calls of `identityAttentionSync` on the same
 *   [16, 2] prompt (λ = 1/√2); the rate is µs per call. The other sync entry points at their
 *   smallest sizes are in `bench/calls.ts`.
 */
import { attentionBackwardSync, GaussianMixture, identityAttentionSync, identityWeights, MixturePrior, TwoHeadLayer } from '../src/index';
import type { Tensor } from '../src/types';

export type WorkloadId = 'W1' | 'W2' | 'W3' | 'W4' | 'W5' | 'W6' | 'W7' | 'W8';

export const D = 64;
export const LAMBDA = 1 / Math.sqrt(D);

/** Sizes of each workload. */
export const SIZES = {
  W1: { b: 16, l: 1024, d: D },
  W2: { b: 16, l: 1024, d: D },
  W3: { b: 1, l: 16384, d: D },
  W4: { n: 2 ** 20, d: D, h: 2 },
  W5: { n: 2 ** 20, d: D, h: 2 },
  W6: { runs: 64, d: 16, h: 2, batch: 256, steps: 1000, lambda: 1, lr: 0.05 },
  W7: { b: 4096, l: 256, d: 16, lambda: 0.3 },
  W8: { l: 16, d: 2, calls: 2000 },
} as const;
/** Calls of `identityAttentionSync` per W8 `run()`. */
export const W8_CALLS = SIZES.W8.calls;
/** Samples per W6 call: runs × steps × batch. */
export const W6_SAMPLES = SIZES.W6.runs * SIZES.W6.steps * SIZES.W6.batch;

/** The mixture W4 samples from (and W5's fixed sample): `±3 e_1`, σ = 1, equal weights. */
export const MIXTURE = {
  means: [Array.from({ length: D }, (_, i) => (i === 0 ? 3 : 0)), Array.from({ length: D }, (_, i) => (i === 0 ? -3 : 0))],
  sigma: 1,
  weights: [0.5, 0.5],
};
/** SGD learning rate of W4. */
export const LR = 0.05;

/** Counted flop of identity attention forward (`QKᵀ` and `PV`). */
export const attentionFlop = (b: number, l: number, d: number): number => 4 * b * l * l * d;
/** Counted flop of attention forward + backward (forward 4, recomputed scores 2, `dP`, `dV`, `dQ`, `dK` 2 each). */
export const attentionBackwardFlop = (b: number, l: number, d: number): number => 14 * b * l * l * d;

/** What a workload reports: its unit and the counted work per call at full size. */
export interface Metric {
  unit: 'GFLOP/s' | 'samples/s' | 'GB/s' | 's' | 'µs/call';
  /** Counted work per call (flop, samples, bytes or calls); 0 for W3 (time only). */
  work: number;
  /** Rate in `unit` from seconds per call. */
  rate(seconds: number): number;
}

export const METRICS: Record<WorkloadId, Metric> = {
  W1: { unit: 'GFLOP/s', work: attentionFlop(16, 1024, D), rate: (s) => attentionFlop(16, 1024, D) / s / 1e9 },
  W2: { unit: 'GFLOP/s', work: attentionBackwardFlop(16, 1024, D), rate: (s) => attentionBackwardFlop(16, 1024, D) / s / 1e9 },
  // W3 is reported by time (and memory); its GFLOP/s is shown for information.
  W3: { unit: 'GFLOP/s', work: attentionFlop(1, 16384, D), rate: (s) => attentionFlop(1, 16384, D) / s / 1e9 },
  W4: { unit: 'samples/s', work: 2 ** 20, rate: (s) => 2 ** 20 / s },
  W5: { unit: 'GB/s', work: 2 ** 20 * D * 4, rate: (s) => (2 ** 20 * D * 4) / s / 1e9 },
  W6: { unit: 'samples/s', work: W6_SAMPLES, rate: (s) => W6_SAMPLES / s },
  W7: { unit: 'GFLOP/s', work: attentionFlop(4096, 256, 16), rate: (s) => attentionFlop(4096, 256, 16) / s / 1e9 },
  // A rate "per call" that is a time: lower is better.
  W8: { unit: 'µs/call', work: W8_CALLS, rate: (s) => (s / W8_CALLS) * 1e6 },
};

export const TITLES: Record<WorkloadId, string> = {
  W1: 'identity attention fwd, B=16 L=1024 d=64',
  W2: 'model C fwd+bwd, 1 head, identity W, B=16 L=1024 d=64',
  W3: 'identity attention fwd, B=1 L=16384 d=64',
  W4: 'two-head online SGD step + sampling, n=2^20 d=64 H=2',
  W5: 'two-head risk + gradient, fixed n=2^20 d=64',
  W6: '64 online-SGD runs, d=16 H=2 batch 256, 1000 steps',
  W7: 'identity attention fwd, B=4096 L=256 d=16',
  W8: 'identityAttentionSync on one [16, 2] prompt',
};
/** The peers each workload is compared with (SPEC §9), besides the plain-TypeScript reference. */
export const PEERS_OF: Record<WorkloadId, ('numpy' | 'pytorch' | 'jax')[]> = {
  W1: ['numpy', 'pytorch', 'jax'],
  W2: ['numpy', 'pytorch', 'jax'],
  W3: ['numpy', 'pytorch', 'jax'],
  W4: ['numpy', 'pytorch', 'jax'],
  W5: ['numpy', 'pytorch', 'jax'],
  W6: ['pytorch', 'jax'],
  W7: ['numpy', 'pytorch', 'jax'],
  W8: [],
};

/** A prepared workload: `run()` does one call (sync, or a Promise for async ones). */
export interface Case {
  run: () => unknown;
}

/** `b` prompts of `l` tokens in `d` (default 64; 4 clusters on the sphere of radius 3, σ = 1), `f32`. */
export function prompts(b: number, l: number, seed: number, d: number = D): Tensor {
  return MixturePrior.sphere({ k: 4, dim: d, radius: 3, sigma: 1 }).samplePrompts(b, l, { seed, dtype: 'f32' }).x;
}

/** The 2-component mixture `±3 e_1`, σ = 1, equal weights, in `d` (default 64). */
export function mixture(d: number = D): GaussianMixture {
  if (d === D) return GaussianMixture.isotropic(MIXTURE);
  const e1 = (s: number) => Array.from({ length: d }, (_, i) => (i === 0 ? s : 0));
  return GaussianMixture.isotropic({ means: [e1(3), e1(-3)], sigma: MIXTURE.sigma, weights: MIXTURE.weights });
}

export function layer(): TwoHeadLayer {
  return new TwoHeadLayer({ dim: D, heads: 2, lambda: LAMBDA, dtype: 'f32', init: { kind: 'random', scale: 0.01, seed: 1 } });
}

export function w1(): Case {
  const { b, l } = SIZES.W1;
  const x = prompts(b, l, 1);
  return { run: () => identityAttentionSync(x, { lambda: LAMBDA }) };
}

export function w2(): Case {
  const { b, l } = SIZES.W2;
  const x = prompts(b, l, 2);
  const dy = prompts(b, l, 3);
  const w = identityWeights(D, { heads: 1, dtype: 'f32' });
  return { run: () => attentionBackwardSync(x, w, dy, { lambda: LAMBDA }) };
}

export function w3(): Case {
  const { b, l } = SIZES.W3;
  const x = prompts(b, l, 4);
  return { run: () => identityAttentionSync(x, { lambda: LAMBDA }) };
}

/** One online SGD step through the public API, on `2^20` fresh samples each call. */
export function w4(): Case {
  const g = mixture();
  const lay = layer();
  let seed = 0;
  return { run: () => lay.train(g, { steps: 1, batch: SIZES.W4.n, lr: LR, seed: seed++, recordFinal: false }) };
}

/** `train({ steps: 1 })` with the default `recordFinal: true`: the step, then the risk on one more fresh batch. */
export function w4Final(): Case {
  const g = mixture();
  const lay = layer();
  let seed = 0;
  return { run: () => lay.train(g, { steps: 1, batch: SIZES.W4.n, lr: LR, seed: seed++ }) };
}

export function w5(): Case {
  const g = mixture();
  const lay = layer();
  const x = g.sample(SIZES.W5.n, { seed: 5, dtype: 'f32' }).x;
  return { run: () => lay.gradient(x) };
}

/** 64 `train` calls under `Promise.all`, each on its own layer (seeded init) and sample seed. */
export function w6(): Case {
  const { runs, d, h, batch, steps, lambda, lr } = SIZES.W6;
  const g = mixture(d);
  let call = 0;
  return {
    run: () => {
      const base = runs * call++;
      return Promise.all(
        Array.from({ length: runs }, (_, r) =>
          new TwoHeadLayer({ dim: d, heads: h, lambda, scores: 'dot', dtype: 'f32', init: { kind: 'random', scale: 0.01, seed: base + r } }).train(g, {
            steps,
            batch,
            lr,
            seed: base + r,
            recordEvery: steps,
          }),
        ),
      );
    },
  };
}

export function w7(): Case {
  const { b, l, d, lambda } = SIZES.W7;
  const x = prompts(b, l, 7, d);
  return { run: () => identityAttentionSync(x, { lambda }) };
}

export function w8(): Case {
  const { l, d } = SIZES.W8;
  const x: Tensor = { shape: [l, d], data: prompts(1, l, 8, d).data };
  const lambda = 1 / Math.sqrt(d);
  return {
    run: () => {
      for (let i = 0; i < W8_CALLS; i++) identityAttentionSync(x, { lambda });
    },
  };
}

export const CASES: Record<WorkloadId, () => Case> = { W1: w1, W2: w2, W3: w3, W4: w4, W5: w5, W6: w6, W7: w7, W8: w8 };
export const IDS: WorkloadId[] = ['W1', 'W2', 'W3', 'W4', 'W5', 'W6', 'W7', 'W8'];

/** Times `f` (awaiting a Promise): `warmup` untimed calls, then at least `minReps` calls and at
 *  least `minSeconds` in total (at most `maxReps`). Returns every time in seconds, sorted. */
export async function timeIt(f: () => unknown, o: { warmup?: number; minReps?: number; maxReps?: number; minSeconds?: number } = {}): Promise<number[]> {
  const warmup = o.warmup ?? 1;
  const minReps = o.minReps ?? 5;
  const maxReps = o.maxReps ?? 30;
  const minSeconds = o.minSeconds ?? 1.5;
  for (let i = 0; i < warmup; i++) await f();
  const times: number[] = [];
  let total = 0;
  while (times.length < maxReps && (times.length < minReps || total < minSeconds)) {
    const t0 = process.hrtime.bigint();
    await f();
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    times.push(s);
    total += s;
  }
  return times.sort((a, b) => a - b);
}

export const best = (t: number[]): number => t[0] as number;
export const median = (t: number[]): number => {
  const m = t.length >> 1;
  return t.length % 2 ? (t[m] as number) : ((t[m - 1] as number) + (t[m] as number)) / 2;
};
