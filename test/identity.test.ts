/**
 * Identity attention (model B), `identityAttention` (async) and `identityAttentionSync`, against the
 * reference that materialises the full L × L softmax (test/reference.ts): [L, d] and [B, L, d]
 * inputs, L ∈ {1, 2, 3, 16, 17, 33, 64, 65, 129, 200} (crossing the kernel's 64-query and
 * 128-key tiles), d ∈ {1, 2, 7, 8, 9, 16, 17}, every option (lambda, scores, excludeSelf, depth,
 * residual), f64 (≈1e-12) and f32 (a labelled tolerance); empty prompts; dtype follows the input;
 * the default λ = 1/√d; huge λ and large inputs stay finite; an aborted signal rejects with an
 * AbortError.
 */
import { describe, expect, it } from 'vitest';
import { identityAttention, identityAttentionSync, type IdentityAttentionOptions, type Tensor } from '../src/index';
import * as ref from './reference';

const EPS32 = 2 ** -23;

/** `[B, L, d]` standard normal tokens around two centres per prompt (a clustered prompt). */
function prompts(b: number, l: number, d: number, seed: number, scale = 1): Float64Array {
  const next = ref.rng(seed);
  const z = ref.normals(next, b * l * d + 2 * b * d);
  const out = new Float64Array(b * l * d);
  for (let p = 0; p < b; p++) {
    for (let i = 0; i < l; i++) {
      const c = i % 2;
      for (let k = 0; k < d; k++) {
        const centre = 1.2 * (z[b * l * d + (2 * p + c) * d + k] as number);
        out[(p * l + i) * d + k] = scale * (centre + 0.5 * (z[(p * l + i) * d + k] as number));
      }
    }
  }
  return out;
}

type Opts = Required<Omit<IdentityAttentionOptions, 'signal'>>;

const OPTION_SETS: Opts[] = [
  { lambda: 0.3, scores: 'dot', excludeSelf: false, depth: 1, residual: false },
  { lambda: 0.3, scores: 'distance', excludeSelf: false, depth: 1, residual: false },
  { lambda: 1.1, scores: 'dot', excludeSelf: true, depth: 1, residual: false },
  { lambda: 1.1, scores: 'distance', excludeSelf: true, depth: 1, residual: false },
  { lambda: 0.2, scores: 'dot', excludeSelf: false, depth: 3, residual: false },
  { lambda: 0.5, scores: 'distance', excludeSelf: false, depth: 3, residual: false },
  { lambda: 0.1, scores: 'dot', excludeSelf: false, depth: 2, residual: true },
  { lambda: 0.4, scores: 'distance', excludeSelf: true, depth: 2, residual: true },
];
const label = (o: Opts): string =>
  `λ=${o.lambda} ${o.scores}${o.excludeSelf ? ' excludeSelf' : ''} depth=${o.depth}${o.residual ? ' residual' : ''}`;

// 64 queries and 128 keys are the kernel's tile sizes: 65, 129 and 200 cross them
const LENGTHS = [1, 2, 3, 16, 17, 33, 64, 65, 129, 200];
const DIMS = [1, 2, 7, 8, 9, 16, 17];

/**
 * f32 tolerance relative to the largest |output| (outputs are weighted means of the tokens, plus the
 * input with the residual): a score is a length-d dot product (≈ d·ε of relative error, which moves
 * the softmax weights) and a row sums L weighted tokens (≈ L·ε); each layer adds as much again.
 * On this test's data the worst observed error is ≈ 0.45·(d + L)·ε; the tolerance allows
 * 2·(d + L)·ε per layer.
 */
function f32Tol(d: number, l: number, o: Opts): number {
  return 2 * (d + l) * EPS32 * o.depth;
}

