/**
 * The plain-TypeScript baseline of each workload: straightforward scalar loops, no SIMD, no threads,
 * `f64` JS numbers. Identity attention (W1, W3) and the two-head layer's risk and gradient (W4, W5)
 * and model C forward + backward (W2) are the test oracle's kernels, imported from
 * `test/reference.ts` (nested `number[][]` arrays, the full `L × L` score matrix materialised).
 *
 * The full W1/W2/W3 sizes would take minutes in plain TypeScript, so each baseline runs at a reduced
 * size and its time is **extrapolated** by the ratio of counted work (`B·L²` for attention, `n` for
 * the two-head layer); `note` says from which size. Converting a typed array into the oracle's
 * `number[][]` is setup, not timed.
 */
import { attentionBackwardRef, identityFlat, layerGradient, layerRisk, normals, rng, rows } from '../test/reference';
import { D, LAMBDA, LR, MIXTURE, layer, mixture, prompts, SIZES, W8_CALLS, type WorkloadId } from './workloads';

/** A reduced-size plain-TS run: `scale` × its time estimates the full workload. */
export interface PlainCase {
  run: () => unknown;
  /** Counted work at full size / counted work of this run. */
  scale: number;
  /** `extrapolated from …` */
  note: string;
}

/** Reduced sizes of the plain baselines. */
export const PLAIN_SIZES = {
  W1: { b: 1, l: 1024 },
  W2: { b: 1, l: 1024 },
  W3: { b: 1, l: 2048 },
  W4: { n: 2 ** 16 },
  W5: { n: 2 ** 16 },
  W6: { runs: 1, steps: 20 },
  W7: { b: 16 },
  W8: { calls: 200 },
} as const;

/**
 * A plain sampler of the 2-component mixture `±3 e_1`, σ = 1 in `d` (W4, W6): a component by its
 * weight, then `μ_z + σ ε` with Box–Muller normals from the test's mulberry32 generator.
 */
export function plainSampler(d: number, seed: number): (n: number) => number[][] {
  const next = rng(seed);
  const cum = MIXTURE.weights.map((_, i) => MIXTURE.weights.slice(0, i + 1).reduce((p, q) => p + q, 0));
  const means = MIXTURE.means.map((m) => Array.from({ length: d }, (_, i) => m[i] ?? 0));
  return (n) => {
    const x: number[][] = [];
    for (let i = 0; i < n; i++) {
      const u = next();
      let z = cum.findIndex((c) => u < c);
      if (z < 0) z = cum.length - 1;
      const mu = means[z]!;
      const eps = normals(next, d);
      x.push(mu.map((m, j) => m + MIXTURE.sigma * (eps[j] as number)));
    }
    return x;
  };
}

/** One online SGD step of the plain two-head layer ('dot' scores): sample, exact gradient, update. */
export function plainSgdStep(theta: number[][], sample: (n: number) => number[][], batch: number, lambda: number, lr: number): number[][] {
  const g = layerGradient(theta, sample(batch), lambda, 'dot');
  return theta.map((th, h) => th.map((t, j) => t - lr * (g[h]![j] as number)));
}

/** The `d × d` identity as a nested matrix. */
function eye(d: number): number[][] {
  return Array.from({ length: d }, (_, i) => Array.from({ length: d }, (_, j) => (i === j ? 1 : 0)));
}

export function plainW1(): PlainCase {
  const { b, l } = PLAIN_SIZES.W1;
  const x = prompts(b, l, 1).data;
  return {
    run: () => identityFlat(x, b, l, D, { lambda: LAMBDA }),
    scale: (SIZES.W1.b * SIZES.W1.l ** 2) / (b * l ** 2),
    note: `extrapolated from B = ${b}, L = ${l}`,
  };
}

