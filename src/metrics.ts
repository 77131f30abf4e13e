/**
 * Metrics of how well heads or a clustering recover a mixture.
 *
 * Heads `Θ` (`[H, d]`) are matched one-to-one to centroids `M` (`[K, d]`) by the Hungarian method
 * (`min(H, K)` pairs). Both scores are means over the **K centroids**: a centroid left without a
 * head (`H < K`) counts as if its head were the zero vector, so a missed centroid is never hidden;
 * heads left over (`H > K`) are not scored (`matching` lists them).
 *
 * - `alignment(Θ, M) = (1/K) Σ_{matched (h, k)} cos(θ_h, μ_k)`, the matching maximising the total
 *   cosine; an unmatched centroid adds 0;
 * - `centroidError(Θ, M) = (1/K) [Σ_{matched (h, k)} ‖θ_h − μ_k‖ / ‖μ_k‖ + (K − min(H, K))]`, the
 *   matching minimising the total; an unmatched centroid adds 1 (`‖0 − μ‖/‖μ‖`);
 * - `matching(Θ, M)`: the pairs behind `alignment`, their cosines and relative errors, and the
 *   unmatched heads or centroids;
 * - `quantizationRatio(X, Y, M, z)`: `Σ_i ‖y_i − μ_{z_i}‖² / Σ_i ‖x_i − μ_{z_i}‖²`, per prompt, then
 *   averaged over prompts (below 1: tokens moved toward their own centroid);
 * - `adjustedRandIndex(a, b)`: agreement of two labelings corrected for chance (1 = same partition).
 *
 * All are computed in f64. The first three are invariant under scaling (`alignment` row by
 * row, `centroidError` jointly, `quantizationRatio` per prompt), so f64 inputs whose squares would
 * overflow (entries beyond ≈1e154) or underflow are first rescaled by powers of two, which is exact:
 * the result is the one an exact computation would round to, and never NaN, ±∞ or a hang.
 */
import { call, isNumericFault } from './errors';
import { checkMemory } from './memory';
import { native } from './native';
import { checkScalar, maxAbs, norm } from './numerics';
import type { Float, MatrixLike, Tensor, TokensLike } from './types';
import * as v from './validate';
import { limitQuantizationRatio } from './population';

function pair(pName: string, p: unknown, mName: string, m: unknown): [Tensor, Tensor, number] {
  const a = v.matrix(pName, p);
  // nested arrays of `m` are read straight into the dtype of `p` (no f64 copy first)
  const b = v.matrix(mName, m, v.dtypeOf(a.data));
  const d = a.shape[1] as number;
  if (b.shape[1] !== d) throw new TypeError(`\`${mName}\` must have ${d} columns like \`${pName}\`, got ${b.shape[1]}`);
  // (non-empty matrices are the core's rule)
  return [a, { shape: b.shape, data: v.as(b.data, v.dtypeOf(a.data), mName) }, d];
}

/** 2^e for the exponent `e` of `x` (`2^e ≤ |x| < 2^(e+1)`), for `x ≠ 0`. */
function pow2(x: number): number {
  const e = Math.floor(Math.log2(Math.abs(x)));
  return 2 ** Math.max(-1022, Math.min(1023, e));
}

/** Rows whose squares stay well inside the f64 range need no rescaling. */
const SAFE_LO = 2 ** -400;
const SAFE_HI = 2 ** 400;

/**
 * The packed `[params; means]` (f64) that `alignment` and `centroidError` hand to the addon: one
 * buffer, reused (the calls are synchronous and no JavaScript runs during them), so a call on tiny
 * matrices allocates nothing in JavaScript and the addon converts one typed array.
 */
let packBuf = new Float64Array(64);

/** `packBuf`, grown to hold at least `n` values. */
function packOf(n: number): Float64Array {
  if (packBuf.length < n) packBuf = new Float64Array(Math.max(n, 2 * packBuf.length));
  return packBuf;
}

/** The row count of the matrix just packed by `packRows` (its second result). */
let packedRows = 0;

/**
 * Copies the matrix `v` (nested arrays, or a `[n, d]` tensor) into `packBuf` from `at`, rounding to
 * f32 when `f32` (the dtype `means` takes from `params`; f32 data are widened exactly), and returns
 * its width `d` (its row count in `packedRows`); or −1 when `v` is not a plain finite matrix whose
 * rows are all inside the range where no rescaling is needed — then the general path (`pair`,
 * rescaling) takes the call and reports any error, so this path checks nothing it could refuse.
 */
