/**
 * Plain scalar TypeScript reference of every kernel the tests check (SPEC §5: "a plain, readable
 * scalar reference ... in TypeScript under `test/`"). Everything is `f64` (JS numbers), written
 * the obvious way, with no tiling, no online softmax and no tricks: it is the oracle.
 *
 * - two-head layer (model A): forward `T_Θ(x)`, mean risk, mean gradient, for 'dot' and
 *   'distance' scores (SPEC §2, src/layer.ts);
 * - identity attention (model B): the full L × L softmax materialised (SPEC §3);
 * - metrics: quantization ratio, alignment / centroid error by brute force over all matchings,
 *   adjusted Rand index from the contingency table.
 */

export type Scores = 'dot' | 'distance';

/** Rows of a row-major `[n, d]` array as plain number arrays. */
export function rows(data: ArrayLike<number>, d: number): number[][] {
  const n = data.length / d;
  const out: number[][] = [];
  for (let i = 0; i < n; i++) {
    const r: number[] = [];
    for (let j = 0; j < d; j++) r.push(data[i * d + j] as number);
    out.push(r);
  }
  return out;
}

/** Flattens rows into a `Float64Array`. */
export function flat(m: number[][]): Float64Array {
  return Float64Array.from(m.flat());
}

export function dot(a: number[], b: number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) * (b[i] as number);
  return s;
}

export function sqDist(a: number[], b: number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += ((a[i] as number) - (b[i] as number)) ** 2;
  return s;
}

export function norm(a: number[]): number {
  return Math.sqrt(dot(a, a));
}

/** Max-subtracted softmax; entries equal to -Infinity get weight 0. */
export function softmax(s: number[]): number[] {
  const m = Math.max(...s);
  const e = s.map((v) => Math.exp(v - m));
  const z = e.reduce((p, q) => p + q, 0);
  return e.map((v) => v / z);
}

// ---------------------------------------------------------------------------------------------
// Model A: the two-head layer
// ---------------------------------------------------------------------------------------------

/** Scores of token `x` against each head. */
export function headScores(theta: number[][], x: number[], lambda: number, scores: Scores): number[] {
  return theta.map((th) => (scores === 'dot' ? lambda * dot(x, th) : -0.5 * lambda * sqDist(x, th)));
}

/** Attention weights `a(x) = softmax_h s_h(x)`. */
export function headWeights(theta: number[][], x: number[], lambda: number, scores: Scores): number[] {
  return softmax(headScores(theta, x, lambda, scores));
}

/** `T_Θ(x) = Σ_h a_h(x) θ_h` for one token. */
export function layerForwardOne(theta: number[][], x: number[], lambda: number, scores: Scores): number[] {
  const a = headWeights(theta, x, lambda, scores);
  const d = x.length;
  const t = new Array<number>(d).fill(0);
  theta.forEach((th, h) => {
    for (let j = 0; j < d; j++) t[j] = (t[j] as number) + (a[h] as number) * (th[j] as number);
  });
  return t;
}

/** `T_Θ(x_i)` for every token. */
export function layerForward(theta: number[][], x: number[][], lambda: number, scores: Scores): number[][] {
  return x.map((xi) => layerForwardOne(theta, xi, lambda, scores));
}

/** Mean risk `(1/n) Σ_i ‖x_i − T_Θ(x_i)‖²`. */
export function layerRisk(theta: number[][], x: number[][], lambda: number, scores: Scores): number {
  let total = 0;
  for (const xi of x) total += sqDist(xi, layerForwardOne(theta, xi, lambda, scores));
  return total / x.length;
}

/**
 * Mean gradient of the risk with respect to each head (SPEC §2): with `r = x − T`,
 * `c_g = ⟨r, θ_g⟩`, `c̄ = Σ_g a_g c_g`,
 *   ∇θ_h = −2 a_h [r + λ (c_h − c̄) x]            ('dot')
 *   ∇θ_h = −2 a_h [r + λ (c_h − c̄) (x − θ_h)]    ('distance')
 */
