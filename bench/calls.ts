/**
 * Per-call cost of every synchronous entry point at its smallest sizes (W8 and the per-call part of
 * the size sweep, SPEC §9), each against the plain-TypeScript reference of the same computation
 * (`test/reference.ts`; for `sample`, `samplePrompts`, `kmeans` and `em`, which have no oracle there,
 * the obvious loops written below).
 *
 * Sizes: d = 2 and two components or heads throughout; 16 tokens (sampling, attention, metrics on a
 * prompt), 64 tokens (the layer's forward, risk and gradient, the adjusted Rand index, kmeans, em).
 * Inputs are `f32` tensors for attnclust; the conversion of an input to the reference's nested arrays is
 * setup, not timed. `kmeans` / `em` run with the library defaults; the plain versions do the same
 * number of restarts and iterations as attnclust's fit reported (kmeans++ starts, Lloyd; a k-means
 * start, diagonal EM), so they do the same work.
 *
 * Timing: calls are made in batches of `n` (n doubled until a batch takes ≥ 20 ms, 4 ms in quick
 * mode); the reported time is the best batch of several (≥ 5 batches and ≥ 0.2 s; quick: 2) / n, in µs.
 */
import {
  adjustedRandIndex,
  alignment,
  attentionBackwardSync,
  attentionSync,
  centroidError,
  em,
  GaussianMixture,
  identityAttentionSync,
  identityWeights,
  kmeans,
  MixturePrior,
  quantizationRatio,
  TwoHeadLayer,
} from '../src/index';
import type { Tensor } from '../src/types';
import {
  adjustedRandIndexRef,
  alignmentRef,
  attentionBackwardRef,
  attentionRef,
  centroidErrorRef,
  identityFlat,
  layerForward,
  layerGradient,
  layerRisk,
  normals,
  quantizationRatioFlat,
  rng,
  rows,
  sqDist,
} from '../test/reference';
import { plainSampler } from './plain';

/** One entry point at one size: attnclust's call and the plain-TS call. */
export interface CallCase {
  /** The entry point, as a user writes it. */
  name: string;
  /** Its input size. */
  size: string;
  ours: () => unknown;
  plain: () => unknown;
}

/** A timed {@link CallCase}: µs per call. */
export interface CallRow {
  name: string;
  size: string;
  attnclustMicroseconds: number;
  plainTsMicroseconds: number;
  /** plain time / attnclust time: above 1, attnclust is faster. */
  speedup: number;
}

const D = 2;
const LAMBDA = 1 / Math.sqrt(D);

/** The `d × d` identity as a nested matrix. */
const eye = (d: number): number[][] => Array.from({ length: d }, (_, i) => Array.from({ length: d }, (_, j) => (i === j ? 1 : 0)));

/** Plain k-means: `nInit` k-means++ starts from `next`, `iters` Lloyd updates each; the lowest inertia. */
export function plainKmeans(x: number[][], k: number, nInit: number, iters: number, next: () => number): { centers: number[][]; labels: number[]; inertia: number } {
  let bestFit = { centers: [] as number[][], labels: [] as number[], inertia: Infinity };
  for (let r = 0; r < nInit; r++) {
    const centers = [x[Math.floor(next() * x.length)]!.slice()];
    while (centers.length < k) {
      const d2 = x.map((p) => Math.min(...centers.map((c) => sqDist(p, c))));
      let u = next() * d2.reduce((a, b) => a + b, 0);
      let i = 0;
      while (i < x.length - 1 && u >= d2[i]!) u -= d2[i++]!;
      centers.push(x[i]!.slice());
    }
    let labels: number[] = [];
    let inertia = 0;
    for (let it = 0; it <= iters; it++) {
      inertia = 0;
      labels = x.map((p) => {
        let bj = 0;
        let bd = Infinity;
        centers.forEach((c, j) => {
          const dd = sqDist(p, c);
          if (dd < bd) [bd, bj] = [dd, j];
        });
        inertia += bd;
        return bj;
      });
      if (it === iters) break;
      const sums = centers.map((c) => c.map(() => 0));
      const counts = centers.map(() => 0);
      x.forEach((p, i) => {
        counts[labels[i]!]!++;
        p.forEach((v, j) => (sums[labels[i]!]![j]! += v));
      });
      sums.forEach((s, j) => {
        if (counts[j]! > 0) centers[j] = s.map((v) => v / counts[j]!);
      });
    }
    if (inertia < bestFit.inertia) bestFit = { centers: centers.map((c) => c.slice()), labels, inertia };
  }
  return bestFit;
}