function packRows(v: unknown, at: number, f32: boolean): number {
  let d: number;
  let n: number;
  if (Array.isArray(v)) {
    n = v.length;
    const r0: unknown = v[0];
    if (n === 0 || !Array.isArray(r0)) return -1;
    d = r0.length;
    if (d === 0) return -1;
    const buf = packOf(at + n * d);
    for (let i = 0; i < n; i++) {
      const row: unknown = v[i];
      if (!Array.isArray(row) || row.length !== d) return -1;
      let big = 0;
      for (let j = 0; j < d; j++) {
        let x: unknown = row[j];
        if (typeof x !== 'number') return -1;
        if (f32) x = Math.fround(x);
        const a = Math.abs(x as number);
        if (!(a <= SAFE_HI)) return -1; // NaN, ±∞, beyond f32 after rounding, or too large
        if (a > big) big = a;
        buf[at + i * d + j] = x as number;
      }
      if (big !== 0 && big < 2 * SAFE_LO) return -1;
    }
  } else {
    const t = v as { shape?: unknown; data?: unknown } | null;
    if (typeof t !== 'object' || t === null) return -1;
    const { shape, data } = t;
    if (!(data instanceof Float64Array || data instanceof Float32Array)) return -1;
    if (!Array.isArray(shape) || shape.length !== 2) return -1;
    [n, d] = shape as [number, number];
    if (!(Number.isInteger(n) && Number.isInteger(d) && n > 0 && d > 0 && n * d === data.length)) return -1;
    const buf = packOf(at + n * d);
    const round = f32 && data instanceof Float64Array;
    for (let i = 0; i < n; i++) {
      let big = 0;
      for (let j = i * d; j < (i + 1) * d; j++) {
        const x = round ? Math.fround(data[j] as number) : (data[j] as number);
        const a = Math.abs(x);
        if (!(a <= SAFE_HI)) return -1;
        if (a > big) big = a;
        buf[at + j] = x;
      }
      if (big !== 0 && big < 2 * SAFE_LO) return -1;
    }
  }
  packedRows = n;
  return d;
}

/**
 * The fast path of `alignment` and `centroidError`: `params` and `means` packed into `packBuf` with
 * their sizes, or undefined (see `packRows`). A `params` tensor sets the dtype `means` is read in.
 */
function packPair(params: unknown, means: unknown): [number, number, number] | undefined {
  const f32 = !Array.isArray(params) && typeof params === 'object' && params !== null && (params as { data?: unknown }).data instanceof Float32Array;
  const d = packRows(params, 0, false);
  if (d < 0) return undefined;
  const h = packedRows;
  if (packRows(means, h * d, f32) !== d) return undefined;
  return [h, packedRows, d];
}

/** `p` and `m` (checked by `pair`, maybe rescaled) packed into `packBuf`: `[H, K, d]`. */
function packTensors(p: Tensor, m: Tensor, d: number): [number, number, number] {
  const buf = packOf(p.data.length + m.data.length);
  buf.set(p.data, 0);
  buf.set(m.data, p.data.length);
  return [p.shape[0] as number, m.shape[0] as number, d];
}

/** A copy of `a` (f64, `[n, d]`) with each nonzero row scaled by a power of two to a largest entry in [1, 2). */
function rowsScaled(a: Float64Array, d: number): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i += d) {
    const m = maxAbs(a.subarray(i, i + d));
    const s = m === 0 ? 1 : pow2(m);
    for (let j = i; j < i + d; j++) out[j] = (a[j] as number) / s;
  }
  return out;
}

/** Refuses the cost matrix of a matching beyond the memory limit (`H × K`, and its transpose). */
function checkMatching(p: Tensor, m: Tensor): void {
  checkMatchingSize(p.shape[0] as number, m.shape[0] as number);
}

function checkMatchingSize(h: number, k: number): void {
  checkMemory(['params', 'means'], call(() => native.matchingPeakBytes(h, k)), () => `${h} × ${k} cost matrices, f64`);
}

/**
 * Alignment (SPEC §2) of heads `params` (`[H, d]`) with centroids `means` (`[K, d]`): the mean over the K
 * centroids of the cosine with the matched head (the matching maximising the total cosine), 0 for
 * each centroid left without a head when `H < K`. In [−1, 1]; 1 when every centroid has a head
 * along it. A zero vector has cosine 0. The matching is the Hungarian method (Kuhn 1955, Munkres 1957).
 *
 * @throws {TypeError} when `params` or `means` is not a matrix, or their widths differ.
 * @throws {RangeError} when a matrix is empty or holds a non-finite value.
 */
