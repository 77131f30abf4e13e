/**
 * Gaussian mixtures (`GaussianMixture`) and priors over mixtures (`MixturePrior`).
 *
 * A draw is `z ~ Categorical(π)`, `x = μ_z + C_z ε`, `ε ~ N(0, I_d)`. Samples are a deterministic
 * function of `(seed, stream)`, identical with any number of threads; `f32` samples are the `f64`
 * ones rounded.
 */
import { cancellable, signalOf } from './cancel';
import { call, callAsync } from './errors';
import { bytesOf, checkMemory } from './memory';
import { native, resultArray, SMALL_RESULT_BYTES, type Native } from './native';
import { F32_MAX, fits, maxRowNorm } from './numerics';
import type { Dtype, MatrixLike, MixtureSample, PriorWeights, PromptBatch, SampleOptions, Tensor } from './types';
import * as v from './validate';

// The values of a mixture or prior (counts, sizes, positivity, sums, finiteness, the size limits
// of a sample) are the core's rules: the addon checks them and names the argument. Here: the JS
// shapes and types only, and the f64/f32 overflow bounds of the samples.

function means(name: string, m: unknown): Tensor {
  const t = v.matrix(name, m, 'f64');
  return { shape: t.shape, data: v.as(t.data, 'f64') };
}

function weights(w: unknown): number[] | undefined {
  return w === undefined ? undefined : v.numbers('weights', w);
}

function sampleArgs(n: unknown, opts: unknown, dim: number, keys: readonly string[]): { n: number; seed: number; stream: number; dtype: Dtype; signal?: AbortSignal } {
  const o = v.options('options', opts, true, keys);
  const count = v.integer('n', n, 0, 2 ** 32 - 1);
  const dtype = v.dtype('dtype', o.dtype, 'f64');
  const a = { n: count, seed: v.seed('seed', o.seed), stream: o.stream === undefined ? 0 : v.seed('stream', o.stream), dtype, signal: signalOf(o.signal) };
  // The sample `x` (n × d) and its labels, held by the addon and handed to JS without a copy.
  checkMemory('n', count * dim * bytesOf(dtype) + 4 * count, () => `a sample of ${count} × ${dim} ${dtype} values and ${count} labels`);
  return a;
}

/**
 * Samples that would overflow the dtype are refused before they are drawn (no scan of the output):
 * `bound` bounds every coordinate of a draw (see `spreadBound`; the generator's normals are below
 * the core's `native.MAX_ABS_NORMAL` in absolute value), and f64 bounds were checked when the
 * mixture or prior was made.
 */
function fitsDtype(bound: number, dtype: Dtype, what: string): void {
  if (dtype === 'f32' && !(bound <= F32_MAX)) {
    throw new RangeError(`\`dtype\` 'f32' cannot hold ${what}: they reach about ${bound.toExponential(2)}, beyond the f32 range (±3.4e38); use dtype 'f64'`);
  }
}

function wrapSample(s: Native.Sample, n: number, d: number): MixtureSample {
  return { x: { shape: [n, d], data: s.x }, labels: s.labels };
}

/**
 * A bound on the norm of a sample: `max‖μ_k‖ + 11·√(max tr Σ_k)` (the noise norm is about
 * `√tr Σ`, and far in its tail at 11 times it); a RangeError when it would overflow f64.
 */
function spreadBound(m: Tensor, trace: number, covName: string): number {
  const mu = maxRowNorm(m.data, m.shape[1] as number);
  if (!fits(mu, 'f64')) throw new RangeError(`\`means\` has values too large: samples near ${mu.toExponential(2)} would overflow f64; rescale the mixture`);
  const bound = mu + 11 * Math.sqrt(trace);
  if (!fits(bound, 'f64')) throw new RangeError(`\`${covName}\` is too large: samples would overflow f64 (noise scale ${Math.sqrt(trace).toExponential(2)}); rescale the mixture`);
  return bound;
}

/**
 * A Gaussian mixture with isotropic, diagonal or full covariances (SPEC §1 in docs/spec.md): `K`
 * components with weights `π_k`, means `μ_k` and covariances; a draw is `z ~ Categorical(π)`,
 * `x = μ_z + C_z ε` with `C_z` the Cholesky factor of the covariance. Built by
 * `GaussianMixture.isotropic`, `.diagonal` or `.full`.
 */