/** Plain diagonal-covariance EM: a k-means start, then `iters` E and M steps; the mean log-likelihood. */
export function plainEm(x: number[][], k: number, iters: number, next: () => number, reg = 1e-6): number {
  const d = x[0]!.length;
  const start = plainKmeans(x, k, 1, 10, next);
  let means = start.centers;
  let vars = means.map(() => new Array<number>(d).fill(1));
  let weights = means.map(() => 1 / k);
  let ll = 0;
  for (let it = 0; it < iters; it++) {
    // E step (log-sum-exp per point).
    ll = 0;
    const resp = x.map((p) => {
      const lp = means.map((m, j) => {
        let s = Math.log(weights[j]!);
        for (let t = 0; t < d; t++) s -= 0.5 * (Math.log(2 * Math.PI * vars[j]![t]!) + (p[t]! - m[t]!) ** 2 / vars[j]![t]!);
        return s;
      });
      const mx = Math.max(...lp);
      const z = lp.reduce((a, v) => a + Math.exp(v - mx), 0);
      ll += mx + Math.log(z);
      return lp.map((v) => Math.exp(v - mx) / z);
    });
    ll /= x.length;
    // M step.
    const nk = means.map((_, j) => resp.reduce((a, r) => a + r[j]!, 0));
    weights = nk.map((v) => v / x.length);
    means = means.map((_, j) => Array.from({ length: d }, (_, t) => x.reduce((a, p, i) => a + resp[i]![j]! * p[t]!, 0) / nk[j]!));
    vars = means.map((m, j) => Array.from({ length: d }, (_, t) => x.reduce((a, p, i) => a + resp[i]![j]! * (p[t]! - m[t]!) ** 2, 0) / nk[j]! + reg));
  }
  return ll;
}