export function alignment(params: MatrixLike, means: MatrixLike): number {
  const fast = packPair(params, means);
  if (fast !== undefined) {
    const [h, k, d] = fast;
    checkMatchingSize(h, k);
    return checkScalar(call(() => native.alignment(packBuf, h, k, d)), 'params', 'the alignment');
  }
  let [p, m, d] = pair('params', params, 'means', means);
  checkMatching(p, m);
  if (p.data instanceof Float64Array && m.data instanceof Float64Array) {
    const all = [maxAbs(p.data), maxAbs(m.data)];
    const tiny = (a: Float64Array) => {
      for (let i = 0; i < a.length; i += d) {
        const r = maxAbs(a.subarray(i, i + d));
        if (r > 0 && r < SAFE_LO) return true;
      }
      return false;
    };
    // Cosines do not change when a row is scaled: rows beyond the safe range are brought to ≈1.
    // (non-finite entries are left for the addon to report)
    if (Number.isFinite(Math.max(...all)) && (Math.max(...all) > SAFE_HI || tiny(p.data) || tiny(m.data))) {
      p = { shape: p.shape, data: rowsScaled(p.data, d) };
      m = { shape: m.shape, data: rowsScaled(m.data, d) };
    }
  }
  const [h, k] = packTensors(p, m, d);
  return checkScalar(call(() => native.alignment(packBuf, h, k, d)), 'params', 'the alignment');
}

/**
 * `params` and `means` scaled jointly by one power of two when their f64 values are beyond the
 * range where squares stay finite and normal (relative errors and cosines do not change).
 */
function jointlyScaled(p: Tensor, m: Tensor, d: number): [Tensor, Tensor] {
  if (!(p.data instanceof Float64Array && m.data instanceof Float64Array)) return [p, m];
  const big = Math.max(maxAbs(p.data), maxAbs(m.data));
  let small = Infinity; // the smallest centroid norm (a zero row is the addon's error to report)
  for (let i = 0; i < m.data.length; i += d) {
    const r = norm(m.data, i, d);
    if (r > 0) small = Math.min(small, r);
  }
  // Relative errors are invariant under a joint scaling: one power of two that brings the largest
  // entry to 2^509 keeps every squared difference finite and every centroid's squared norm normal,
  // as long as the two differ by less than 2^1019 (beyond, the errors themselves overflow).
  if (!(Number.isFinite(big) && (big > SAFE_HI || small < SAFE_LO))) return [p, m];
  if (small !== Infinity && big / small > 2 ** 1019) {
    throw new RangeError(`\`params\` has values too large relative to \`means\` (${big.toExponential(2)} against a centroid of norm ${small.toExponential(2)}): the relative errors overflow f64`);
  }
  // 2^e in two factors, each within the f64 range (e can reach ±1500)
  const e = 509 - Math.log2(pow2(big));
  const [s1, s2] = [2 ** Math.trunc(e / 2), 2 ** (e - Math.trunc(e / 2))];
  const scaled = (a: Float64Array) => a.map((x) => x * s1 * s2);
  return [
    { shape: p.shape, data: scaled(p.data) },
    { shape: m.shape, data: scaled(m.data) },
  ];
}

/**
 * Relative centroid error of heads `params` (`[H, d]`) against centroids `means` (`[K, d]`): the
 * mean over the K centroids of `‖θ − μ‖ / ‖μ‖` with the matched head `θ` (the matching minimising
 * the total), 1 for each centroid left without a head when `H < K`. `≥ 0`; 0 when every centroid
 * has its head on it. A ratio of norms, so in no unit.
 *
 * @throws {TypeError} when `params` or `means` is not a matrix, or their widths differ.
 * @throws {RangeError} when a matrix is empty or holds a non-finite value, or a row of `means` is
 * zero (the ratio is undefined).
 */
export function centroidError(params: MatrixLike, means: MatrixLike): number {
  const fast = packPair(params, means);
  if (fast !== undefined) {
    const [h, k, d] = fast;
    checkMatchingSize(h, k);
    return checkScalar(call(() => native.centroidError(packBuf, h, k, d)), 'params', 'the centroid error');
  }
  const [p0, m0, d] = pair('params', params, 'means', means);
  checkMatching(p0, m0);
  const [p, m] = jointlyScaled(p0, m0, d);
  const [h, k] = packTensors(p, m, d);
  return checkScalar(call(() => native.centroidError(packBuf, h, k, d)), 'params', 'the centroid error');
}

