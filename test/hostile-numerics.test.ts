/**
 * Numerics at the edges of the float range (src/numerics.ts): with λ up to 1e6 and inputs up to
 * 1e30 — in f32, whose largest value is 3.4e38, squared norms of such inputs (1e60) overflow — and
 * beyond in f64, identity attention (dot and distance scores), model C forward and backward, the
 * two-head layer's forward, risk and gradient and the metrics either give finite outputs or throw
 * a RangeError that names the input and says its values are too large (overflow). Never NaN or ±∞.
 *
 * The decision tested here: an f32 call whose intermediates would leave the f32 range is computed
 * in f64 and rounded back (so it equals the f64 computation, rounded), a result that does not fit
 * in f32 is a RangeError naming `x`, and an f64 call whose intermediates would leave the f64 range
 * is a RangeError naming `x`; the metrics rescale by powers of two (exactly).
 */
import { describe, expect, it } from 'vitest';
import * as api from '../src/index';
import type { Tensor } from '../src/index';

type Out = Tensor | number | { [k: string]: unknown };

const LAMBDAS = [1e-3, 1, 1e3, 1e6];
const SCALES = [1, 1e10, 1e20, 1e30];

function values(o: unknown, acc: number[] = []): number[] {
  if (typeof o === 'number') acc.push(o);
  else if (o instanceof Float32Array || o instanceof Float64Array) acc.push(...o);
  else if (typeof o === 'object' && o !== null) for (const v of Object.values(o)) values(v, acc);
  return acc;
}

/** Finite output, or a RangeError naming `arg` that says the values are too large / overflow. */
function finiteOrOverflow(f: () => Out, arg = 'x'): 'finite' | 'refused' {
  let out: Out;
  try {
    out = f();
  } catch (e) {
    expect(e, String(e)).toBeInstanceOf(RangeError);
    expect((e as Error).message).toContain(`\`${arg}\``);
    expect((e as Error).message).toMatch(/too large|overflow/);
    return 'refused';
  }
  const bad = values(out).find((v) => !Number.isFinite(v));
  expect(bad, 'a non-finite output').toBeUndefined();
  return 'finite';
}

/** Two clusters of tokens around ±scale·e_0 with a little spread, `[B, L, d]`. */
function prompt(b: number, l: number, d: number, scale: number, dtype: 'f32' | 'f64'): Tensor {
  const data = Array.from({ length: b * l * d }, (_, i) => {
    const tok = Math.floor(i / d);
    const j = i % d;
    const centre = j === 0 ? (tok % 2 ? 1 : -1) : 0;
    return scale * (centre + 0.1 * Math.sin(1.7 * i + 0.3));
  });
  return { shape: [b, l, d], data: dtype === 'f32' ? Float32Array.from(data) : Float64Array.from(data) };
}

const toF64 = (t: Tensor): Tensor => ({ shape: t.shape, data: Float64Array.from(t.data) });

