/**
 * One validation boundary (issue 10): the core checks values and returns a structured error (kind,
 * argument, expected, got); the addon makes it a real TypeError / RangeError (an Error named
 * AbortError for a cancelled call) whose message names the JS argument — renamed per entry point
 * (`train` reports its sample as `source`, k-means' `n_init` as `nInit`) — with `argument`,
 * `expected`, `got` and `code` properties, thrown by sync calls and rejected by async ones. No
 * message is parsed in TypeScript.
 *
 * For every public entry point: one wrong-type case (the TypeScript side: what only JS can see) and
 * one out-of-range case; those marked `core` come from the core and carry the structured fields.
 */
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import {
  AttentionLayer,
  GaussianMixture,
  MixturePrior,
  TwoHeadLayer,
  adjustedRandIndex,
  alignment,
  attention,
  attentionBackward,
  attentionBackwardSync,
  attentionSync,
  centroidError,
  em,
  identityAttention,
  identityAttentionLimit,
  identityAttentionSync,
  identityWeights,
  kmeans,
  kmeansAsync,
  limitQuantization,
  limitQuantizationRatio,
  matching,
  quantizationRatio,
  setMemoryLimit,
  setThreads,
} from '../src/index';

type Cls = typeof TypeError | typeof RangeError;
/** `[label, call, class, JS argument, from the core?]` */
type Case = [string, () => unknown, Cls, string, boolean];

const T = TypeError;
const R = RangeError;
const CORE = true;
const TS = false;
const any = (v: unknown): never => v as never;

/** The JS argument in backticks, maybe followed by a field or an index (`x[0][1]`, `init.scale`). */
function named(name: string): RegExp {
  const esc = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp('`' + esc + '(?:[.[][^`]*)?`');
}

function check(err: unknown, cls: Cls, name: string, core: boolean): void {
  expect(err, `expected a ${cls.name} naming \`${name}\`, got none`).toBeDefined();
  expect(err, `expected a ${cls.name}, got ${String(err)}`).toBeInstanceOf(cls);
  const e = err as Error & { argument?: unknown; expected?: unknown; got?: unknown; code?: unknown };
  expect(e.message).toMatch(named(name));
  if (!core) return;
  // The structured fields of a core error, in JS terms.
  expect(e.argument).toMatch(new RegExp('^' + named(name).source.slice(1, -1) + '$'));
  expect(e.message).toContain(`\`${String(e.argument)}\``);
  expect(typeof e.expected === 'string' && e.expected.length > 0).toBe(true);
  expect(typeof e.got === 'string' && e.got.length > 0).toBe(true);
  expect(e.message).toBe(`\`${String(e.argument)}\` must be ${String(e.expected)}, got ${String(e.got)}`);
  expect(e.code).toBe(cls === TypeError ? 'ERR_INVALID_ARG_TYPE' : 'ERR_OUT_OF_RANGE');
}

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

async function rejected(f: () => unknown): Promise<unknown> {
  let p: unknown;
  try {
    p = f();
  } catch (e) {
    throw new Error(`threw synchronously instead of rejecting: ${String(e)}`);
  }
  expect(p).toBeInstanceOf(Promise);
  return (p as Promise<unknown>).then(
    () => undefined,
    (e: unknown) => e,
  );
}

const M2 = [
  [0, 0],
  [3, 3],
];
const iso = () => GaussianMixture.isotropic({ means: M2, sigma: 1 });
const sphere = () => MixturePrior.sphere({ k: 2, dim: 2, radius: 1, sigma: 0.1 });
const layer = () => new TwoHeadLayer({ dim: 2, heads: 2, lambda: 1 });
const X = [
  [1, 0],
  [0, 1],
];
const W = () => identityWeights(2, { dtype: 'f64' });

