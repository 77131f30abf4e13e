/**
 * The classical baselines, run in Rust: k-means (scikit-learn's greedy k-means++ start — `2 + ⌊ln k⌋`
 * candidates per centre, the one that lowers the potential most kept — Lloyd iterations, restarts;
 * points beyond 2^±400 are rescaled by a power of two, exact) and
 * EM (expectation-maximisation) for Gaussian mixtures with isotropic or diagonal covariances,
 * started from k-means.
 */
import { cancellable, signalOf } from './cancel';
import { call, callAsync } from './errors';
import { checkMemory } from './memory';
import { choices, native, type Native } from './native';
import { checkResult, checkScalar } from './numerics';
import type { MatrixLike, Tensor } from './types';
import * as v from './validate';

/** Options of `kmeans`. */
export interface KMeansOptions {
  /** Seed of the k-means++ starts: a non-negative integer below 2^53. */
  seed: number;
  /**
   * Restarts, each a greedy k-means++ start then Lloyd; the lowest inertia is kept (default 4;
   * scikit-learn's `n_init='auto'` runs 1 with k-means++), at most 1000. Restart 0 is the same for every `nInit`.
   */
  nInit?: number;
  /** Lloyd updates per restart, in [1, 10⁶] (default 300). */
  maxIter?: number;
  /**
   * Tolerance on the centres' movement relative to the data's mean per-coordinate variance,
   * `≥ 0` (default 1e-4, scikit-learn's criterion).
   */
  tol?: number;
  /** `kmeansAsync` only: stops the fit within one pass over the points (a rejection with an AbortError). */
  signal?: AbortSignal;
}

/** A k-means fit. */
export interface KMeansResult {
  /** `[k, d]`, dtype of the input. */
  centers: Tensor;
  /** The cluster of each point (`0 … k−1`). */
  labels: Uint32Array;
  /** `Σ_i ‖x_i − c_{z_i}‖²`. */
  inertia: number;
  /** Lloyd updates done by the kept restart. */
  iterations: number;
}

/** Options of `em`. */
export interface EmOptions {
  /** Seed of the k-means start: a non-negative integer below 2^53. */
  seed: number;
  /** One variance per component (`'isotropic'`) or per component and coordinate (default `'diagonal'`). */
  covariance?: Native.Covariance;
  /** Most M-steps, in [1, 10⁶] (default 200). */
  maxIter?: number;
  /** Stop when the mean log-likelihood per point rises by less than this, `≥ 0` (default 1e-6). */
  tol?: number;
  /** Variance floor `> 0`, in squared data units (default 1e-6): keeps a component from collapsing on a point. */
  reg?: number;
}

/** An EM fit. */
export interface EmResult {
  /** Mixture weights (sum to 1). */
  weights: number[];
  /** `[k, d]`. */
  means: Tensor;
  /** Variances in squared data units: `[k]` (isotropic) or `[k, d]` (diagonal). */
  variances: Tensor;
  /** Most responsible component of each point. */
  labels: Uint32Array;
  /** Mean log-likelihood per point, `(1/n) Σ_i ln p(x_i)` (natural log). */
  logLikelihood: number;
  /** EM iterations done. */
  iterations: number;
}

function points(x: unknown, k: unknown): { t: Tensor; n: number; d: number; k: number } {
  const t = v.matrix('x', x);
  const [n, d] = t.shape as [number, number];
  // (at least one point of one coordinate, and 1 ≤ k ≤ n, are the core's rules: it names `x`, `k`)
  const kk = v.u32('k', k);
  // (no bound on the values here: the addon rescales points beyond 2^±400 by a power of two and
  // reports an inertia or log-likelihood beyond f64 itself, naming `x`)
  // (the buffers are the core's to count: baselines::peak_bytes, beside k-means and EM)
  const bytes = call(() => native.baselinesPeakBytes(n, d, kk, v.dtypeOf(t.data)));
  checkMemory('x', bytes, `${n} points of dimension ${d} and ${kk} centres`);
  return { t, n, d, k: kk };
}

function kmeansSpec(k: number, opts: unknown, keys: readonly string[]) {
  const o = v.options('options', opts, true, keys);
  return {
    k,
    seed: v.seed('seed', o.seed),
    // Left out, the core's defaults apply; their ranges are the core's rules.
    nInit: o.nInit === undefined ? undefined : v.u32('nInit', o.nInit),
    maxIter: o.maxIter === undefined ? undefined : v.u32('maxIter', o.maxIter),
    tol: o.tol === undefined ? undefined : v.numeric('tol', o.tol),
  };
}

