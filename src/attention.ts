/**
 * Model C: batched multi-head softmax attention, forward and backward, and a layer that trains on
 * mixture prompts.
 *
 *     Attn(X) = Σ_h softmax(λ (X W_Q^h)(X W_K^h)ᵀ + mask) (X W_V^h) W_O^h
 *
 * `X` is `[L, d]` or `[B, L, d]`; `W_Q^h, W_K^h` are `d × dk`, `W_V^h` is `d × dv`, `W_O^h` is
 * `dv × d`. Masks: `'none'`, `'causal'` (token `i` sees `j ≤ i`), `'no-self'` (every token but
 * itself). The kernels are tiled with an online softmax: the `L × L` matrix is never stored.
 */
import { cancellable, MAX_CALL_STEPS, signalOf } from './cancel';
import { abortError, call, callAsync } from './errors';
import type { MixturePrior } from './gmm';
import { bytesOf, checkMemory } from './memory';
import { native, type Native } from './native';
import { checkResult, fits, lambdaFitsF32, maxRowNorm, narrow, norm, widen } from './numerics';
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

/** Score mask. */
export type AttentionMask = 'none' | 'causal' | 'no-self';

/** Options of `attention` and `attentionBackward`. */
export interface AttentionOptions {
  /** Inverse temperature (default `1/√dk`). */
  lambda?: number;
  /** Default `'none'`. */
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

/** Checks the weights and returns their sizes and the flat `[W_Q | W_K | W_V | W_O]` array. */
function flatWeights(w: unknown, dt?: Dtype): { shape: Native.AttentionShape; flat: Float } {
  const o = v.options('weights', w, true, ['wq', 'wk', 'wv', 'wo']);
  const wq = v.tensor('weights.wq', o.wq, 3);
  const [h, d, dk] = wq.shape as [number, number, number];
  const wk = v.tensor('weights.wk', o.wk, 3);
  const wv = v.tensor('weights.wv', o.wv, 3);
  const wo = v.tensor('weights.wo', o.wo, 3);
  const dv = wv.shape[2] as number;
  const expect = (t: Tensor, s: number[], name: string) => {
    if (t.shape.join() !== s.join()) throw new TypeError(`\`${name}\` must have shape [${s.join(', ')}] (from \`weights.wq\` [${wq.shape.join(', ')}]), got [${t.shape.join(', ')}]`);
  };
  expect(wk, [h, d, dk], 'weights.wk');
  expect(wv, [h, d, dv], 'weights.wv');
  expect(wo, [h, dv, d], 'weights.wo');
  if (h < 1 || d < 1 || dk < 1 || dv < 1) throw new RangeError(`\`weights\` must have at least one head and positive sizes, got H = ${h}, d = ${d}, dk = ${dk}, dv = ${dv}`);
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

/** Splits a flat `[W_Q | W_K | W_V | W_O]` array into tensors. */
function splitWeights(flat: Float, s: Native.AttentionShape): AttentionWeights {
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
    lambda: o.lambda === undefined ? 1 / Math.sqrt(dk) : v.positive('lambda', o.lambda),
    mask: v.oneOf('mask', o.mask, ['none', 'causal', 'no-self'] as const, 'none'),
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
  if (opt.mask === 'no-self' && l === 1) throw new RangeError("`mask` 'no-self' needs prompts of at least 2 tokens");
  const signal = signalOf(o.signal);
  const dtype = v.dtypeOf(flat);
  return { x: t, b, l, shape, flat, opts: opt, signal, dtype, compute: dtype, r: maxRowNorm(t.data, d), wn: weightNorms(flat, shape) };
}

/**
 * Chooses the compute dtype from the bound (f32 inputs beyond f32 run in f64; beyond f64 is a
 * RangeError), then refuses the call when its peak bytes exceed the memory limit.
 */
function plan(p: Prepared, backward: number | undefined): void {
  const bnd = bound(p, backward);
  // (non-finite entries are left for the addon to report, naming the argument)
  const finite = Number.isFinite(p.r) && p.wn.every((w) => w.every(Number.isFinite)) && (backward === undefined || Number.isFinite(backward));
  if (finite && !fits(bnd, 'f64')) throw tooLarge(p, backward === undefined ? 'the scores and outputs' : 'the gradients');
  p.compute = finite && p.dtype === 'f32' && !(fits(bnd, 'f32') && lambdaFitsF32(p.opts.lambda)) ? 'f64' : p.dtype;
  const { heads: h, dim: d } = p.shape;
  const [n, w, l] = [p.b * p.l * d, p.flat.length, p.l];
  // The kernels' peak (computed beside them, in the core) with the copies the call makes.
  let bytes = call(() => native.attentionPeakBytes(p.b, l, p.shape, p.compute, backward !== undefined));
  const what =
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

function output(p: Prepared, y: Float): Tensor {
  const data = narrow(y, p.dtype, 'x', 'the output');
  checkResult(data, 'x', 'the output');
  return { shape: p.x.shape, data };
}

/** `Attn(X)`, off the event loop. Same shape and dtype as `x`; `signal` stops it within one block of queries. */
export async function attention(x: TokensLike, weights: AttentionWeights, opts: AttentionOptions = {}): Promise<Tensor> {
  const p = prepare(x, weights, opts);
  plan(p, undefined);
  const { x: xd, w } = inputs(p);
  return output(p, await cancellable(p.signal, (token) => callAsync(() => native.attention(xd, p.b, p.l, p.shape, w, p.opts, token))));
}

/** `Attn(X)` on the calling thread. */
export function attentionSync(x: TokensLike, weights: AttentionWeights, opts: Omit<AttentionOptions, 'signal'> = {}): Tensor {
  const p = prepare(x, weights, opts);
  plan(p, undefined);
  const { x: xd, w } = inputs(p);
  return output(p, call(() => native.attentionSync(xd, p.b, p.l, p.shape, w, p.opts)));
}

function grads(p: Prepared, g: Native.AttentionGrads): AttentionGradients {
  const what = (name: string, a: Float) => {
    const out = narrow(a, p.dtype, 'x', name);
    checkResult(out, 'x', name);
    return out;
  };
  return {
    y: { shape: p.x.shape, data: what('the output', g.y) },
    dx: { shape: p.x.shape, data: what('the gradient dx', g.dx) },
    dweights: splitWeights(what('the weight gradients', g.dweights), p.shape),
  };
}

function upstream(p: Prepared, dy: unknown): Tensor {
  const t = v.tokens('dy', dy, v.dtypeOf(p.x.data));
  if (t.shape.join() !== p.x.shape.join()) throw new TypeError(`\`dy\` must have the shape of \`x\` [${p.x.shape.join(', ')}], got [${t.shape.join(', ')}]`);
  const data = v.as(t.data, v.dtypeOf(p.x.data), 'dy');
  plan(p, maxRowNorm(data, p.shape.dim));
  return { shape: t.shape, data: p.compute === p.dtype ? data : widen(data) };
}

/** The output and every gradient given the upstream gradient `dy`, off the event loop. */
export async function attentionBackward(x: TokensLike, weights: AttentionWeights, dy: TokensLike, opts: AttentionOptions = {}): Promise<AttentionGradients> {
  const p = prepare(x, weights, opts);
  const d = upstream(p, dy);
  const { x: xd, w } = inputs(p);
  return grads(p, await cancellable(p.signal, (token) => callAsync(() => native.attentionBackward(xd, p.b, p.l, p.shape, w, d.data, p.opts, token))));
}

/** `attentionBackward` on the calling thread. */
export function attentionBackwardSync(x: TokensLike, weights: AttentionWeights, dy: TokensLike, opts: Omit<AttentionOptions, 'signal'> = {}): AttentionGradients {
  const p = prepare(x, weights, opts);
  const d = upstream(p, dy);
  const { x: xd, w } = inputs(p);
  return grads(p, call(() => native.attentionBackwardSync(xd, p.b, p.l, p.shape, w, d.data, p.opts)));
}

/** Weights with every `W` the identity (`dk = dv = d`): model B as a case of model C. */
export function identityWeights(dim: number, opts: { heads?: number; dtype?: Dtype } = {}): AttentionWeights {
  const d = v.integer('dim', dim, 1, 1 << 14);
  const o = v.options('options', opts, false, ['heads', 'dtype']);
  const h = o.heads === undefined ? 1 : v.integer('heads', o.heads, 1, 1024);
  const dt = v.dtype('dtype', o.dtype, 'f32');
  checkMemory(['dim', 'heads'], 4 * h * d * d * bytesOf(dt), `four ${h} × ${d} × ${d} identity matrices, ${dt}`);
  const eye = () => {
    const data = dt === 'f32' ? new Float32Array(h * d * d) : new Float64Array(h * d * d);
    for (let k = 0; k < h; k++) for (let i = 0; i < d; i++) data[k * d * d + i * d + i] = 1;
    return { shape: [h, d, d], data };
  };
  return { wq: eye(), wk: eye(), wv: eye(), wo: eye() };
}

/** Options of `new AttentionLayer`. */
export interface AttentionLayerOptions {
  /** Token dimension `d`. */
  dim: number;
  /** Default 1. */
  heads?: number;
  /** Query/key size (default `dim`). */
  dk?: number;
  /** Value size (default `dim`). */
  dv?: number;
  /** Default `1/√dk`. */
  lambda?: number;
  /** Default `'none'`. */
  mask?: AttentionMask;
  /** Default `'f32'`. */
  dtype?: Dtype;
  /** Initial weights, `'identity'` (`dk = dv = dim` only) or `{ kind: 'random', scale, seed }` (default random, scale `1/√dim`, seed 0). */
  init?:
    | AttentionWeights
    | 'identity'
    | {
        /** Independent Gaussian entries. */
        kind: 'random';
        /** Standard deviation of each entry (default `1/√dim`). */
        scale?: number;
        /** Seed of the draw. */
        seed: number;
      };
}

/** Options of `AttentionLayer.train`. */
export interface AttentionTrainOptions {
  /** Number of updates. */
  steps: number;
  /** Prompts per step. */
  batch: number;
  /** Tokens per prompt. */
  length: number;
  /** Learning rate. */
  lr: number;
  /** Seed of the prompts drawn during training. */
  seed: number;
  /** Default `'adam'`. */
  optimizer?: 'sgd' | 'momentum' | 'adam';
  /** Record the loss every this many steps (default: about 100 points). */
  recordEvery?: number;
  /** Stops the run within one chunk of work; the layer keeps the weights reached. */
  signal?: AbortSignal;
  /** Called with each recorded point (`loss`: the step's mean reconstruction loss) as soon as it is recorded. */
  onStep?: (entry: { step: number; loss: number }) => void;
}

/** A general attention layer (model C) that trains on mixture prompts with `Σ_i ‖x_i − Attn(X)_i‖²`. */
export class AttentionLayer {
  /** Token dimension `d`. */
  readonly dim: number;
  /** Number of heads `H`. */
  readonly heads: number;
  /** Query/key size. */
  readonly dk: number;
  /** Value size. */
  readonly dv: number;
  /** Inverse temperature `λ`. */
  readonly lambda: number;
  /** Score mask. */
  readonly mask: AttentionMask;
  /** Computation type. */
  readonly dtype: Dtype;
  #flat: Float;

  /** A layer with the given sizes and weights drawn (or given) as `init` says. */
  constructor(opts: AttentionLayerOptions) {
    const o = v.options('options', opts, true, ['dim', 'heads', 'dk', 'dv', 'lambda', 'mask', 'dtype', 'init']);
    this.dim = v.integer('dim', o.dim, 1, 1 << 14);
    this.heads = o.heads === undefined ? 1 : v.integer('heads', o.heads, 1, 1024);
    this.dk = o.dk === undefined ? this.dim : v.integer('dk', o.dk, 1, 1 << 14);
    this.dv = o.dv === undefined ? this.dim : v.integer('dv', o.dv, 1, 1 << 14);
    this.lambda = o.lambda === undefined ? 1 / Math.sqrt(this.dk) : v.positive('lambda', o.lambda);
    this.mask = v.oneOf('mask', o.mask, ['none', 'causal', 'no-self'] as const, 'none');
    this.dtype = v.dtype('dtype', o.dtype, 'f32');
    const shape = this.#shape;
    const size = this.heads * (2 * this.dim * this.dk + 2 * this.dim * this.dv);
    // The weights, and (when training) their f64 gradient and optimiser state.
    checkMemory(['dim', 'heads'], size * (bytesOf(this.dtype) + 24), `${size} weights (H·(2·d·dk + 2·d·dv)), ${this.dtype}, with their gradient and optimiser state`);
    const init = o.init ?? { kind: 'random', seed: 0 };
    if (init === 'identity') {
      if (this.dk !== this.dim || this.dv !== this.dim) throw new RangeError("`init` 'identity' needs dk = dv = dim");
      this.#flat = flatWeights(identityWeights(this.dim, { heads: this.heads, dtype: this.dtype })).flat;
    } else if (typeof init === 'object' && init !== null && 'kind' in init) {
      const { o: spec } = v.tagged('init', init, { random: ['scale', 'seed'] });
      const scale = spec.scale === undefined ? 1 / Math.sqrt(this.dim) : v.nonNegative('init.scale', spec.scale);
      // scale · N(0, 1) entries from the native generator (seeded, thread-independent).
      this.#flat = call(() => native.initHeads({ kind: 'random', scale, seed: v.seed('init.seed', spec.seed) }, 1, size, this.dtype, null));
      if (!this.#flat.every(Number.isFinite)) throw new RangeError(`\`init.scale\` is too large: the initial weights overflow ${this.dtype}, got ${scale}`);
    } else {
      const f = flatWeights(init, this.dtype);
      if (f.shape.heads !== shape.heads || f.shape.dim !== shape.dim || f.shape.dk !== shape.dk || f.shape.dv !== shape.dv) {
        throw new TypeError(`\`init\` weights must have H = ${shape.heads}, d = ${shape.dim}, dk = ${shape.dk}, dv = ${shape.dv}`);
      }
      this.#flat = v.as(f.flat, this.dtype, 'init');
    }
  }

  get #shape(): Native.AttentionShape {
    return { heads: this.heads, dim: this.dim, dk: this.dk, dv: this.dv };
  }

  /** The current weights (copies). */
  get weights(): AttentionWeights {
    return splitWeights(this.#flat, this.#shape);
  }

  /** `W_Q^h W_K^hᵀ` (`d × d`): the bilinear form the scores of head `h` use. */
  queryKey(h = 0): Tensor {
    return this.#product(h, 'qk');
  }

  /** `W_V^h W_O^h` (`d × d`): what head `h` writes back. */
  valueOutput(h = 0): Tensor {
    return this.#product(h, 'vo');
  }

  #product(h: number, which: 'qk' | 'vo'): Tensor {
    const hi = v.integer('h', h, 0, this.heads - 1);
    const w = this.weights;
    const d = this.dim;
    const [a, b, inner] = which === 'qk' ? [w.wq, w.wk, this.dk] : [w.wv, w.wo, this.dv];
    const out = new Float64Array(d * d);
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) {
        let s = 0;
        for (let k = 0; k < inner; k++) {
          const aik = a.data[hi * d * inner + i * inner + k] as number;
          const bkj = which === 'qk' ? (b.data[hi * d * inner + j * inner + k] as number) : (b.data[hi * inner * d + k * d + j] as number);
          s += aik * bkj;
        }
        out[i * d + j] = s;
      }
    }
    return { shape: [d, d], data: out };
  }

  /** `Attn(X)` with the current weights. */
  forward(x: TokensLike, opts: { signal?: AbortSignal } = {}): Promise<Tensor> {
    const o = v.options('options', opts, false, ['signal']);
    return attention(x, this.weights, { lambda: this.lambda, mask: this.mask, signal: o.signal as AbortSignal | undefined });
  }

  /** Trains on fresh prompts of `prior` each step (reconstruction loss); updates the weights as it goes. */
  async train(
    prior: MixturePrior,
    opts: AttentionTrainOptions,
  ): Promise<{
    /** The final weights. */
    weights: AttentionWeights;
    /** The recorded points: `loss` is the mean reconstruction loss on step `step`'s prompts, before its update. */
    history: {
      /** Updates done before this point. */
      step: number;
      /** Mean of `‖x_i − Attn(X)_i‖²` over the step's tokens. */
      loss: number;
    }[];
  }> {
    const o = v.options('options', opts, true, ['steps', 'batch', 'length', 'lr', 'seed', 'optimizer', 'recordEvery', 'signal', 'onStep']);
    const steps = v.integer('steps', o.steps, 0, Number.MAX_SAFE_INTEGER);
    const batch = v.integer('batch', o.batch, 1, 1 << 16);
    const length = v.integer('length', o.length, 1, 1 << 20);
    const lr = v.positive('lr', o.lr);
    const seed = v.seed('seed', o.seed);
    if (prior.dim !== this.dim) throw new TypeError(`\`prior\` has dimension ${prior.dim} but the layer ${this.dim}`);
    if (this.mask === 'no-self' && length < 2) throw new RangeError("`length` must be at least 2 with mask 'no-self'");
    const optimizer = v.oneOf('optimizer', o.optimizer, ['sgd', 'momentum', 'adam'] as const, 'adam');
    const recordEvery = o.recordEvery === undefined ? Math.max(1, Math.ceil(steps / 100)) : v.integer('recordEvery', o.recordEvery, 1, Number.MAX_SAFE_INTEGER);
    const signal = signalOf(o.signal);
    const onStep = o.onStep;
    if (onStep !== undefined && typeof onStep !== 'function') throw new TypeError('`onStep` must be a function');
    {
      // One step: its prompts, y and dy, the backward pass, the f64 gradient and optimiser state
      // (computed beside the kernels, in the core).
      const d = this.dim;
      const bytes = call(() => native.attentionTrainPeakBytes(batch, length, prior.k, this.#shape, this.dtype));
      checkMemory(['batch', 'length'], bytes, `a step on ${batch} prompts of ${length} tokens of dimension ${d}, ${this.dtype}`);
    }
    const spec: Native.AttentionTrainSpec = { shape: this.#shape, opts: { lambda: this.lambda, mask: this.mask }, prior: prior.spec, optimizer, lr, batch, length, seed };
    let state: Float64Array = new Float64Array(2 * this.#flat.length);
    const history: { step: number; loss: number }[] = [];
    let t = 0;
    // One native call per record interval (at most MAX_CALL_STEPS steps, which bounds its array of
    // losses); the signal stops a call at its next step (the weights of the last completed call are kept).
    while (t < steps) {
      const count = Math.min(MAX_CALL_STEPS, (Math.floor(t / recordEvery) + 1) * recordEvery - t, steps - t);
      const r = await cancellable(signal, (token) => callAsync(() => native.trainAttention(spec, this.#flat, state, t, count, token)));
      r.losses.forEach((loss, i) => {
        if ((t + i) % recordEvery === 0) {
          const e = { step: t + i, loss };
          history.push(e);
          onStep?.(e);
        }
      });
      // A cancelled call returns the steps it completed (maybe none): the layer keeps them.
      this.#flat = r.weights;
      state = r.state;
      t += r.losses.length;
      if (r.losses.length < count) throw abortError(signal);
    }
    return { weights: this.weights, history };
  }
}
