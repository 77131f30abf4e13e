/**
 * Exact population quantities (docs/population.md) through the JS API: model A's population risk
 * and gradient against Monte Carlo and finite differences, gradient descent on the exact risk
 * (deterministic, thread-independent, reaching the centroids), identity attention on long prompts
 * against its infinite-context limit, and the limiting quantization ratio against finite prompts.
 */
import { describe, expect, it } from 'vitest';
import { GaussianMixture, TwoHeadLayer, identityAttentionLimit, identityAttentionSync, limitQuantizationRatio, metrics, setThreads, getThreads } from '../src/index';

const gmm = GaussianMixture.isotropic({ means: [[3, 0, 0, 0], [0, 3, 0, 0]], sigma: 1, weights: [0.6, 0.4] });
const init = [[1, 0.5, 0, 0.2], [-0.3, 1.2, 0.1, 0]];

describe('TwoHeadLayer.population', () => {
  it('agrees with the empirical risk and gradient of 2^20 samples within 4 standard errors', () => {
    for (const scores of ['dot', 'distance'] as const) {
      const layer = new TwoHeadLayer({ dim: 4, lambda: 1, scores, init });
      const exact = layer.population(gmm);
      expect(exact.converged).toBe(true);
      expect(exact.rank).toBe(2);
      const risks: number[] = [];
      for (let s = 0; s < 16; s++) risks.push(layer.risk(gmm.sample(1 << 16, { seed: 100 + s }).x));
      const m = risks.reduce((a, b) => a + b) / risks.length;
      const se = Math.sqrt(risks.reduce((a, r) => a + (r - m) ** 2, 0) / (risks.length - 1) / risks.length);
      expect(Math.abs(m - exact.risk)).toBeLessThanOrEqual(4 * se);
      expect(layer.populationRisk(gmm)).toBe(exact.risk);
      expect(layer.populationGradient(gmm).shape).toEqual([2, 4]);
    }
  });

  it('has the gradient of its risk (central differences, f64)', () => {
    const layer = new TwoHeadLayer({ dim: 4, lambda: 0.8, init });
    const q = { quadrature: { nodes: 48 } };
    const g = layer.populationGradient(gmm, q);
    const p = layer.params.data;
    for (let i = 0; i < p.length; i++) {
      const shifted = (delta: number) => {
        const l = new TwoHeadLayer({ dim: 4, lambda: 0.8, init: { shape: [2, 4], data: Float64Array.from(p, (v, j) => (j === i ? v + delta : v)) } });
        return l.populationRisk(gmm, q);
      };
      const fd = (shifted(1e-5) - shifted(-1e-5)) / 2e-5;
      expect(Math.abs(fd - (g.data[i] as number))).toBeLessThan(1e-7);
    }
  });

  it('refuses what it cannot compute exactly', () => {
    const layer = new TwoHeadLayer({ dim: 4, lambda: 1, init });
    const diag = GaussianMixture.diagonal({ means: [[1, 0, 0, 0]], variances: [[1, 2, 3, 4]] });
    expect(() => layer.population(diag)).toThrow(TypeError);
    expect(() => layer.population(GaussianMixture.isotropic({ means: [[1, 0, 0]], sigma: 1 }))).toThrow(TypeError);
    expect(() => layer.population(gmm, { quadrature: { tol: 2 } })).toThrow(RangeError);
    const wide = new TwoHeadLayer({ dim: 6, heads: 5, lambda: 1, init: { kind: 'random', scale: 1, seed: 1 } });
    expect(() => wide.population(GaussianMixture.isotropic({ means: [[1, 0, 0, 0, 0, 0]], sigma: 1 }))).toThrow(/at most 4/);
  });
});

