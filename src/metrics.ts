/**
 * Metrics of how well heads or a clustering recover a mixture.
 *
 * - `alignment(Θ, M)`: mean over matched pairs of `cos(θ_h, μ_{π(h)})`, `π` the best matching of
 *   heads to centroids (Hungarian method), `min(H, K)` pairs;
 * - `centroidError(Θ, M)`: mean of `‖θ_h − μ_{π(h)}‖ / ‖μ_{π(h)}‖` under its best matching;
 * - `quantizationRatio(X, Y, M, z)`: `Σ_i ‖y_i − μ_{z_i}‖² / Σ_i ‖x_i − μ_{z_i}‖²`, per prompt, then
 *   averaged over prompts (below 1: tokens moved toward their own centroid);
 * - `adjustedRandIndex(a, b)`: agreement of two labelings corrected for chance (1 = same partition).
 */
import { call } from './errors';
import { native } from './native';
import type { MatrixLike, Tensor, TokensLike } from './types';
import * as v from './validate';

function pair(pName: string, p: unknown, mName: string, m: unknown): [Tensor, Tensor, number] {
  const a = v.matrix(pName, p);
  const b = v.matrix(mName, m);
  const d = a.shape[1] as number;
  if (b.shape[1] !== d) throw new TypeError(`\`${mName}\` must have ${d} columns like \`${pName}\`, got ${b.shape[1]}`);
  if (a.shape[0] === 0 || b.shape[0] === 0 || d === 0) throw new RangeError(`\`${pName}\` and \`${mName}\` must be non-empty`);
  return [a, { shape: b.shape, data: v.as(b.data, v.dtypeOf(a.data)) }, d];
}

/** Mean cosine between heads and centroids under the best matching (1 = perfectly aligned). */
export function alignment(params: MatrixLike, means: MatrixLike): number {
  const [p, m, d] = pair('params', params, 'means', means);
  return call(() => native.alignment(p.data, m.data, d));
}

/** Mean relative distance between heads and their matched centroids. */
export function centroidError(params: MatrixLike, means: MatrixLike): number {
  const [p, m, d] = pair('params', params, 'means', means);
  return call(() => native.centroidError(p.data, m.data, d));
}

/**
 * Quantization ratio. `x`, `y` are `[L, d]` with `means` `[K, d]`, or `[B, L, d]` with `means`
 * `[B, K, d]` (then the mean over prompts of each prompt's ratio); `labels` has one entry per token.
 */
export function quantizationRatio(x: TokensLike, y: TokensLike, means: TokensLike, labels: Uint32Array): number {
  const xt = v.tokens('x', x);
  const yt = v.tokens('y', y);
  const mt = v.tokens('means', means);
  if (yt.shape.join() !== xt.shape.join()) throw new TypeError(`\`y\` must have the shape of \`x\` [${xt.shape.join(', ')}], got [${yt.shape.join(', ')}]`);
  const batched = xt.shape.length === 3;
  const [b, l, d] = (batched ? xt.shape : [1, ...xt.shape]) as [number, number, number];
  const ms = (mt.shape.length === 3 ? mt.shape : [1, ...mt.shape]) as [number, number, number];
  if (mt.shape.length !== xt.shape.length || ms[0] !== b || ms[2] !== d) {
    throw new TypeError(`\`means\` must have shape ${batched ? `[${b}, K, ${d}]` : `[K, ${d}]`}, got [${mt.shape.join(', ')}]`);
  }
  if (!(labels instanceof Uint32Array)) throw new TypeError('`labels` must be a Uint32Array');
  if (labels.length !== b * l) throw new TypeError(`\`labels\` must hold one label per token (${b * l}), got ${labels.length}`);
  return call(() => native.quantizationRatio(xt.data, yt.data, mt.data, labels, b, l, ms[1], d));
}

/** Adjusted Rand index of two labelings of the same items. */
export function adjustedRandIndex(a: Uint32Array, b: Uint32Array): number {
  if (!(a instanceof Uint32Array)) throw new TypeError('`a` must be a Uint32Array');
  if (!(b instanceof Uint32Array)) throw new TypeError('`b` must be a Uint32Array');
  if (a.length !== b.length) throw new TypeError(`\`a\` and \`b\` must have the same length, got ${a.length} and ${b.length}`);
  if (a.length === 0) throw new RangeError('`a` must hold at least one label');
  return call(() => native.adjustedRandIndex(a, b));
}

/** The metrics, as one namespace object. */
export const metrics = { alignment, centroidError, quantizationRatio, adjustedRandIndex } as const;
