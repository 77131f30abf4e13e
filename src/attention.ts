/**
 * Model C: batched multi-head softmax attention, forward and backward (the layer that trains on
 * mixture prompts is `AttentionLayer`, in attention-layer.ts).
 *
 *     Attn(X) = Σ_h softmax(λ (X W_Q^h)(X W_K^h)ᵀ + mask) (X W_V^h) W_O^h
 *
 * `X` is `[L, d]` or `[B, L, d]`; `W_Q^h, W_K^h` are `d × dk`, `W_V^h` is `d × dv`, `W_O^h` is
 * `dv × d`. Masks: `'none'`, `'causal'` (token `i` sees `j ≤ i`), `'no-self'` (every token but
 * itself). The kernels are tiled with an online softmax: the `L × L` matrix is never stored.
 */
import { cancellable, signalOf } from './cancel';
import { call, callAsync } from './errors';
import { bytesOf, checkMemory } from './memory';
import { choices, native, type Native } from './native';
import { fits, lambdaFitsF32, maxRowNorm, narrow, norm, widen } from './numerics';
import type { Dtype, Float, Tensor, TokensLike } from './types';
import * as v from './validate';

/** Per-head weights: `wq`, `wk` `[H, d, dk]`, `wv` `[H, d, dv]`, `wo` `[H, dv, d]`, one dtype. */
export interface AttentionWeights {
  /** Query weights `W_Q`, `[H, d, dk]`. */
  wq: Tensor;
  /** Key weights `W_K`, `[H, d, dk]`. */
  wk: Tensor;
  /** Value weights `W_V`, `[H, d, dv]`. */
  wv: Tensor;
  /** Output weights `W_O`, `[H, dv, d]`. */
  wo: Tensor;
}

import type { AttentionMask } from './types';
export type { AttentionMask };

/** Options of `attention` and `attentionBackward`. */
export interface AttentionOptions {
  /** Inverse temperature `λ > 0` multiplying `QKᵀ` (default `1/√dk`, the usual scaled dot product). */
  lambda?: number;
  /** Which scores are excluded (default `'none'`). */
  mask?: AttentionMask;
  /** Async forms only: stops the kernels at their next block of queries or keys (a rejection with an AbortError). */
  signal?: AbortSignal;
}

/** The forward output and the gradients of `⟨dY, Attn(X)⟩`. */
export interface AttentionGradients {
  /** `Attn(X)`, the shape of `x`. */
  y: Tensor;
  /** `∂/∂X`, the shape of `x`. */
  dx: Tensor;
  /** `∂/∂W`, shaped like the weights. */
  dweights: AttentionWeights;
}

interface Prepared {
  x: Tensor;
  b: number;
  l: number;
  shape: Native.AttentionShape;
  flat: Float;
  opts: Native.AttentionOptions;
  signal?: AbortSignal;
  /** The inputs' dtype. */
  dtype: Dtype;
  /** The dtype the kernels run in (f64 for f32 inputs whose intermediates could leave f32). */
  compute: Dtype;
  /** Largest token norm, and per head ‖W_Q^h‖, ‖W_K^h‖, ‖W_V^h‖, ‖W_O^h‖ (Frobenius). */
  r: number;
  wn: [number, number, number, number][];
}

/** Per head, the Frobenius norms of its four matrices (bounds of their operator norms). */
function weightNorms(flat: Float, s: Native.AttentionShape): [number, number, number, number][] {
  const { heads: h, dim: d, dk, dv } = s;
  const offs = [0, h * d * dk, 2 * h * d * dk, 2 * h * d * dk + h * d * dv];
  const sizes = [d * dk, d * dk, d * dv, dv * d];
  return Array.from({ length: h }, (_, i) => sizes.map((n, m) => norm(flat, (offs[m] as number) + i * n, n)) as [number, number, number, number]);
}

