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
import { abortError, call, callAsync } from './errors';
import type { MixturePrior } from './gmm';
import { native, type Native } from './native';
import type { Dtype, Float, Tensor, TokensLike } from './types';
import * as v from './validate';

/** Per-head weights: `wq`, `wk` `[H, d, dk]`, `wv` `[H, d, dv]`, `wo` `[H, dv, d]`, one dtype. */
export interface AttentionWeights {
  wq: Tensor;
  wk: Tensor;
  wv: Tensor;
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
  /** Cancels the call before it starts (async forms only). */
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
}

/** Checks the weights and returns their sizes and the flat `[W_Q | W_K | W_V | W_O]` array. */
function flatWeights(w: unknown, dt?: Dtype): { shape: Native.AttentionShape; flat: Float } {
  const o = v.options('weights', w, true);
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
  for (const t of [wq, wk, wv, wo]) {
    flat.set(t.data, off);
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
  const o = v.options('options', opts, false);
  const [b, l, d] = (t.shape.length === 3 ? t.shape : [1, ...t.shape]) as [number, number, number];
  if (d !== shape.dim) throw new TypeError(`\`x\` must have ${shape.dim} columns (the weights' d), got ${d}`);
  if (v.dtypeOf(t.data) !== v.dtypeOf(flat)) throw new TypeError('`x` and `weights` must have the same dtype');
  const opt = options(o, shape.dk);
  if (opt.mask === 'no-self' && l === 1) throw new RangeError("`mask` 'no-self' needs prompts of at least 2 tokens");
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw new TypeError('`signal` must be an AbortSignal');
  return { x: t, b, l, shape, flat, opts: opt, signal: o.signal as AbortSignal | undefined };
}

/** `Attn(X)`, off the event loop. Same shape and dtype as `x`. */
export async function attention(x: TokensLike, weights: AttentionWeights, opts: AttentionOptions = {}): Promise<Tensor> {
  const p = prepare(x, weights, opts);
  if (p.signal?.aborted) throw abortError(p.signal);
  try {
    return { shape: p.x.shape, data: await callAsync(() => native.attention(p.x.data, p.b, p.l, p.shape, p.flat, p.opts, p.signal)) };
  } catch (e) {
    if (p.signal?.aborted) throw abortError(p.signal);
    throw e;
  }
}

/** `Attn(X)` on the calling thread. */
export function attentionSync(x: TokensLike, weights: AttentionWeights, opts: Omit<AttentionOptions, 'signal'> = {}): Tensor {
  const p = prepare(x, weights, opts);
  return { shape: p.x.shape, data: call(() => native.attentionSync(p.x.data, p.b, p.l, p.shape, p.flat, p.opts)) };
}

function grads(p: Prepared, g: Native.AttentionGrads): AttentionGradients {
  return { y: { shape: p.x.shape, data: g.y }, dx: { shape: p.x.shape, data: g.dx }, dweights: splitWeights(g.dweights, p.shape) };
}

function upstream(p: Prepared, dy: unknown): Tensor {
  const t = v.tokens('dy', dy, v.dtypeOf(p.x.data));
  if (t.shape.join() !== p.x.shape.join()) throw new TypeError(`\`dy\` must have the shape of \`x\` [${p.x.shape.join(', ')}], got [${t.shape.join(', ')}]`);
  return { shape: t.shape, data: v.as(t.data, v.dtypeOf(p.x.data)) };
}

/** The output and every gradient given the upstream gradient `dy`, off the event loop. */
export async function attentionBackward(x: TokensLike, weights: AttentionWeights, dy: TokensLike, opts: AttentionOptions = {}): Promise<AttentionGradients> {
  const p = prepare(x, weights, opts);
  const d = upstream(p, dy);
  if (p.signal?.aborted) throw abortError(p.signal);
  return grads(p, await callAsync(() => native.attentionBackward(p.x.data, p.b, p.l, p.shape, p.flat, d.data, p.opts, p.signal)));
}

/** `attentionBackward` on the calling thread. */
export function attentionBackwardSync(x: TokensLike, weights: AttentionWeights, dy: TokensLike, opts: Omit<AttentionOptions, 'signal'> = {}): AttentionGradients {
  const p = prepare(x, weights, opts);
  const d = upstream(p, dy);
  return grads(p, call(() => native.attentionBackwardSync(p.x.data, p.b, p.l, p.shape, p.flat, d.data, p.opts)));
}

/** Weights with every `W` the identity (`dk = dv = d`): model B as a case of model C. */
export function identityWeights(dim: number, opts: { heads?: number; dtype?: Dtype } = {}): AttentionWeights {
  const d = v.integer('dim', dim, 1, 1 << 14);
  const h = opts.heads === undefined ? 1 : v.integer('heads', opts.heads, 1, 1024);
  const dt = v.dtype('dtype', opts.dtype, 'f32');
  const eye = () => {
    const data = dt === 'f32' ? new Float32Array(h * d * d) : new Float64Array(h * d * d);
    for (let k = 0; k < h; k++) for (let i = 0; i < d; i++) data[k * d * d + i * d + i] = 1;
    return { shape: [h, d, d], data };
  };
  return { wq: eye(), wk: eye(), wv: eye(), wo: eye() };
}

/** Options of `new AttentionLayer`. */
export interface AttentionLayerOptions {
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
  init?: AttentionWeights | 'identity' | { kind: 'random'; scale?: number; seed: number };
}

/** Options of `AttentionLayer.train`. */
export interface AttentionTrainOptions {
  steps: number;
  /** Prompts per step. */
  batch: number;
  /** Tokens per prompt. */
  length: number;
  lr: number;
  seed: number;
  /** Default `'adam'`. */
  optimizer?: 'sgd' | 'momentum' | 'adam';
  /** Record the loss every this many steps (default: about 100 points). */
  recordEvery?: number;
  signal?: AbortSignal;
  onStep?: (entry: { step: number; loss: number }) => void;
}

/** A general attention layer (model C) that trains on mixture prompts with `Σ_i ‖x_i − Attn(X)_i‖²`. */
export class AttentionLayer {
  readonly dim: number;
  readonly heads: number;
  readonly dk: number;
  readonly dv: number;
  readonly lambda: number;
  readonly mask: AttentionMask;
  readonly dtype: Dtype;
  #flat: Float;

  constructor(opts: AttentionLayerOptions) {
    const o = v.options('options', opts, true);
    this.dim = v.integer('dim', o.dim, 1, 1 << 14);
    this.heads = o.heads === undefined ? 1 : v.integer('heads', o.heads, 1, 1024);
    this.dk = o.dk === undefined ? this.dim : v.integer('dk', o.dk, 1, 1 << 14);
    this.dv = o.dv === undefined ? this.dim : v.integer('dv', o.dv, 1, 1 << 14);
    this.lambda = o.lambda === undefined ? 1 / Math.sqrt(this.dk) : v.positive('lambda', o.lambda);
    this.mask = v.oneOf('mask', o.mask, ['none', 'causal', 'no-self'] as const, 'none');
    this.dtype = v.dtype('dtype', o.dtype, 'f32');
    const shape = this.#shape;
    const size = this.heads * (2 * this.dim * this.dk + 2 * this.dim * this.dv);
    const init = o.init ?? { kind: 'random', seed: 0 };
    if (init === 'identity') {
      if (this.dk !== this.dim || this.dv !== this.dim) throw new RangeError("`init` 'identity' needs dk = dv = dim");
      this.#flat = flatWeights(identityWeights(this.dim, { heads: this.heads, dtype: this.dtype })).flat;
    } else if (typeof init === 'object' && init !== null && 'kind' in init) {
      const spec = v.options('init', init, true);
      v.oneOf('init.kind', spec.kind, ['random'] as const);
      const scale = spec.scale === undefined ? 1 / Math.sqrt(this.dim) : v.nonNegative('init.scale', spec.scale);
      // scale · N(0, 1) entries from the native generator (seeded, thread-independent).
      this.#flat = call(() => native.initHeads({ kind: 'random', scale, seed: v.seed('init.seed', spec.seed) }, 1, size, this.dtype, null));
    } else {
      const f = flatWeights(init, this.dtype);
      if (f.shape.heads !== shape.heads || f.shape.dim !== shape.dim || f.shape.dk !== shape.dk || f.shape.dv !== shape.dv) {
        throw new TypeError(`\`init\` weights must have H = ${shape.heads}, d = ${shape.dim}, dk = ${shape.dk}, dv = ${shape.dv}`);
      }
      this.#flat = v.as(f.flat, this.dtype);
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
    return attention(x, this.weights, { lambda: this.lambda, mask: this.mask, ...opts });
  }

  /** Trains on fresh prompts of `prior` each step (reconstruction loss); updates the weights as it goes. */
  async train(prior: MixturePrior, opts: AttentionTrainOptions): Promise<{ weights: AttentionWeights; history: { step: number; loss: number }[] }> {
    const o = v.options('options', opts, true);
    const steps = v.integer('steps', o.steps, 0, Number.MAX_SAFE_INTEGER);
    const batch = v.integer('batch', o.batch, 1, 1 << 16);
    const length = v.integer('length', o.length, 1, 1 << 20);
    const lr = v.positive('lr', o.lr);
    const seed = v.seed('seed', o.seed);
    if (prior.dim !== this.dim) throw new TypeError(`\`prior\` has dimension ${prior.dim} but the layer ${this.dim}`);
    if (this.mask === 'no-self' && length < 2) throw new RangeError("`length` must be at least 2 with mask 'no-self'");
    const optimizer = v.oneOf('optimizer', o.optimizer, ['sgd', 'momentum', 'adam'] as const, 'adam');
    const recordEvery = o.recordEvery === undefined ? Math.max(1, Math.ceil(steps / 100)) : v.integer('recordEvery', o.recordEvery, 1, Number.MAX_SAFE_INTEGER);
    const signal = o.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError('`signal` must be an AbortSignal');
    const onStep = o.onStep;
    if (onStep !== undefined && typeof onStep !== 'function') throw new TypeError('`onStep` must be a function');
    const spec: Native.AttentionTrainSpec = { shape: this.#shape, opts: { lambda: this.lambda, mask: this.mask }, prior: prior.spec, optimizer, lr, batch, length, seed };
    // Steps per native call: about 50 ms of work, and never past the next record point.
    const perStep = 4 * batch * length * length * (this.dk + this.dv) * this.heads * 3.5;
    const chunk = Math.max(1, Math.min(recordEvery, Math.floor(1e8 / perStep)));
    let state: Float64Array = new Float64Array(2 * this.#flat.length);
    const history: { step: number; loss: number }[] = [];
    let t = 0;
    while (t < steps) {
      if (signal?.aborted) throw abortError(signal);
      const count = Math.min(chunk, (Math.floor(t / recordEvery) + 1) * recordEvery - t, steps - t);
      const r = await callAsync(() => native.trainAttention(spec, this.#flat, state, t, count));
      r.losses.forEach((loss, i) => {
        if ((t + i) % recordEvery === 0) {
          const e = { step: t + i, loss };
          history.push(e);
          onStep?.(e);
        }
      });
      this.#flat = r.weights;
      state = r.state;
      t += count;
    }
    return { weights: this.weights, history };
  }
}
