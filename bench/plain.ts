/**
 * The plain-TypeScript baseline of each workload: straightforward scalar loops, no SIMD, no threads,
 * `f64` JS numbers. Identity attention (W1, W3) and the two-head layer's risk and gradient (W4, W5)
 * are the test oracle's kernels, imported from `test/reference.ts` (nested `number[][]` arrays, the
 * full `L × L` score matrix materialised); model C forward + backward (W2), which the oracle does
 * not have, is written here the same way (`Float64Array`s, the `L × L` matrix materialised).
 *
 * The full W1/W2/W3 sizes would take minutes in plain TypeScript, so each baseline runs at a reduced
 * size and its time is **extrapolated** by the ratio of counted work (`B·L²` for attention, `n` for
 * the two-head layer); `note` says from which size. Converting a typed array into the oracle's
 * `number[][]` is setup, not timed.
 */
import { identityFlat, layerGradient, layerRisk, normals, rng, rows } from '../test/reference';
import { D, LAMBDA, LR, MIXTURE, layer, mixture, prompts, SIZES, type WorkloadId } from './workloads';

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
} as const;

/**
 * Model C, one head, forward and backward on one prompt `x` (`l × d`) with weights `wq, wk, wv, wo`
 * (`d × d` each, row-major) and upstream gradient `dy`: returns `y`, `dx` and the four weight
 * gradients. The `l × l` probabilities are stored.
 */
export function attentionBackwardPlain(
  x: Float64Array,
  l: number,
  d: number,
  w: { wq: Float64Array; wk: Float64Array; wv: Float64Array; wo: Float64Array },
  dy: Float64Array,
  lambda: number,
): { y: Float64Array; dx: Float64Array; dwq: Float64Array; dwk: Float64Array; dwv: Float64Array; dwo: Float64Array } {
  // a (m × k) · b (k × n)
  const mm = (a: Float64Array, b: Float64Array, m: number, k: number, n: number): Float64Array => {
    const c = new Float64Array(m * n);
    for (let i = 0; i < m; i++) for (let p = 0; p < k; p++) {
      const aip = a[i * k + p] as number;
      for (let j = 0; j < n; j++) c[i * n + j] = (c[i * n + j] as number) + aip * (b[p * n + j] as number);
    }
    return c;
  };
  // aᵀ (k × m)ᵀ · b (k × n): (m × n)
  const mtm = (a: Float64Array, b: Float64Array, k: number, m: number, n: number): Float64Array => {
    const c = new Float64Array(m * n);
    for (let p = 0; p < k; p++) for (let i = 0; i < m; i++) {
      const api = a[p * m + i] as number;
      for (let j = 0; j < n; j++) c[i * n + j] = (c[i * n + j] as number) + api * (b[p * n + j] as number);
    }
    return c;
  };
  // a (m × k) · bᵀ (n × k)ᵀ: (m × n)
  const mmt = (a: Float64Array, b: Float64Array, m: number, k: number, n: number): Float64Array => {
    const c = new Float64Array(m * n);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += (a[i * k + p] as number) * (b[j * k + p] as number);
      c[i * n + j] = s;
    }
    return c;
  };
  const q = mm(x, w.wq, l, d, d);
  const k = mm(x, w.wk, l, d, d);
  const v = mm(x, w.wv, l, d, d);
  // P = softmax_rows(λ Q Kᵀ)
  const p = mmt(q, k, l, d, l);
  for (let i = 0; i < l; i++) {
    let m = -Infinity;
    for (let j = 0; j < l; j++) m = Math.max(m, lambda * (p[i * l + j] as number));
    let z = 0;
    for (let j = 0; j < l; j++) {
      const e = Math.exp(lambda * (p[i * l + j] as number) - m);
      p[i * l + j] = e;
      z += e;
    }
    for (let j = 0; j < l; j++) p[i * l + j] = (p[i * l + j] as number) / z;
  }
  const o = mm(p, v, l, l, d);
  const y = mm(o, w.wo, l, d, d);
  // Backward.
  const dwo = mtm(o, dy, l, d, d);
  const dO = mmt(dy, w.wo, l, d, d);
  const dv = mtm(p, dO, l, l, d);
  const ds = mmt(dO, v, l, d, l); // dP, then dS in place
  for (let i = 0; i < l; i++) {
    let rowDot = 0;
    for (let j = 0; j < l; j++) rowDot += (p[i * l + j] as number) * (ds[i * l + j] as number);
    for (let j = 0; j < l; j++) ds[i * l + j] = lambda * (p[i * l + j] as number) * ((ds[i * l + j] as number) - rowDot);
  }
  const dq = mm(ds, k, l, l, d);
  const dk = mtm(ds, q, l, l, d);
  const dwq = mtm(x, dq, l, d, d);
  const dwk = mtm(x, dk, l, d, d);
  const dwv = mtm(x, dv, l, d, d);
  const dx = new Float64Array(l * d);
  for (const [g, wm] of [[dq, w.wq], [dk, w.wk], [dv, w.wv]] as const) {
    const part = mmt(g, wm, l, d, d);
    for (let i = 0; i < dx.length; i++) dx[i] = (dx[i] as number) + (part[i] as number);
  }
  return { y, dx, dwq, dwk, dwv, dwo };
}

function eye(d: number): Float64Array {
  const e = new Float64Array(d * d);
  for (let i = 0; i < d; i++) e[i * d + i] = 1;
  return e;
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
  const x = Float64Array.from(prompts(b, l, 2).data);
  const dy = Float64Array.from(prompts(b, l, 3).data);
  const w = { wq: eye(D), wk: eye(D), wv: eye(D), wo: eye(D) };
  return {
    run: () => {
      for (let p = 0; p < b; p++) attentionBackwardPlain(x.subarray(p * l * D, (p + 1) * l * D), l, D, w, dy.subarray(p * l * D, (p + 1) * l * D), LAMBDA);
    },
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
  const next = rng(7);
  const cum = MIXTURE.weights.map((_, i) => MIXTURE.weights.slice(0, i + 1).reduce((p, q) => p + q, 0));
  return {
    run: () => {
      // Sample n tokens: a component by its weight, then μ_z + σ ε.
      const x: number[][] = [];
      for (let i = 0; i < n; i++) {
        const u = next();
        let z = cum.findIndex((c) => u < c);
        if (z < 0) z = cum.length - 1;
        const mu = MIXTURE.means[z]!;
        const eps = normals(next, D);
        x.push(mu.map((m, j) => m + MIXTURE.sigma * (eps[j] as number)));
      }
      const g = layerGradient(theta, x, LAMBDA, 'dot');
      theta = theta.map((th, h) => th.map((t, j) => t - LR * (g[h]![j] as number)));
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

export const PLAIN: Record<WorkloadId, () => PlainCase> = { W1: plainW1, W2: plainW2, W3: plainW3, W4: plainW4, W5: plainW5 };