export class GaussianMixture {
  readonly #native: Native.NativeMixture;
  /** Dimension `d`. */
  readonly dim: number;
  /** Number of components `K`. */
  readonly k: number;
  /** Means `[K, d]` (`f64`). */
  readonly means: Tensor;
  /** Component weights `π_k`, `K` positive numbers summing to 1 (normalised; default uniform). */
  readonly weights: number[];
  /** `'isotropic'`, `'diagonal'` or `'full'`. */
  readonly kind: Native.MixtureKind;
  /** @internal A bound on the norm of a sample (see `spreadBound`), for the numerics checks. */
  readonly spread: number;

  /** `trace`: the largest trace of a covariance, named `covName` in an overflow error. */
  private constructor(spec: Native.MixtureSpec, m: Tensor, trace: () => number, covName: string) {
    // The addon checks the values first; the overflow bound assumes valid ones.
    this.#native = call(() => new native.NativeMixture(spec));
    this.spread = spreadBound(m, trace(), covName);
    this.kind = spec.kind;
    this.k = spec.k;
    this.dim = spec.dim;
    this.means = m;
    this.weights = this.#native.weights;
  }

  /**
   * Components `N(μ_k, σ_k² I)`: `means` `[K, d]`, `sigma` a standard deviation (data units, not a
   * variance), one number or one per component; `weights` `K` positive numbers summing to 1
   * within 1e-6 (default uniform).
   *
   * @throws {TypeError} when `opts` has an unknown key (named, with the closest valid key), `means` is not a matrix, or `sigma` or `weights` has the wrong
   * length.
   * @throws {RangeError} when `means` is empty or not finite, a `sigma` or weight is not positive and
   * finite, the weights do not sum to 1, or samples would overflow f64.
   */
  static isotropic(opts: { means: MatrixLike; sigma: number | number[]; weights?: number[] }): GaussianMixture {
    const o = v.options('options', opts, true, ['means', 'sigma', 'weights']);
    const m = means('means', o.means);
    const [k, d] = m.shape as [number, number];
    let sigma: number[];
    if (typeof o.sigma === 'number') sigma = [o.sigma];
    else {
      if (!Array.isArray(o.sigma)) throw new TypeError(`\`sigma\` must be a number or an array of ${k} numbers, got ${typeof o.sigma}`);
      sigma = v.numbers('sigma', o.sigma);
    }
    const w = weights(o.weights);
    return new GaussianMixture({ kind: 'isotropic', k, dim: d, means: Array.from(m.data), sigma, weights: w }, m, () => d * Math.max(...sigma) ** 2, 'sigma');
  }

  /**
   * Components `N(μ_k, diag(variances_k))`: `means` and `variances` `[K, d]` (variances in squared
   * data units), `weights` as in `isotropic`.
   *
   * @throws {TypeError} when `opts` has an unknown key (named, with the closest valid key), or `variances` or `weights` does not match `means`' shape.
   * @throws {RangeError} when a mean is not finite, a variance or weight is not positive and finite,
   * the weights do not sum to 1, or samples would overflow f64.
   */
  static diagonal(opts: { means: MatrixLike; variances: MatrixLike; weights?: number[] }): GaussianMixture {
    const o = v.options('options', opts, true, ['means', 'variances', 'weights']);
    const m = means('means', o.means);
    const [k, d] = m.shape as [number, number];
    const va = v.matrix('variances', o.variances, 'f64');
    if (va.shape[0] !== k || va.shape[1] !== d) throw new TypeError(`\`variances\` must have shape [${k}, ${d}], got [${va.shape.join(', ')}]`);
    const w = weights(o.weights);
    const trace = (): number => {
      let t = 0;
      for (let c = 0; c < k; c++) {
        let tr = 0;
        for (let j = 0; j < d; j++) tr += va.data[c * d + j] as number;
        t = Math.max(t, tr);
      }
      return t;
    };
    return new GaussianMixture({ kind: 'diagonal', k, dim: d, means: Array.from(m.data), variances: Array.from(va.data), weights: w }, m, trace, 'variances');
  }

