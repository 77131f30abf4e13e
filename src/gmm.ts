/**
 * Gaussian mixtures (`GaussianMixture`) and priors over mixtures (`MixturePrior`).
 *
 * A draw is `z ~ Categorical(π)`, `x = μ_z + C_z ε`, `ε ~ N(0, I_d)`. Samples are a deterministic
 * function of `(seed, stream)`, identical with any number of threads; `f32` samples are the `f64`
 * ones rounded.
 */
import { call, callAsync } from './errors';
import { native, type Native } from './native';
import type { Dtype, MatrixLike, MixtureSample, PromptBatch, SampleOptions, Tensor } from './types';
import * as v from './validate';

/** Largest number of values one sample may hold. */
const MAX_VALUES = 2 ** 31 - 1;

function means(name: string, m: unknown): Tensor {
  const t = v.matrix(name, m, 'f64');
  const [k, d] = t.shape as [number, number];
  if (k < 1 || d < 1) throw new RangeError(`\`${name}\` must have at least one row and one column, got shape [${k}, ${d}]`);
  return { shape: [k, d], data: v.as(t.data, 'f64') };
}

function weights(w: unknown, k: number): number[] | undefined {
  if (w === undefined) return undefined;
  const a = v.finiteArray('weights', w, k);
  a.forEach((x, i) => {
    if (!(x > 0)) throw new RangeError(`\`weights[${i}]\` must be positive, got ${x}`);
  });
  const s = a.reduce((p, q) => p + q, 0);
  if (Math.abs(s - 1) > 1e-6) throw new RangeError(`\`weights\` must sum to 1 (within 1e-6), got ${s}`);
  return a;
}

function sampleArgs(n: unknown, opts: unknown, dim: number): { n: number; seed: number; stream: number; dtype: Dtype } {
  const o = v.options('options', opts, true);
  const count = v.integer('n', n, 0, 2 ** 32 - 1);
  if (count * dim > MAX_VALUES) throw new RangeError(`\`n\` = ${count} samples of dimension ${dim} exceed the limit of ${MAX_VALUES} values`);
  return { n: count, seed: v.seed('seed', o.seed), stream: o.stream === undefined ? 0 : v.seed('stream', o.stream), dtype: v.dtype('dtype', o.dtype, 'f64') };
}

function wrapSample(s: Native.Sample, n: number, d: number): MixtureSample {
  return { x: { shape: [n, d], data: s.x }, labels: s.labels };
}

/** A Gaussian mixture with isotropic, diagonal or full covariances. */
export class GaussianMixture {
  readonly #native: Native.NativeMixture;
  /** Dimension `d`. */
  readonly dim: number;
  /** Number of components `K`. */
  readonly k: number;
  /** Means `[K, d]` (`f64`). */
  readonly means: Tensor;
  /** Component weights (normalised). */
  readonly weights: number[];
  /** `'isotropic'`, `'diagonal'` or `'full'`. */
  readonly kind: 'isotropic' | 'diagonal' | 'full';

  private constructor(spec: Native.MixtureSpec, m: Tensor) {
    this.#native = call(() => new native.NativeMixture(spec));
    this.kind = spec.kind as GaussianMixture['kind'];
    this.k = spec.k;
    this.dim = spec.dim;
    this.means = m;
    this.weights = this.#native.weights;
  }

  /** Components `N(μ_k, σ_k² I)`; `sigma` is one number or one per component. */
  static isotropic(opts: { means: MatrixLike; sigma: number | number[]; weights?: number[] }): GaussianMixture {
    const o = v.options('options', opts, true);
    const m = means('means', o.means);
    const [k, d] = m.shape as [number, number];
    let sigma: number[];
    if (typeof o.sigma === 'number') sigma = [v.positive('sigma', o.sigma)];
    else {
      if (!Array.isArray(o.sigma)) throw new TypeError(`\`sigma\` must be a number or an array of ${k} numbers`);
      sigma = v.finiteArray('sigma', o.sigma, k).map((s, i) => v.positive(`sigma[${i}]`, s));
    }
    return new GaussianMixture({ kind: 'isotropic', k, dim: d, means: Array.from(m.data), sigma, weights: weights(o.weights, k) }, m);
  }

  /** Components `N(μ_k, diag(variances_k))`; `variances` is `[K, d]`. */
  static diagonal(opts: { means: MatrixLike; variances: MatrixLike; weights?: number[] }): GaussianMixture {
    const o = v.options('options', opts, true);
    const m = means('means', o.means);
    const [k, d] = m.shape as [number, number];
    const va = v.matrix('variances', o.variances, 'f64');
    if (va.shape[0] !== k || va.shape[1] !== d) throw new TypeError(`\`variances\` must have shape [${k}, ${d}], got [${va.shape.join(', ')}]`);
    va.data.forEach((x, i) => {
      if (!(x > 0)) throw new RangeError(`\`variances\` must be positive, got ${x} at row ${Math.floor(i / d)}, column ${i % d}`);
    });
    return new GaussianMixture({ kind: 'diagonal', k, dim: d, means: Array.from(m.data), variances: Array.from(va.data), weights: weights(o.weights, k) }, m);
  }