describe("train(gmm, { method: 'population' })", () => {
  it('descends the exact risk deterministically, whatever the threads, to the centroids', async () => {
    const before = getThreads();
    const run = async (threads: number) => {
      setThreads(threads);
      const layer = new TwoHeadLayer({ dim: 4, lambda: 1, init: { kind: 'random', scale: 0.01, seed: 3 } });
      return layer.train(gmm, { method: 'population', quadrature: { nodes: 48 }, steps: 200, lr: 0.1, seed: 0, recordEvery: 10 });
    };
    const one = await run(1);
    const two = await run(2);
    setThreads(before);
    expect(Array.from(two.params.data)).toEqual(Array.from(one.params.data));
    expect(two.history).toEqual(one.history);
    const risks = one.history.map((e) => e.risk);
    for (let i = 1; i < risks.length; i++) expect(risks[i]!).toBeLessThanOrEqual(risks[i - 1]! + 1e-12);
    expect(one.history.at(-1)!.alignment).toBeGreaterThan(0.999);
  });

  it('rejects a method that does not fit the source', async () => {
    const layer = new TwoHeadLayer({ dim: 4, lambda: 1 });
    await expect(layer.train(gmm, { method: 'exact' as never, steps: 1, lr: 0.1, seed: 0 })).rejects.toThrow(TypeError);
    await expect(layer.train([[1, 2, 3, 4]], { method: 'population', steps: 1, lr: 0.1, seed: 0 })).rejects.toThrow(TypeError);
  });
});

describe('identity attention at infinite context', () => {
  const mix = GaussianMixture.isotropic({ means: [[2, 0, 0, 0], [-0.5, 1.5, 0, 0]], sigma: 0.7 });

  it('is what long prompts converge to', () => {
    for (const scores of ['dot', 'distance'] as const) {
      const errs = [512, 8192].map((l) => {
        const { x } = mix.sample(l, { seed: 9 });
        const y = identityAttentionSync({ shape: [l, 4], data: x.data }, { lambda: 0.5, scores });
        const t = identityAttentionLimit(mix, x, { lambda: 0.5, scores });
        expect(t.shape).toEqual([l, 4]);
        let s = 0;
        for (let i = 0; i < y.data.length; i++) s += ((y.data[i] as number) - (t.data[i] as number)) ** 2;
        return Math.sqrt(s / l);
      });
      // 16× the tokens: the error falls by about 4 (1/√L), never by less than 2.
      expect(errs[1]!).toBeLessThan(errs[0]! / 2);
      expect(errs[1]!).toBeLessThan(0.05);
    }
  });

  it('keeps the shape and dtype of its input', () => {
    const x = { shape: [2, 3, 4], data: new Float32Array(24).fill(0.5) };
    const t = identityAttentionLimit(mix, x, { lambda: 0.3 });
    expect(t.shape).toEqual([2, 3, 4]);
    expect(t.data).toBeInstanceOf(Float32Array);
    expect(() => identityAttentionLimit(mix, [[1, 2, 3]])).toThrow(TypeError);
    expect(() => identityAttentionLimit(mix, [[1, 2, 3, 4]], { lambda: 0 })).toThrow(RangeError);
  });

  it('has a limiting quantization ratio that long prompts approach', () => {
    // (Only where the tilted components e^{λ⟨x,x′⟩}N(μ, σ²I) sit inside the sampled cloud: at λ = 3
    // they are centred at μ + λσ²x, far in the tails, and L = 16384 tokens are still far from the
    // limit — 1.5 against 3.09 here — a finite-size effect, not an error of either.)
    const sym = GaussianMixture.isotropic({ means: [[3, 0, 0, 0, 0, 0, 0, 0], [0, 3, 0, 0, 0, 0, 0, 0]], sigma: 0.5 });
    for (const lambda of [0.1, 0.3, 0.5, 1]) {
      const limit = metrics.limitQuantizationRatio(sym, { lambda });
      expect(limitQuantizationRatio(sym, { lambda })).toBe(limit);
      // Four prompts of 8192 tokens: their mean ratio within 5 % of the limit.
      const l = 8192;
      let finite = 0;
      for (let seed = 0; seed < 4; seed++) {
        const { x, labels } = sym.sample(l, { seed });
        const y = identityAttentionSync({ shape: [l, 8], data: x.data }, { lambda });
        finite += metrics.quantizationRatio({ shape: [l, 8], data: x.data }, y, sym.means, labels) / 4;
      }
      expect(Math.abs(finite - limit)).toBeLessThan(0.05 * limit);
    }
    expect(() => metrics.limitQuantizationRatio(GaussianMixture.isotropic({ means: [[1, 0], [0, 1]], sigma: [0.5, 0.6] }))).toThrow(TypeError);
  });
});