describe('identity attention at the edges', () => {
  for (const dtype of ['f32', 'f64'] as const) {
    for (const scores of ['dot', 'distance'] as const) {
      it(`${dtype}, ${scores}: λ ≤ 1e6, |x| ≤ 1e30 give finite outputs (and f32 equals f64 rounded)`, async () => {
        for (const lambda of LAMBDAS) {
          for (const scale of SCALES) {
            const x = prompt(2, 9, 3, scale, dtype);
            for (const o of [{}, { excludeSelf: true }, { depth: 3 }, { depth: 3, residual: true }]) {
              const opts = { lambda, scores, ...o };
              expect(finiteOrOverflow(() => api.identityAttentionSync(x, opts)), `λ = ${lambda}, scale = ${scale}`).toBe('finite');
              const y = api.identityAttentionSync(x, opts);
              const ya = await api.identityAttention(x, opts);
              expect(Array.from(ya.data)).toEqual(Array.from(y.data));
              if (dtype === 'f32') {
                // the same as the f64 computation on the same (f32) values, rounded to f32, up to f32 rounding
                const y64 = api.identityAttentionSync(toF64(x), opts);
                y.data.forEach((v, i) => expect(Math.abs(v - (y64.data[i] as number))).toBeLessThanOrEqual(1e-4 * (scale * 4 + Math.abs(y64.data[i] as number))));
              }
            }
          }
        }
      });
    }
  }

  it('f32 with |x| = 1e30 at λ = 1e6 is the hard-attention limit: each token takes its cluster’s nearest/most aligned member', () => {
    const x: Tensor = { shape: [3, 2], data: Float32Array.from([1e30, 0, 0, 1e30, -1e30, 0]) };
    const y = api.identityAttentionSync(x, { lambda: 1e6 });
    expect(Array.from(y.data)).toEqual([1e30, 0, 0, 1e30, -1e30, 0].map(Math.fround));
    expect(y.data).toBeInstanceOf(Float32Array);
  });

  it('f64 beyond the f64 range (|x| = 1e160, or λ = 1e300): a RangeError naming `x`, never NaN', () => {
    for (const scores of ['dot', 'distance'] as const) {
      expect(finiteOrOverflow(() => api.identityAttentionSync(prompt(1, 4, 2, 1e160, 'f64'), { lambda: 1, scores }))).toBe('refused');
      expect(finiteOrOverflow(() => api.identityAttentionSync(prompt(1, 4, 2, 1e5, 'f64'), { lambda: 1e300, scores }))).toBe('refused');
      expect(finiteOrOverflow(() => api.identityAttentionSync(prompt(1, 4, 2, 1e100, 'f64'), { lambda: 1e-300, scores }))).toBe('finite');
    }
  });

  it('a deep residual stack is bounded layer by layer: finite while the values fit, a RangeError once they would not', () => {
    const x = prompt(1, 6, 2, 1, 'f64');
    // here each application doubles the tokens: 2^400 ≈ 2.6e120 still fits, 2^1100 does not
    expect(finiteOrOverflow(() => api.identityAttentionSync(x, { residual: true, depth: 400 }))).toBe('finite');
    expect(finiteOrOverflow(() => api.identityAttentionSync(x, { residual: true, depth: 1100 }))).toBe('refused');
    // f32: 2^100 ≈ 1.3e30 fits (the scores, ≈ 1e60, are computed in f64), 2^200 does not fit in f32
    expect(finiteOrOverflow(() => api.identityAttentionSync(prompt(1, 6, 2, 1, 'f32'), { residual: true, depth: 100 }))).toBe('finite');
    expect(finiteOrOverflow(() => api.identityAttentionSync(prompt(1, 6, 2, 1, 'f32'), { residual: true, depth: 200 }))).toBe('refused');
  });
});

