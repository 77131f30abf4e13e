/**
 * Unknown option keys (issue 10): every options object of the public API rejects a key it does not
 * know with a TypeError naming the key and the closest valid one, instead of running with the
 * default (a misspelled `lamda` would otherwise leave λ at 1/√d without a word).
 */
import { describe, expect, it } from 'vitest';
import {
  AttentionLayer,
  GaussianMixture,
  MixturePrior,
  TwoHeadLayer,
  attention,
  attentionBackwardSync,
  attentionSync,
  em,
  identityAttention,
  identityAttentionLimit,
  identityAttentionSync,
  identityWeights,
  kmeans,
  kmeansAsync,
  limitQuantization,
  limitQuantizationRatio,
  closestKey,
} from '../src/index';
import { editDistance } from '../src/validate';

/** The TypeError `f` throws (or its Promise rejects with), checked to name `key` and `near`. */
async function expectUnknown(f: () => unknown, key: string, near?: string): Promise<void> {
  let err: unknown;
  try {
    await f();
  } catch (e) {
    err = e;
  }
  expect(err, `expected a TypeError for the unknown option \`${key}\``).toBeInstanceOf(TypeError);
  const m = (err as Error).message;
  expect(m).toContain(`unknown option \`${key}\``);
  if (near !== undefined) expect(m).toContain(`did you mean \`${near}\`?`);
}

const x2 = [
  [0, 1],
  [1, 0],
  [0.5, 0.5],
];
const mix = () => GaussianMixture.isotropic({ means: [[1, 0], [-1, 0]], sigma: 0.1 });
const prior = () => MixturePrior.sphere({ k: 2, dim: 2, radius: 1, sigma: 0.1 });
const layer = () => new TwoHeadLayer({ dim: 2, lambda: 1 });

describe('edit distance and the closest key', () => {
  it('counts insertions, deletions and substitutions', () => {
    expect(editDistance('lamda', 'lambda')).toBe(1);
    expect(editDistance('optimiser', 'optimizer')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('same', 'same')).toBe(0);
  });
  it('suggests only a plausible typo (closestKey, public: the lab uses the same rule)', () => {
    expect(closestKey('lamda', ['lambda', 'scores'])).toBe('lambda');
    expect(closestKey('zzzzzzzz', ['lambda', 'scores'])).toBeUndefined();
    // the documented examples and bounds: ≤ 2 edits, or a third of the longer name
    expect(closestKey('lamda', ['dim', 'lambda'])).toBe('lambda');
    expect(closestKey('seeds', ['dim'])).toBeUndefined();
    expect(closestKey('ab', ['xy'])).toBe('xy'); // 2 edits: always close enough
    expect(closestKey('abcdef', ['uvwdef'])).toBeUndefined(); // 3 edits of 6 letters: not
    expect(closestKey('abcdefghi', ['xyzdefghi'])).toBe('xyzdefghi'); // 3 edits of 9: a third
    // ties: the first in the list's order; no keys: undefined
    expect(closestKey('ab', ['ac', 'ad'])).toBe('ac');
    expect(closestKey('ab', [])).toBeUndefined();
  });
});