/**
 * A bound on every intermediate of the forward pass (and, given the largest upstream row norm `g`,
 * of the backward pass): projections, scores before and after `λ`, the unnormalised softmax sums,
 * the head outputs and their sum; then `dO`, `dP`, `dS`, `dQ`, `dK`, `dV`, `dX` and the weight
 * gradients summed over the `B·L` tokens. Computed in f64 (it may be Infinity).
 */
function bound(p: Pick<Prepared, 'r' | 'wn' | 'b' | 'l' | 'opts'>, g?: number): number {
  const { r, l, b } = p;
  const lambda = p.opts.lambda;
  let m = r;
  let y = 0;
  let dx = 0;
  for (const [wq, wk, wv, wo] of p.wn) {
    const [q, k, vv] = [r * wq, r * wk, r * wv];
    m = Math.max(m, q, k, vv, q * k, 2 * lambda * q * k, l * vv, vv * wo);
    y += vv * wo;
    if (g !== undefined) {
      const dO = g * wo;
      const dS = 2 * dO * vv;
      const [dQ, dK, dV] = [lambda * l * dS * k, lambda * l * dS * q, l * dO];
      dx += dQ * wq + dK * wk + dV * wv;
      m = Math.max(m, dO, dS, dQ, dK, dV, b * l * r * Math.max(dQ, dK, dV), b * l * vv * g);
    }
  }
  return Math.max(m, y, dx);
}

function tooLarge(p: Prepared, what: string): RangeError {
  const w = Math.max(0, ...p.wn.flat());
  return new RangeError(
    `\`x\` (largest ‖x_i‖ = ${p.r.toExponential(2)}) and \`weights\` (largest ‖W‖ = ${w.toExponential(2)}) have values too large at \`lambda\` = ${p.opts.lambda}: ` +
      `${what} would overflow f64 (±1.8e308); rescale them`,
  );
}

/** @internal Checks the weights and returns their sizes and the flat `[W_Q | W_K | W_V | W_O]` array. */
export function flatWeights(w: unknown, dt?: Dtype): { shape: Native.AttentionShape; flat: Float } {
  const o = v.options('weights', w, true, ['wq', 'wk', 'wv', 'wo']);
  const wq = v.tensor('weights.wq', o.wq, 3);
  const [h, d, dk] = wq.shape as [number, number, number];
  const wk = v.tensor('weights.wk', o.wk, 3);
  const wv = v.tensor('weights.wv', o.wv, 3);
  const wo = v.tensor('weights.wo', o.wo, 3);
  const dv = wv.shape[2] as number;
  const expect = (t: Tensor, s: number[], name: string) => {
    if (!v.sameShape(t.shape, s)) throw new TypeError(`\`${name}\` must have shape [${s.join(', ')}] (from \`weights.wq\` [${wq.shape.join(', ')}]), got [${t.shape.join(', ')}]`);
  };
  expect(wk, [h, d, dk], 'weights.wk');
  expect(wv, [h, d, dv], 'weights.wv');
  expect(wo, [h, dv, d], 'weights.wo');
  // (at least one head and positive sizes are the core's rule)
  const dtype = dt ?? v.dtypeOf(wq.data);
  for (const [t, name] of [[wk, 'wk'], [wv, 'wv'], [wo, 'wo']] as const) {
    if (v.dtypeOf(t.data) !== v.dtypeOf(wq.data)) throw new TypeError(`\`weights.${name}\` must have the dtype of \`weights.wq\``);
  }
  const flat = dtype === 'f32' ? new Float32Array(wq.data.length * 2 + wv.data.length + wo.data.length) : new Float64Array(wq.data.length * 2 + wv.data.length + wo.data.length);
  let off = 0;
  for (const [t, name] of [[wq, 'wq'], [wk, 'wk'], [wv, 'wv'], [wo, 'wo']] as const) {
    flat.set(v.as(t.data, dtype, `weights.${name}`), off);
    off += t.data.length;
  }
  return { shape: { heads: h, dim: d, dk, dv }, flat };
}