const sync: Case[] = [
  ['GaussianMixture.isotropic: sigma a string', () => GaussianMixture.isotropic({ means: M2, sigma: any('1') }), T, 'sigma', TS],
  ['GaussianMixture.isotropic: sigma negative', () => GaussianMixture.isotropic({ means: M2, sigma: -1 }), R, 'sigma', CORE],
  ['GaussianMixture.isotropic: one sigma per component, one negative', () => GaussianMixture.isotropic({ means: M2, sigma: [1, -1] }), R, 'sigma', CORE],
  ['GaussianMixture.isotropic: weights not summing to 1', () => GaussianMixture.isotropic({ means: M2, sigma: 1, weights: [0.5, 0.6] }), R, 'weights', CORE],
  ['GaussianMixture.isotropic: weights of the wrong length', () => GaussianMixture.isotropic({ means: M2, sigma: 1, weights: [1] }), T, 'weights', CORE],
  ['GaussianMixture.isotropic: means empty', () => GaussianMixture.isotropic({ means: [], sigma: 1 }), R, 'means', CORE],
  ['GaussianMixture.diagonal: variances null', () => GaussianMixture.diagonal({ means: M2, variances: any(null) }), T, 'variances', TS],
  ['GaussianMixture.diagonal: a negative variance', () => GaussianMixture.diagonal({ means: M2, variances: [[1, -1], [1, 1]] }), R, 'variances', CORE],
  ['GaussianMixture.full: covariances null', () => GaussianMixture.full({ means: M2, covariances: any(null) }), T, 'covariances', TS],
  ['GaussianMixture.full: not positive-definite', () => GaussianMixture.full({ means: [[0, 0]], covariances: [[[1, 2], [2, 1]]] }), R, 'covariances', CORE],
  ['sample: n a string', () => iso().sample(any('3'), { seed: 0 }), T, 'n', TS],
  ['sample: seed negative', () => iso().sample(3, { seed: -1 }), R, 'seed', TS],
  ['MixturePrior.sphere: k a string', () => MixturePrior.sphere({ k: any('2'), dim: 2, radius: 1, sigma: 0.1 }), T, 'k', TS],
  ['MixturePrior.sphere: k zero', () => MixturePrior.sphere({ k: 0, dim: 2, radius: 1, sigma: 0.1 }), R, 'k', CORE],
  ['MixturePrior.sphere: k above the core limit', () => MixturePrior.sphere({ k: 2 ** 16 + 1, dim: 2, radius: 1, sigma: 0.1 }), R, 'k', CORE],
  ['MixturePrior.sphere: dim above the core limit', () => MixturePrior.sphere({ k: 2, dim: 2 ** 20 + 1, radius: 1, sigma: 0.1 }), R, 'dim', CORE],
  ['MixturePrior.sphere: minSeparation above 2·radius', () => MixturePrior.sphere({ k: 2, dim: 2, radius: 1, sigma: 0.1, minSeparation: 3 }), R, 'minSeparation', CORE],
  ['MixturePrior.gaussian: scale negative', () => MixturePrior.gaussian({ k: 2, dim: 2, scale: -1, sigma: 0.1 }), R, 'scale', CORE],
  ['MixturePrior.gaussian: weights a string', () => MixturePrior.gaussian({ k: 2, dim: 2, scale: 1, sigma: 0.1, weights: any('a') }), T, 'weights', TS],
  ['MixturePrior.sphere: a Dirichlet concentration ≤ 0', () => MixturePrior.sphere({ k: 2, dim: 2, radius: 1, sigma: 0.1, weights: { dirichlet: [1, 0] } }), R, 'weights', CORE],
  ['samplePrompts: length a string', () => sphere().samplePrompts(2, any('3'), { seed: 0 }), T, 'length', TS],
  ['samplePrompts: batch fractional', () => sphere().samplePrompts(1.5, 3, { seed: 0 }), R, 'batch', TS],
  ['TwoHeadLayer: dim a string', () => new TwoHeadLayer({ dim: any('2'), lambda: 1 }), T, 'dim', TS],
  ['TwoHeadLayer: dim zero', () => new TwoHeadLayer({ dim: 0, lambda: 1 }), R, 'dim', CORE],
  ['TwoHeadLayer: heads above the core limit', () => new TwoHeadLayer({ dim: 2, heads: 4097, lambda: 1 }), R, 'heads', CORE],
  // λ: checked when the layer is made, by the core's rule (the structured fields prove it)
  ['TwoHeadLayer: lambda negative, refused at once', () => new TwoHeadLayer({ dim: 2, lambda: -1 }), R, 'lambda', CORE],
  ['TwoHeadLayer: lambda NaN', () => new TwoHeadLayer({ dim: 2, lambda: NaN }), R, 'lambda', CORE],
  ['TwoHeadLayer: lambda a string', () => new TwoHeadLayer({ dim: 2, lambda: any('1') }), T, 'lambda', TS],
  ['TwoHeadLayer.initFromData: n above the core limit, before drawing', () => layer().initFromData(iso(), { seed: 0, n: 2 ** 24 + 1 }), R, 'n', CORE],
  ['TwoHeadLayer.initFromData: n zero', () => layer().initFromData(iso(), { seed: 0, n: 0 }), R, 'n', CORE],
  ['TwoHeadLayer.initFromData: n fractional', () => layer().initFromData(iso(), { seed: 0, n: 1.5 }), R, 'n', CORE],
  ['TwoHeadLayer.initFromData: n a string', () => layer().initFromData(iso(), { seed: 0, n: any('3') }), T, 'n', TS],
  ['AttentionLayer: lambda zero, refused at once', () => new AttentionLayer({ dim: 2, lambda: 0 }), R, 'lambda', CORE],
  ['AttentionLayer: init.scale negative', () => new AttentionLayer({ dim: 2, init: { kind: 'random', scale: -1, seed: 0 } }), R, 'init.scale', CORE],
  ['AttentionLayer: init.scale NaN', () => new AttentionLayer({ dim: 2, init: { kind: 'random', scale: NaN, seed: 0 } }), R, 'init.scale', CORE],
  ['AttentionLayer: lambda Infinity', () => new AttentionLayer({ dim: 2, lambda: Infinity }), R, 'lambda', CORE],
  ['TwoHeadLayer: init.scale negative', () => new TwoHeadLayer({ dim: 2, lambda: 1, init: { kind: 'random', scale: -1, seed: 0 } }), R, 'init.scale', CORE],
  ['TwoHeadLayer: init.at of the wrong length', () => new TwoHeadLayer({ dim: 2, lambda: 1, init: { kind: 'point', at: [1, 2, 3], seed: 0 } }), T, 'init.at', CORE],
  ['TwoHeadLayer: init.at a string', () => new TwoHeadLayer({ dim: 2, lambda: 1, init: { kind: 'point', at: any('1,2'), seed: 0 } }), T, 'init.at', TS],
  ['forward: x a string', () => layer().forward(any('x')), T, 'x', TS],
  ['forward: x with NaN', () => layer().forward([[1, NaN]]), R, 'x', CORE],
  ['risk: x with Infinity', () => layer().risk([[Infinity, 0]]), R, 'x', CORE],
  ['gradient: x null', () => layer().gradient(any(null)), T, 'x', TS],
  ['gradient: no token', () => layer().gradient({ shape: [0, 2], data: new Float64Array(0) }), R, 'x', CORE],
  ['initFromData: no token', () => layer().initFromData({ shape: [0, 2], data: new Float64Array(0) }, { seed: 0 }), R, 'source', CORE],
  ['initFromData: source null', () => layer().initFromData(any(null), { seed: 0 }), T, 'source', TS],
  ['initFromData: source with NaN', () => layer().initFromData([[1, NaN]], { seed: 0 }), R, 'source', CORE],
  ['population: gmm not a mixture', () => layer().population(any({})), T, 'gmm', TS],
  ['population: quadrature.tol ≥ 1', () => layer().population(iso(), { quadrature: { tol: 2 } }), R, 'quadrature', CORE],
  ['identityAttentionSync: lambda a string', () => identityAttentionSync(X, { lambda: any('1') }), T, 'lambda', TS],
  ['identityAttentionSync: lambda negative', () => identityAttentionSync(X, { lambda: -1 }), R, 'lambda', CORE],
  ['identityAttentionSync: lambda NaN', () => identityAttentionSync(X, { lambda: NaN }), R, 'lambda', CORE],
  ['identityAttentionSync: depth zero', () => identityAttentionSync(X, { depth: 0 }), R, 'depth', CORE],
  ['identityAttentionSync: excludeSelf with one token', () => identityAttentionSync([[1, 0]], { excludeSelf: true }), R, 'excludeSelf', CORE],
  ['identityAttentionSync: x with NaN', () => identityAttentionSync([[1, 0], [NaN, 1]]), R, 'x', CORE],
  ['identityAttentionLimit: gmm null', () => identityAttentionLimit(any(null), X), T, 'gmm', TS],
  ['identityAttentionLimit: lambda zero', () => identityAttentionLimit(iso(), X, { lambda: 0 }), R, 'lambda', CORE],
  ['limitQuantizationRatio: scores unknown', () => limitQuantizationRatio(iso(), { scores: any('cos') }), T, 'scores', TS],
  ['limitQuantizationRatio: lambda negative', () => limitQuantizationRatio(iso(), { lambda: -1 }), R, 'lambda', CORE],
  ['limitQuantization: a diagonal mixture', () => limitQuantization(GaussianMixture.diagonal({ means: M2, variances: [[1, 1], [1, 1]] })), T, 'gmm', CORE],
  ['limitQuantization: lambda Infinity', () => limitQuantization(iso(), { lambda: Infinity }), R, 'lambda', CORE],
  ['attentionSync: mask unknown', () => attentionSync(X, W(), { mask: any('upper') }), T, 'mask', TS],
  ['attentionSync: lambda negative', () => attentionSync(X, W(), { lambda: -2 }), R, 'lambda', CORE],
  ['attentionSync: no-self with one token', () => attentionSync([[1, 0]], W(), { mask: 'no-self' }), R, 'mask', CORE],
  ['attentionSync: weights with NaN', () => attentionSync(X, { ...W(), wv: { shape: [1, 2, 2], data: Float64Array.from([1, 0, 0, NaN]) } }), R, 'weights', CORE],
  ['attentionBackwardSync: dy of another shape', () => attentionBackwardSync(X, W(), [[1, 0, 0]]), T, 'dy', TS],
  ['attentionBackwardSync: dy with NaN', () => attentionBackwardSync(X, W(), [[1, 0], [0, NaN]]), R, 'dy', CORE],
  ['identityWeights: dim a string', () => identityWeights(any('2')), T, 'dim', TS],
  ['AttentionLayer: dim a string', () => new AttentionLayer({ dim: any('2') }), T, 'dim', TS],
  // the layer's size limits are the core's rule (train::attention::check_shape), not a copy in TS
  ['AttentionLayer: heads above the core limit', () => new AttentionLayer({ dim: 2, heads: 1e6 }), R, 'heads', CORE],
  ['AttentionLayer: dk above the core limit', () => new AttentionLayer({ dim: 2, dk: 1e6 }), R, 'dk', CORE],
  ['AttentionLayer: dim 0', () => new AttentionLayer({ dim: 0 }), R, 'dim', CORE],
  ['alignment: params a string', () => alignment(any('p'), M2), T, 'params', TS],
  ['alignment: params with NaN', () => alignment([[NaN, 1]], M2), R, 'params', CORE],
  ['alignment: params empty', () => alignment({ shape: [0, 2], data: new Float64Array(0) }, M2), R, 'params', CORE],
  ['centroidError: a zero centroid', () => centroidError([[1, 1]], [[0, 0]]), R, 'means', CORE],
  ['matching: means with Infinity', () => matching([[1, 1]], [[Infinity, 0]]), R, 'means', CORE],
  ['matching: means null', () => matching([[1, 1]], any(null)), T, 'means', TS],
  ['quantizationRatio: labels a plain array', () => quantizationRatio(X, X, [[0, 0]], any([0, 0])), T, 'labels', TS],
  ['quantizationRatio: a label ≥ K', () => quantizationRatio(X, X, [[0, 0]], Uint32Array.from([0, 1])), R, 'labels', CORE],
  ['adjustedRandIndex: a a plain array', () => adjustedRandIndex(any([0]), Uint32Array.from([0])), T, 'a', TS],
  ['adjustedRandIndex: lengths differ', () => adjustedRandIndex(Uint32Array.from([0, 1]), Uint32Array.from([0])), T, 'b', CORE],
  ['adjustedRandIndex: empty', () => adjustedRandIndex(new Uint32Array(0), new Uint32Array(0)), R, 'a', CORE],
  ['setThreads: a string', () => setThreads(any('2')), T, 'threads', TS],
  ['setThreads: 0', () => setThreads(0), R, 'threads', CORE],
  ['setThreads: 257', () => setThreads(257), R, 'threads', CORE],
  ['setMemoryLimit: a string', () => setMemoryLimit(any('1')), T, 'bytes', TS],
  ['setMemoryLimit: negative', () => setMemoryLimit(-1), R, 'bytes', TS],
  ['kmeans: k a string', () => kmeans(X, any('2'), { seed: 0 }), T, 'k', TS],
  ['kmeans: k above n', () => kmeans(X, 3, { seed: 0 }), R, 'k', CORE],
  ['kmeans: k zero', () => kmeans(X, 0, { seed: 0 }), R, 'k', CORE],
  ['kmeans: nInit zero', () => kmeans(X, 1, { seed: 0, nInit: 0 }), R, 'nInit', CORE],
  // An enormous restart count (such as a seed passed as nInit) would hold the thread for hours.
  ['kmeans: nInit 2^31', () => kmeans(X, 1, { seed: 0, nInit: 2 ** 31 }), R, 'nInit', CORE],
  ['kmeans: maxIter past 10^6', () => kmeans(X, 1, { seed: 0, maxIter: 1_000_001 }), R, 'maxIter', CORE],
  ['em: maxIter past 10^6', () => em(X, 1, { seed: 0, maxIter: 1_000_001, tol: 0 }), R, 'maxIter', CORE],
  ['kmeans: tol negative', () => kmeans(X, 1, { seed: 0, tol: -1 }), R, 'tol', CORE],
  ['kmeans: x empty', () => kmeans([], 1, { seed: 0 }), R, 'x', CORE],
  ['em: covariance unknown', () => em(X, 1, { seed: 0, covariance: any('full') }), T, 'covariance', TS],
  ['em: maxIter zero', () => em(X, 1, { seed: 0, maxIter: 0 }), R, 'maxIter', CORE],
  ['em: reg zero', () => em(X, 1, { seed: 0, reg: 0 }), R, 'reg', CORE],
];