/** The smallest-size call of every sync entry point, attnclust and plain TS. */
export function callCases(): CallCase[] {
  const mix = GaussianMixture.isotropic({ means: [[3, 0], [-3, 0]], sigma: 1 });
  const prior = MixturePrior.sphere({ k: 2, dim: D, radius: 3, sigma: 1 });
  const batch = prior.samplePrompts(1, 16, { seed: 1, dtype: 'f32' });
  const x16: Tensor = { shape: [16, D], data: batch.x.data };
  const x16r = rows(x16.data, D);
  const x64 = mix.sample(64, { seed: 2, dtype: 'f32' });
  const x64r = rows(x64.x.data, D);
  const layer = new TwoHeadLayer({ dim: D, heads: 2, lambda: LAMBDA, dtype: 'f32', init: { kind: 'random', scale: 0.5, seed: 3 } });
  const theta = rows(layer.params.data, D);
  const w = identityWeights(D, { heads: 1, dtype: 'f32' });
  const wr = { wq: [eye(D)], wk: [eye(D)], wv: [eye(D)], wo: [eye(D)] };
  const dy: Tensor = { shape: [16, D], data: prior.samplePrompts(1, 16, { seed: 4, dtype: 'f32' }).x.data };
  const dyr = rows(dy.data, D);
  const means = [[3, 0], [-3, 0]];
  const y16 = identityAttentionSync(batch.x, { lambda: LAMBDA });
  const truth = x64.labels;
  const guess = Uint32Array.from(truth, (z, i) => (i % 7 === 0 ? 1 - z : z));
  const km = kmeans(x64.x, 2, { seed: 5 });
  const kmInit = 4; // the library default nInit
  const emFit = em(x64.x, 2, { seed: 6 });
  const sampler = plainSampler(D, 7);
  const next = rng(8);
  const plainPrompts = (l: number, k: number): { x: number[][]; means: number[][]; labels: number[] } => {
    // k centroids on the sphere of radius 3, then l tokens around uniformly chosen centroids.
    const cs = Array.from({ length: k }, () => {
      const g = normals(next, D);
      const n = Math.hypot(...g);
      return g.map((v) => (3 * v) / n);
    });
    const labels = Array.from({ length: l }, () => Math.floor(next() * k));
    return { x: labels.map((z) => normals(next, D).map((e, j) => cs[z]![j]! + e)), means: cs, labels };
  };
  return [
    { name: 'GaussianMixture.sample', size: 'n = 16, d = 2, K = 2', ours: () => mix.sample(16, { seed: 1, dtype: 'f32' }), plain: () => sampler(16) },
    { name: 'MixturePrior.samplePrompts', size: 'B = 1, L = 16, d = 2, K = 2', ours: () => prior.samplePrompts(1, 16, { seed: 1, dtype: 'f32' }), plain: () => plainPrompts(16, 2) },
    { name: 'TwoHeadLayer.forward', size: '[64, 2], H = 2', ours: () => layer.forward(x64.x), plain: () => layerForward(theta, x64r, LAMBDA, 'dot') },
    { name: 'TwoHeadLayer.risk', size: '[64, 2], H = 2', ours: () => layer.risk(x64.x), plain: () => layerRisk(theta, x64r, LAMBDA, 'dot') },
    { name: 'TwoHeadLayer.gradient', size: '[64, 2], H = 2', ours: () => layer.gradient(x64.x), plain: () => layerGradient(theta, x64r, LAMBDA, 'dot') },
    { name: 'identityAttentionSync', size: '[16, 2]', ours: () => identityAttentionSync(x16, { lambda: LAMBDA }), plain: () => identityFlat(x16.data, 1, 16, D, { lambda: LAMBDA }) },
    { name: 'attentionSync', size: '[16, 2], 1 head, identity W', ours: () => attentionSync(x16, w, { lambda: LAMBDA }), plain: () => attentionRef(x16r, wr, LAMBDA, 'none') },
    {
      name: 'attentionBackwardSync',
      size: '[16, 2], 1 head, identity W',
      ours: () => attentionBackwardSync(x16, w, dy, { lambda: LAMBDA }),
      plain: () => attentionBackwardRef(x16r, wr, dyr, LAMBDA, 'none'),
    },
    { name: 'alignment', size: 'H = 2, K = 2, d = 2', ours: () => alignment(layer.params, means), plain: () => alignmentRef(theta, means) },
    { name: 'centroidError', size: 'H = 2, K = 2, d = 2', ours: () => centroidError(layer.params, means), plain: () => centroidErrorRef(theta, means) },
    {
      name: 'quantizationRatio',
      size: '[1, 16, 2], K = 2',
      ours: () => quantizationRatio(batch.x, y16, batch.means, batch.labels),
      plain: () => quantizationRatioFlat(batch.x.data, y16.data, batch.means.data, batch.labels, 1, 16, 2, D),
    },
    { name: 'adjustedRandIndex', size: '64 labels', ours: () => adjustedRandIndex(truth, guess), plain: () => adjustedRandIndexRef(truth, guess) },
    { name: 'kmeans', size: `[64, 2], k = 2 (${kmInit} starts × ${km.iterations} iterations)`, ours: () => kmeans(x64.x, 2, { seed: 5 }), plain: () => plainKmeans(x64r, 2, kmInit, km.iterations, next) },
    { name: 'em', size: `[64, 2], k = 2, diagonal (${emFit.iterations} iterations)`, ours: () => em(x64.x, 2, { seed: 6 }), plain: () => plainEm(x64r, 2, emFit.iterations, next) },
  ];
}

/** Best µs per call of `f`, in batches (see the module comment). */
export function microsPerCall(f: () => unknown, quick: boolean): number {
  const target = quick ? 0.004 : 0.02;
  const batchTime = (n: number): number => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) f();
    return Number(process.hrtime.bigint() - t0) / 1e9;
  };
  let n = 1;
  batchTime(1); // warm-up
  while (batchTime(n) < target && n < 1 << 24) n *= 2;
  let bestS = Infinity;
  let total = 0;
  for (let r = 0; r < (quick ? 2 : 30) && (r < (quick ? 2 : 5) || total < 0.2); r++) {
    const s = batchTime(n);
    total += s;
    bestS = Math.min(bestS, s);
  }
  return (bestS / n) * 1e6;
}

/** Times every {@link callCases} entry, attnclust then plain TS. */
export function timeCalls(quick: boolean, log: (m: string) => void = () => {}): CallRow[] {
  return callCases().map((c) => {
    const a = microsPerCall(c.ours, quick);
    const p = microsPerCall(c.plain, quick);
    log(`calls ${c.name} (${c.size}): attnclust ${a.toFixed(2)} µs, plain TS ${p.toFixed(2)} µs`);
    return { name: c.name, size: c.size, attnclustMicroseconds: a, plainTsMicroseconds: p, speedup: p / a };
  });
}