/** One head matched to one centroid (see `matching`). */
export interface MatchedPair {
  /** Row of `params`. */
  head: number;
  /** Row of `means`. */
  centroid: number;
  /** `cos(θ_head, μ_centroid)`, in [−1, 1]. */
  cosine: number;
  /** `‖θ_head − μ_centroid‖ / ‖μ_centroid‖`, ≥ 0. */
  relativeError: number;
}

/** The matching of heads to centroids (see `matching`). */
export interface HeadMatching {
  /** `min(H, K)` pairs, by increasing `head`. */
  pairs: MatchedPair[];
  /** Heads left without a centroid (when `H > K`), increasing. */
  unmatchedHeads: number[];
  /** Centroids left without a head (when `H < K`), increasing. */
  unmatchedCentroids: number[];
}

/**
 * The one-to-one matching of heads `params` (`[H, d]`) to centroids `means` (`[K, d]`) that
 * maximises the total cosine — the one `alignment` scores — with each pair's cosine and relative
 * error, and the heads or centroids it leaves out. (`centroidError` uses the matching minimising
 * the total relative error, which can differ when the heads are far from the centroids.)
 *
 * @throws {TypeError} as `centroidError`.
 * @throws {RangeError} as `centroidError`.
 */
export function matching(params: MatrixLike, means: MatrixLike): HeadMatching {
  const [p0, m0, d] = pair('params', params, 'means', means);
  checkMatching(p0, m0);
  const [p, m] = jointlyScaled(p0, m0, d);
  const [pd, md] = [p.data, m.data];
  const r = call(() => native.matching(pd, md, d));
  for (const q of r.pairs) checkScalar(q.relativeError, 'params', 'a relative error');
  return { pairs: r.pairs.map((q) => ({ head: q.head, centroid: q.centroid, cosine: q.cosine, relativeError: q.relativeError })), unmatchedHeads: r.unmatchedHeads, unmatchedCentroids: r.unmatchedCentroids };
}

/**
 * Quantization ratio (SPEC §3) `Σ_i ‖y_i − μ_{z_i}‖² / Σ_i ‖x_i − μ_{z_i}‖²` of outputs `y` against
 * inputs `x`: below 1 when the tokens moved toward their own centroid. `x`, `y` are `[L, d]` with
 * `means` `[K, d]`, or `[B, L, d]` with `means` `[B, K, d]` (then the mean over prompts of each
 * prompt's ratio); `labels` (a `Uint32Array`) has one entry per token, each `< K`, prompt-major.
 *
 * @throws {TypeError} when `y` does not have the shape of `x`, `means` does not match it, or
 * `labels` is not a `Uint32Array` of one label per token.
 * @throws {RangeError} when a value is not finite, a label is `≥ K`, the input is empty, or a prompt
 * has every token on its centroid (its ratio is undefined).
 */