export function layerGradient(theta: number[][], x: number[][], lambda: number, scores: Scores): number[][] {
  const H = theta.length;
  const d = theta[0]!.length;
  const g = theta.map(() => new Array<number>(d).fill(0));
  for (const xi of x) {
    const a = headWeights(theta, xi, lambda, scores);
    const t = layerForwardOne(theta, xi, lambda, scores);
    const r = xi.map((v, j) => v - (t[j] as number));
    const c = theta.map((th) => dot(r, th));
    let cbar = 0;
    for (let h = 0; h < H; h++) cbar += (a[h] as number) * (c[h] as number);
    for (let h = 0; h < H; h++) {
      const k = lambda * ((c[h] as number) - cbar);
      const th = theta[h]!;
      const gh = g[h]!;
      for (let j = 0; j < d; j++) {
        const dir = scores === 'dot' ? (xi[j] as number) : (xi[j] as number) - (th[j] as number);
        gh[j] = (gh[j] as number) - 2 * (a[h] as number) * ((r[j] as number) + k * dir);
      }
    }
  }
  return g.map((gh) => gh.map((v) => v / x.length));
}

// ---------------------------------------------------------------------------------------------
// Model B: identity attention
// ---------------------------------------------------------------------------------------------

export interface IdentityRefOptions {
  lambda: number;
  scores?: Scores;
  excludeSelf?: boolean;
  depth?: number;
  residual?: boolean;
}

/** One prompt `[L][d]`: the full L × L score matrix, row softmax, times X; `depth` times. */
export function identityPrompt(x: number[][], o: IdentityRefOptions): number[][] {
  const scores = o.scores ?? 'dot';
  let cur = x.map((r) => [...r]);
  const L = cur.length;
  for (let step = 0; step < (o.depth ?? 1); step++) {
    const S: number[][] = [];
    for (let i = 0; i < L; i++) {
      const row: number[] = [];
      for (let j = 0; j < L; j++) {
        let s = scores === 'dot' ? o.lambda * dot(cur[i]!, cur[j]!) : -0.5 * o.lambda * sqDist(cur[i]!, cur[j]!);
        if (o.excludeSelf && i === j) s = -Infinity;
        row.push(s);
      }
      S.push(row);
    }
    const y: number[][] = [];
    for (let i = 0; i < L; i++) {
      const w = softmax(S[i]!);
      const d = cur[i]!.length;
      const yi = new Array<number>(d).fill(0);
      for (let j = 0; j < L; j++) {
        for (let k = 0; k < d; k++) yi[k] = (yi[k] as number) + (w[j] as number) * (cur[j]![k] as number);
      }
      if (o.residual) for (let k = 0; k < d; k++) yi[k] = (yi[k] as number) + (cur[i]![k] as number);
      y.push(yi);
    }
    cur = y;
  }
  return cur;
}