  /**
   * Components `N(μ_k, Σ_k)`: `means` `[K, d]`, each `covariances[k]` a `d × d` symmetric (within
   * 1e-9 relative) positive-definite matrix in squared data units, `weights` as in `isotropic`.
   * Samples use the Cholesky factor of each `Σ_k`.
   *
   * @throws {TypeError} when `opts` has an unknown key (named, with the closest valid key), or `covariances` is not `K` matrices of shape `[d, d]`.
   * @throws {RangeError} when a value is not finite, a matrix is not symmetric or not
   * positive-definite (its Cholesky factorisation fails), the weights are invalid, or samples would
   * overflow f64.
   */
  static full(opts: { means: MatrixLike; covariances: number[][][]; weights?: number[] }): GaussianMixture {
    const o = v.options('options', opts, true, ['means', 'covariances', 'weights']);
    const m = means('means', o.means);
    const [k, d] = m.shape as [number, number];
    if (!Array.isArray(o.covariances) || o.covariances.length !== k) {
      throw new TypeError(`\`covariances\` must be an array of ${k} matrices of shape [${d}, ${d}]`);
    }
    const flat: number[] = [];
    let trace = 0;
    for (let i = 0; i < k; i++) {
      const t = v.matrix(`covariances[${i}]`, o.covariances[i], 'f64');
      if (t.shape[0] !== d || t.shape[1] !== d) throw new TypeError(`\`covariances[${i}]\` must have shape [${d}, ${d}], got [${t.shape.join(', ')}]`);
      for (const x of t.data) flat.push(x);
      let tr = 0;
      for (let j = 0; j < d; j++) tr += t.data[j * d + j] as number;
      trace = Math.max(trace, tr);
    }
    const w = weights(o.weights);
    return new GaussianMixture({ kind: 'full', k, dim: d, means: Array.from(m.data), covariances: flat, weights: w }, m, () => trace, 'covariances');
  }