/** @internal Splits a flat `[W_Q | W_K | W_V | W_O]` array into tensors. */
export function splitWeights(flat: Float, s: Native.AttentionShape): AttentionWeights {
  const { heads: h, dim: d, dk, dv } = s;
  const sizes = [h * d * dk, h * d * dk, h * d * dv, h * dv * d];
  const shapes = [[h, d, dk], [h, d, dk], [h, d, dv], [h, dv, d]];
  let off = 0;
  const parts = sizes.map((n, i) => {
    const t = { shape: shapes[i] as number[], data: flat.slice(off, off + n) };
    off += n;
    return t;
  });
  return { wq: parts[0]!, wk: parts[1]!, wv: parts[2]!, wo: parts[3]! };
}

function options(o: Record<string, unknown>, dk: number): Native.AttentionOptions {
  return {
    lambda: o.lambda === undefined ? 1 / Math.sqrt(dk) : v.numeric('lambda', o.lambda),
    mask: v.oneOf('mask', o.mask, choices('Mask'), 'none'),
  };
}

function prepare(x: unknown, weights: unknown, opts: unknown): Prepared {
  const t = v.tokens('x', x);
  const { shape, flat } = flatWeights(weights);
  const o = v.options('options', opts, false, ['lambda', 'mask', 'signal']);
  const [b, l, d] = (t.shape.length === 3 ? t.shape : [1, ...t.shape]) as [number, number, number];
  if (d !== shape.dim) throw new TypeError(`\`x\` must have ${shape.dim} columns (the weights' d), got ${d}`);
  if (v.dtypeOf(t.data) !== v.dtypeOf(flat)) throw new TypeError('`x` and `weights` must have the same dtype');
  const opt = options(o, shape.dk);
  // (λ > 0 and 'no-self' with one-token prompts are the core's rules)
  const signal = signalOf(o.signal);
  const dtype = v.dtypeOf(flat);
  return { x: t, b, l, shape, flat, opts: opt, signal, dtype, compute: dtype, r: maxRowNorm(t.data, d), wn: weightNorms(flat, shape) };
}

/** The arguments of the addon's last peak-bytes answer (with the thread count), and the answer. */
const lastPeak = { key: [] as number[], bytes: 0 };

/**
 * The kernels' peak bytes for `b` prompts of `l` tokens (computed beside them, in the core), the
 * last answer reused when the arguments and the thread count are the same (calls in a loop).
 */
function peakBytes(b: number, l: number, s: Native.AttentionShape, compute: Dtype, backward: boolean): number {
  const key = [b, l, s.heads, s.dim, s.dk, s.dv, compute === 'f32' ? 4 : 8, backward ? 1 : 0, native.getThreads()];
  if (key.length === lastPeak.key.length && key.every((x, i) => x === lastPeak.key[i])) return lastPeak.bytes;
  const bytes = call(() => native.attentionPeakBytes(b, l, s, compute, backward));
  [lastPeak.key, lastPeak.bytes] = [key, bytes];
  return bytes;
}

/**
 * Chooses the compute dtype from the bound (f32 inputs beyond f32 run in f64; beyond f64 is a
 * RangeError), then refuses the call when its peak bytes exceed the memory limit.
 */
function plan(p: Prepared, backward: number | undefined): void {
  const bnd = bound(p, backward);
  // (non-finite entries, an invalid λ and empty sizes are left for the addon to report, naming the argument)
  const { heads: h0, dim: d0, dk: k0, dv: v0 } = p.shape;
  const valid = Number.isFinite(p.opts.lambda) && p.opts.lambda > 0 && Math.min(h0, d0, k0, v0) >= 1;
  const finite = valid && Number.isFinite(p.r) && p.wn.every((w) => w.every(Number.isFinite)) && (backward === undefined || Number.isFinite(backward));
  if (finite && !fits(bnd, 'f64')) throw tooLarge(p, backward === undefined ? 'the scores and outputs' : 'the gradients');
  p.compute = finite && p.dtype === 'f32' && !(fits(bnd, 'f32') && lambdaFitsF32(p.opts.lambda)) ? 'f64' : p.dtype;
  const { heads: h, dim: d } = p.shape;
  const [n, w, l] = [p.b * p.l * d, p.flat.length, p.l];
  // The kernels' peak (computed beside them, in the core) with the copies the call makes.
  let bytes = peakBytes(p.b, l, p.shape, p.compute, backward !== undefined);
  const what = () =>
    backward === undefined
      ? `x ${p.b} × ${l} × ${d}, the outputs of ${p.b} × ${h} prompt-heads, ${p.compute}`
      : `x and dy ${p.b} × ${l} × ${d}, the y, dx and dW parts of ${p.b} × ${h} prompt-heads, ${p.compute}`;
  if (p.compute !== p.dtype) bytes += 12 * (backward === undefined ? n + w : 2 * n + w);
  checkMemory('x', bytes, what);
}