  /** Components `N(μ_k, Σ_k)`; each `covariances[k]` is `d × d` symmetric positive-definite. */
  static full(opts: { means: MatrixLike; covariances: number[][][]; weights?: number[] }): GaussianMixture {
    const o = v.options('options', opts, true);
    const m = means('means', o.means);
    const [k, d] = m.shape as [number, number];
    if (!Array.isArray(o.covariances) || o.covariances.length !== k) {
      throw new TypeError(`\`covariances\` must be an array of ${k} matrices of shape [${d}, ${d}]`);
    }
    const flat: number[] = [];
    o.covariances.forEach((c: unknown, i: number) => {
      const t = v.matrix(`covariances[${i}]`, c, 'f64');
      if (t.shape[0] !== d || t.shape[1] !== d) throw new TypeError(`\`covariances[${i}]\` must have shape [${d}, ${d}], got [${t.shape.join(', ')}]`);
      flat.push(...t.data);
    });
    return new GaussianMixture({ kind: 'full', k, dim: d, means: Array.from(m.data), covariances: flat, weights: weights(o.weights, k) }, m);
  }

  /** `n` draws: `x` is `[n, d]`, `labels` the component of each. */
  sample(n: number, opts: SampleOptions): MixtureSample {
    const a = sampleArgs(n, opts, this.dim);
    return wrapSample(call(() => this.#native.sampleSync(a.n, a.seed, a.stream, a.dtype)), a.n, this.dim);
  }

  /** `sample`, off the event loop. */
  async sampleAsync(n: number, opts: SampleOptions): Promise<MixtureSample> {
    const a = sampleArgs(n, opts, this.dim);
    return wrapSample(await callAsync(() => this.#native.sample(a.n, a.seed, a.stream, a.dtype)), a.n, this.dim);
  }

  /** @internal The native mixture (for training). */
  get nativeMixture(): Native.NativeMixture {
    return this.#native;
  }
}

/** Options of `MixturePrior.samplePrompts`. */
export interface PromptOptions {
  seed: number;
  dtype?: Dtype;
}

/** A prior over mixtures: each prompt gets its own `K` centroids, then `L` tokens from them. */
export class MixturePrior {
  /** The prior's settings, as given to the addon. */
  readonly spec: Native.PriorSpec;

  private constructor(spec: Native.PriorSpec) {
    this.spec = spec;
  }

  /** Centroids uniform on the sphere of radius `radius`, equal weights, noise `sigma`. */
  static sphere(opts: { k: number; dim: number; radius: number; sigma: number; minSeparation?: number }): MixturePrior {
    const o = v.options('options', opts, true);
    const k = v.integer('k', o.k, 1, 65536);
    const radius = v.nonNegative('radius', o.radius);
    const minSeparation = o.minSeparation === undefined ? 0 : v.nonNegative('minSeparation', o.minSeparation);
    if (k > 1 && minSeparation > 2 * radius) throw new RangeError(`\`minSeparation\` must be at most 2·radius = ${2 * radius}, got ${minSeparation}`);
    return new MixturePrior({ kind: 'sphere', k, dim: v.integer('dim', o.dim, 1, 1 << 20), size: radius, sigma: v.nonNegative('sigma', o.sigma), minSeparation });
  }

  /** Centroids `scale · N(0, I_d)`, equal weights, noise `sigma`. */
  static gaussian(opts: { k: number; dim: number; scale: number; sigma: number; minSeparation?: number }): MixturePrior {
    const o = v.options('options', opts, true);
    return new MixturePrior({
      kind: 'gaussian',
      k: v.integer('k', o.k, 1, 65536),
      dim: v.integer('dim', o.dim, 1, 1 << 20),
      size: v.nonNegative('scale', o.scale),
      sigma: v.nonNegative('sigma', o.sigma),
      minSeparation: o.minSeparation === undefined ? 0 : v.nonNegative('minSeparation', o.minSeparation),
    });
  }

  /** Dimension `d`. */
  get dim(): number {
    return this.spec.dim;
  }

  /** Components per prompt `K`. */
  get k(): number {
    return this.spec.k;
  }

  #args(batch: unknown, length: unknown, opts: unknown): { b: number; l: number; seed: number; dtype: Dtype } {
    const o = v.options('options', opts, true);
    const b = v.integer('batch', batch, 0, 2 ** 32 - 1);
    const l = v.integer('length', length, 0, 2 ** 32 - 1);
    if (b * l * this.dim > MAX_VALUES) throw new RangeError(`\`batch\` × \`length\` × d = ${b * l * this.dim} values exceed the limit of ${MAX_VALUES}`);
    return { b, l, seed: v.seed('seed', o.seed), dtype: v.dtype('dtype', o.dtype, 'f64') };
  }

  #wrap(p: Native.Prompts, b: number, l: number): PromptBatch {
    return { x: { shape: [b, l, this.dim], data: p.x }, labels: p.labels, means: { shape: [b, this.k, this.dim], data: p.means } };
  }

  /** `batch` prompts of `length` tokens: `x` `[B, L, d]`, `labels` `B·L`, `means` `[B, K, d]`. */
  samplePrompts(batch: number, length: number, opts: PromptOptions): PromptBatch {
    const a = this.#args(batch, length, opts);
    return this.#wrap(call(() => native.samplePromptsSync(this.spec, a.b, a.l, a.seed, a.dtype)), a.b, a.l);
  }

  /** `samplePrompts`, off the event loop. */
  async samplePromptsAsync(batch: number, length: number, opts: PromptOptions): Promise<PromptBatch> {
    const a = this.#args(batch, length, opts);
    return this.#wrap(await callAsync(() => native.samplePrompts(this.spec, a.b, a.l, a.seed, a.dtype)), a.b, a.l);
  }
}