describe.each(OPTION_SETS.map((o) => [label(o), o] as const))('against the reference: %s', (_name, o) => {
  it.each(DIMS)('f64, d = %i, [L, d] for every L and [B = 5, L, d] for L ≤ 65: ≈1e-12', async (d) => {
    for (const l of LENGTHS) {
      if (o.excludeSelf && l < 2) continue;
      // B = 5 ≥ 2 × threads also takes the kernel's "prompts in parallel" path
      for (const b of l <= 65 ? [1, 5] : [1]) {
        const data = prompts(b, l, d, 100 * l + d + b);
        const x: Tensor = { shape: b === 1 ? [l, d] : [b, l, d], data };
        const y = identityAttentionSync(x, o);
        expect(y.shape).toEqual(x.shape);
        expect(y.data).toBeInstanceOf(Float64Array);
        const yRef = ref.identityFlat(data, b, l, d, o);
        const scale = ref.maxAbs(yRef, 1) * o.depth;
        expect(ref.maxAbsDiff(y.data, yRef), `L=${l} B=${b}`).toBeLessThanOrEqual(1e-12 * scale);
        // the async form gives the very same numbers
        const ya = await identityAttention(x, o);
        expect(ya.shape).toEqual(x.shape);
        expect(ya.data).toEqual(y.data);
      }
    }
  });

  it.each(DIMS)('f32, d = %i: within 2·(d + L)·ε32 per layer', async (d) => {
    for (const l of LENGTHS) {
      if (o.excludeSelf && l < 2) continue;
      const b = 2;
      const data32 = Float32Array.from(prompts(b, l, d, 7 + 100 * l + d));
      const x: Tensor = { shape: [b, l, d], data: data32 };
      const y = identityAttentionSync(x, o);
      expect(y.data).toBeInstanceOf(Float32Array);
      expect(y.shape).toEqual([b, l, d]);
      // the reference runs in f64 on the same (f32) inputs
      const yRef = ref.identityFlat(data32, b, l, d, o);
      const tol = f32Tol(d, l, o);
      expect(ref.maxAbsDiff(y.data, yRef), `L=${l}`).toBeLessThanOrEqual(tol * ref.maxAbs(yRef, 1));
      const ya = await identityAttention(x, o);
      expect(ya.data).toBeInstanceOf(Float32Array);
      expect(ya.data).toEqual(y.data);
    }
  });
});

