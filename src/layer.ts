/**
 * Model A, the two-head clustering layer (any `H ≥ 1` heads).
 *
 * Parameters `Θ = (θ_1 … θ_H)`, `θ_h ∈ Rᵈ`, inverse temperature `λ > 0`:
 *
 *     s_h(x) = λ⟨x, θ_h⟩               ('dot')
 *     s_h(x) = λ⟨x, θ_h⟩ − λ‖θ_h‖²/2    ('distance', the softmax of −λ‖x − θ_h‖²/2)
 *     T_Θ(x) = Σ_h softmax_h(s(x)) θ_h
 *
 * Risk `R(Θ) = E ‖x − T_Θ(x)‖²`. `train` from a `GaussianMixture` runs online SGD with fresh samples
 * every step (the population risk); from a `Tensor` it runs full-batch gradient descent on that
 * fixed sample. Training runs off the event loop, one native call per record interval: `signal`
 * stops it at its next step (the native token) and `onStep` reports as it goes; the trajectory does not depend on the chunking nor on the
 * number of threads.
 */
import { signalOf } from './cancel';
import { call, isNumericFault } from './errors';
import { GaussianMixture } from './gmm';
import { checkMemory } from './memory';
import { alignment, centroidError } from './metrics';
import { choices, native, type Native } from './native';
import { converged, quadratureOf } from './population';
import { checkResult, F32_MAX, fits, lambdaFitsF32, maxAbs, maxRowNorm, narrow, widen } from './numerics';
import { optimSpec, trainInChunks } from './train-loop';
import type { AlignedHistoryEntry, Dtype, Float, FullBatchTrainOptions, HistoryEntry, InitSpec, MatrixLike, OnlineTrainOptions, PopulationResult, PopulationTrainOptions, QuadratureOptions, Scores, Tensor, TrainOptions, TrainResult } from './types';
import * as v from './validate';

/** Options of `new TwoHeadLayer`. */
export interface TwoHeadLayerOptions {
  /** Token dimension `d`, an integer in [1, 2^20]. */
  dim: number;
  /** Number of heads `H`, an integer in [1, 4096] (default 2, the paper's layer). */
  heads?: number;
  /** Inverse temperature `λ > 0`, finite, in the reciprocal of squared data units. */
  lambda: number;
  /** How a head scores a token (default `'dot'`, the paper's `λ⟨x, θ_h⟩`). */
  scores?: Scores;
  /** Computation type of the parameters and the kernels (default `'f64'`). */
  dtype?: Dtype;
  /** Initial parameters `[H, d]`, or how to draw them (default `{ kind: 'random', scale: 0.01, seed: 0 }`). */
  init?: Tensor | number[][] | InitSpec;
}

/** The options of `TwoHeadLayer.train` from a mixture (online SGD) and on a fixed sample (full batch). */
const TRAIN_KEYS = ['steps', 'lr', 'seed', 'optimizer', 'schedule', 'recordEvery', 'recordParams', 'recordFinal', 'signal', 'onStep'] as const;
const ONLINE_KEYS = [...TRAIN_KEYS, 'method', 'batch', 'quadrature'] as const;
const FULL_BATCH_KEYS = [...TRAIN_KEYS, 'method', 'means'] as const;

/**
 * Bounds on the intermediates of forward, risk and gradient for tokens of norm ≤ `r`, heads of norm
 * ≤ `t`, `n` tokens (computed beside the kernels, in the core): `inT`, what the kernels form in the
 * layer's type; `inF64`, the f64 sums over all tokens.
 */
function headsBound(r: number, t: number, lambda: number, heads: number, n: number): { inT: number; inF64: number } {
  const b = call(() => native.headsBounds(r, t, lambda, heads, n));
  return { inT: b.inType, inF64: b.inF64 };
}

/** Whether some row of `m` is all zeros (its relative error is undefined). */
function hasZeroRow(m: Tensor): boolean {
  const d = m.shape[1] as number;
  for (let i = 0; i < m.data.length; i += d) {
    if (m.data.subarray(i, i + d).every((x) => x === 0)) return true;
  }
  return false;
}