describe('model C at the edges', () => {
  const weights = (d: number, dtype: 'f32' | 'f64') => {
    const w = api.identityWeights(d, { heads: 2, dtype });
    // not quite the identity: mix the coordinates a little
    for (const t of [w.wq, w.wk, w.wv, w.wo]) t.data.forEach((v, i) => (t.data[i] = v + 0.05 * Math.cos(i)));
    return w;
  };
  for (const dtype of ['f32', 'f64'] as const) {
    it(`${dtype}: forward and backward with λ ≤ 1e6, |x| ≤ 1e30: finite, or (f32 gradients beyond its range) a RangeError naming \`x\``, () => {
      for (const lambda of LAMBDAS) {
        for (const scale of SCALES) {
          const x = prompt(2, 7, 3, scale, dtype);
          const w = weights(3, dtype);
          for (const mask of ['none', 'causal', 'no-self'] as const) {
            expect(finiteOrOverflow(() => api.attentionSync(x, w, { lambda, mask })), `forward λ = ${lambda}, scale = ${scale}`).toBe('finite');
            const r = finiteOrOverflow(() => api.attentionBackwardSync(x, w, x, { lambda, mask }));
            // the weight gradients grow like λ·|x|⁴: in f64 they fit; in f32 the call is refused
            // exactly when the exact (f64) gradients do not fit in f32
            const exact = api.attentionBackwardSync(toF64(x), { wq: toF64(w.wq), wk: toF64(w.wk), wv: toF64(w.wv), wo: toF64(w.wo) }, toF64(x), { lambda, mask });
            const big = Math.max(...values(exact).map(Math.abs));
            expect(r, `backward λ = ${lambda}, scale = ${scale}, largest exact value ${big}`).toBe(dtype === 'f64' || big < 3.4e38 ? 'finite' : 'refused');
          }
        }
      }
    });
  }

  it('f64 whose scores would overflow f64: a RangeError naming `x` and `weights`', () => {
    const err = (() => {
      try {
        api.attentionSync(prompt(1, 4, 3, 1e160, 'f64'), weights(3, 'f64'));
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(RangeError);
    expect(err?.message).toMatch(/`x`.*`weights`.*overflow/);
  });
});

describe('the two-head layer at the edges', () => {
  for (const dtype of ['f32', 'f64'] as const) {
    for (const scores of ['dot', 'distance'] as const) {
      it(`${dtype}, ${scores}: forward, risk and gradient with λ ≤ 1e6 and |x| ≤ 1e30 are finite`, () => {
        for (const lambda of LAMBDAS) {
          for (const scale of SCALES) {
            const x = prompt(1, 20, 3, scale, 'f64');
            const xm: Tensor = { shape: [20, 3], data: dtype === 'f32' ? Float32Array.from(x.data) : x.data };
            for (const init of [{ kind: 'random', scale: 0.1, seed: 1 } as const, [[scale, 0, 0], [-scale, 0, 0]]]) {
              const layer = new api.TwoHeadLayer({ dim: 3, lambda, scores, dtype, init });
              const tag = `λ = ${lambda}, scale = ${scale}`;
              expect(finiteOrOverflow(() => layer.forward(xm)), tag).toBe('finite');
              expect(finiteOrOverflow(() => layer.risk(xm)), tag).toBe('finite');
              expect(finiteOrOverflow(() => layer.gradient(xm)), tag).toBe('finite');
            }
          }
        }
      });
    }
  }

  it('f32 with λ beyond the f32 range (1e39): computed in f64, the hard limit', () => {
    const layer = new api.TwoHeadLayer({ dim: 2, lambda: 1e39, dtype: 'f32', init: [[1, 0], [-1, 0]] });
    const y = layer.forward([[0.5, 1], [-2, 2]]);
    expect(Array.from(y.data)).toEqual([1, 0, -1, 0]);
  });

  it('f64 whose scores overflow f64: a RangeError naming `x` (and `params`, `lambda`)', () => {
    const layer = new api.TwoHeadLayer({ dim: 2, lambda: 1e300, init: [[1e5, 0], [-1e5, 0]] });
    expect(finiteOrOverflow(() => layer.risk([[1e5, 1], [1, 2]]))).toBe('refused');
    expect(() => layer.forward([[1e5, 1]])).toThrow(/`lambda`/);
  });

  it('training refuses data whose intermediates would leave the layer’s type, naming `source`', async () => {
    const layer = new api.TwoHeadLayer({ dim: 2, lambda: 1, dtype: 'f32' });
    const err = await layer.train([[1e30, 0], [0, 1e30]], { steps: 2, lr: 0.1, seed: 0 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RangeError);
    expect((err as Error).message).toMatch(/`source`.*too large for f32/);
  });
});

describe('the metrics at the edges: exact rescaling', () => {
  const P = [[1, 0.2], [-0.3, 2]];
  const M = [[0.9, 0.1], [0.1, 2.2]];
  const scaled = (a: number[][], s: number) => a.map((r) => r.map((v) => v * s));

  it('alignment and centroidError are the same for inputs scaled by 1e-300 … 1e300 (finite, never a hang)', () => {
    const a0 = api.metrics.alignment(P, M);
    const c0 = api.metrics.centroidError(P, M);
    for (const s of [1e-300, 1e-200, 1e-160, 1e30, 1e160, 1e200, 1e300]) {
      expect(api.metrics.alignment(scaled(P, s), scaled(M, s))).toBeCloseTo(a0, 12);
      expect(api.metrics.alignment(scaled(P, s), M)).toBeCloseTo(a0, 12);
      expect(api.metrics.centroidError(scaled(P, s), scaled(M, s))).toBeCloseTo(c0, 12);
    }
    // a head at 1e200 and a centroid at 1: the relative error is 1e200, finite
    expect(api.metrics.centroidError([[1e200, 0]], [[1, 0]]) / 1e200).toBeCloseTo(1, 12);
    expect(api.metrics.alignment([[1e308, 1e308]], [[1, 1]])).toBeCloseTo(1, 12);
  });

  it('quantizationRatio is the same for prompts scaled by 1e-300 … 1e300', () => {
    const x = [[2, 0], [0, 2], [1, 1]];
    const y = [[1, 0], [0, 1.5], [1, 0.5]];
    const m = [[0, 0], [0.5, 0.5]];
    const labels = Uint32Array.from([0, 0, 1]);
    const r0 = api.metrics.quantizationRatio(x, y, m, labels);
    for (const s of [1e-300, 1e-170, 1e30, 1e160, 1e200, 1e300]) {
      expect(api.metrics.quantizationRatio(scaled(x, s), scaled(y, s), scaled(m, s), labels)).toBeCloseTo(r0, 12);
    }
    // batched: each prompt at its own scale
    const xb = { shape: [2, 3, 2], data: Float64Array.from([...scaled(x, 1e200).flat(), ...scaled(x, 1e-200).flat()]) };
    const yb = { shape: [2, 3, 2], data: Float64Array.from([...scaled(y, 1e200).flat(), ...scaled(y, 1e-200).flat()]) };
    const mb = { shape: [2, 2, 2], data: Float64Array.from([...scaled(m, 1e200).flat(), ...scaled(m, 1e-200).flat()]) };
    expect(api.metrics.quantizationRatio(xb, yb, mb, Uint32Array.from([0, 0, 1, 0, 0, 1]))).toBeCloseTo(r0, 12);
  });

  it('in the core alone (issue 10): power-of-two scales give the same bits, subnormals and differences beyond f64 are exact', () => {
    const a0 = api.metrics.alignment(P, M);
    const c0 = api.metrics.centroidError(P, M);
    const m0 = api.metrics.matching(P, M);
    for (const e of [-1000, -600, 600, 1000, 1020]) {
      const s = (a: number[][]) => a.map((r) => r.map((v) => v * 2 ** (e / 2) * 2 ** (e / 2)));
      expect(api.metrics.alignment(s(P), s(M))).toBe(a0);
      expect(api.metrics.alignment(s(P), M)).toBe(a0);
      expect(api.metrics.centroidError(s(P), s(M))).toBe(c0);
      expect(api.metrics.matching(s(P), s(M))).toEqual(m0);
    }
    // mixed rows: a head at 2^-1000, another at 2^1000
    expect(api.metrics.alignment([P[0]!.map((v) => v * 2 ** -500 * 2 ** -500), P[1]!.map((v) => v * 2 ** 500 * 2 ** 500)], M)).toBe(a0);
    // subnormal integers (t = 2^-1074): cos((3,4),(4,3)) = 24/25, ‖(3,4) − (0,4)‖/‖(0,4)‖ = 3/4, ratio (2/4)²
    const t = 5e-324;
    expect(api.metrics.alignment([[3 * t, 4 * t]], [[4 * t, 3 * t]])).toBeCloseTo(0.96, 15);
    expect(api.metrics.centroidError([[3 * t, 4 * t]], [[0, 4 * t]])).toBe(0.75);
    expect(api.metrics.quantizationRatio([[4 * t]], [[2 * t]], [[0]], Uint32Array.from([0]))).toBe(0.25);
    // a − b beyond f64 (a = −b = ±1.5e308): ‖a − b‖/‖b‖ = 2; x − μ = 3e308, y − μ = 2.625e308
    expect(api.metrics.centroidError([[1.5e308, -1.5e308]], [[-1.5e308, 1.5e308]])).toBe(2);
    expect(api.metrics.quantizationRatio([[1.5e308]], [[1.125e308]], [[-1.5e308]], Uint32Array.from([0]))).toBeCloseTo((2.625 / 3) ** 2, 15);
    // a ratio itself beyond f64: the core's RangeError, naming the prompt of `y`
    const err = (() => {
      try {
        return api.metrics.quantizationRatio([[1e-200]], [[1e200]], [[0]], Uint32Array.from([0]));
      } catch (e) {
        return e;
      }
    })() as RangeError & { argument?: string; numeric?: string };
    expect(err).toBeInstanceOf(RangeError);
    expect([err.argument, err.numeric]).toEqual(['y[0]', 'overflow']);
  });

  it('f32 metrics of 1e30 values are finite', () => {
    const p = { shape: [2, 2], data: Float32Array.from([1e30, 0, 0, 1e30]) };
    expect(Number.isFinite(api.metrics.alignment(p, p))).toBe(true);
    expect(api.metrics.centroidError(p, p)).toBe(0);
    expect(Number.isFinite(api.metrics.quantizationRatio(p, p, { shape: [1, 2], data: Float32Array.from([0, 0]) }, Uint32Array.from([0, 0])))).toBe(true);
  });
});