const async: Case[] = [
  ['sampleAsync: dtype unknown', () => iso().sampleAsync(3, { seed: 0, dtype: any('f16') }), T, 'dtype', TS],
  ['sampleAsync: n negative', () => iso().sampleAsync(-1, { seed: 0 }), R, 'n', TS],
  ['samplePromptsAsync: seed a string', () => sphere().samplePromptsAsync(2, 3, { seed: any('0') }), T, 'seed', TS],
  ['samplePromptsAsync: length negative', () => sphere().samplePromptsAsync(2, -3, { seed: 0 }), R, 'length', TS],
  ['identityAttention: scores unknown', () => identityAttention(X, { scores: any('cos') }), T, 'scores', TS],
  ['identityAttention: lambda negative', () => identityAttention(X, { lambda: -1 }), R, 'lambda', CORE],
  ['identityAttention: x with NaN', () => identityAttention([[NaN, 0], [0, 1]]), R, 'x', CORE],
  ['attention: weights null', () => attention(X, any(null)), T, 'weights', TS],
  ['attention: lambda negative', () => attention(X, W(), { lambda: -1 }), R, 'lambda', CORE],
  ['attentionBackward: dy null', () => attentionBackward(X, W(), any(null)), T, 'dy', TS],
  ['attentionBackward: x with NaN', () => attentionBackward([[NaN, 0], [0, 1]], W(), X), R, 'x', CORE],
  ['kmeansAsync: x null', () => kmeansAsync(any(null), 2, { seed: 0 }), T, 'x', TS],
  ['kmeansAsync: k above n', () => kmeansAsync(X, 3, { seed: 0 }), R, 'k', CORE],
  ['kmeansAsync: maxIter zero', () => kmeansAsync(X, 1, { seed: 0, maxIter: 0 }), R, 'maxIter', CORE],
  ['train: source null', () => layer().train(any(null), { steps: 1, lr: 0.1, seed: 0 }), T, 'source', TS],
  ['train: a non-finite sample is `source`, not `x`', () => layer().train([[1, NaN], [0, 1]], { steps: 1, lr: 0.1, seed: 0 }), R, 'source', CORE],
  ['train: optimizer.beta1 ≥ 1', () => layer().train(iso(), { steps: 1, lr: 0.1, seed: 0, batch: 4, optimizer: { kind: 'adam', beta1: 1 } }), R, 'optimizer.beta1', CORE],
  ['train: 0 steps still refuse schedule.floor > 1', () => layer().train(iso(), { steps: 0, lr: 0.1, seed: 0, batch: 4, schedule: { kind: 'cosine', floor: 2 } }), R, 'schedule.floor', CORE],
  ['train: 0 steps still refuse lr NaN', () => layer().train([[1, 0], [0, 1]], { steps: 0, lr: NaN, seed: 0 }), R, 'lr', CORE],
  ['train: diverging lr', () => layer().train([[1, 0], [0, 1]], { steps: 50, lr: 1e300, seed: 0 }), R, 'lr', CORE],
  ['AttentionLayer.forward: x a string', () => new AttentionLayer({ dim: 2 }).forward(any('x')), T, 'x', TS],
  ['AttentionLayer.train: lr negative', () => new AttentionLayer({ dim: 2 }).train(sphere(), { steps: 1, batch: 1, length: 2, lr: -1, seed: 0 }), R, 'lr', CORE],
  ['AttentionLayer.train: optimizer.eps zero', () => new AttentionLayer({ dim: 2 }).train(sphere(), { steps: 1, batch: 1, length: 2, lr: 0.1, seed: 0, optimizer: { kind: 'adam', eps: 0 } }), R, 'optimizer.eps', CORE],
  ['AttentionLayer.train: a prior of another dimension', () => new AttentionLayer({ dim: 3 }).train(sphere(), { steps: 1, batch: 1, length: 2, lr: 0.1, seed: 0 }), T, 'prior', CORE],
  ['AttentionLayer.train: 0 steps still refuse a prior of another dimension', () => new AttentionLayer({ dim: 3 }).train(sphere(), { steps: 0, batch: 1, length: 2, lr: 0.1, seed: 0 }), T, 'prior', CORE],
  ['AttentionLayer.train: batch above the core limit', () => new AttentionLayer({ dim: 2 }).train(sphere(), { steps: 1, batch: 1e6, length: 2, lr: 0.1, seed: 0 }), R, 'batch', CORE],
  ['AttentionLayer.train: 0 steps still refuse length above the core limit', () => new AttentionLayer({ dim: 2 }).train(sphere(), { steps: 0, batch: 1, length: 2 ** 40, lr: 0.1, seed: 0 }), R, 'length', CORE],
  ["AttentionLayer.train: one token with mask 'no-self'", () => new AttentionLayer({ dim: 2, mask: 'no-self' }).train(sphere(), { steps: 1, batch: 1, length: 1, lr: 0.1, seed: 0 }), R, 'length', CORE],
  ['AttentionLayer.train: schedule.tau zero', () => new AttentionLayer({ dim: 2 }).train(sphere(), { steps: 1, batch: 1, length: 2, lr: 0.1, seed: 0, schedule: { kind: 'inverse-time', tau: 0 } }), R, 'schedule.tau', CORE],
];

