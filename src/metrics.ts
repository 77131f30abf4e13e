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
 * All are computed in f64 by the core, exactly at any finite scale: the first three are invariant
 * under scaling (`alignment` row by row, `centroidError` pair by pair, `quantizationRatio` per
 * prompt), and the core scales by powers of two where squares would overflow (entries beyond
 * ≈1e154) or underflow, so the result is the one an exact computation would round to, and never
 * NaN, ±∞ or a hang (a result itself beyond the f64 range is a RangeError).
 */
import { call } from './errors';
import { checkMemory } from './memory';
import { native } from './native';
import { checkScalar } from './numerics';
import type { MatrixLike, Tensor, TokensLike } from './types';
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
 * its width `d` (its row count in `packedRows`); or −1 when `v` is not a plain finite matrix — then
 * the general path (`pair`) takes the call and reports any error, so this path checks nothing it
 * could refuse. (Any finite scale is the core's to handle.)
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
      for (let j = 0; j < d; j++) {
        let x: unknown = row[j];
        if (typeof x !== 'number') return -1;
        if (f32) x = Math.fround(x);
        if (!(Math.abs(x as number) < Infinity)) return -1; // NaN, ±∞, or beyond f32 after rounding
        buf[at + i * d + j] = x as number;
      }
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
    for (let j = 0; j < n * d; j++) {
      const x = round ? Math.fround(data[j] as number) : (data[j] as number);
      if (!(Math.abs(x) < Infinity)) return -1;
      buf[at + j] = x;
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

/** Refuses the cost matrix of a matching beyond the memory limit (`H × K`, and its transpose). */
function checkMatching(p: Tensor, m: Tensor): void {
  checkMatchingSize(p.shape[0] as number, m.shape[0] as number);
}

/** The addon's last matching plan: a loop of same-size calls asks for it once (a Node-API call costs as much as a small matching). */
const lastMatching = { h: -1, k: -1, bytes: 0 };

function checkMatchingSize(h: number, k: number): void {
  const c = lastMatching;
  if (c.h !== h || c.k !== k) Object.assign(c, { h, k, bytes: call(() => native.matchingPeakBytes(h, k)) });
  checkMemory(['params', 'means'], c.bytes, () => `${h} × ${k} cost matrices, f64`);
}

/** The addon's last quantization-ratio plan, as `lastMatching`. */
const lastRatio = { b: -1, l: -1, k: -1, d: -1, mixed: false, bytes: 0 };

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
  const [p, m, d] = pair('params', params, 'means', means);
  checkMatching(p, m);
  const [h, k] = packTensors(p, m, d);
  return checkScalar(call(() => native.alignment(packBuf, h, k, d)), 'params', 'the alignment');
}

/**
 * Relative centroid error of heads `params` (`[H, d]`) against centroids `means` (`[K, d]`): the
 * mean over the K centroids of `‖θ − μ‖ / ‖μ‖` with the matched head `θ` (the matching minimising
 * the total), 1 for each centroid left without a head when `H < K`. `≥ 0`; 0 when every centroid
 * has its head on it. A ratio of norms, so in no unit.
 *
 * @throws {TypeError} when `params` or `means` is not a matrix, or their widths differ.
 * @throws {RangeError} when a matrix is empty or holds a non-finite value, a row of `means` is
 * zero (the ratio is undefined), or a relative error exceeds the f64 range.
 */
export function centroidError(params: MatrixLike, means: MatrixLike): number {
  const fast = packPair(params, means);
  if (fast !== undefined) {
    const [h, k, d] = fast;
    checkMatchingSize(h, k);
    return checkScalar(call(() => native.centroidError(packBuf, h, k, d)), 'params', 'the centroid error');
  }
  const [p, m, d] = pair('params', params, 'means', means);
  checkMatching(p, m);
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
  const [p, m, d] = pair('params', params, 'means', means);
  checkMatching(p, m);
  const [pd, md] = [p.data, m.data];
  // (relative errors beyond the f64 range are the core's RangeError)
  const r = call(() => native.matching(pd, md, d));
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
 * @throws {RangeError} when a value is not finite, a label is `≥ K`, the input is empty, a prompt
 * has every token on its centroid (its ratio is undefined), or a prompt's ratio exceeds the f64
 * range.
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
  const c = lastRatio;
  if (c.b !== b || c.l !== l || c.k !== k || c.d !== d || c.mixed !== mixed) {
    Object.assign(c, { b, l, k, d, mixed, bytes: call(() => native.quantizationRatioPeakBytes(b, l, k, d, mixed)) });
  }
  checkMemory('x', c.bytes, () => `x and y ${b} × ${l} × ${d} and means, widened to f64`);
  // (any finite scale is the core's to handle, prompt by prompt; a ratio beyond f64 is its RangeError)
  return call(() => native.quantizationRatio(xd, yd, md, labels, b, l, k, d));
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