export function quantizationRatio(x: TokensLike, y: TokensLike, means: TokensLike, labels: Uint32Array): number {
  const xt = v.tokens('x', x);
  const yt = v.tokens('y', y);
  const mt = v.tokens('means', means);
  if (!v.sameShape(yt.shape, xt.shape)) throw new TypeError(`\`y\` must have the shape of \`x\` [${xt.shape.join(', ')}], got [${yt.shape.join(', ')}]`);
  const batched = xt.shape.length === 3;
  const [b, l, d] = (batched ? xt.shape : [1, ...xt.shape]) as [number, number, number];
  const ms = (mt.shape.length === 3 ? mt.shape : [1, ...mt.shape]) as [number, number, number];
  if (mt.shape.length !== xt.shape.length || ms[0] !== b || ms[2] !== d) {
    throw new TypeError(`\`means\` must have shape ${batched ? `[${b}, K, ${d}]` : `[K, ${d}]`}, got [${mt.shape.join(', ')}]`);
  }
  if (!(labels instanceof Uint32Array)) throw new TypeError('`labels` must be a Uint32Array');
  if (labels.length !== b * l) throw new TypeError(`\`labels\` must hold one label per token (${b * l}), got ${labels.length}`);
  const [xd, yd, md] = [xt.data, yt.data, mt.data];
  const k = ms[1];
  const mixed = v.dtypeOf(xd) !== v.dtypeOf(yd) || v.dtypeOf(xd) !== v.dtypeOf(md);
  checkMemory('x', call(() => native.quantizationRatioPeakBytes(b, l, k, d, mixed)), () => `x and y ${b} × ${l} × ${d} and means, widened to f64`);
  const direct = (x: Float, y: Float, m: Float): number | undefined => {
    try {
      const r = call(() => native.quantizationRatio(x, y, m, labels, b, l, k, d));
      return Number.isFinite(r) && r > 0 ? r : undefined;
    } catch (e) {
      // den = 0 (maybe by underflow), or the addon's report of an overflow: rescale and retry
      if (isNumericFault(e)) return undefined;
      throw e;
    }
  };
  const first = direct(xd, yd, md);
  if (first !== undefined) return first;
  // The direct computation overflowed, or underflowed to 0 (a ratio of exactly 0 or a prompt whose
  // denominator is 0). Each prompt's ratio is invariant when its x, y and means are scaled together:
  // a prompt whose largest difference |x − μ_z| or |y − μ_z| is beyond the safe range (its squares
  // overflow or underflow) is scaled by the power of two that brings it into [1, 2) — exact.
  const [rows, kd] = [l * d, k * d];
  const spread = (p: number): number => {
    let m = 0;
    for (let i = 0; i < l; i++) {
      const z = labels[p * l + i] as number;
      for (let j = 0; j < d; j++) {
        const mu = md[p * kd + z * d + j] as number;
        m = Math.max(m, Math.abs((xd[p * rows + i * d + j] as number) - mu), Math.abs((yd[p * rows + i * d + j] as number) - mu));
      }
    }
    return m;
  };
  const out = (m: number) => m > SAFE_HI || (m > 0 && m < SAFE_LO);
  // (this function's own f64 copies; the addon reads them in place)
  checkMemory('x', 8 * (2 * b * l * d + k * b * d), `x and y ${b} × ${l} × ${d} and means, rescaled copies in f64`);
  const [x2, y2, m2] = [Float64Array.from(xd), Float64Array.from(yd), Float64Array.from(md)];
  for (let p = 0; p < b; p++) {
    const m = spread(p);
    if (!out(m)) continue;
    const s = pow2(m);
    for (let i = p * rows; i < (p + 1) * rows; i++) {
      x2[i] = (x2[i] as number) / s;
      y2[i] = (y2[i] as number) / s;
    }
    for (let i = p * kd; i < (p + 1) * kd; i++) m2[i] = (m2[i] as number) / s;
  }
  return checkScalar(call(() => native.quantizationRatio(x2, y2, m2, labels, b, l, k, d)), 'y', 'the ratio');
}

/**
 * Adjusted Rand index of two labelings of the same items (Hubert & Arabie 1985): 1 for the same
 * partition up to renaming, about 0 for chance agreement, negative below chance. Two labelings
 * that are both one cluster, or both all singletons, give 1. The contingency table is sparse (the
 * pairs of labels that occur), so time and memory are O(n) whatever the number of clusters.
 *
 * @throws {TypeError} when `a` or `b` is not a `Uint32Array` or their lengths differ.
 * @throws {RangeError} when they are empty or the table would exceed the memory limit.
 */
export function adjustedRandIndex(a: Uint32Array, b: Uint32Array): number {
  if (!(a instanceof Uint32Array)) throw new TypeError('`a` must be a Uint32Array');
  if (!(b instanceof Uint32Array)) throw new TypeError('`b` must be a Uint32Array');
  // (equal lengths and at least one label are the core's rules)
  checkMemory(['a', 'b'], native.adjustedRandIndexPeakBytes(a.length), () => `a sparse contingency table of ${a.length} labels`);
  return checkScalar(call(() => native.adjustedRandIndex(a, b)), 'a', 'the index');
}

/** The metrics, as one namespace object. */
export const metrics = {
  /** Same as {@link alignment}. */
  alignment,
  /** Same as {@link centroidError}. */
  centroidError,
  /** Same as {@link quantizationRatio}. */
  quantizationRatio,
  /** Same as {@link matching}. */
  matching,
  /** Same as {@link adjustedRandIndex}. */
  adjustedRandIndex,
  /** Same as {@link limitQuantizationRatio}: the quantization ratio of identity attention at infinite context. */
  limitQuantizationRatio,
} as const;