/** `[B, L, d]` (or `[L, d]` with `b = 1`) flat data through `identityPrompt`, flat out. */
export function identityFlat(data: ArrayLike<number>, b: number, l: number, d: number, o: IdentityRefOptions): Float64Array {
  const out = new Float64Array(b * l * d);
  for (let p = 0; p < b; p++) {
    const x: number[][] = [];
    for (let i = 0; i < l; i++) {
      const r: number[] = [];
      for (let k = 0; k < d; k++) r.push(data[(p * l + i) * d + k] as number);
      x.push(r);
    }
    identityPrompt(x, o).forEach((r, i) => r.forEach((v, k) => (out[(p * l + i) * d + k] = v)));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------

/** `Σ_i ‖y_i − μ_{z_i}‖² / Σ_i ‖x_i − μ_{z_i}‖²` of one prompt. */
export function quantizationRatioPrompt(x: number[][], y: number[][], means: number[][], labels: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  x.forEach((xi, i) => {
    const mu = means[labels[i] as number]!;
    num += sqDist(y[i]!, mu);
    den += sqDist(xi, mu);
  });
  return num / den;
}

/** Mean over the `b` prompts of each prompt's ratio (flat `[B, L, d]`, `[B, K, d]`, `B·L` labels). */
export function quantizationRatioFlat(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  means: ArrayLike<number>,
  labels: ArrayLike<number>,
  b: number,
  l: number,
  k: number,
  d: number,
): number {
  let total = 0;
  for (let p = 0; p < b; p++) {
    const slice = (a: ArrayLike<number>, start: number, count: number): number[][] =>
      rows(Array.from({ length: count * d }, (_, i) => a[start * d + i] as number), d);
    const lab = Array.from({ length: l }, (_, i) => labels[p * l + i] as number);
    total += quantizationRatioPrompt(slice(x, p * l, l), slice(y, p * l, l), slice(means, p * k, k), lab);
  }
  return total / b;
}

/** Every injective map of `n` items into `m` slots (`n ≤ m`), as arrays of slot indices. */
function injections(n: number, m: number): number[][] {
  const out: number[][] = [];
  const cur: number[] = [];
  const used = new Array<boolean>(m).fill(false);
  const rec = (): void => {
    if (cur.length === n) {
      out.push([...cur]);
      return;
    }
    for (let j = 0; j < m; j++) {
      if (used[j]) continue;
      used[j] = true;
      cur.push(j);
      rec();
      cur.pop();
      used[j] = false;
    }
  };
  rec();
  return out;
}

/**
 * Best total of `score(i, j)` over matchings of `min(H, K)` pairs (rows = heads, columns = means),
 * by brute force; `maximise` picks the direction. Returns the mean over the K centroids, each of
 * the `K − min(H, K)` unmatched centroids adding `missed` (0 for a cosine, 1 for a relative error).
 */
function bestMatchingMean(H: number, K: number, score: (h: number, k: number) => number, maximise: boolean, missed: number): number {
  let best = maximise ? -Infinity : Infinity;
  if (H <= K) {
    for (const perm of injections(H, K)) {
      const s = perm.reduce((acc, k, h) => acc + score(h, k), 0);
      best = maximise ? Math.max(best, s) : Math.min(best, s);
    }
  } else {
    for (const perm of injections(K, H)) {
      const s = perm.reduce((acc, h, k) => acc + score(h, k), 0);
      best = maximise ? Math.max(best, s) : Math.min(best, s);
    }
  }
  return (best + (K - Math.min(H, K)) * missed) / K;
}

/** Cosine; a zero vector has cosine 0 with everything. */
export function cosine(a: number[], b: number[]): number {
  const na = norm(a);
  const nb = norm(b);
  return na === 0 || nb === 0 ? 0 : dot(a, b) / (na * nb);
}

/** Mean over the K means of the cosine with the matched head (the matching maximising the total), 0 unmatched. */
export function alignmentRef(params: number[][], means: number[][]): number {
  return bestMatchingMean(params.length, means.length, (h, k) => cosine(params[h]!, means[k]!), true, 0);
}

/** Mean over the K means of `‖θ − μ‖/‖μ‖` with the matched head (the matching minimising the total), 1 unmatched. */
export function centroidErrorRef(params: number[][], means: number[][]): number {
  return bestMatchingMean(params.length, means.length, (h, k) => Math.sqrt(sqDist(params[h]!, means[k]!)) / norm(means[k]!), false, 1);
}

/** Adjusted Rand index (Hubert & Arabie) from the contingency table. */
export function adjustedRandIndexRef(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  const table = new Map<string, number>();
  const rowsA = new Map<number, number>();
  const colsB = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const key = `${a[i]},${b[i]}`;
    table.set(key, (table.get(key) ?? 0) + 1);
    rowsA.set(a[i] as number, (rowsA.get(a[i] as number) ?? 0) + 1);
    colsB.set(b[i] as number, (colsB.get(b[i] as number) ?? 0) + 1);
  }
  const c2 = (x: number): number => (x * (x - 1)) / 2;
  let sumIJ = 0;
  for (const v of table.values()) sumIJ += c2(v);
  let sumA = 0;
  for (const v of rowsA.values()) sumA += c2(v);
  let sumB = 0;
  for (const v of colsB.values()) sumB += c2(v);
  const total = c2(n);
  const expected = total > 0 ? (sumA * sumB) / total : 0;
  const max = (sumA + sumB) / 2;
  if (max === expected) return 1; // both labelings trivial (one cluster, or all singletons)
  return (sumIJ - expected) / (max - expected);
}

// ---------------------------------------------------------------------------------------------
// Small helpers shared by the tests
// ---------------------------------------------------------------------------------------------

/** A small deterministic generator (mulberry32) for test inputs. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal draws (Box–Muller) from `rng`. */
export function normals(next: () => number, count: number): number[] {
  const out: number[] = [];
  while (out.length < count) {
    const u = 1 - next();
    const v = next();
    const r = Math.sqrt(-2 * Math.log(u));
    out.push(r * Math.cos(2 * Math.PI * v), r * Math.sin(2 * Math.PI * v));
  }
  return out.slice(0, count);
}

/** Largest `|a_i − b_i|`. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

/** Largest `|a_i|` (at least `floor`). */
export function maxAbs(a: ArrayLike<number>, floor = 0): number {
  let m = floor;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] as number));
  return m;
}

// ---------------------------------------------------------------------------------------------
// Model C: Attn(X) = Σ_h softmax(λ (X W_Q^h)(X W_K^h)ᵀ + mask) (X W_V^h) W_O^h, materialised.