/** The inputs in the compute dtype. */
function inputs(p: Prepared): { x: Float; w: Float } {
  return p.compute === p.dtype ? { x: p.x.data, w: p.flat } : { x: widen(p.x.data), w: widen(p.flat) };
}

/** The result in the caller's dtype (the core refuses a non-finite result itself, as an overflow). */
function output(p: Prepared, y: Float): Tensor {
  return { shape: p.x.shape, data: narrow(y, p.dtype, 'x', 'the output') };
}

/**
 * `Attn(X)` (model C, SPEC §4), off the event loop: `x` `[L, d]` or `[B, L, d]`, the weights of
 * `AttentionWeights`; same shape and dtype out. Tiled with an online softmax (FlashAttention-2,
 * Dao 2023), the same bits for any thread count. An `f32` call whose intermediates could leave
 * `f32` runs in `f64` and is rounded back. `signal` stops it within one block of queries.
 *
 * @throws {TypeError} when `x` is not a 2-D or 3-D array or tensor, it does not have the weights'
 * `d` columns or their dtype, a weight has the wrong shape, or `opts` has an unknown key (named,
 * with the closest valid key).
 * @throws {RangeError} when a value is not finite, `lambda` is not positive and finite, the mask
 * is `'no-self'` with `L = 1`, the values are too large for the scores in f64, or the call exceeds
 * the memory limit.
 * @throws {Error} named `'AbortError'` (a rejection) when `signal` aborts.
 */
export async function attention(x: TokensLike, weights: AttentionWeights, opts: AttentionOptions = {}): Promise<Tensor> {
  const p = prepare(x, weights, opts);
  plan(p, undefined);
  const { x: xd, w } = inputs(p);
  return output(p, await cancellable(p.signal, (token) => callAsync(() => native.attention(xd, p.b, p.l, p.shape, w, p.opts, token))));
}

/**
 * `attention` on the calling thread (it blocks the event loop).
 *
 * Blocks the calling thread, without a signal: in a worker, `worker.terminate()` stops it (≈ 10 ms and
 * one chunk of work); on the main thread nothing stops it, so use the async form for long work.
 *
 * @throws {TypeError} as `attention`.
 * @throws {RangeError} as `attention`.
 */
export function attentionSync(x: TokensLike, weights: AttentionWeights, opts: Omit<AttentionOptions, 'signal'> = {}): Tensor {
  const p = prepare(x, weights, opts);
  plan(p, undefined);
  const { x: xd, w } = inputs(p);
  return output(p, call(() => native.attentionSync(xd, p.b, p.l, p.shape, w, p.opts)));
}

function grads(p: Prepared, g: Native.AttentionGrads): AttentionGradients {
  // (the core refuses a non-finite result itself, as an overflow)
  const what = (name: string, a: Float) => narrow(a, p.dtype, 'x', name);
  return {
    y: { shape: p.x.shape, data: what('the output', g.y) },
    dx: { shape: p.x.shape, data: what('the gradient dx', g.dx) },
    dweights: splitWeights(what('the weight gradients', g.dweights), p.shape),
  };
}