/**
 * The two-head attention layer of the paper (model A of arXiv 2505.13112, SPEC §2 in docs/spec.md;
 * any number of heads): `T_Θ(x) = Σ_h softmax_h(s_h(x)) θ_h`, trained by minimising the
 * reconstruction risk `E‖x − T_Θ(x)‖²` on unlabeled mixture data.
 */
export class TwoHeadLayer {
  /** Token dimension `d`. */
  readonly dim: number;
  /** Number of heads `H`. */
  readonly heads: number;
  /** Inverse temperature `λ`. */
  readonly lambda: number;
  /** Score kind. */
  readonly scores: Scores;
  /** Computation type. */
  readonly dtype: Dtype;
  #params: Tensor;

  /**
   * A layer of `heads` heads in dimension `dim` at inverse temperature `lambda`, with parameters
   * drawn as `init` says (default `{ kind: 'random', scale: 0.01, seed: 0 }`).
   *
   * @throws {TypeError} when `opts` has an unknown key (named, with the closest valid key), `init` is
   * a matrix not of shape `[heads, dim]`, or `init` has kind `'data'` (use `initFromData`).
   * @throws {RangeError} when `dim`, `heads`, `lambda` or an `init` value is out of range or not
   * finite, the initial parameters overflow `dtype`, or the parameters exceed the memory limit
   * (`setMemoryLimit`).
   */
  constructor(opts: TwoHeadLayerOptions) {
    const o = v.options('options', opts, true, ['dim', 'heads', 'lambda', 'scores', 'dtype', 'init']);
    // (their ranges are the core's rule, checked when the parameters are drawn)
    this.dim = v.u32('dim', o.dim);
    this.heads = o.heads === undefined ? 2 : v.u32('heads', o.heads);
    // (λ > 0 and finite: the core's rule, checked now rather than at the first use)
    this.lambda = v.numeric('lambda', o.lambda);
    call(() => native.checkLambda(this.lambda));
    this.scores = v.oneOf('scores', o.scores, choices('Scores'), 'dot');
    this.dtype = v.dtype('dtype', o.dtype, 'f64');
    // The parameters, and (when training) their gradient and optimiser state, as the core counts them.
    checkMemory(['heads', 'dim'], call(() => native.headsLayerPeakBytes(this.heads, this.dim, this.dtype)), `${this.heads} × ${this.dim} parameters with their gradient and optimiser state`);
    this.#params = this.#initial(o.init ?? { kind: 'random', scale: 0.01, seed: 0 });
  }