describe('sync entry points throw the JS class naming the JS argument', () => {
  it.each(sync)('%s', (_l, f, cls, name, core) => check(thrown(f), cls, name, core));
});

describe('async entry points reject with the JS class naming the JS argument', () => {
  it.each(async)('%s', async (_l, f, cls, name, core) => check(await rejected(f), cls, name, core));
});

describe('the structured fields', () => {
  it('a range error: argument, expected, got in JS terms', () => {
    const e = thrown(() => identityAttentionSync(X, { lambda: -1 })) as RangeError & Record<string, unknown>;
    expect(e).toBeInstanceOf(RangeError);
    expect([e.argument, e.expected, e.got, e.code]).toEqual(['lambda', 'positive and finite', '-1', 'ERR_OUT_OF_RANGE']);
    expect(e.message).toBe('`lambda` must be positive and finite, got -1');
  });

  it("a layer's λ and initFromData's n: the core's words, refused before any work", () => {
    const l = thrown(() => new TwoHeadLayer({ dim: 2, lambda: -1 })) as RangeError & Record<string, unknown>;
    expect([l.argument, l.expected, l.got, l.code]).toEqual(['lambda', 'positive and finite', '-1', 'ERR_OUT_OF_RANGE']);
    expect(l.message).toBe('`lambda` must be positive and finite, got -1');
    const a = thrown(() => new AttentionLayer({ dim: 2, lambda: -1 })) as RangeError & Record<string, unknown>;
    expect([a.message, a.argument, a.expected, a.got]).toEqual([l.message, l.argument, l.expected, l.got]);
    const n = thrown(() => layer().initFromData(iso(), { seed: 0, n: 2 ** 24 + 1 })) as RangeError & Record<string, unknown>;
    expect(n).toBeInstanceOf(RangeError);
    expect([n.argument, n.expected, n.got]).toEqual(['n', `an integer in [1, ${2 ** 24}]`, String(2 ** 24 + 1)]);
  });

  it('a prior of another dimension in AttentionLayer.train: a TypeError (a shape mismatch) naming `prior`', async () => {
    const e = (await rejected(() => new AttentionLayer({ dim: 3 }).train(sphere(), { steps: 0, batch: 1, length: 2, lr: 0.1, seed: 0 }))) as TypeError & Record<string, unknown>;
    expect(e).toBeInstanceOf(TypeError);
    expect([e.argument, e.expected, e.got, e.code]).toEqual(['prior', "of the layer's dimension 3", 'dimension 2', 'ERR_INVALID_ARG_TYPE']);
    expect(e.message).toBe("`prior` must be of the layer's dimension 3, got dimension 2");
  });

  it('a path into nested arrays names the entry', () => {
    const e = thrown(() => layer().forward([[1, 2], [3, NaN]])) as RangeError & Record<string, unknown>;
    expect([e.argument, e.got]).toEqual(['x[1][1]', 'NaN']);
  });

  it('core names are renamed per entry point: kmeans `n_init` is `nInit`, train `x` is `source`', async () => {
    const k = thrown(() => kmeans(X, 1, { seed: 0, nInit: 0 })) as RangeError & Record<string, unknown>;
    expect(k.argument).toBe('nInit');
    expect(k.message).not.toMatch(/n_init/);
    const t = (await rejected(() => layer().train([[1, NaN], [0, 1]], { steps: 1, lr: 0.1, seed: 0 }))) as RangeError & Record<string, unknown>;
    expect(t.argument).toBe('source[0][1]');
    expect(t.message).not.toMatch(/`x/);
  });

  it('a default left to the core: kmeans runs its 4 restarts without nInit', () => {
    const x = [[0], [1], [10], [11], [20], [21]];
    const r = kmeans(x, 3, { seed: 3 });
    expect(r).toEqual(kmeans(x, 3, { seed: 3, nInit: 4 }));
  });

  it('an async rejection is the same object type as the sync throw', async () => {
    const s = thrown(() => identityAttentionSync(X, { depth: 0 })) as RangeError & Record<string, unknown>;
    const a = (await rejected(() => identityAttention(X, { depth: 0 }))) as RangeError & Record<string, unknown>;
    expect(a).toBeInstanceOf(RangeError);
    expect([a.message, a.argument, a.expected, a.got, a.code]).toEqual([s.message, s.argument, s.expected, s.got, s.code]);
  });

  it('in a worker thread too (each environment makes its own error objects)', async () => {
    const url = new URL('../dist/src/index.js', import.meta.url);
    const code = `
      const { parentPort } = require('node:worker_threads');
      import(${JSON.stringify(url.href)}).then((m) => {
        try { m.identityAttentionSync([[1, 0], [0, 1]], { lambda: -1 }); parentPort.postMessage('no error'); }
        catch (e) { parentPort.postMessage([e instanceof RangeError, e.argument, e.code, e.message]); }
      });`;
    const w = new Worker(code, { eval: true });
    const msg = await new Promise((res, rej) => {
      w.once('message', res);
      w.once('error', rej);
    });
    await w.terminate();
    expect(msg).toEqual([true, 'lambda', 'ERR_OUT_OF_RANGE', '`lambda` must be positive and finite, got -1']);
    // and the main thread's errors are still made in its own environment
    const e = thrown(() => identityAttentionSync(X, { lambda: -1 }));
    expect(e).toBeInstanceOf(RangeError);
  });
});