function upstream(p: Prepared, dy: unknown): Tensor {
  const t = v.tokens('dy', dy, v.dtypeOf(p.x.data));
  if (!v.sameShape(t.shape, p.x.shape)) throw new TypeError(`\`dy\` must have the shape of \`x\` [${p.x.shape.join(', ')}], got [${t.shape.join(', ')}]`);
  const data = v.as(t.data, v.dtypeOf(p.x.data), 'dy');
  plan(p, maxRowNorm(data, p.shape.dim));
  return { shape: t.shape, data: p.compute === p.dtype ? data : widen(data) };
}

/**
 * The output and every gradient of `⟨dY, Attn(X)⟩` given the upstream gradient `dy` (the shape of
 * `x`), off the event loop: the FlashAttention-2 backward, with the softmax's row term split
 * around each row's dominant key so that a saturated softmax (large `λ`) keeps an accurate
 * gradient. Checked against a plain `f64` reference and finite differences.
 *
 * @throws {TypeError} as `attention`, or when `dy` does not have the shape of `x`.
 * @throws {RangeError} as `attention`, or when `dy` is not finite.
 * @throws {Error} named `'AbortError'` (a rejection) when `signal` aborts.
 */
export async function attentionBackward(x: TokensLike, weights: AttentionWeights, dy: TokensLike, opts: AttentionOptions = {}): Promise<AttentionGradients> {
  const p = prepare(x, weights, opts);
  const d = upstream(p, dy);
  const { x: xd, w } = inputs(p);
  return grads(p, await cancellable(p.signal, (token) => callAsync(() => native.attentionBackward(xd, p.b, p.l, p.shape, w, d.data, p.opts, token))));
}

/**
 * `attentionBackward` on the calling thread (it blocks the event loop).
 *
 * Blocks the calling thread, without a signal: in a worker, `worker.terminate()` stops it (≈ 10 ms and
 * one chunk of work); on the main thread nothing stops it, so use the async form for long work.
 *
 * @throws {TypeError} as `attentionBackward`.
 * @throws {RangeError} as `attentionBackward`.
 */
export function attentionBackwardSync(x: TokensLike, weights: AttentionWeights, dy: TokensLike, opts: Omit<AttentionOptions, 'signal'> = {}): AttentionGradients {
  const p = prepare(x, weights, opts);
  const d = upstream(p, dy);
  const { x: xd, w } = inputs(p);
  return grads(p, call(() => native.attentionBackwardSync(xd, p.b, p.l, p.shape, w, d.data, p.opts)));
}

/**
 * Weights with every `W` the identity (`dk = dv = d`; `heads` default 1, `dtype` default `'f32'`):
 * model B as a case of model C (with `heads` heads the output is `heads` times model B's).
 *
 * @throws {TypeError} when `opts` has an unknown key.
 * @throws {RangeError} when `dim` or `heads` is not a positive integer in range, or the weights
 * exceed the memory limit.
 */
export function identityWeights(dim: number, opts: { heads?: number; dtype?: Dtype } = {}): AttentionWeights {
  // (no upper bound but the memory limit: these are plain JS arrays, for any model-C call)
  const d = v.integer('dim', dim, 1, Number.MAX_SAFE_INTEGER);
  const o = v.options('options', opts, false, ['heads', 'dtype']);
  const h = o.heads === undefined ? 1 : v.integer('heads', o.heads, 1, Number.MAX_SAFE_INTEGER);
  const dt = v.dtype('dtype', o.dtype, 'f32');
  checkMemory(['dim', 'heads'], 4 * h * d * d * bytesOf(dt), `four ${h} × ${d} × ${d} identity matrices, ${dt}`);
  const eye = () => {
    const data = dt === 'f32' ? new Float32Array(h * d * d) : new Float64Array(h * d * d);
    for (let k = 0; k < h; k++) for (let i = 0; i < d; i++) data[k * d * d + i * d + i] = 1;
    return { shape: [h, d, d], data };
  };
  return { wq: eye(), wk: eye(), wv: eye(), wo: eye() };
}