  #initial(init: unknown): Tensor {
    const [h, d] = [this.heads, this.dim];
    if (Array.isArray(init) || (typeof init === 'object' && init !== null && 'data' in init)) {
      const t = v.matrix('init', init, this.dtype);
      if (t.shape[0] !== h || t.shape[1] !== d) throw new TypeError(`\`init\` must have shape [${h}, ${d}], got [${t.shape.join(', ')}]`);
      v.finiteData('init', t.data);
      return { shape: [h, d], data: v.floats(t.data, this.dtype, 'init') };
    }
    const { kind, o: s } = v.tagged('init', init, { random: ['scale', 'seed'], point: ['at', 'noise', 'seed'], data: ['seed'] });
    if (kind === 'data') {
      throw new TypeError("`init` of kind 'data' needs data: call `layer.initFromData(source, { seed })` instead");
    }
    const spec: Native.InitSpec = { kind, seed: v.seed('init.seed', s.seed) };
    // (the values — scale and noise finite and ≥ 0, `at` of d finite coordinates — are the core's rules)
    if (kind === 'random') spec.scale = v.numeric('init.scale', s.scale);
    if (kind === 'point') {
      spec.noise = s.noise === undefined ? 0 : v.numeric('init.noise', s.noise);
      if (s.at !== undefined) spec.at = v.numbers('init.at', s.at);
    }
    const data = call(() => native.initHeads(spec, h, d, this.dtype, null));
    // A huge scale or point overflows the dtype: refused, never stored.
    if (!data.every(Number.isFinite)) {
      const arg = kind === 'random' ? 'init.scale' : spec.at !== undefined && !spec.at.every((a: number) => Number.isFinite(this.dtype === 'f32' ? Math.fround(a) : a)) ? 'init.at' : 'init.noise';
      throw new RangeError(`\`${arg}\` is too large: the initial parameters overflow ${this.dtype}`);
    }
    return { shape: [h, d], data };
  }

  /**
   * Puts the heads on tokens of `source` (`[n, d]`, or `n` draws of a mixture, `n` an integer in
   * [1, 2^24], default 1024, with `seed`) chosen k-means++-like: the first uniformly, each next one with probability
   * proportional to its squared distance to the nearest head chosen (Arthur and Vassilvitskii
   * 2007; `InitSpec` kind `'data'`). Returns the layer.
   *
   * @throws {TypeError} when `source` does not have `dim` columns or `opts` has an unknown key.
   * @throws {RangeError} when `source` is empty or not finite, `seed` or `n` is out of range, or the
   * tokens exceed the memory limit.
   */
  initFromData(source: GaussianMixture | MatrixLike, opts: { seed: number; n?: number }): this {
    const o = v.options('options', opts, true, ['seed', 'n']);
    const seed = v.seed('seed', o.seed);
    let x: Tensor;
    if (source instanceof GaussianMixture) {
      if (source.dim !== this.dim) throw new TypeError(`\`source\` has dimension ${source.dim} but the layer ${this.dim}`);
      // (n an integer in [1, 2^24]: the core's rule, checked before drawing)
      const n = o.n === undefined ? 1024 : v.numeric('n', o.n);
      call(() => native.checkInitDraws(n));
      x = source.sample(n, { seed, stream: native.INIT_SAMPLE_STREAM, dtype: this.dtype }).x;
    } else {
      const t = v.matrix('source', source, this.dtype);
      // The heads are tokens of the source, in the layer's type: they must fit in it.
      x = { shape: t.shape, data: v.as(t.data, this.dtype, 'source') };
    }
    if (x.shape[1] !== this.dim) throw new TypeError(`\`source\` must have ${this.dim} columns, got ${x.shape[1]}`);
    // (at least one token: the core's rule, naming `source`)
    // The tokens widened to f64 and rescaled, and a squared distance per token (planned by the addon).
    checkMemory('source', call(() => native.initFromDataPeakBytes(x.shape[0] as number, this.dim)), () => `${x.shape[0]} × ${this.dim} tokens widened to f64`);
    // (tokens beyond 2^±400 are rescaled natively by a power of two: no bound here)
    const data = call(() => native.initHeads({ kind: 'data', seed }, this.heads, this.dim, this.dtype, x.data));
    this.#params = { shape: [this.heads, this.dim], data };
    return this;
  }

  /** Parameters `[H, d]` (a copy is not made: do not modify while training). */
  get params(): Tensor {
    return this.#params;
  }

  /**
   * Replaces the parameters: a `[H, d]` matrix (copied into the layer's dtype).
   *
   * @throws {TypeError} when `p` is not a `[H, d]` matrix.
   * @throws {RangeError} when a value is not finite or does not fit the layer's dtype.
   */
  set params(p: Tensor) {
    const t = v.matrix('params', p, this.dtype);
    if (t.shape[0] !== this.heads || t.shape[1] !== this.dim) throw new TypeError(`\`params\` must have shape [${this.heads}, ${this.dim}], got [${t.shape.join(', ')}]`);
    v.finiteData('params', t.data);
    this.#params = { shape: [this.heads, this.dim], data: v.floats(t.data, this.dtype, 'params') };
  }

  get #spec(): Native.LayerSpec {
    return { heads: this.heads, dim: this.dim, lambda: this.lambda, scores: this.scores };
  }

  #tokens(x: unknown, name = 'x'): Tensor {
    const t = v.matrix(name, x, this.dtype);
    if (t.shape[1] !== this.dim) throw new TypeError(`\`${name}\` must have ${this.dim} columns, got shape [${t.shape.join(', ')}]`);
    return { shape: t.shape, data: v.as(t.data, this.dtype, name) };
  }

  /**
   * Runs forward, risk or gradient (`f`) on `t`, in the layer's type first. The inputs are finite
   * (checked natively), so a result that is not finite means that an intermediate overflowed (a
   * score λ⟨x, θ⟩, a norm, a sum; or λ itself beyond the f32 range): only then are the bounds of
   * `numerics.ts` computed, and an f32 layer whose intermediates fit in f64 is computed again in f64
   * (the inputs widened exactly, the result rounded back); otherwise the call throws a RangeError
   * naming `x` and `params`. No JS scan of the inputs on the normal path. The memory guard counts
   * `outPerToken` output values per token and, for the gradient, the per-chunk partial gradients.
   */
  #run<T>(t: Tensor, outPerToken: number, grad: boolean, f: (params: Float, x: Float) => T, ok: (r: T) => boolean, name = 'x'): T {
    const [n, h, d] = [t.shape[0] as number, this.heads, this.dim];
    const bytes = (dt: Dtype) => call(() => native.headsPassPeakBytes(n, h, d, dt, outPerToken, grad));
    const what = (dt: Dtype) => `${n} × ${d} tokens${grad ? `, a ${h} × ${d} partial gradient per chunk of tokens` : ''}, ${dt}`;
    checkMemory(name, bytes(this.dtype), () => what(this.dtype));
    // The addon reports an overflow itself for the gradient (a RangeError saying so): also a retry.
    const attempt = (params: Float, xs: Float): T | undefined => {
      try {
        const r = call(() => f(params, xs));
        return ok(r) ? r : undefined;
      } catch (e) {
        if (isNumericFault(e, 'overflow')) return undefined;
        throw e;
      }
    };
    const first = attempt(this.#params.data, t.data);
    if (first !== undefined) return first;
    const r = maxRowNorm(t.data, d);
    const th = maxRowNorm(this.#params.data, d);
    const b = headsBound(r, th, this.lambda, h, n);
    const tooLarge = () =>
      new RangeError(
        `\`${name}\` (largest ‖x_i‖ = ${r.toExponential(2)}) and \`params\` (largest ‖θ_h‖ = ${th.toExponential(2)}) have values too large at \`lambda\` = ${this.lambda}: ` +
          `the scores and sums overflow ${this.dtype === 'f32' && !fits(b.inT, 'f64') ? 'f32 and f64' : this.dtype} (±${this.dtype === 'f32' ? '3.4e38' : '1.8e308'}); rescale them`,
      );
    if (this.dtype === 'f64' || !fits(b.inT, 'f64') || !fits(b.inF64, 'f64')) throw tooLarge();
    checkMemory(name, bytes('f64') + n * d * 12, what('f64'));
    const second = attempt(widen(this.#params.data), widen(t.data));
    if (second === undefined) throw tooLarge();
    return second;
  }

  /**
   * `T_Θ(x)` for each row of `x` (`[n, d]`): a new `[n, d]` tensor in the layer's dtype. An `f32`
   * layer whose intermediates overflow `f32` is recomputed in `f64` when they fit there.
   *
   * @throws {TypeError} when `x` does not have `dim` columns.
   * @throws {RangeError} when `x` is not finite, the values are too large for the scores (both
   * types overflow), or the call exceeds the memory limit.
   */
  forward(x: MatrixLike): Tensor {
    const t = this.#tokens(x);
    const d = this.dim;
    // An overflowed score makes the whole row NaN (the output is a convex combination of the heads),
    // so one value per row is checked; all of them when the heads are within 2H of the largest float.
    const all = maxAbs(this.#params.data) * 2 * this.heads > F32_MAX / 2 ** 10;
    const rowsFinite = (y: Float) => {
      for (let i = 0; i < y.length; i += all ? 1 : d) if (!Number.isFinite(y[i] as number)) return false;
      return true;
    };
    const y = this.#run(t, 1, false, (p, xs) => native.headsForward(this.#spec, p, xs), rowsFinite);
    const out = narrow(y, this.dtype, 'x', 'the output');
    if (!rowsFinite(out)) checkResult(out, 'x', 'the output');
    return { shape: t.shape, data: out };
  }

  /**
   * Empirical risk `(1/n) Σ ‖x_i − T_Θ(x_i)‖²` over the rows of `x` (`[n, d]`), in squared data
   * units, summed in `f64`.
   *
   * @throws {TypeError} when `x` does not have `dim` columns.
   * @throws {RangeError} when `x` is empty or not finite, the risk overflows, or the call exceeds
   * the memory limit.
   */
  risk(x: MatrixLike): number {
    const t = this.#tokens(x); // (at least one token: the core's rule)
    return this.#risk(t);
  }

  /** The risk on checked tokens `t`; errors name `name`. */
  #risk(t: Tensor, name = 'x'): number {
    return this.#run(t, 0, false, (p, xs) => native.headsRisk(this.#spec, p, xs), Number.isFinite, name);
  }

  /**
   * Exact gradient of the empirical risk, `[H, d]` (always `f64`): per token
   * `∇_{θ_h} = −2 a_h [r + λ(c_h − c̄) x]` (`x − θ_h` in place of `x` for 'distance'), SPEC §2,
   * checked against finite differences.
   *
   * @throws {TypeError} when `x` does not have `dim` columns.
   * @throws {RangeError} when `x` is empty or not finite, the gradient overflows, or the call
   * exceeds the memory limit.
   */
  gradient(x: MatrixLike): Tensor {
    const t = this.#tokens(x); // (at least one token: the core's rule)
    const g = this.#run(t, 0, true, (p, xs) => native.headsRiskGrad(this.#spec, p, xs), (r) => Number.isFinite(r.risk) && r.grad.every(Number.isFinite));
    return { shape: [this.heads, this.dim], data: g.grad };
  }

  /**
   * The exact population risk `R(Θ) = E‖x − T_Θ(x)‖²` under an isotropic mixture, its gradient
   * `∇R(Θ)` (`[H, d]`, f64) and how they were computed: Gaussian integrals over the span of the heads
   * (rank ≤ 4) by tensor Gauss–Hermite quadrature (Golub–Welsch nodes), the nodes per dimension
   * grown by 3/2 from 8 until two levels agree to `quadrature.tol` (default 1e-12) relative to
   * `E‖x‖²` (derivation: docs/population.md). Does not throw when the rule did not converge: see
   * `converged` and `error`.
   *
   * @throws {TypeError} if `gmm` is not an isotropic `GaussianMixture` of the layer's dimension, or
   * `opts` has an unknown key.
   * @throws {RangeError} if the heads span more than 4 dimensions, `quadrature` is out of range, or
   * the risk overflows f64.
   */
  population(gmm: GaussianMixture, opts: { quadrature?: QuadratureOptions } = {}): PopulationResult {
    const o = v.options('options', opts, false, ['quadrature']);
    if (!(gmm instanceof GaussianMixture)) throw new TypeError('`gmm` must be a GaussianMixture');
    if (gmm.dim !== this.dim) throw new TypeError(`\`gmm\` has dimension ${gmm.dim} but the layer ${this.dim}`);
    const r = call(() => native.populationRiskGrad(gmm.nativeMixture, this.#spec, this.#params.data, quadratureOf(o.quadrature)));
    return { risk: r.risk, gradient: { shape: [this.heads, this.dim], data: r.gradient }, rank: r.rank, nodes: r.nodes, error: r.error, converged: r.converged };
  }

  /**
   * The exact population risk (see `population`).
   *
   * @throws {RangeError} when the quadrature did not converge to its tolerance (pass
   * `quadrature.nodes` to fix the rule, or a larger `quadrature.tol`), and as `population`.
   * @throws {TypeError} as `population`.
   */
  populationRisk(gmm: GaussianMixture, opts: { quadrature?: QuadratureOptions } = {}): number {
    return converged(this.population(gmm, opts)).risk;
  }

  /**
   * The exact population gradient `∇R(Θ)`, `[H, d]` f64 (see `population`).
   *
   * @throws {TypeError} as `population`.
   * @throws {RangeError} as `populationRisk`.
   */
  populationGradient(gmm: GaussianMixture, opts: { quadrature?: QuadratureOptions } = {}): Tensor {
    return converged(this.population(gmm, opts)).gradient;
  }

  /**
   * Trains the layer: online SGD on fresh samples from a `GaussianMixture` (the population risk;
   * `method: 'population'` descends the exact population risk instead), or full-batch gradient
   * descent on a fixed sample `[n, d]`. Updates `params` as it goes (also when cancelled), off the
   * event loop. The history records the risk before the update of every `recordEvery`-th step
   * (and, with centroids, the alignment and centroid error); the trajectory is the same for any
   * thread count and chunking. Optimisers: SGD, heavy-ball momentum (Polyak 1964), Adam (Kingma and
   * Ba 2015); schedules: constant, cosine, inverse-time.
   *
   * @throws {TypeError} when `opts` has an unknown key (e.g. `batch` with a fixed sample, `means`
   * with a mixture), `source` or `means` does not have `dim` columns, or `onStep` is not a
   * function.
   * @throws {RangeError} when `steps`, `lr`, `batch`, `seed`, `recordEvery` or an optimiser or
   * schedule value is out of range, the sample is empty or not finite, training diverges (the risk
   * or parameters stop being finite: lower `lr`), the population quadrature does not converge, or a
   * call exceeds the memory limit.
   * @throws {Error} named `'AbortError'` (a rejection; the signal's reason when it is one) when
   * `signal` aborts; the layer keeps the parameters of the completed steps.
   */
  train(source: GaussianMixture, opts: OnlineTrainOptions | PopulationTrainOptions): Promise<TrainResult<AlignedHistoryEntry>>;
  train(source: MatrixLike, opts: FullBatchTrainOptions<AlignedHistoryEntry> & { means: MatrixLike }): Promise<TrainResult<AlignedHistoryEntry>>;
  train(source: MatrixLike, opts: FullBatchTrainOptions): Promise<TrainResult>;
  async train(source: GaussianMixture | MatrixLike, opts: TrainOptions | FullBatchTrainOptions<AlignedHistoryEntry>): Promise<TrainResult> {
    const online = source instanceof GaussianMixture;
    // `batch` is for a mixture source (a fixed sample is used whole at every step), `means` for a
    // fixed sample (a mixture brings its own): either in the wrong form would be ignored.
    const o = v.options('options', opts, true, online ? ONLINE_KEYS : FULL_BATCH_KEYS);
    const steps = v.integer('steps', o.steps, 0, Number.MAX_SAFE_INTEGER);
    const lr = v.numeric('lr', o.lr); // (its range is the core's rule: see optimSpec)
    // 'population': gradient descent on the exact population risk (no sampling, no seed, no batch).
    const method = online ? v.oneOf('method', o.method, ['online', 'population'] as const, 'online') : v.oneOf('method', o.method, ['full-batch'] as const, 'full-batch');
    const exact = method === 'population';
    const quad = exact ? quadratureOf(o.quadrature) : undefined;
    const seed = exact && o.seed === undefined ? 0 : v.seed('seed', o.seed);
    // (the upper bound of `batch` is the core's: it reports a larger one, naming `batch`)
    const batch = online && !exact ? v.integer('batch', o.batch, 1, 2 ** 32 - 1) : 0;
    if (exact && o.batch !== undefined) throw new TypeError("`batch` has no meaning for `method: 'population'` (no samples are drawn)");
    const recordEvery = o.recordEvery === undefined ? Math.max(1, Math.ceil(steps / 200)) : v.integer('recordEvery', o.recordEvery, 1, Number.MAX_SAFE_INTEGER);
    const recordParams = v.boolean('recordParams', o.recordParams, false);
    const signal = signalOf(o.signal);
    const onStep = o.onStep;
    if (onStep !== undefined && typeof onStep !== 'function') throw new TypeError('`onStep` must be a function');
    let means: Tensor | undefined;
    let x: Tensor | undefined;
    if (online) {
      if (source.dim !== this.dim) throw new TypeError(`\`source\` has dimension ${source.dim} but the layer ${this.dim}`);
      means = source.means;
    } else {
      x = this.#tokens(source, 'source');
      if (x.shape[0] === 0) throw new RangeError('`source` must hold at least one token');
      if (o.means !== undefined) means = v.matrix('means', o.means);
    }
    if (means !== undefined && means.shape[1] !== this.dim) throw new TypeError(`\`means\` must have ${this.dim} columns`);
    if (!exact) {
      // Training runs in the layer's type (no widening). No bound up front: the kernels are exact
      // wherever their intermediates stay finite (a huge λ saturates the softmax), and the addon
      // reports an overflow at the initial parameters as such, naming `source`. Memory (planned by
      // the core): per native call, the copy of a fixed sample, the per-chunk partial gradients of a
      // step, and (online) the chunk of samples each thread draws.
      const [h, d] = [this.heads, this.dim];
      const n = online ? batch : (x!.shape[0] as number);
      const bytes = call(() => native.headsTrainPeakBytes(online, n, h, d, this.dtype));
      checkMemory(online ? 'batch' : 'source', bytes, online ? `steps of ${batch} fresh samples of dimension ${d}, ${this.dtype}` : `the fixed sample ${n} × ${d}, copied per call, ${this.dtype}`);
    }
    const spec: Native.TrainSpec = {
      layer: this.#spec,
      optim: optimSpec(o.optimizer, o.schedule, steps, lr, 'sgd'),
      batch: exact ? 1 : online ? batch : Math.max(1, x?.shape[0] ?? 1),
      seed,
    };
    const history: HistoryEntry[] = [];
    const record = (step: number, risk: number, params: Tensor): void => {
      const e: HistoryEntry = { step, risk };
      if (means !== undefined) {
        e.alignment = alignment(params, means);
        if (!hasZeroRow(means)) e.centroidError = centroidError(params, means);
      }
      if (recordParams) e.params = { shape: [...params.shape], data: params.data.slice() };
      history.push(e);
      onStep?.(e);
    };

    let state: Float64Array = new Float64Array(2 * this.heads * this.dim);
    // The history records the parameters before each record step: `record` runs before `commit`.
    await trainInChunks(
      steps,
      recordEvery,
      signal,
      async (t, count, token) => {
        const r = await (exact
          ? native.trainPopulation((source as GaussianMixture).nativeMixture, spec, this.#params.data, state, t, count, quad, token)
          : online
            ? native.trainOnline(source.nativeMixture, spec, this.#params.data, state, t, count, token)
            : native.trainFullBatch(x!.data, spec, this.#params.data, state, t, count, token));
        return {
          losses: r.risks,
          commit: () => {
            this.#params = { shape: [this.heads, this.dim], data: r.params };
            state = r.state;
          },
        };
      },
      (step, risk) => record(step, risk, this.#params),
    );
    // The final point: risk on the fresh batch step `steps` would draw (online), or on the sample.
    if (v.boolean('recordFinal', o.recordFinal, true)) {
      const finalRisk = exact
        ? this.population(source as GaussianMixture, o.quadrature === undefined ? {} : { quadrature: o.quadrature as QuadratureOptions }).risk
        : online
          ? call(() => native.onlineRisk(source.nativeMixture, spec, this.#params.data, steps))
          : this.#risk(x!, 'source');
      record(steps, finalRisk, this.#params);
    }
    return { params: this.#params, history };
  }
}
