/**
 * Model C as a trainable layer: `AttentionLayer` holds its weights and trains them on fresh prompts
 * of a `MixturePrior` with the reconstruction loss `Σ_i ‖x_i − Attn(X)_i‖²` (the functions it runs
 * are in attention.ts).
 */
import { attention, flatWeights, identityWeights, splitWeights, type AttentionMask, type AttentionWeights } from './attention';
import { signalOf } from './cancel';
import { call } from './errors';
import { MixturePrior } from './gmm';
import { checkMemory } from './memory';
import { choices, native, type Native } from './native';
import { optimSpec, trainInChunks } from './train-loop';
import type { Dtype, Float, OptimizerSpec, ScheduleSpec, Tensor, TokensLike } from './types';
import * as v from './validate';

/** Options of `new AttentionLayer`. */
export interface AttentionLayerOptions {
  /** Token dimension `d`, an integer in [1, 2^14]. */
  dim: number;
  /** Number of heads `H`, an integer in [1, 1024] (default 1). */
  heads?: number;
  /** Query/key size, an integer in [1, 2^14] (default `dim`). */
  dk?: number;
  /** Value size, an integer in [1, 2^14] (default `dim`). */
  dv?: number;
  /** Inverse temperature `λ > 0` multiplying `QKᵀ` (default `1/√dk`). */
  lambda?: number;
  /** Which scores are excluded (default `'none'`). */
  mask?: AttentionMask;
  /** Computation type of the weights and kernels (default `'f32'`). */
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
  /** Number of updates, an integer in [0, 2^53 − 1]. */
  steps: number;
  /** Prompts per step, an integer in [1, 2^16]. */
  batch: number;
  /** Tokens per prompt, an integer in [1, 2^20] (at least 2 with mask `'no-self'`). */
  length: number;
  /** Base learning rate `η > 0`. */
  lr: number;
  /** Seed of the prompts drawn during training: a non-negative integer below 2^53. */
  seed: number;
  /**
   * The update rule (default `'adam'`: Kingma and Ba 2015 with β₁ 0.9, β₂ 0.999, ε 1e-8); the same
   * options as `TwoHeadLayer.train`: a name, or `{ kind: 'adam', beta1?, beta2?, eps? }`,
   * `{ kind: 'momentum', beta? }` (heavy ball, default β = 0.9), `{ kind: 'sgd' }`.
   */
  optimizer?: OptimizerSpec;
  /** Learning-rate schedule, as `TwoHeadLayer.train` (default `'constant'`; a cosine `total` defaults to `steps`). */
  schedule?: ScheduleSpec;
  /** Record the loss every this many steps (default: about 100 points). */
  recordEvery?: number;
  /** Stops the run within one chunk of work; the layer keeps the weights reached. */
  signal?: AbortSignal;
  /** Called with each recorded point (`loss`: the step's mean reconstruction loss) as soon as it is recorded. */
  onStep?: (entry: { step: number; loss: number }) => void;
}