describe('options', () => {
  it('the default λ is 1/√d, the default scores are dot, no mask, depth 1, no residual', () => {
    for (const d of [1, 4, 9, 16]) {
      const data = prompts(1, 20, d, d);
      const x: Tensor = { shape: [20, d], data };
      const y = identityAttentionSync(x);
      expect(y.data).toEqual(identityAttentionSync(x, { lambda: 1 / Math.sqrt(d), scores: 'dot', excludeSelf: false, depth: 1, residual: false }).data);
      const yRef = ref.identityFlat(data, 1, 20, d, { lambda: 1 / Math.sqrt(d) });
      expect(ref.maxAbsDiff(y.data, yRef)).toBeLessThanOrEqual(1e-12 * ref.maxAbs(yRef, 1));
    }
  });

  it('depth m equals m successive applications (with and without the residual)', () => {
    const data = prompts(2, 30, 5, 3);
    const x: Tensor = { shape: [2, 30, 5], data };
    for (const residual of [false, true]) {
      for (const scores of ['dot', 'distance'] as const) {
        const o = { lambda: 0.4, scores, residual };
        let cur = x;
        for (let i = 0; i < 3; i++) cur = identityAttentionSync(cur, o);
        expect(identityAttentionSync(x, { ...o, depth: 3 }).data).toEqual(cur.data);
      }
    }
  });

  it('residual adds the input back: residual(X) = X + Attn(X)', () => {
    const data = prompts(1, 25, 6, 4);
    const x: Tensor = { shape: [25, 6], data };
    const attn = identityAttentionSync(x, { lambda: 0.3 });
    const res = identityAttentionSync(x, { lambda: 0.3, residual: true });
    res.data.forEach((v, i) => expect(v).toBeCloseTo((attn.data[i] as number) + (data[i] as number), 13));
  });

  it('excludeSelf: every row is a convex combination of the other tokens', () => {
    // two tokens: each must move exactly onto the other
    const y = identityAttentionSync([[1, 2], [3, -1]], { excludeSelf: true, lambda: 5 });
    expect(Array.from(y.data)).toEqual([3, -1, 1, 2]);
  });

  it("'distance' scores are translation-equivariant: Attn(X + c) = Attn(X) + c", () => {
    const data = prompts(1, 40, 4, 12);
    const c = [3, -2, 0.5, 1];
    const shifted = data.map((v, i) => v + (c[i % 4] as number));
    const y = identityAttentionSync({ shape: [40, 4], data }, { scores: 'distance', lambda: 0.7 });
    const ys = identityAttentionSync({ shape: [40, 4], data: shifted }, { scores: 'distance', lambda: 0.7 });
    ys.data.forEach((v, i) => expect(Math.abs(v - ((y.data[i] as number) + (c[i % 4] as number)))).toBeLessThan(1e-11));
  });

  it("'distance' scores stay accurate far from the origin: Attn(X + c) = Attn(X) + c for ‖c‖ = 4·10⁴", () => {
    // λ‖x‖² ≈ 10⁹ while the scores that matter are O(1): the key-bias form λ⟨x_i, x_j⟩ − λ‖x_j‖²/2
    // would carry an error of ~10⁻⁷ in each exponent; the difference form the core takes at this
    // spread is exact to a few ulps of the scores themselves
    const data = prompts(1, 40, 4, 12);
    const c = [3e4, -2e4, 5e3, 1e4];
    const shifted = data.map((v, i) => v + (c[i % 4] as number));
    for (const excludeSelf of [false, true]) {
      const y = identityAttentionSync({ shape: [40, 4], data }, { scores: 'distance', lambda: 0.7, excludeSelf });
      const ys = identityAttentionSync({ shape: [40, 4], data: shifted }, { scores: 'distance', lambda: 0.7, excludeSelf });
      // the shifted inputs are rounded to ~4·10⁻¹² (an ulp of 3·10⁴), which moves the outputs as much
      ys.data.forEach((v, i) => expect(Math.abs(v - ((y.data[i] as number) + (c[i % 4] as number)))).toBeLessThan(1e-10));
    }
  });
});

describe('inputs and outputs', () => {
  it('dtype follows the input; nested arrays are f64', async () => {
    const nested = [
      [1, 0],
      [0, 1],
      [1, 1],
    ];
    expect(identityAttentionSync(nested).data).toBeInstanceOf(Float64Array);
    expect((await identityAttention(nested)).data).toBeInstanceOf(Float64Array);
    expect(identityAttentionSync(nested).shape).toEqual([3, 2]);
    const batched = [nested, nested.map((r) => r.map((v) => -v))];
    const yb = identityAttentionSync(batched);
    expect(yb.shape).toEqual([2, 3, 2]);
    expect(Array.from(yb.data.subarray(0, 6))).toEqual(Array.from(identityAttentionSync(nested).data));
    const x32: Tensor = { shape: [3, 2], data: Float32Array.from(nested.flat()) };
    expect(identityAttentionSync(x32).data).toBeInstanceOf(Float32Array);
    expect((await identityAttention(x32)).data).toBeInstanceOf(Float32Array);
  });

  it('the input is not modified', async () => {
    const data = prompts(1, 10, 3, 1);
    const copy = data.slice();
    identityAttentionSync({ shape: [10, 3], data }, { depth: 3 });
    await identityAttention({ shape: [10, 3], data }, { depth: 3, residual: true });
    expect(data).toEqual(copy);
  });

  it('a prompt of one token maps to itself (the softmax over one score is 1)', () => {
    const y = identityAttentionSync([[0.3, -7, 2]], { lambda: 3 });
    expect(Array.from(y.data)).toEqual([0.3, -7, 2]);
  });

  it('L = 0: an empty tensor of the same shape, or a RangeError naming `x` — never a crash', async () => {
    const inputs: unknown[] = [
      { shape: [0, 3], data: new Float64Array(0) },
      { shape: [0, 3], data: new Float32Array(0) },
      { shape: [2, 0, 3], data: new Float64Array(0) },
      { shape: [0, 4, 3], data: new Float64Array(0) },
      [],
    ];
    for (const x of inputs) {
      for (const run of [(v: unknown) => identityAttentionSync(v as Tensor), (v: unknown) => identityAttention(v as Tensor)]) {
        let out: Tensor | undefined;
        try {
          out = await run(x);
        } catch (e) {
          expect(e).toBeInstanceOf(RangeError);
          expect((e as Error).message).toMatch(/`x`/);
          continue;
        }
        const t = x as Tensor;
        expect(out.shape).toEqual(t.shape);
        expect(out.data.length).toBe(0);
        expect(out.data.constructor).toBe(t.data.constructor);
      }
    }
  });
});

