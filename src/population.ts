/**
 * Exact population quantities of identity attention (model B): the layer on an infinite prompt.
 *
 * For a prompt drawn from one mixture, identity attention maps a token `x` to
 * `Σ_j e^{s(x, x_j)} x_j / Σ_j e^{s(x, x_j)}`; as the prompt grows this tends to
 *
 *     T_∞(x) = E[x′ e^{s(x, x′)}] / E[e^{s(x, x′)}] = Σ_k w_k(x) m_k(x)
 *
 * in closed form for Gaussian components ('dot': `w_k ∝ π_k exp(λ⟨x, μ_k⟩ + λ²xᵀΣ_k x/2)`,
 * `m_k = μ_k + λΣ_k x`; 'distance': the tilted Gaussian, see docs/population.md). With one shared σ
 * and 'dot' scores it is a K-head layer with heads at the centroids and biases `log π_k`, plus a
 * drift `λσ²x`. Model A's exact population risk lives on `TwoHeadLayer.population`.
 */
import { call } from './errors';
import { GaussianMixture } from './gmm';
import { choices, native, type Native } from './native';
import type { QuadratureOptions, Scores, Tensor, TokensLike } from './types';
import * as v from './validate';

/** The native quadrature spec from the user's `quadrature` option (values checked by the core). */
export function quadratureOf(q: unknown): Native.QuadratureSpec | undefined {
  if (q === undefined) return undefined;
  const o = v.options('quadrature', q, true, ['nodes', 'tol']);
  return {
    nodes: o.nodes === undefined ? undefined : v.u32('quadrature.nodes', o.nodes),
    tol: o.tol === undefined ? undefined : v.number('quadrature.tol', o.tol),
  };
}

/** `r` itself when its quadrature converged, else a RangeError saying how to get there. */
export function converged<R extends { converged: boolean; error: number; nodes: number }>(r: R): R {
  if (!r.converged) {
    throw new RangeError(`the quadrature did not converge (change ${r.error.toExponential(1)} at ${r.nodes} nodes per dimension): pass \`quadrature.nodes\` or a larger \`quadrature.tol\``);
  }
  return r;
}

/** Options of `identityAttentionLimit` and `limitQuantizationRatio`. */
export interface LimitOptions {
  /** Inverse temperature `λ > 0` (default `1/√d`, as `identityAttention`). */
  lambda?: number;
  /** Default `'dot'`. */
  scores?: Scores;
}

function gmmOf(gmm: unknown): GaussianMixture {
  if (!(gmm instanceof GaussianMixture)) throw new TypeError('`gmm` must be a GaussianMixture');
  return gmm;
}

/**
 * `T_∞(x)` for every token of `x` (`[n, d]` or `[B, L, d]`, same shape out, same dtype; computed in
 * f64): identity attention on an infinite prompt drawn from `gmm` (isotropic or diagonal mixtures
 * with both scores; full covariances with 'dot'), in closed form (Gaussian tilting; derivation:
 * docs/population.md).
 *
 * @throws {TypeError} if `gmm` is not a `GaussianMixture`, `x` does not have `gmm.dim` columns, the
 * mixture has full covariances with 'distance' scores, or `opts` has an unknown key.
 * @throws {RangeError} for `lambda ≤ 0` or non-finite, non-finite `x`, or a result beyond f64.
 */
export function identityAttentionLimit(gmm: GaussianMixture, x: TokensLike, opts: LimitOptions = {}): Tensor {
  const g = gmmOf(gmm);
  const o = v.options('options', opts, false, ['lambda', 'scores']);
  const t = v.tokens('x', x);
  const d = t.shape[t.shape.length - 1] as number;
  if (d !== g.dim) throw new TypeError(`\`x\` must have ${g.dim} columns (the mixture's dimension), got shape [${t.shape.join(', ')}]`);
  const lambda = o.lambda === undefined ? 1 / Math.sqrt(d) : v.number('lambda', o.lambda);
  const scores = v.oneOf('scores', o.scores, choices('Scores'), 'dot');
  const y = call(() => native.identityAttentionLimit(g.nativeMixture, t.data instanceof Float64Array ? t.data : Float64Array.from(t.data), lambda, scores));
  return { shape: [...t.shape], data: t.data instanceof Float32Array ? v.floats(y, 'f32', 'x') : y };
}

/** The limiting quantization ratio and how it was computed (see `limitQuantization`). */
export interface LimitQuantization {
  /** `E‖T_∞(x) − μ_z‖² / E‖x − μ_z‖²`. */
  ratio: number;
  /** Rank of the span of the centroids: the dimension of the integral. */
  rank: number;
  /** Gauss–Hermite nodes per dimension of the final level. */
  nodes: number;
  /** Change of the ratio between the last two levels (NaN for a fixed `quadrature.nodes`). */
  error: number;
  /** Whether that change is within `quadrature.tol`. */
  converged: boolean;
}

/**
 * The quantization ratio of identity attention on an infinite prompt,
 * `E‖T_∞(x) − μ_z‖² / E‖x − μ_z‖²` under `gmm` (isotropic, one σ), with how it was computed: a
 * Gaussian integral over the span of the centroids (rank ≤ 4) by Gauss–Hermite quadrature
 * (Golub–Welsch nodes; derivation: docs/population.md), the nodes per dimension grown by 3/2 from
 * 8 until two levels agree to `quadrature.tol` (default 1e-12). At large `λ` the softmax is
 * nearly a step and the rule converges slowly: `converged` is then false and `error` says how far
 * the last two levels were apart. Never throws for non-convergence (see `limitQuantizationRatio`).
 *
 * @throws {TypeError} if `gmm` is not an isotropic `GaussianMixture` with one σ, or `opts` has an
 * unknown key.
 * @throws {RangeError} for a bad `lambda` or `quadrature`, centroids spanning more than 4
 * dimensions, or a ratio beyond f64.
 */
export function limitQuantization(gmm: GaussianMixture, opts: LimitOptions & { quadrature?: QuadratureOptions } = {}): LimitQuantization {
  const g = gmmOf(gmm);
  const o = v.options('options', opts, false, ['lambda', 'scores', 'quadrature']);
  const lambda = o.lambda === undefined ? 1 / Math.sqrt(g.dim) : v.number('lambda', o.lambda);
  const scores = v.oneOf('scores', o.scores, choices('Scores'), 'dot');
  return { ...call(() => native.limitQuantizationRatio(g.nativeMixture, lambda, scores, quadratureOf(o.quadrature))) };
}

/**
 * The quantization ratio of identity attention on an infinite prompt (see `limitQuantization`),
 * the large-`L` limit of `metrics.quantizationRatio`.
 *
 * @throws {RangeError} when the quadrature does not reach `quadrature.tol` (pass a larger `tol` or a
 * fixed `quadrature.nodes`), and as `limitQuantization`.
 * @throws {TypeError} as `limitQuantization`.
 */
export function limitQuantizationRatio(gmm: GaussianMixture, opts: LimitOptions & { quadrature?: QuadratureOptions } = {}): number {
  return converged(limitQuantization(gmm, opts)).ratio;
}