/**
 * A general attention layer (model C, SPEC §4) that trains on mixture prompts with the
 * reconstruction loss `Σ_i ‖x_i − Attn(X)_i‖²`, to see what `W_Q^h W_K^hᵀ` learns.
 */
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

  /**
   * A layer with the given sizes and weights drawn (or given) as `init` says (default: entries
   * `N(0, 1/dim)`, seed 0).
   *
   * @throws {TypeError} when `opts` has an unknown key (named, with the closest valid key), or `init` weights do not have the layer's sizes.
   * @throws {RangeError} when a size, `lambda` or `init.scale` is out of range, `init` is
   * `'identity'` with `dk` or `dv` not `dim`, the initial weights overflow `dtype`, or the weights
   * exceed the memory limit.
   */
  constructor(opts: AttentionLayerOptions) {
    const o = v.options('options', opts, true, ['dim', 'heads', 'dk', 'dv', 'lambda', 'mask', 'dtype', 'init']);
    // (the sizes' ranges are the core's rule, checked with the weights' peak bytes below)
    this.dim = v.u32('dim', o.dim);
    this.heads = o.heads === undefined ? 1 : v.u32('heads', o.heads);
    this.dk = o.dk === undefined ? this.dim : v.u32('dk', o.dk);
    this.dv = o.dv === undefined ? this.dim : v.u32('dv', o.dv);
    this.dtype = v.dtype('dtype', o.dtype, 'f32');
    const shape = this.#shape;
    // The weights, and (when training) their f64 gradient and optimiser state.
    const bytes = call(() => native.attentionLayerPeakBytes(shape, this.dtype));
    const size = this.heads * (2 * this.dim * this.dk + 2 * this.dim * this.dv);
    checkMemory(['dim', 'heads'], bytes, `${size} weights (H·(2·d·dk + 2·d·dv)), ${this.dtype}, with their gradient and optimiser state`);
    // (λ > 0 and finite: the core's rule, checked now rather than at the first use)
    this.lambda = o.lambda === undefined ? 1 / Math.sqrt(this.dk) : v.numeric('lambda', o.lambda);
    call(() => native.checkLambda(this.lambda));
    this.mask = v.oneOf('mask', o.mask, choices('Mask'), 'none');
    const init = o.init ?? { kind: 'random', seed: 0 };
    if (init === 'identity') {
      if (this.dk !== this.dim || this.dv !== this.dim) throw new RangeError("`init` 'identity' needs dk = dv = dim");
      this.#flat = flatWeights(identityWeights(this.dim, { heads: this.heads, dtype: this.dtype })).flat;
    } else if (typeof init === 'object' && init !== null && 'kind' in init) {
      const { o: spec } = v.tagged('init', init, { random: ['scale', 'seed'] });
      // (finite and ≥ 0: the core's rule for `init.scale`, checked when it draws the weights)
      const scale = spec.scale === undefined ? 1 / Math.sqrt(this.dim) : v.numeric('init.scale', spec.scale);
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

  /**
   * `W_Q^h W_K^hᵀ` (`[d, d]`, f64): the bilinear form the scores of head `h` (default 0) use.
   *
   * @throws {RangeError} when `h` is not an integer in [0, H − 1].
   */
  queryKey(h = 0): Tensor {
    return this.#product(h, 'qk');
  }

  /**
   * `W_V^h W_O^h` (`[d, d]`, f64): what head `h` (default 0) writes back.
   *
   * @throws {RangeError} when `h` is not an integer in [0, H − 1].
   */
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

  /**
   * `Attn(X)` with the current weights (see `attention`), off the event loop.
   *
   * @throws {TypeError} as `attention`.
   * @throws {RangeError} as `attention`.
   * @throws {Error} named `'AbortError'` (a rejection) when `signal` aborts.
   */
  forward(x: TokensLike, opts: { signal?: AbortSignal } = {}): Promise<Tensor> {
    const o = v.options('options', opts, false, ['signal']);
    return attention(x, this.weights, { lambda: this.lambda, mask: this.mask, signal: o.signal as AbortSignal | undefined });
  }

  /**
   * Trains on `batch` fresh prompts of `prior` each step (mean reconstruction loss over the
   * step's tokens, exact gradient by the attention backward); updates the weights as it goes, off
   * the event loop, and keeps those of the completed steps when cancelled. The history holds the
   * loss before the update of every `recordEvery`-th step.
   *
   * @throws {TypeError} when `opts` has an unknown key (named, with the closest valid key), `prior` does not have the layer's dimension, or `onStep`
   * is not a function.
   * @throws {RangeError} when `steps`, `batch`, `length`, `lr`, `seed` or `recordEvery` is out of
   * range, `length < 2` with mask `'no-self'`, training diverges (lower `lr`), or a step exceeds the
   * memory limit.
   * @throws {Error} named `'AbortError'` (a rejection) when `signal` aborts.
   */
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
    const o = v.options('options', opts, true, ['steps', 'batch', 'length', 'lr', 'seed', 'optimizer', 'schedule', 'recordEvery', 'signal', 'onStep']);
    const steps = v.integer('steps', o.steps, 0, Number.MAX_SAFE_INTEGER);
    // (the ranges of batch and length are the core's rule, checked with the step's peak bytes below)
    const batch = v.integer('batch', o.batch, 0, Number.MAX_SAFE_INTEGER);
    const length = v.integer('length', o.length, 0, Number.MAX_SAFE_INTEGER);
    const lr = v.numeric('lr', o.lr); // (its range is the core's rule: see optimSpec)
    const seed = v.seed('seed', o.seed);
    if (!(prior instanceof MixturePrior)) throw new TypeError('`prior` must be a MixturePrior');
    const optim = optimSpec(o.optimizer, o.schedule, steps, lr, 'adam');
    const recordEvery = o.recordEvery === undefined ? Math.max(1, Math.ceil(steps / 100)) : v.integer('recordEvery', o.recordEvery, 1, Number.MAX_SAFE_INTEGER);
    const signal = signalOf(o.signal);
    const onStep = o.onStep;
    if (onStep !== undefined && typeof onStep !== 'function') throw new TypeError('`onStep` must be a function');
    {
      // One step: its prompts, y and dy, the backward pass, the f64 gradient and optimiser state
      // (computed beside the kernels, in the core).
      const d = this.dim;
      // (and the prior's dimension: the core's rule, a TypeError naming `prior`)
      const bytes = call(() => native.attentionTrainPeakBytes(batch, length, prior.k, prior.dim, this.#shape, this.mask, this.dtype));
      checkMemory(['batch', 'length'], bytes, `a step on ${batch} prompts of ${length} tokens of dimension ${d}, ${this.dtype}`);
    }
    const spec: Native.AttentionTrainSpec = { shape: this.#shape, opts: { lambda: this.lambda, mask: this.mask }, prior: prior.spec, optim, batch, length, seed };
    let state: Float64Array = new Float64Array(2 * this.#flat.length);
    const history: { step: number; loss: number }[] = [];
    await trainInChunks(
      steps,
      recordEvery,
      signal,
      async (t, count, token) => {
        const r = await native.trainAttention(spec, this.#flat, state, t, count, token);
        return {
          losses: r.losses,
          commit: () => {
            this.#flat = r.weights;
            state = r.state;
          },
        };
      },
      (step, loss) => {
        const e = { step, loss };
        history.push(e);
        onStep?.(e);
      },
    );
    return { weights: this.weights, history };
  }
}