describe('extreme values', () => {
  it('λ = 1e6 with inputs around 1e3 gives finite outputs (max-subtracted softmax), f64 and f32', async () => {
    const data = prompts(2, 33, 16, 5, 1e3);
    for (const Arr of [Float64Array, Float32Array]) {
      for (const scores of ['dot', 'distance'] as const) {
        for (const excludeSelf of [false, true]) {
          const x: Tensor = { shape: [2, 33, 16], data: Arr.from(data) };
          const y = identityAttentionSync(x, { lambda: 1e6, scores, excludeSelf });
          expect(y.data.every(Number.isFinite), `${Arr.name} ${scores} ${excludeSelf}`).toBe(true);
          const ya = await identityAttention(x, { lambda: 1e6, scores, excludeSelf, depth: 2, residual: true });
          expect(ya.data.every(Number.isFinite)).toBe(true);
        }
      }
    }
  });

  it('λ → ∞ is a hard attention: distance scores keep each token (or pick its nearest neighbour)', () => {
    // well-separated tokens: the limit is exact in f64
    const x = [
      [0, 0],
      [10, 0],
      [0, 30],
      [1000, 1000],
    ];
    const keep = identityAttentionSync(x, { lambda: 1e6, scores: 'distance' });
    expect(ref.rows(keep.data, 2)).toEqual(x);
    const nn = identityAttentionSync(x, { lambda: 1e6, scores: 'distance', excludeSelf: true });
    expect(ref.rows(nn.data, 2)).toEqual([x[1], x[0], x[0], x[2]]);
    // dot scores pick the token with the largest inner product: here the far token, for every row but the origin's
    const dot = ref.rows(identityAttentionSync(x, { lambda: 1e6 }).data, 2);
    expect(dot.slice(1)).toEqual([x[3], x[3], x[3]]);
    expect(dot[0]).toEqual([252.5, 257.5]); // the origin scores 0 with everyone: the plain mean
  });

  it('distance scores at λ = 1e20 with excludeSelf give each token its nearest other token, far from the origin too', () => {
    // The spread λ·max‖x‖² is far past the core's bounds for the key-bias form, whose rounding
    // (λ‖x‖²·2⁻⁵³ in the exponent) breaks the exact ties of these grid tokens (multiples of 1/8):
    // the scores come from the differences x_i − x_j instead, and the saturated softmax is the
    // nearest other token (the mean of the equidistant ones).
    for (const shift of [0, 1000]) {
      const [l, d] = [65, 3];
      const data = prompts(1, l, d, 31).map((v) => Math.round(8 * v) / 8 + shift);
      for (const dtype of ['f64', 'f32'] as const) {
        const x: Tensor = { shape: [l, d], data: dtype === 'f64' ? data : new Float32Array(data) };
        const xs = ref.rows(x.data, d);
        const sq = (i: number, j: number): number => (xs[i] as number[]).reduce((s, v, f) => s + (v - ((xs[j] as number[])[f] as number)) ** 2, 0);
        let ties = 0;
        const want = xs.map((_, i) => {
          const others = [...Array(l).keys()].filter((j) => j !== i);
          const best = Math.min(...others.map((j) => sq(i, j)));
          const near = others.filter((j) => sq(i, j) === best);
          if (near.length > 1) ties++;
          return [...Array(d).keys()].map((f) => near.reduce((s, j) => s + ((xs[j] as number[])[f] as number), 0) / near.length);
        });
        expect(ties, 'the data has equidistant neighbours').toBeGreaterThan(0);
        const y = ref.rows(identityAttentionSync(x, { lambda: 1e20, scores: 'distance', excludeSelf: true }).data, d);
        // (a mean of three is rounded: to f64, or to f32 in the output)
        y.forEach((row, i) =>
          row.forEach((v, f) => {
            const w = (want[i] as number[])[f] as number;
            expect(Math.abs(v - w), `shift ${shift}, ${dtype}, row ${i}`).toBeLessThanOrEqual((dtype === 'f64' ? 1e-12 : EPS32) * (1 + Math.abs(w)));
          }),
        );
      }
    }
  });
});