/** Score mask of model C. */
export type MaskRef = 'none' | 'causal' | 'no-self';

/** Per-head weights as nested arrays: `wq[h]`, `wk[h]` are `d × dk`, `wv[h]` `d × dv`, `wo[h]` `dv × d`. */
export interface AttentionWeightsRef {
  wq: number[][][];
  wk: number[][][];
  wv: number[][][];
  wo: number[][][];
}

/** `A B` for nested matrices. */
export function matmul(a: number[][], b: number[][]): number[][] {
  const m = b[0]?.length ?? 0;
  return a.map((row) => Array.from({ length: m }, (_, j) => row.reduce((s, v, k) => s + v * (b[k]![j] as number), 0)));
}

/** `Aᵀ`. */
export function transpose(a: number[][], cols = a[0]?.length ?? 0): number[][] {
  return Array.from({ length: cols }, (_, j) => a.map((r) => r[j] as number));
}

function maskedRef(mask: MaskRef, i: number, j: number): boolean {
  return mask === 'causal' ? j > i : mask === 'no-self' ? i === j : false;
}

/** `P = softmax_rows(λ Q Kᵀ + mask)`. */
export function attentionProbabilities(q: number[][], k: number[][], lambda: number, mask: MaskRef): number[][] {
  return q.map((qi, i) => softmax(k.map((kj, j) => (maskedRef(mask, i, j) ? -Infinity : lambda * dot(qi, kj)))));
}

/** Model C on one prompt `x` (`L × d`). */
export function attentionRef(x: number[][], w: AttentionWeightsRef, lambda: number, mask: MaskRef): number[][] {
  const d = x[0]?.length ?? 0;
  const y = x.map(() => new Array<number>(d).fill(0));
  w.wq.forEach((wq, h) => {
    const p = attentionProbabilities(matmul(x, wq), matmul(x, w.wk[h]!), lambda, mask);
    const out = matmul(matmul(p, matmul(x, w.wv[h]!)), w.wo[h]!);
    out.forEach((r, i) => r.forEach((v, j) => (y[i]![j]! += v)));
  });
  return y;
}

/** Model C's output and the gradients of `⟨dY, Attn(X)⟩` on one prompt, written out step by step. */
export function attentionBackwardRef(x: number[][], w: AttentionWeightsRef, dy: number[][], lambda: number, mask: MaskRef): { y: number[][]; dx: number[][]; dweights: AttentionWeightsRef } {
  const [l, d] = [x.length, x[0]?.length ?? 0];
  const y = x.map(() => new Array<number>(d).fill(0));
  const dx = x.map(() => new Array<number>(d).fill(0));
  const g: AttentionWeightsRef = { wq: [], wk: [], wv: [], wo: [] };
  const add = (a: number[][], b: number[][]) => a.forEach((r, i) => r.forEach((_, j) => (r[j]! += b[i]![j] as number)));
  const scale = (a: number[][], s: number) => a.map((r) => r.map((v) => v * s));
  w.wq.forEach((wq, h) => {
    const [wk, wv, wo] = [w.wk[h]!, w.wv[h]!, w.wo[h]!];
    const [q, k, v] = [matmul(x, wq), matmul(x, wk), matmul(x, wv)];
    const dv = v[0]?.length ?? 0;
    const p = attentionProbabilities(q, k, lambda, mask);
    const o = matmul(p, v);
    add(y, matmul(o, wo));
    g.wo.push(matmul(transpose(o, dv), dy));
    const dO = matmul(dy, transpose(wo, d));
    const dP = matmul(dO, transpose(v, dv));
    const dV = matmul(transpose(p, l), dO);
    // dS_ij = P_ij (dP_ij − Σ_k P_ik dP_ik)
    const dS = p.map((pi, i) => {
      const c = pi.reduce((s, pij, j) => s + pij * (dP[i]![j] as number), 0);
      return pi.map((pij, j) => pij * ((dP[i]![j] as number) - c));
    });
    const dQ = scale(matmul(dS, k), lambda);
    const dK = scale(matmul(transpose(dS, l), q), lambda);
    add(dx, matmul(dQ, transpose(wq)));
    add(dx, matmul(dK, transpose(wk)));
    add(dx, matmul(dV, transpose(wv)));
    const xt = transpose(x, d);
    g.wq.push(matmul(xt, dQ));
    g.wk.push(matmul(xt, dK));
    g.wv.push(matmul(xt, dV));
  });
  return { y, dx, dweights: g };
}