describe('unknown option keys are TypeErrors naming the key and the closest valid key', () => {
  it('identityAttention(Sync): lamda → lambda', async () => {
    await expectUnknown(() => identityAttentionSync(x2, { lamda: 0.3 } as never), 'lamda', 'lambda');
    await expectUnknown(() => identityAttention(x2, { exclude_self: true } as never), 'exclude_self', 'excludeSelf');
    // The message also names the options object.
    expect(() => identityAttentionSync(x2, { lamda: 0.3 } as never)).toThrow(/`options`: unknown option `lamda`; did you mean `lambda`\?/);
  });
  it('TwoHeadLayer: head → heads, score → scores, init kinds', async () => {
    await expectUnknown(() => new TwoHeadLayer({ dim: 16, head: 3, lambda: 1 } as never), 'head', 'heads');
    await expectUnknown(() => new TwoHeadLayer({ dim: 16, lambda: 1, score: 'distance' } as never), 'score', 'scores');
    await expectUnknown(() => new TwoHeadLayer({ dim: 2, lambda: 1, init: { kind: 'random', scale: 1, seed: 0, nosie: 1 } } as never), 'nosie');
    await expectUnknown(() => new TwoHeadLayer({ dim: 2, lambda: 1, init: { kind: 'point', seed: 0, noize: 1 } } as never), 'noize', 'noise');
    // `at` belongs to kind 'point' only.
    await expectUnknown(() => new TwoHeadLayer({ dim: 2, lambda: 1, init: { kind: 'random', scale: 1, seed: 0, at: [0, 0] } } as never), 'at');
    await expectUnknown(() => layer().initFromData(x2, { seed: 0, count: 3 } as never), 'count');
  });
  it('train: optimiser → optimizer, nested optimizer and schedule specs', async () => {
    const l = layer();
    await expectUnknown(() => l.train(mix(), { steps: 1, batch: 8, lr: 0.1, seed: 0, optimiser: 'adam' } as never), 'optimiser', 'optimizer');
    await expectUnknown(() => l.train(mix(), { steps: 1, batch: 8, lr: 0.1, seed: 0, optimizer: { kind: 'adam', beta: 0.9 } } as never), 'beta', 'beta1');
    await expectUnknown(() => l.train(mix(), { steps: 1, batch: 8, lr: 0.1, seed: 0, optimizer: { kind: 'sgd', beta: 0.9 } } as never), 'beta');
    await expectUnknown(() => l.train(mix(), { steps: 1, batch: 8, lr: 0.1, seed: 0, schedule: { kind: 'cosine', flor: 0.1 } } as never), 'flor', 'floor');
    await expectUnknown(() => l.train(mix(), { steps: 1, batch: 8, lr: 0.1, seed: 0, schedule: { kind: 'inverse-time', tao: 10 } } as never), 'tao', 'tau');
  });
  it('sampling: dtyp → dtype', async () => {
    await expectUnknown(() => mix().sample(4, { seed: 0, dtyp: 'f32' } as never), 'dtyp', 'dtype');
    await expectUnknown(() => mix().sampleAsync(4, { seed: 0, steam: 1 } as never), 'steam', 'stream');
    // `signal` is an option of the async form only.
    await expectUnknown(() => mix().sample(4, { seed: 0, signal: new AbortController().signal } as never), 'signal');
    await expectUnknown(() => prior().samplePrompts(1, 4, { seed: 0, dtyp: 'f32' } as never), 'dtyp', 'dtype');
    await expectUnknown(() => prior().samplePromptsAsync(1, 4, { seed: 0, sead: 1 } as never), 'sead', 'seed');
  });
  it('mixtures and priors', async () => {
    await expectUnknown(() => GaussianMixture.isotropic({ means: [[0]], sigma: 1, weight: [1] } as never), 'weight', 'weights');
    await expectUnknown(() => GaussianMixture.diagonal({ means: [[0]], variance: [[1]] } as never), 'variance', 'variances');
    await expectUnknown(() => GaussianMixture.full({ means: [[0]], covariances: [[[1]]], covariance: [] } as never), 'covariance', 'covariances');
    await expectUnknown(() => MixturePrior.sphere({ k: 2, dim: 2, radius: 1, sigma: 0.1, minSep: 0.5 } as never), 'minSep');
    await expectUnknown(() => MixturePrior.gaussian({ k: 2, dim: 2, scale: 1, sigma: 0.1, radius: 1 } as never), 'radius');
    // the Dirichlet form of a prior's weights is an options object too
    await expectUnknown(() => MixturePrior.sphere({ k: 2, dim: 2, radius: 1, sigma: 0.1, weights: { dirichlt: 1 } } as never), 'dirichlt', 'dirichlet');
    await expectUnknown(() => MixturePrior.gaussian({ k: 2, dim: 2, scale: 1, sigma: 0.1, weights: { dirichlet: 1, alpha: 2 } } as never), 'alpha');
  });
  it('k-means and EM', async () => {
    await expectUnknown(() => kmeans(x2, 2, { seed: 0, n_init: 10 } as never), 'n_init', 'nInit');
    await expectUnknown(() => kmeansAsync(x2, 2, { seed: 0, maxIters: 10 } as never), 'maxIters', 'maxIter');
    await expectUnknown(() => em(x2, 2, { seed: 0, covariance_type: 'diagonal' } as never), 'covariance_type');
    await expectUnknown(() => em(x2, 2, { seed: 0, regularization: 1e-3 } as never), 'regularization');
  });
  it('model C: attention options, weights, identityWeights, AttentionLayer', async () => {
    const w = identityWeights(2, { dtype: 'f64' });
    await expectUnknown(() => attentionSync(x2, w, { masks: 'causal' } as never), 'masks', 'mask');
    await expectUnknown(() => attention(x2, w, { lamda: 1 } as never), 'lamda', 'lambda');
    await expectUnknown(() => attentionBackwardSync(x2, w, x2, { lambd: 1 } as never), 'lambd', 'lambda');
    await expectUnknown(() => attentionSync(x2, { ...w, wx: w.wq } as never), 'wx');
    await expectUnknown(() => identityWeights(2, { head: 2 } as never), 'head', 'heads');
    await expectUnknown(() => new AttentionLayer({ dim: 2, maks: 'causal' } as never), 'maks', 'mask');
    await expectUnknown(() => new AttentionLayer({ dim: 2, init: { kind: 'random', seed: 0, scal: 1 } } as never), 'scal', 'scale');
    const l = new AttentionLayer({ dim: 2 });
    await expectUnknown(() => l.forward(x2, { lambda: 2 } as never), 'lambda');
    await expectUnknown(() => l.train(prior(), { steps: 1, batch: 1, length: 4, lr: 0.1, seed: 0, optimiser: 'sgd' } as never), 'optimiser', 'optimizer');
  });
  it('AttentionLayer.train: nested optimizer and schedule specs', async () => {
    const l = new AttentionLayer({ dim: 2 });
    const base = { steps: 1, batch: 1, length: 4, lr: 0.1, seed: 0 };
    await expectUnknown(() => l.train(prior(), { ...base, optimizer: { kind: 'adam', beta_1: 0.8 } } as never), 'beta_1', 'beta1');
    await expectUnknown(() => l.train(prior(), { ...base, schedule: { kind: 'cosine', flor: 0.1 } } as never), 'flor', 'floor');
    await expectUnknown(() => l.train(prior(), { ...base, schedul: 'constant' } as never), 'schedul', 'schedule');
  });
  it('TwoHeadLayer: full-batch training, the population risk and the exact limits (with their quadrature)', async () => {
    const l = layer();
    // a fixed sample is used whole: `batch` is not an option there
    await expectUnknown(() => l.train(x2, { steps: 1, lr: 0.1, seed: 0, batch: 8 } as never), 'batch');
    await expectUnknown(() => l.train(x2, { steps: 1, lr: 0.1, seed: 0, mean: [[0, 0]] } as never), 'mean', 'means');
    await expectUnknown(() => l.train(mix(), { steps: 1, lr: 0.1, seed: 0, method: 'population', quadrature: { node: 8 } } as never), 'node', 'nodes');
    await expectUnknown(() => l.population(mix(), { quadratur: {} } as never), 'quadratur', 'quadrature');
    await expectUnknown(() => l.population(mix(), { quadrature: { toll: 1e-9 } } as never), 'toll', 'tol');
    await expectUnknown(() => identityAttentionLimit(mix(), x2, { lamda: 1 } as never), 'lamda', 'lambda');
    await expectUnknown(() => identityAttentionLimit(mix(), x2, { quadrature: {} } as never), 'quadrature');
    await expectUnknown(() => limitQuantization(mix(), { score: 'dot' } as never), 'score', 'scores');
    await expectUnknown(() => limitQuantizationRatio(mix(), { quadrature: { tol: 1e-6, nodes: 8, node: 8 } } as never), 'node', 'nodes');
  });
  it('known keys still work, and an undefined options object is the defaults', () => {
    expect(identityAttentionSync(x2, { lambda: 0.3, scores: 'distance', excludeSelf: true, depth: 2, residual: true }).shape).toEqual([3, 2]);
    expect(identityAttentionSync(x2).shape).toEqual([3, 2]);
  });
});