  /**
   * `n` draws: `x` is `[n, d]` in `dtype` (default `'f64'`; `f32` samples are the `f64` ones
   * rounded), `labels` the component of each (`n`, each `< K`). A deterministic function of
   * `(seed, stream)` (default stream 0), the same with any number of threads: chunk `c` of 1024
   * draws comes from a ChaCha8 generator keyed by `(seed, stream, c)`; normals by the ziggurat
   * method.
   *
   * Blocks the calling thread, without a signal: in a worker, `worker.terminate()` stops it (≈ 10 ms and
   * one chunk of work); on the main thread nothing stops it, so use the async form for long work.
   *
   * @throws {TypeError} when `opts` has an unknown key (named, with the closest valid key).
   * @throws {RangeError} when `n`, `seed` or `stream` is not an integer in range, the samples would
   * overflow `dtype` or hold more than 2^31 − 1 values, or they exceed the memory limit.
   */
  sample(n: number, opts: SampleOptions): MixtureSample {
    const a = sampleArgs(n, opts, this.dim, ['seed', 'dtype', 'stream']);
    fitsDtype(this.spread, a.dtype, "this mixture's samples");
    const d = this.dim;
    if (a.n * (d * bytesOf(a.dtype) + 4) <= SMALL_RESULT_BYTES) {
      const x = resultArray(a.dtype, a.n * d);
      const labels = new Uint32Array(a.n);
      call(() => this.#native.sampleIntoSync(x, labels, a.seed, a.stream));
      return { x: { shape: [a.n, d], data: x }, labels };
    }
    return wrapSample(call(() => this.#native.sampleSync(a.n, a.seed, a.stream, a.dtype)), a.n, d);
  }

  /**
   * `sample`, off the event loop; `signal` stops the draw within one chunk of samples.
   *
   * @throws {TypeError} as `sample`, or when `signal` is not an `AbortSignal`.
   * @throws {RangeError} as `sample`.
   * @throws {Error} named `'AbortError'` (a rejection) when `signal` aborts.
   */
  async sampleAsync(n: number, opts: SampleOptions): Promise<MixtureSample> {
    const a = sampleArgs(n, opts, this.dim, ['seed', 'dtype', 'stream', 'signal']);
    fitsDtype(this.spread, a.dtype, "this mixture's samples");
    return wrapSample(await cancellable(a.signal, (token) => callAsync(() => this.#native.sample(a.n, a.seed, a.stream, a.dtype, token))), a.n, this.dim);
  }

  /** @internal The native mixture (for training). */
  get nativeMixture(): Native.NativeMixture {
    return this.#native;
  }
}

/**
 * The JS shape of `PriorWeights` (arrays of numbers, or `{ dirichlet }`); their values are checked
 * by the addon when the prior is built.
 */
function priorWeights(w: unknown): { weights?: number[]; dirichlet?: number[] } {
  if (w === undefined) return {};
  const numbers = (name: string, a: unknown): number[] => {
    if (typeof a === 'number') return [a];
    if (!Array.isArray(a) || !a.every((x) => typeof x === 'number')) throw new TypeError(`\`${name}\` must be a number or an array of numbers`);
    return a as number[];
  };
  if (Array.isArray(w)) return { weights: numbers('weights', w) };
  if (typeof w !== 'object' || w === null) throw new TypeError('`weights` must be an array of K weights or `{ dirichlet: α }`');
  // `{ dirichlet }`: another key (`{ dirichlt: 1 }`) is named, with the closest valid one
  return { dirichlet: numbers('weights.dirichlet', v.options('weights', w, true, ['dirichlet']).dirichlet) };
}

/** Options of `MixturePrior.samplePrompts`. */
export interface PromptOptions {
  /** Seed of the draw: a non-negative integer below 2^53 (the same seed gives the same prompts). */
  seed: number;
  /** Computation type of `x` and `means` (default `'f64'`). */
  dtype?: Dtype;
  /** `samplePromptsAsync` only: stops the draw within one chunk of samples (a rejection with an AbortError). */
  signal?: AbortSignal;
}

/**
 * A prior over mixtures: each prompt gets its own `K` centroids, its mixture weights, then `L`
 * tokens from them (the in-context setting of identity attention, SPEC §1 and §3). Prompt `b` is
 * drawn from a generator keyed by `(seed, b)`: the same prompts with any number of threads.
 */
export class MixturePrior {
  /** @internal The prior's settings, as given to the addon. */
  readonly spec: Native.PriorSpec;
  /** The prior built once in the addon (its values checked there). */
  readonly #native: Native.NativePrior;
  /** The core's last plan of a draw: a loop of same-size draws asks the addon once. */
  readonly #plan = { b: -1, l: -1, dtype: '', bytes: 0 };

  private constructor(spec: Native.PriorSpec) {
    this.spec = spec;
    this.#native = call(() => new native.NativePrior(spec));
  }

  /**
   * Centroids uniform on the sphere of radius `radius` (data units; normalised Gaussian vectors),
   * noise `sigma` (a standard deviation), at least `minSeparation` apart (Euclidean, by rejection,
   * at most 10 000 tries; default 0), mixture weights `weights` (default equal; see
   * `PriorWeights`). `k` is an integer in [1, 65536], `dim` in [1, 2^20].
   *
   * @throws {TypeError} when `opts` has an unknown key (named, with the closest valid key), or `weights` is neither `K` numbers nor `{ dirichlet }`.
   * @throws {RangeError} when `k`, `dim`, `radius`, `sigma` or `minSeparation` is out of range,
   * `minSeparation > 2·radius`, a weight or concentration is not positive and finite, fixed weights
   * do not sum to 1, or the tokens would overflow f64.
   */
  static sphere(opts: { k: number; dim: number; radius: number; sigma: number; minSeparation?: number; weights?: PriorWeights }): MixturePrior {
    const o = v.options('options', opts, true, ['k', 'dim', 'radius', 'sigma', 'minSeparation', 'weights']);
    return MixturePrior.checked(
      {
        kind: 'sphere',
        k: v.u32('k', o.k),
        dim: v.u32('dim', o.dim),
        size: v.numeric('radius', o.radius),
        sigma: v.numeric('sigma', o.sigma),
        minSeparation: o.minSeparation === undefined ? 0 : v.numeric('minSeparation', o.minSeparation),
        ...priorWeights(o.weights),
      },
      'radius',
    );
  }

  /** Refuses a prior whose tokens would overflow f64 (`size` is the centroids' scale). */
  private static checked(spec: Native.PriorSpec, sizeName: string): MixturePrior {
    // The addon checks the values (counts, sizes, separation, weights) when it builds the prior.
    const prior = new MixturePrior(spec);
    // Centroid coordinates are at most Z·size (a normal draw, scaled; or radius on the sphere),
    // tokens add at most Z·σ, Z the core's bound on its normal draws.
    const z = native.MAX_ABS_NORMAL;
    if (!fits(z * spec.size, 'f64')) throw new RangeError(`\`${sizeName}\` is too large: the centroids would overflow f64, got ${spec.size}`);
    if (!fits(z * (spec.size + spec.sigma), 'f64')) throw new RangeError(`\`sigma\` is too large: the tokens would overflow f64, got ${spec.sigma}`);
    return prior;
  }

  /**
   * Centroids `scale · N(0, I_d)` (`scale` a standard deviation in data units), noise `sigma`,
   * `minSeparation` and `weights` as in `sphere`.
   *
   * @throws {TypeError} as `sphere`.
   * @throws {RangeError} as `sphere` (with `scale` for `radius`).
   */
  static gaussian(opts: { k: number; dim: number; scale: number; sigma: number; minSeparation?: number; weights?: PriorWeights }): MixturePrior {
    const o = v.options('options', opts, true, ['k', 'dim', 'scale', 'sigma', 'minSeparation', 'weights']);
    return MixturePrior.checked({
      kind: 'gaussian',
      k: v.u32('k', o.k),
      dim: v.u32('dim', o.dim),
      size: v.numeric('scale', o.scale),
      sigma: v.numeric('sigma', o.sigma),
      minSeparation: o.minSeparation === undefined ? 0 : v.numeric('minSeparation', o.minSeparation),
      ...priorWeights(o.weights),
    }, 'scale');
  }

  /** Dimension `d`. */
  get dim(): number {
    return this.spec.dim;
  }

  /** Components per prompt `K`. */
  get k(): number {
    return this.spec.k;
  }

  #args(batch: unknown, length: unknown, opts: unknown, keys: readonly string[]): { b: number; l: number; seed: number; dtype: Dtype; signal?: AbortSignal } {
    const o = v.options('options', opts, true, keys);
    const b = v.integer('batch', batch, 0, 2 ** 32 - 1);
    const l = v.integer('length', length, 0, 2 ** 32 - 1);
    const a = { b, l, seed: v.seed('seed', o.seed), dtype: v.dtype('dtype', o.dtype, 'f64'), signal: signalOf(o.signal) };
    // x (B·L·d), labels (B·L), means (B·K·d) and weights (B·K), as the core plans them
    const [d, k] = [this.dim, this.k];
    const c = this.#plan;
    if (c.b !== b || c.l !== l || c.dtype !== a.dtype) Object.assign(c, { b, l, dtype: a.dtype, bytes: this.#native.samplePromptsPeakBytes(b, l, a.dtype) });
    checkMemory(['batch', 'length'], c.bytes, () => `${b} prompts of ${l} tokens of dimension ${d} and their ${k} centroids, ${a.dtype}`);
    // Centroid coordinates are below Z·size (a normal draw, scaled), tokens add below Z·σ.
    fitsDtype(native.MAX_ABS_NORMAL * (this.spec.size + this.spec.sigma), a.dtype, "this prior's tokens");
    return a;
  }

  #wrap(p: Native.Prompts, b: number, l: number): PromptBatch {
    return { x: { shape: [b, l, this.dim], data: p.x }, labels: p.labels, means: { shape: [b, this.k, this.dim], data: p.means }, weights: { shape: [b, this.k], data: p.weights } };
  }

  /**
   * `batch` prompts of `length` tokens: `x` `[B, L, d]`, `labels` `B·L`, `means` `[B, K, d]` (in
   * `dtype`, default `'f64'`), `weights` `[B, K]`.
   *
   * @throws {TypeError} when `opts` has an unknown key (named, with the closest valid key).
   * @throws {RangeError} when `batch`, `length` or `seed` is out of range, the prompts hold more than
   * 2^31 − 1 values, overflow `dtype` or exceed the memory limit, or a prompt's centroids cannot
   * meet `minSeparation` in 10 000 tries.
   */
  samplePrompts(batch: number, length: number, opts: PromptOptions): PromptBatch {
    const a = this.#args(batch, length, opts, ['seed', 'dtype']);
    const [b, l, d, k, s] = [a.b, a.l, this.dim, this.k, bytesOf(a.dtype)];
    if (b * (l * (d * s + 4) + k * (d * s + 8)) <= SMALL_RESULT_BYTES) {
      const p = { x: resultArray(a.dtype, b * l * d), labels: new Uint32Array(b * l), means: resultArray(a.dtype, b * k * d), weights: new Float64Array(b * k) };
      call(() => this.#native.samplePromptsIntoSync(p.x, p.labels, p.means, p.weights, b, l, a.seed));
      return this.#wrap(p, b, l);
    }
    return this.#wrap(call(() => this.#native.samplePromptsSync(a.b, a.l, a.seed, a.dtype)), a.b, a.l);
  }

  /**
   * `samplePrompts`, off the event loop; `signal` stops the draw within one prompt.
   *
   * @throws {TypeError} as `samplePrompts`, or when `signal` is not an `AbortSignal`.
   * @throws {RangeError} as `samplePrompts`.
   * @throws {Error} named `'AbortError'` (a rejection) when `signal` aborts.
   */
  async samplePromptsAsync(batch: number, length: number, opts: PromptOptions): Promise<PromptBatch> {
    const a = this.#args(batch, length, opts, ['seed', 'dtype', 'signal']);
    return this.#wrap(await cancellable(a.signal, (token) => callAsync(() => native.samplePrompts(this.spec, a.b, a.l, a.seed, a.dtype, token))), a.b, a.l);
  }
}