export function plainW2(): PlainCase {
  const { b, l } = PLAIN_SIZES.W2;
  const x = prompts(b, l, 2).data;
  const dy = prompts(b, l, 3).data;
  const w = { wq: [eye(D)], wk: [eye(D)], wv: [eye(D)], wo: [eye(D)] };
  const xs = Array.from({ length: b }, (_, p) => rows(x.subarray(p * l * D, (p + 1) * l * D), D));
  const dys = Array.from({ length: b }, (_, p) => rows(dy.subarray(p * l * D, (p + 1) * l * D), D));
  return {
    run: () => xs.map((xp, p) => attentionBackwardRef(xp, w, dys[p]!, LAMBDA, 'none')),
    scale: (SIZES.W2.b * SIZES.W2.l ** 2) / (b * l ** 2),
    note: `extrapolated from B = ${b}, L = ${l}`,
  };
}

export function plainW3(): PlainCase {
  const { b, l } = PLAIN_SIZES.W3;
  const x = prompts(b, l, 4).data;
  return {
    run: () => identityFlat(x, b, l, D, { lambda: LAMBDA }),
    scale: (SIZES.W3.b * SIZES.W3.l ** 2) / (b * l ** 2),
    note: `extrapolated from L = ${l}`,
  };
}

/** Initial heads of the plain W4/W5 (the same as attnclust's). */
function theta0(): number[][] {
  return rows(layer().params.data, D);
}

export function plainW4(): PlainCase {
  const { n } = PLAIN_SIZES.W4;
  let theta = theta0();
  const sample = plainSampler(D, 7);
  return {
    run: () => {
      theta = plainSgdStep(theta, sample, n, LAMBDA, LR);
    },
    scale: SIZES.W4.n / n,
    note: `extrapolated from n = 2^${Math.log2(n)}`,
  };
}

export function plainW5(): PlainCase {
  const { n } = PLAIN_SIZES.W5;
  const theta = theta0();
  const x = rows(mixture().sample(n, { seed: 5, dtype: 'f32' }).x.data, D);
  return {
    run: () => [layerRisk(theta, x, LAMBDA, 'dot'), layerGradient(theta, x, LAMBDA, 'dot')],
    scale: SIZES.W5.n / n,
    note: `extrapolated from n = 2^${Math.log2(n)}`,
  };
}

/** W6 in plain TS: one run of a few steps (the runs are independent: the time scales with runs × steps). */
export function plainW6(): PlainCase {
  const { runs, steps } = PLAIN_SIZES.W6;
  const w = SIZES.W6;
  const sample = plainSampler(w.d, 6);
  const init = normals(rng(60), w.h * w.d).map((v) => 0.01 * v);
  return {
    run: () => {
      for (let r = 0; r < runs; r++) {
        let theta = rows(init, w.d);
        for (let s = 0; s < steps; s++) theta = plainSgdStep(theta, sample, w.batch, w.lambda, w.lr);
      }
    },
    scale: (w.runs * w.steps) / (runs * steps),
    note: `extrapolated from ${runs} run of ${steps} steps`,
  };
}

export function plainW7(): PlainCase {
  const { b } = PLAIN_SIZES.W7;
  const { l, d, lambda } = SIZES.W7;
  const x = prompts(b, l, 7, d).data;
  return {
    run: () => identityFlat(x, b, l, d, { lambda }),
    scale: SIZES.W7.b / b,
    note: `extrapolated from B = ${b}`,
  };
}

export function plainW8(): PlainCase {
  const { calls } = PLAIN_SIZES.W8;
  const { l, d } = SIZES.W8;
  const x = prompts(1, l, 8, d).data;
  const lambda = 1 / Math.sqrt(d);
  return {
    run: () => {
      for (let i = 0; i < calls; i++) identityFlat(x, 1, l, d, { lambda });
    },
    scale: W8_CALLS / calls,
    note: `extrapolated from ${calls} calls`,
  };
}

export const PLAIN: Record<WorkloadId, () => PlainCase> = { W1: plainW1, W2: plainW2, W3: plainW3, W4: plainW4, W5: plainW5, W6: plainW6, W7: plainW7, W8: plainW8 };