describe('cancellation', () => {
  it('an already-aborted AbortSignal rejects with an AbortError', async () => {
    const controller = new AbortController();
    controller.abort();
    const x: Tensor = { shape: [8, 2], data: new Float64Array(16).fill(1) };
    const err = await identityAttention(x, { signal: controller.signal }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeDefined();
    expect((err as Error).name).toBe('AbortError');
    // a reason of the caller's own is kept as the cause (or is the rejection itself)
    const c2 = new AbortController();
    const reason = new Error('stop');
    c2.abort(reason);
    const err2 = (await identityAttention(x, { signal: c2.signal }).catch((e: unknown) => e)) as Error & { cause?: unknown };
    expect(err2.name).toBe('AbortError');
    expect(err2.cause).toBe(reason);
  });

  it('a signal that is never aborted changes nothing', async () => {
    const x: Tensor = { shape: [9, 3], data: prompts(1, 9, 3, 2) };
    const y = await identityAttention(x, { signal: new AbortController().signal, lambda: 0.5 });
    expect(y.data).toEqual(identityAttentionSync(x, { lambda: 0.5 }).data);
  });

  it('a non-AbortSignal `signal` is a TypeError', async () => {
    await expect(identityAttention([[1, 2]], { signal: {} as AbortSignal })).rejects.toThrow(TypeError);
    await expect(identityAttention([[1, 2]], { signal: {} as AbortSignal })).rejects.toThrow(/`signal`/);
  });
});

describe('identityAttentionSync: small results in arrays made in TypeScript (issue 9)', () => {
  // A result within native.RESULT_COPY_BYTES is written into an array allocated in JS
  // (identityAttentionIntoSync); the async form always gets its array from the addon. Both must agree
  // bit for bit, in type and shape, across options and depths.
  it('equals the async form on small prompts', async () => {
    for (const dtype of ['f32', 'f64'] as const) {
      for (const [b, l, d] of [[1, 16, 2], [2, 7, 3], [1, 1, 1]] as const) {
        const n = b * l * d;
        const raw = Array.from({ length: n }, (_, i) => Math.sin(1.7 * i) * 2);
        const data = dtype === 'f32' ? Float32Array.from(raw) : Float64Array.from(raw);
        const x = { shape: b === 1 ? [l, d] : [b, l, d], data };
        for (const opts of [{}, { lambda: 3, scores: 'distance' as const }, { depth: 3, residual: true }, { depth: 2, excludeSelf: l > 1 }]) {
          const s = identityAttentionSync(x, opts);
          const a = await identityAttention(x, opts);
          expect(s.shape).toEqual(x.shape);
          expect(s.data.constructor).toBe(data.constructor);
          expect(Array.from(s.data)).toEqual(Array.from(a.data));
        }
      }
    }
  });
});