function wrapKMeans(r: { centers: Float32Array | Float64Array; labels: Uint32Array; inertia: number; iterations: number }, k: number, d: number): KMeansResult {
  checkResult(r.centers, 'x', 'the centres');
  return { centers: { shape: [k, d], data: r.centers }, labels: r.labels, inertia: checkScalar(r.inertia, 'x', 'the inertia'), iterations: r.iterations };
}

/**
 * k-means with `k` clusters on the rows of `x` (`[n, d]`): `nInit` restarts of a greedy k-means++
 * start (Arthur and Vassilvitskii 2007; scikit-learn's greedy variant, `2 + ⌊ln k⌋` candidates per
 * centre) and Lloyd's iterations (Lloyd 1982); the lowest inertia `Σ_i ‖x_i − c_{z_i}‖²` is kept.
 * Computed in f64, the same bits for any thread count.
 *
 * Blocks the calling thread, without a signal: in a worker, `worker.terminate()` stops it (≈ 10 ms and
 * one chunk of work); on the main thread nothing stops it, so use the async form for long work.
 *
 * @throws {TypeError} when `x` is not a matrix or `opts` has an unknown key (named, with the closest valid key).
 * @throws {RangeError} when `x` is empty or not finite, `k` is not an integer in [1, n], `seed`,
 * `nInit`, `maxIter` or `tol` is out of range, the inertia overflows f64, or the call exceeds the
 * memory limit.
 */
export function kmeans(x: MatrixLike, k: number, opts: KMeansOptions): KMeansResult {
  const p = points(x, k);
  const spec = kmeansSpec(p.k, opts, ['seed', 'nInit', 'maxIter', 'tol']);
  return wrapKMeans(call(() => native.kmeansSync(p.t.data, p.d, spec)), p.k, p.d);
}

/**
 * `kmeans`, off the event loop; `signal` stops it within one pass over the points.
 *
 * @throws {TypeError} as `kmeans`, or when `signal` is not an `AbortSignal`.
 * @throws {RangeError} as `kmeans`.
 * @throws {Error} named `'AbortError'` (a rejection) when `signal` aborts.
 */
export async function kmeansAsync(x: MatrixLike, k: number, opts: KMeansOptions): Promise<KMeansResult> {
  const p = points(x, k);
  const spec = kmeansSpec(p.k, opts, ['seed', 'nInit', 'maxIter', 'tol', 'signal']);
  const signal = signalOf((opts as { signal?: unknown }).signal);
  return wrapKMeans(await cancellable(signal, (token) => callAsync(() => native.kmeans(p.t.data, p.d, spec, token))), p.k, p.d);
}

/**
 * EM (Dempster, Laird and Rubin 1977) for a `k`-component Gaussian mixture with isotropic or
 * diagonal covariances on the rows of `x` (`[n, d]`), started from `kmeans` with the same seed;
 * log-sum-exp responsibilities, variances floored at `reg`. Computed in f64, the same bits for any
 * thread count.
 *
 * Blocks the calling thread, without a signal: in a worker, `worker.terminate()` stops it (≈ 10 ms and
 * one chunk of work); on the main thread nothing stops it, so use the async form for long work.
 *
 * @throws {TypeError} when `x` is not a matrix or `opts` has an unknown key (named, with the closest valid key).
 * @throws {RangeError} when `x` is empty or not finite, `k` is not an integer in [1, n], an option
 * is out of range, the log-likelihood leaves the f64 range (data too large, or `reg` too small for
 * their spread), or the call exceeds the memory limit.
 */
export function em(x: MatrixLike, k: number, opts: EmOptions): EmResult {
  const p = points(x, k);
  const o = v.options('options', opts, true, ['seed', 'covariance', 'maxIter', 'tol', 'reg']);
  const covariance = v.oneOf('covariance', o.covariance, choices('Covariance'), 'diagonal');
  const spec = {
    k: p.k,
    seed: v.seed('seed', o.seed),
    covariance,
    maxIter: o.maxIter === undefined ? undefined : v.u32('maxIter', o.maxIter),
    tol: o.tol === undefined ? undefined : v.numeric('tol', o.tol),
    reg: o.reg === undefined ? undefined : v.numeric('reg', o.reg),
  };
  const r = call(() => native.emSync(p.t.data, p.d, spec));
  checkResult(r.means, 'x', 'the means');
  checkResult(r.variances, 'x', 'the variances');
  checkResult(r.weights, 'x', 'the weights');
  checkScalar(r.logLikelihood, 'x', 'the log-likelihood');
  return {
    weights: r.weights,
    means: { shape: [p.k, p.d], data: r.means },
    variances: { shape: covariance === 'isotropic' ? [p.k] : [p.k, p.d], data: r.variances },
    labels: r.labels,
    logLikelihood: r.logLikelihood,
    iterations: r.iterations,
  };
}