describe("string options are the addon's enums: an unknown value is a TypeError naming the option and the valid values", () => {
  it('reads the valid values from the addon (no copy in TypeScript)', async () => {
    const { choices } = await import('../src/native');
    expect(choices('Scores')).toEqual(['dot', 'distance']);
    expect(choices('Dtype')).toEqual(['f32', 'f64']);
    expect(choices('Mask')).toEqual(['none', 'causal', 'no-self']);
    expect(choices('OptimizerKind')).toEqual(['sgd', 'momentum', 'adam']);
    expect(choices('ScheduleKind')).toEqual(['constant', 'cosine', 'inverse-time']);
    expect(choices('Covariance')).toEqual(['isotropic', 'diagonal']);
  });
  it('names them', async () => {
    expect(() => new TwoHeadLayer({ dim: 2, lambda: 1, scores: 'dist' as never })).toThrow(/^`scores` must be one of 'dot', 'distance', got 'dist'$/);
    expect(() => new TwoHeadLayer({ dim: 2, lambda: 1, dtype: 'f16' as never })).toThrow(/^`dtype` must be one of 'f32', 'f64', got 'f16'$/);
    expect(() => identityAttentionSync(x2, { scores: 'cosine' as never })).toThrow(TypeError);
    expect(() => em(x2, 2, { seed: 0, covariance: 'full' as never })).toThrow(/`covariance` must be one of 'isotropic', 'diagonal', got 'full'/);
    await expect(layer().train(mix(), { steps: 1, lr: 0.1, seed: 0, batch: 4, optimizer: 'rmsprop' as never })).rejects.toThrow(/`optimizer` must be one of 'sgd', 'momentum', 'adam', got 'rmsprop'/);
    await expect(layer().train(mix(), { steps: 1, lr: 0.1, seed: 0, batch: 4, optimizer: { kind: 'nadam' } as never })).rejects.toThrow(/`optimizer.kind` must be one of/);
  });
});
