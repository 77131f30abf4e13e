/**
 * Hostile input, by property-based testing (fast-check): every public function and class of
 * src/index.ts is called with generated arguments — wrong shapes and lengths, ragged arrays,
 * holes, NaN and ±∞, negative, zero, fractional and enormous sizes, λ ≤ 0 or non-finite, weights
 * negative or not summing to 1, covariances that are not positive-definite, huge values (1e30 to
 * 1e308), wrong types (null, undefined, strings, objects, functions, integer typed arrays, BigInt,
 * Symbol) — mixed with valid ones so that the success paths run too.
 *
 * The property (SPEC §8): each call either returns (or resolves) with every number of its result
 * finite, or throws (or rejects) a TypeError or a RangeError whose message names an argument in
 * backticks. Nothing else: no other error class, no crash of the worker, no hang (sizes are small,
 * and the memory limit is lowered so that enormous sizes are refused before anything is
 * allocated). Training runs get an AbortSignal with a time limit, so an enormous but valid `steps`
 * ends in an AbortError, which is accepted for those calls only.
 *
 * The number of generated calls is counted and printed; the suite asserts at least 10,000.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as api from '../src/index';

const { GaussianMixture, MixturePrior, TwoHeadLayer, AttentionLayer } = api;

/** Generated calls made so far, per target. */
const counts = new Map<string, number>();
let total = 0;
const started = Date.now();

const LIMIT = 256 * 2 ** 20; // bytes: enormous sizes are refused quickly
let savedLimit = 0;
let savedThreads = 1;

beforeAll(() => {
  savedLimit = api.setMemoryLimit(LIMIT);
  savedThreads = api.getThreads();
});

afterAll(() => {
  api.setMemoryLimit(savedLimit);
  api.setThreads(savedThreads);
  const per = [...counts].map(([k, n]) => `${k} ${n}`).join(', ');
  console.log(`hostile input: ${total} generated calls in ${((Date.now() - started) / 1000).toFixed(1)} s (${per})`);
  expect(total).toBeGreaterThanOrEqual(10_000);
});

// ---------------------------------------------------------------------------------------------
// The property.

/** The path of the first non-finite number in `v` (walking tensors, arrays, plain objects), or undefined. */
function nonFinite(v: unknown, path = 'result', depth = 0): string | undefined {
  if (depth > 8) return undefined;
  if (typeof v === 'number') return Number.isFinite(v) ? undefined : `${path} = ${v}`;
  if (v instanceof Float32Array || v instanceof Float64Array) {
    const i = v.findIndex((x) => !Number.isFinite(x));
    return i < 0 ? undefined : `${path}[${i}] = ${v[i]}`;
  }
  if (ArrayBuffer.isView(v)) return undefined; // integer labels
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const r = nonFinite(v[i], `${path}[${i}]`, depth + 1);
      if (r) return r;
    }
    return undefined;
  }
  if (v instanceof TwoHeadLayer) return nonFinite(v.params, `${path}.params`, depth + 1);
  if (v instanceof AttentionLayer) return nonFinite(v.weights, `${path}.weights`, depth + 1);
  if (typeof v === 'object' && v !== null) {
    for (const [k, x] of Object.entries(v)) {
      const r = nonFinite(x, `${path}.${k}`, depth + 1);
      if (r) return r;
    }
  }
  return undefined;
}

function describeError(e: unknown): string {
  if (e instanceof Error) return `${e.constructor.name} (${e.name}): ${e.message}`;
  try {
    return `a thrown non-Error: ${String(e)}`;
  } catch {
    return 'a thrown non-Error';
  }
}

function checkError(e: unknown, abortable: boolean): void {
  if (abortable && e instanceof Error && e.name === 'AbortError') return;
  const ok = e instanceof TypeError || e instanceof RangeError;
  expect(ok, `expected a TypeError or RangeError, got ${describeError(e)}`).toBe(true);
  expect((e as Error).message, `the message must name an argument in backticks: ${describeError(e)}`).toMatch(/`[^`]+`/);
}

function checkValue(r: unknown): void {
  const bad = nonFinite(r);
  expect(bad, `a non-finite number in the result: ${bad}`).toBeUndefined();
}

/** Runs one generated call (sync or async) and checks the property; counts it under `target`. */
async function probe(target: string, run: () => unknown, abortable = false): Promise<void> {
  counts.set(target, (counts.get(target) ?? 0) + 1);
  total++;
  let r: unknown;
  try {
    r = run();
  } catch (e) {
    checkError(e, abortable);
    return;
  }
  if (r instanceof Promise) {
    let value: unknown;
    try {
      value = await r;
    } catch (e) {
      checkError(e, abortable);
      return;
    }
    checkValue(value);
    return;
  }
  checkValue(r);
}

/** Sync-only form (for fc.property). */
function probeSync(target: string, run: () => unknown): void {
  counts.set(target, (counts.get(target) ?? 0) + 1);
  total++;
  let r: unknown;
  try {
    r = run();
  } catch (e) {
    checkError(e, false);
    return;
  }
  expect(r instanceof Promise, `${target} returned a Promise`).toBe(false);
  checkValue(r);
}

// ---------------------------------------------------------------------------------------------
// Generators.

/** Values of the wrong type. */
const junk: fc.Arbitrary<unknown> = fc.constantFrom<unknown>(
  null,
  undefined,
  '',
  'abc',
  '1',
  '[[1, 2]]',
  {},
  [],
  [[]],
  true,
  10n,
  Symbol('s'),
  () => 1,
  new Int32Array(4),
  new Uint8Array(4),
  new Uint32Array(2),
  new Float64Array(2),
  new Date(0),
  new Map(),
  Object.create(null),
);

/** Numbers at the edges. */
const edgeNumber = fc.constantFrom(NaN, Infinity, -Infinity, -1, -0.5, 0, -0, 0.5, 1.5, 1e-320, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 40, 2 ** 53, 1e15, 1e30, 1e308, -1e308, Number.MAX_SAFE_INTEGER);

/** A size or count: mostly small and valid, often invalid or enormous. */
const size = fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 6 }) }, { weight: 3, arbitrary: edgeNumber }, { weight: 1, arbitrary: junk });

/** A positive real such as λ or σ: valid, at the edges, or junk. */
const real = fc.oneof(
  { weight: 5, arbitrary: fc.double({ min: 1e-3, max: 10, noNaN: true }) },
  { weight: 2, arbitrary: fc.constantFrom(1e-300, 1e-30, 1e6, 1e30, 1e39, 1e300) },
  { weight: 3, arbitrary: edgeNumber },
  { weight: 1, arbitrary: junk },
);

/** A seed: valid, or not. */
const seed = fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 1000 }) }, { weight: 2, arbitrary: edgeNumber }, { weight: 1, arbitrary: junk });

/** Fields of `AttentionLayer.train` options, mostly small and valid, sometimes hostile. */
const attentionTrainFields = {
  steps: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 3 }) }, { weight: 1, arbitrary: size }),
  batch: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 4 }) }, { weight: 1, arbitrary: size }),
  length: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 8 }) }, { weight: 1, arbitrary: size }),
  lr: fc.oneof(fc.double({ min: 1e-3, max: 0.1, noNaN: true }), real),
  seed,
  optimizer: fc.constantFrom<unknown>(undefined, 'sgd', 'momentum', 'adam', 'lbfgs'),
  recordEvery: fc.oneof(fc.constant(undefined), size),
};

const dtype = fc.oneof({ weight: 6, arbitrary: fc.constantFrom<unknown>('f32', 'f64', undefined) }, { weight: 1, arbitrary: fc.constantFrom<unknown>('f16', 'float64', 64, null, '') });

/** One entry of a matrix: mostly moderate, sometimes non-finite or huge. */
const entry = fc.oneof(
  { weight: 12, arbitrary: fc.double({ min: -5, max: 5, noNaN: true }) },
  { weight: 1, arbitrary: fc.constantFrom(NaN, Infinity, -Infinity, 1e30, -1e30, 1e39, 1e160, 1e200, 1e308, -1e308, 1e-320, 0) },
);

type Kind = 'nested' | 'f64' | 'f32' | 'ragged' | 'badlen' | 'badshape' | 'int' | 'holes' | 'flat' | 'rank3' | 'junk';
const kinds: Kind[] = ['nested', 'f64', 'f32', 'ragged', 'badlen', 'badshape', 'int', 'holes', 'flat', 'rank3', 'junk'];
const kind = fc.oneof(
  { weight: 10, arbitrary: fc.constantFrom<Kind>('nested', 'f64', 'f32') },
  { weight: 4, arbitrary: fc.constantFrom<Kind>(...kinds) },
);

/** Builds a matrix-like value of `rows × cols` from `values` (cycled) in the given form. */
function build(k: Kind, rows: number, cols: number, values: number[], j: unknown): unknown {
  const at = (i: number) => (values.length ? (values[i % values.length] as number) : 0);
  const nested = Array.from({ length: rows }, (_, r) => Array.from({ length: cols }, (_, c) => at(r * cols + c)));
  const flat = nested.flat();
  switch (k) {
    case 'nested':
      return nested;
    case 'f64':
      return { shape: [rows, cols], data: Float64Array.from(flat) };
    case 'f32':
      return { shape: [rows, cols], data: Float32Array.from(flat) };
    case 'ragged':
      return rows > 1 ? nested.map((r, i) => (i === rows - 1 ? r.slice(1) : r)) : [[1, 2], [3]];
    case 'badlen':
      return { shape: [rows, cols], data: new Float64Array(rows * cols + 1) };
    case 'badshape':
      return { shape: [rows, -1, 0.5, NaN][(rows + cols) % 4] === rows ? [rows, cols + 0.5] : [-1, cols], data: Float64Array.from(flat) };
    case 'int':
      return { shape: [rows, cols], data: (rows % 2 ? Int32Array : Uint8Array).from(flat.map((v) => Math.abs(Math.round(v)) % 100)) };
    case 'holes': {
      const h = nested.map((r) => r.slice());
      // eslint-disable-next-line no-sparse-arrays
      if (h.length && (h[0] as number[]).length) delete (h[0] as number[])[0];
      else return [, [1]]; // eslint-disable-line no-sparse-arrays
      return h;
    }
    case 'flat':
      return flat;
    case 'rank3':
      return { shape: [1, rows, cols], data: Float64Array.from(flat) };
    case 'junk':
      return j;
  }
}

/** A matrix-like value: `rows` from `rowsArb`, `cols` from `colsArb`. */
function matrixOf(rowsArb: fc.Arbitrary<number>, colsArb: fc.Arbitrary<number>): fc.Arbitrary<unknown> {
  return fc.tuple(kind, rowsArb, colsArb, fc.array(entry, { minLength: 1, maxLength: 40 }), junk).map(([k, r, c, vals, j]) => build(k, r, c, vals, j));
}

/** Tokens `[L, d]` or `[B, L, d]`, tensors or nested arrays, mostly with `d` columns. */
function tokensOf(d: fc.Arbitrary<number>): fc.Arbitrary<unknown> {
  const three = fc
    .tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 6 }), d, fc.array(entry, { minLength: 1, maxLength: 40 }), fc.constantFrom('f64', 'f32', 'nested'))
    .map(([b, l, dd, vals, form]) => {
      const n = b * l * dd;
      const data = Array.from({ length: n }, (_, i) => vals[i % vals.length] as number);
      if (form === 'nested') return Array.from({ length: b }, (_, p) => Array.from({ length: l }, (_, i) => data.slice((p * l + i) * dd, (p * l + i + 1) * dd)));
      return { shape: [b, l, dd], data: form === 'f32' ? Float32Array.from(data) : Float64Array.from(data) };
    });
  return fc.oneof({ weight: 3, arbitrary: matrixOf(fc.integer({ min: 0, max: 8 }), d) }, { weight: 2, arbitrary: three }, { weight: 1, arbitrary: junk });
}

const smallDim = fc.integer({ min: 1, max: 4 });
const colsNear = (d: number) => fc.oneof({ weight: 5, arbitrary: fc.constant(d) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 5 }) });

/** An options bag: a record of some fields, or junk. */
function optionsOf<T>(rec: fc.Arbitrary<T>): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 8, arbitrary: rec as fc.Arbitrary<unknown> }, { weight: 1, arbitrary: junk });
}

/** Mixture weights: absent, valid, not summing to 1, negative, wrong length, junk. */
function weightsFor(k: number): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.constant(undefined) },
    { weight: 2, arbitrary: fc.constant(Array.from({ length: k }, () => 1 / k)) },
    { weight: 2, arbitrary: fc.array(fc.oneof(fc.double({ min: -1, max: 2, noNaN: true }), edgeNumber), { minLength: 0, maxLength: k + 1 }) },
    { weight: 1, arbitrary: junk },
  );
}

/** A valid small mixture (for the calls that take one). */
function mixture(d: number, k = 2): InstanceType<typeof GaussianMixture> {
  return GaussianMixture.isotropic({ means: Array.from({ length: k }, (_, i) => Array.from({ length: d }, (_, j) => (i === j % k ? 3 : 0))), sigma: 0.5 });
}

const RUNS = 900;
/** `HOSTILE_SCALE=10 npx vitest run test/hostile.test.ts` for a longer search. */
const SCALE = Number(process.env.HOSTILE_SCALE ?? 1) || 1;
const cfg = (numRuns = RUNS) => ({ numRuns: Math.round(numRuns * SCALE), endOnFailure: true });

// ---------------------------------------------------------------------------------------------
// The targets.

describe('hostile input: Gaussian mixtures', () => {
  it('GaussianMixture.isotropic, then sample', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }).chain((k) =>
          fc.tuple(
            fc.constant(k),
            matrixOf(fc.oneof(fc.constant(k), fc.integer({ min: 0, max: 4 })), fc.integer({ min: 0, max: 4 })),
            fc.oneof(real, fc.array(real, { maxLength: 4 })),
            weightsFor(k),
            size,
            optionsOf(fc.record({ seed, dtype, stream: fc.oneof(fc.constant(undefined), seed) }, { requiredKeys: [] })),
          ),
        ),
        ([, means, sigma, weights, n, opts]) => {
          let g: InstanceType<typeof GaussianMixture> | undefined;
          probeSync('GaussianMixture.isotropic', () => (g = GaussianMixture.isotropic({ means, sigma, weights } as never)));
          if (g) probeSync('gmm.sample', () => g!.sample(n as never, opts as never));
        },
      ),
      cfg(),
    );
  });

  it('GaussianMixture.diagonal, then sample', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 0, max: 3 }).chain((x) => fc.tuple(fc.constant(x))),
        fc.array(entry, { minLength: 1, maxLength: 20 }),
        fc.oneof(fc.constant<Kind>('nested'), kind),
        fc.oneof({ weight: 4, arbitrary: fc.double({ min: 0.01, max: 4, noNaN: true }) }, { weight: 1, arbitrary: fc.constantFrom(0, -1, NaN, Infinity, 1e300, 1e308) }),
        size,
        seed,
        dtype,
        (k, d, [mode], vals, vk, v0, n, s, dt) => {
          const means = build(mode === 0 ? 'junk' : 'nested', k, d, vals, null);
          const variances = mode === 3 ? build(vk, k, d, vals.map(Math.abs), 'x') : Array.from({ length: k }, () => Array.from({ length: d }, () => v0));
          let g: InstanceType<typeof GaussianMixture> | undefined;
          probeSync('GaussianMixture.diagonal', () => (g = GaussianMixture.diagonal({ means, variances } as never)));
          if (g) probeSync('gmm.sample', () => g!.sample(n as never, { seed: s, dtype: dt } as never));
        },
      ),
      cfg(),
    );
  });

  it('GaussianMixture.full (positive-definite or not), then sample', () => {
    const cov = (d: number) =>
      fc.oneof(
        // A Bᵀ B + εI (positive-definite), B random
        fc.tuple(fc.array(fc.double({ min: -2, max: 2, noNaN: true }), { minLength: d * d, maxLength: d * d }), fc.constantFrom(1e-3, 1, 1e300)).map(([b, eps]) =>
          Array.from({ length: d }, (_, i) => Array.from({ length: d }, (_, j) => b.reduce((s, _v, t) => (t < d ? s + (b[t * d + i] as number) * (b[t * d + j] as number) : s), 0) + (i === j ? eps : 0))),
        ),
        // Symmetric, often indefinite or singular
        fc.array(fc.oneof(fc.double({ min: -3, max: 3, noNaN: true }), edgeNumber), { minLength: d * d, maxLength: d * d }).map((a) =>
          Array.from({ length: d }, (_, i) => Array.from({ length: d }, (_, j) => a[Math.min(i, j) * d + Math.max(i, j)] as number)),
        ),
        matrixOf(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 4 })),
      );
    fc.assert(
      fc.property(
        fc.tuple(fc.integer({ min: 1, max: 3 }), smallDim).chain(([k, d]) =>
          fc.tuple(
            fc.constant(k),
            fc.constant(d),
            fc.oneof({ weight: 5, arbitrary: fc.array(cov(d), { minLength: k, maxLength: k }) }, { weight: 1, arbitrary: fc.array(cov(d), { maxLength: 4 }) }, { weight: 1, arbitrary: junk }),
            weightsFor(k),
            size,
            seed,
            dtype,
          ),
        ),
        ([k, d, covariances, weights, n, s, dt]) => {
          const means = Array.from({ length: k }, (_, i) => Array.from({ length: d }, (_, j) => i + j));
          let g: InstanceType<typeof GaussianMixture> | undefined;
          probeSync('GaussianMixture.full', () => (g = GaussianMixture.full({ means, covariances, weights } as never)));
          if (g) probeSync('gmm.sample', () => g!.sample(n as never, { seed: s, dtype: dt } as never));
        },
      ),
      cfg(),
    );
  });

  it('gmm.sampleAsync', async () => {
    const g = mixture(3);
    await fc.assert(
      fc.asyncProperty(size, optionsOf(fc.record({ seed, dtype, stream: fc.oneof(fc.constant(undefined), seed), signal: fc.constantFrom(undefined, 'signal', new AbortController().signal) }, { requiredKeys: [] })), async (n, opts) => {
        await probe('gmm.sampleAsync', () => g.sampleAsync(n as never, opts as never));
      }),
      cfg(500),
    );
  });
});

/** A valid layer's λ: moderate, tiny or huge (the numerics edges). */
const goodLambda = fc.oneof({ weight: 4, arbitrary: fc.double({ min: 0.01, max: 10, noNaN: true }) }, { weight: 1, arbitrary: fc.constantFrom(1e-300, 1e-30, 1e6, 1e30, 1e39, 1e300) });

describe('hostile input: priors', () => {
  it('samplePrompts(Async) of a valid prior', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 4 }),
        fc.constantFrom(0, 0.5, 1e30, 1e300),
        size,
        size,
        optionsOf(fc.record({ seed, dtype, signal: fc.constantFrom<unknown>(undefined, 'signal') }, { requiredKeys: [] })),
        fc.boolean(),
        async (sphere, k, dim, sigma, b, l, popts, async) => {
          const p = sphere ? MixturePrior.sphere({ k, dim, radius: 3, sigma }) : MixturePrior.gaussian({ k, dim, scale: 2, sigma });
          if (async) await probe('prior.samplePromptsAsync', () => p.samplePromptsAsync(b as never, l as never, popts as never));
          else await probe('prior.samplePrompts', () => p.samplePrompts(b as never, l as never, popts as never));
        },
      ),
      cfg(),
    );
  });

  it('MixturePrior.sphere / gaussian, then samplePrompts(Async)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        optionsOf(
          fc.record(
            {
              k: fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 1, max: 4 }) }, { weight: 2, arbitrary: size }),
              dim: fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 1, max: 4 }) }, { weight: 2, arbitrary: size }),
              radius: real,
              scale: real,
              sigma: fc.oneof(real, fc.constant(0)),
              minSeparation: fc.oneof(fc.constant(undefined), fc.constantFrom(0, 0.5, 1, 2, 5, -1, NaN, Infinity)),
            },
            { requiredKeys: [] },
          ),
        ),
        size,
        size,
        optionsOf(fc.record({ seed, dtype }, { requiredKeys: [] })),
        fc.boolean(),
        async (sphere, opts, b, l, popts, async) => {
          let prior: InstanceType<typeof MixturePrior> | undefined;
          await probe(sphere ? 'MixturePrior.sphere' : 'MixturePrior.gaussian', () => (prior = sphere ? MixturePrior.sphere(opts as never) : MixturePrior.gaussian(opts as never)));
          if (!prior) return;
          const p = prior;
          if (async) await probe('prior.samplePromptsAsync', () => p.samplePromptsAsync(b as never, l as never, popts as never));
          else await probe('prior.samplePrompts', () => p.samplePrompts(b as never, l as never, popts as never));
        },
      ),
      cfg(),
    );
  });
});

/** Layer options: valid-ish or hostile. */
const layerOptions = (d: number) =>
  fc.record(
    {
      dim: fc.oneof({ weight: 6, arbitrary: fc.constant(d) }, { weight: 1, arbitrary: size }),
      heads: fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 3, arbitrary: fc.integer({ min: 1, max: 3 }) }, { weight: 1, arbitrary: size }),
      lambda: real,
      scores: fc.constantFrom<unknown>('dot', 'distance', undefined, 'cosine', 1),
      dtype,
      init: fc.oneof(
        fc.constant(undefined),
        fc.record({ kind: fc.constantFrom<unknown>('random', 'point', 'data', 'zeros', null), scale: fc.oneof(real, fc.constant(0)), seed, noise: fc.oneof(real, fc.constant(undefined)), at: fc.oneof(fc.constant(undefined), fc.array(entry, { maxLength: 5 })) }, { requiredKeys: [] }),
        matrixOf(fc.integer({ min: 0, max: 3 }), colsNear(d)),
      ),
    },
    { requiredKeys: ['lambda'] },
  );

describe('hostile input: the two-head layer', () => {
  it('forward / risk / gradient / params / initFromData of a valid layer', () => {
    fc.assert(
      fc.property(
        smallDim.chain((d) =>
          fc.tuple(
            fc.constant(d),
            fc.record({ lambda: goodLambda, heads: fc.integer({ min: 1, max: 3 }), scores: fc.constantFrom('dot', 'distance'), dtype: fc.constantFrom('f32', 'f64'), init: fc.constantFrom<unknown>(undefined, { kind: 'random', scale: 1, seed: 3 }, { kind: 'random', scale: 1e20, seed: 3 }) }),
            tokensOf(colsNear(d)),
            fc.integer({ min: 0, max: 4 }),
            optionsOf(fc.record({ seed, n: fc.oneof(fc.constant(undefined), size) }, { requiredKeys: [] })),
            fc.boolean(),
          ),
        ),
        ([d, lo, x, which, initOpts, fromMixture]) => {
          const l = new TwoHeadLayer({ dim: d, ...lo } as never);
          if (which === 0) probeSync('layer.forward', () => l.forward(x as never));
          if (which === 1) probeSync('layer.risk', () => l.risk(x as never));
          if (which === 2) probeSync('layer.gradient', () => l.gradient(x as never));
          if (which === 3)
            probeSync('layer.params =', () => {
              l.params = x as never;
              return l.params;
            });
          if (which === 4) probeSync('layer.initFromData', () => l.initFromData((fromMixture ? mixture(d) : x) as never, initOpts as never));
          expect(nonFinite(l.params), 'a call left non-finite parameters').toBeUndefined();
        },
      ),
      cfg(2500),
    );
  });

  it('new TwoHeadLayer, then forward / risk / gradient / params / initFromData', () => {
    fc.assert(
      fc.property(
        smallDim.chain((d) => fc.tuple(fc.constant(d), optionsOf(layerOptions(d)), fc.array(tokensOf(colsNear(d)), { minLength: 5, maxLength: 5 }), optionsOf(fc.record({ seed, n: fc.oneof(fc.constant(undefined), size) }, { requiredKeys: [] })), fc.boolean())),
        ([d, opts, xs, initOpts, fromMixture]) => {
          let layer: InstanceType<typeof TwoHeadLayer> | undefined;
          probeSync('new TwoHeadLayer', () => (layer = new TwoHeadLayer(opts as never)));
          if (!layer) return;
          const l = layer;
          probeSync('layer.forward', () => l.forward(xs[0] as never));
          probeSync('layer.risk', () => l.risk(xs[1] as never));
          probeSync('layer.gradient', () => l.gradient(xs[2] as never));
          probeSync('layer.params =', () => {
            l.params = xs[3] as never;
            return l.params;
          });
          probeSync('layer.initFromData', () => l.initFromData((fromMixture ? mixture(d) : xs[4]) as never, initOpts as never));
          expect(nonFinite(l.params), 'a failed call left non-finite parameters').toBeUndefined();
        },
      ),
      cfg(),
    );
  });

  it('layer.train (online and fixed sample), with a time limit', async () => {
    await fc.assert(
      fc.asyncProperty(
        smallDim.chain((d) =>
          fc.tuple(
            fc.constant(d),
            fc.record({ lambda: fc.oneof(fc.double({ min: 0.1, max: 3, noNaN: true }), real), dtype: fc.constantFrom('f32', 'f64'), scores: fc.constantFrom('dot', 'distance') }),
            fc.oneof({ weight: 2, arbitrary: fc.constant('mixture') }, { weight: 2, arbitrary: tokensOf(colsNear(d)) }, { weight: 1, arbitrary: junk }),
            optionsOf(
              fc.record(
                {
                  steps: fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 0, max: 4 }) }, { weight: 1, arbitrary: size }),
                  batch: fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 1, max: 64 }) }, { weight: 1, arbitrary: size }),
                  lr: fc.oneof({ weight: 4, arbitrary: fc.double({ min: 1e-3, max: 1, noNaN: true }) }, { weight: 2, arbitrary: real }),
                  seed,
                  optimizer: fc.constantFrom<unknown>(undefined, 'sgd', 'momentum', 'adam', 'rmsprop', { kind: 'adam', beta1: 0.9 }, { kind: 'momentum', beta: 1 }, { kind: 'adam', eps: 0 }, null),
                  schedule: fc.constantFrom<unknown>(undefined, 'constant', { kind: 'cosine' }, { kind: 'cosine', floor: 2 }, { kind: 'inverse-time', tau: 0 }, { kind: 'inverse-time', tau: 10 }, 'linear'),
                  recordEvery: fc.oneof(fc.constant(undefined), size),
                  recordParams: fc.constantFrom<unknown>(undefined, true, false, 'yes'),
                  means: fc.oneof(fc.constant(undefined), matrixOf(fc.integer({ min: 0, max: 3 }), colsNear(d))),
                  onStep: fc.constantFrom<unknown>(undefined, () => undefined, 'log'),
                  signal: fc.constantFrom<unknown>(undefined, 'signal'),
                },
                { requiredKeys: ['steps', 'lr', 'seed'] },
              ),
            ),
          ),
        ),
        async ([d, lo, source, opts]) => {
          const lambda = (lo as { lambda: unknown }).lambda;
          const layer = new TwoHeadLayer({ dim: d, ...(lo as object), lambda: typeof lambda === 'number' && lambda > 0 && Number.isFinite(lambda) ? lambda : 1 } as never);
          const src = source === 'mixture' ? mixture(d) : source;
          // A time limit: an enormous but valid `steps` ends in an AbortError.
          const o = typeof opts === 'object' && opts !== null && (opts as { signal?: unknown }).signal === undefined ? { ...(opts as object), signal: AbortSignal.timeout(300) } : opts;
          await probe('layer.train', () => layer.train(src as never, o as never), true);
          expect(nonFinite(layer.params), 'training left non-finite parameters').toBeUndefined();
        },
      ),
      cfg(600),
    );
  });
});

const identityOptions = fc.record(
  {
    lambda: fc.oneof(fc.constant(undefined), real),
    scores: fc.constantFrom<unknown>(undefined, 'dot', 'distance', 'cos'),
    excludeSelf: fc.constantFrom<unknown>(undefined, true, false, 1),
    depth: fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 3, arbitrary: fc.integer({ min: 1, max: 5 }) }, { weight: 1, arbitrary: fc.constantFrom(200, 4096, 4097) }, { weight: 1, arbitrary: size }),
    residual: fc.constantFrom<unknown>(undefined, true, false, 'no'),
    signal: fc.constantFrom<unknown>(undefined, 'signal', {}),
  },
  { requiredKeys: [] },
);

describe('hostile input: identity attention', () => {
  it('identityAttentionSync and identityAttention', async () => {
    await fc.assert(
      fc.asyncProperty(tokensOf(fc.integer({ min: 0, max: 4 })), optionsOf(identityOptions), fc.boolean(), async (x, opts, async) => {
        if (async) await probe('identityAttention', () => api.identityAttention(x as never, opts as never));
        else await probe('identityAttentionSync', () => api.identityAttentionSync(x as never, opts as never));
      }),
      cfg(1800),
    );
  });
});

/** Model C weights for dimension `d`: valid (random or identity) or broken. */
function weightsOf(d: number): fc.Arbitrary<unknown> {
  const valid = fc
    .tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.array(entry, { minLength: 1, maxLength: 30 }), fc.constantFrom('f64', 'f32'))
    .map(([h, dk, dv, vals, dt]) => {
      const t = (shape: number[], off: number) => {
        const n = shape.reduce((a, b) => a * b, 1);
        const data = Array.from({ length: n }, (_, i) => (vals[(i + off) % vals.length] as number) / 3);
        return { shape, data: dt === 'f32' ? Float32Array.from(data) : Float64Array.from(data) };
      };
      return { wq: t([h, d, dk], 0), wk: t([h, d, dk], 1), wv: t([h, d, dv], 2), wo: t([h, dv, d], 3) };
    });
  const broken = fc.tuple(valid, fc.constantFrom('wq', 'wk', 'wv', 'wo'), matrixOf(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 }))).map(([w, key, bad]) => ({ ...(w as object), [key]: bad }));
  return fc.oneof(
    { weight: 5, arbitrary: valid },
    { weight: 2, arbitrary: fc.constantFrom<unknown>(api.identityWeights(d), api.identityWeights(d, { dtype: 'f64', heads: 2 })) },
    { weight: 2, arbitrary: broken },
    { weight: 1, arbitrary: junk },
  );
}

const attentionOptions = fc.record(
  { lambda: fc.oneof(fc.constant(undefined), real), mask: fc.constantFrom<unknown>(undefined, 'none', 'causal', 'no-self', 'full'), signal: fc.constantFrom<unknown>(undefined, 'signal') },
  { requiredKeys: [] },
);

/** Casts the tokens to the weights' dtype half of the time (so that the success path runs). */
function sameDtype(x: unknown, w: unknown, flip: boolean): unknown {
  const wq = (w as { wq?: { data?: unknown } } | null)?.wq?.data;
  const t = x as { shape?: unknown; data?: unknown } | null;
  if (!flip || typeof t !== 'object' || t === null || !(t.data instanceof Float32Array || t.data instanceof Float64Array)) return x;
  if (wq instanceof Float32Array) return { shape: t.shape, data: Float32Array.from(t.data) };
  if (wq instanceof Float64Array) return { shape: t.shape, data: Float64Array.from(t.data) };
  return x;
}

describe('hostile input: model C', () => {
  it('attention(Sync), attentionBackward(Sync)', async () => {
    await fc.assert(
      fc.asyncProperty(
        smallDim.chain((d) => fc.tuple(tokensOf(colsNear(d)), weightsOf(d), tokensOf(colsNear(d)), optionsOf(attentionOptions), fc.integer({ min: 0, max: 3 }), fc.boolean())),
        async ([x0, w, dy0, opts, which, flip]) => {
          const x = sameDtype(x0, w, flip);
          const dy = flip && x && typeof x === 'object' && 'shape' in (x as object) ? { shape: (x as { shape: number[] }).shape, data: (x as { data: Float32Array | Float64Array }).data.map((v) => -v / 2) } : dy0;
          if (which === 0) await probe('attentionSync', () => api.attentionSync(x as never, w as never, opts as never));
          if (which === 1) await probe('attention', () => api.attention(x as never, w as never, opts as never));
          if (which === 2) await probe('attentionBackwardSync', () => api.attentionBackwardSync(x as never, w as never, dy as never, opts as never));
          if (which === 3) await probe('attentionBackward', () => api.attentionBackward(x as never, w as never, dy as never, opts as never));
        },
      ),
      cfg(1800),
    );
  });

  it('forward and train of a valid AttentionLayer (time limit)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({ dim: fc.integer({ min: 1, max: 3 }), heads: fc.integer({ min: 1, max: 2 }), lambda: goodLambda, mask: fc.constantFrom('none', 'causal', 'no-self'), dtype: fc.constantFrom('f32', 'f64') }),
        tokensOf(fc.integer({ min: 1, max: 3 })),
        optionsOf(
          fc.record(
            {
              ...attentionTrainFields,
            },
            { requiredKeys: ['steps', 'batch', 'length', 'lr', 'seed'] },
          ),
        ),
        fc.boolean(),
        async (lo, x, topts, train) => {
          const l = new AttentionLayer(lo as never);
          if (!train) {
            await probe('attentionLayer.forward', () => l.forward(sameDtype(x, { wq: l.weights.wq }, true) as never));
            return;
          }
          const prior = MixturePrior.sphere({ k: 2, dim: l.dim, radius: 2, sigma: 0.3 });
          const o = typeof topts === 'object' && topts !== null ? { ...(topts as object), signal: AbortSignal.timeout(300) } : topts;
          await probe('attentionLayer.train', () => l.train(prior, o as never), true);
          expect(nonFinite(l.weights), 'training left non-finite weights').toBeUndefined();
        },
      ),
      cfg(),
    );
  });

  it('identityWeights, new AttentionLayer, layer.forward, layer.train (time limit)', async () => {
    await fc.assert(
      fc.asyncProperty(
        size,
        optionsOf(fc.record({ heads: fc.oneof(fc.constant(undefined), size), dtype }, { requiredKeys: [] })),
        optionsOf(
          fc.record(
            {
              dim: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 3 }) }, { weight: 1, arbitrary: size }),
              heads: fc.oneof(fc.constant(undefined), fc.integer({ min: 1, max: 2 }), size),
              dk: fc.oneof(fc.constant(undefined), fc.integer({ min: 1, max: 3 }), size),
              dv: fc.oneof(fc.constant(undefined), fc.integer({ min: 1, max: 3 }), size),
              lambda: fc.oneof(fc.constant(undefined), real),
              mask: fc.constantFrom<unknown>(undefined, 'none', 'causal', 'no-self', 'full'),
              dtype,
              init: fc.constantFrom<unknown>(undefined, 'identity', { kind: 'random', seed: 1 }, { kind: 'random', scale: 1e39, seed: 1 }, { kind: 'random', scale: -1, seed: 1 }, { kind: 'zeros' }, 'ones', null),
            },
            { requiredKeys: [] },
          ),
        ),
        tokensOf(fc.integer({ min: 1, max: 3 })),
        optionsOf(
          fc.record(
            {
              ...attentionTrainFields,
              onStep: fc.constantFrom<unknown>(undefined, () => undefined, 1),
            },
            { requiredKeys: ['steps', 'batch', 'length', 'lr', 'seed'] },
          ),
        ),
        fc.integer({ min: 1, max: 3 }),
        async (dim, wopts, lopts, x, topts, priorDim) => {
          await probe('identityWeights', () => api.identityWeights(dim as never, wopts as never));
          let layer: InstanceType<typeof AttentionLayer> | undefined;
          await probe('new AttentionLayer', () => (layer = new AttentionLayer(lopts as never)));
          if (!layer) return;
          const l = layer;
          await probe('attentionLayer.forward', () => l.forward(sameDtype(x, { wq: l.weights.wq }, true) as never));
          const prior = MixturePrior.sphere({ k: 2, dim: priorDim === 3 ? l.dim : priorDim, radius: 2, sigma: 0.3 });
          const o = typeof topts === 'object' && topts !== null ? { ...(topts as object), signal: AbortSignal.timeout(300) } : topts;
          await probe('attentionLayer.train', () => l.train(prior, o as never), true);
        },
      ),
      cfg(500),
    );
  });
});

describe('hostile input: metrics', () => {
  it('alignment and centroidError', () => {
    fc.assert(
      fc.property(
        smallDim.chain((d) => fc.tuple(matrixOf(fc.integer({ min: 0, max: 4 }), colsNear(d)), matrixOf(fc.integer({ min: 0, max: 4 }), colsNear(d)))),
        fc.boolean(),
        ([p, m], which) => {
          if (which) probeSync('metrics.alignment', () => api.metrics.alignment(p as never, m as never));
          else probeSync('metrics.centroidError', () => api.metrics.centroidError(p as never, m as never));
        },
      ),
      cfg(1800),
    );
  });

  it('quantizationRatio', () => {
    fc.assert(
      fc.property(
        smallDim.chain((d) => fc.tuple(tokensOf(colsNear(d)), tokensOf(colsNear(d)), tokensOf(colsNear(d)), fc.oneof(fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 20 }).map((a) => Uint32Array.from(a)), junk))),
        fc.boolean(),
        ([x, y, m, labels], yIsX) => {
          const yy = yIsX ? x : y;
          // Often: labels of the right length for x, with values below K.
          const t = x as { shape?: number[] } | null;
          const lab = t && Array.isArray(t.shape) && labels instanceof Uint32Array ? Uint32Array.from({ length: t.shape.slice(0, -1).reduce((a, b) => a * b, 1) }, (_, i) => labels[i % Math.max(1, labels.length)] ?? 0) : labels;
          probeSync('metrics.quantizationRatio', () => api.metrics.quantizationRatio(x as never, yy as never, m as never, lab as never));
        },
      ),
      cfg(1400),
    );
  });

  it('adjustedRandIndex', () => {
    const labels = fc.oneof(
      { weight: 4, arbitrary: fc.array(fc.integer({ min: 0, max: 2 ** 32 - 1 }), { maxLength: 30 }).map((a) => Uint32Array.from(a)) },
      { weight: 3, arbitrary: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 30 }).map((a) => Uint32Array.from(a)) },
      { weight: 1, arbitrary: junk },
      { weight: 1, arbitrary: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 5 }) },
    );
    fc.assert(
      fc.property(labels, labels, fc.boolean(), (a, b, same) => {
        const bb = same && a instanceof Uint32Array ? a.map((v) => (v * 7) % 5) : b;
        probeSync('metrics.adjustedRandIndex', () => api.metrics.adjustedRandIndex(a as never, bb as never));
      }),
      cfg(1400),
    );
  });
});

describe('hostile input: baselines, threads, memory limit', () => {
  it('kmeans, kmeansAsync, em', async () => {
    await fc.assert(
      fc.asyncProperty(
        matrixOf(fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 3 })),
        size,
        optionsOf(
          fc.record(
            {
              seed,
              nInit: fc.oneof(fc.constant(undefined), fc.integer({ min: 1, max: 3 }), edgeNumber, junk),
              maxIter: fc.oneof(fc.constant(undefined), fc.integer({ min: 1, max: 50 }), fc.constantFrom(0, -1, 0.5, NaN, 2 ** 40)),
              tol: fc.oneof(fc.constant(undefined), fc.constantFrom(0, 1e-6, 1, -1, NaN, Infinity)),
              covariance: fc.constantFrom<unknown>(undefined, 'isotropic', 'diagonal', 'full', 3),
              reg: fc.oneof(fc.constant(undefined), fc.constantFrom(1e-6, 1, 0, -1, NaN, 1e300)),
              signal: fc.constantFrom<unknown>(undefined, 'signal'),
            },
            { requiredKeys: [] },
          ),
        ),
        fc.integer({ min: 0, max: 2 }),
        async (x, k, opts, which) => {
          if (which === 0) await probe('kmeans', () => api.kmeans(x as never, k as never, opts as never));
          if (which === 1) await probe('kmeansAsync', () => api.kmeansAsync(x as never, k as never, opts as never));
          if (which === 2) await probe('em', () => api.em(x as never, k as never, opts as never));
        },
      ),
      cfg(1800),
    );
  });

  it('setThreads and setMemoryLimit (restored after each call)', () => {
    fc.assert(
      fc.property(fc.oneof(size, fc.integer({ min: 1, max: 4 })), fc.oneof(size, fc.constantFrom(1, 2 ** 30, 1e12)), (n, bytes) => {
        probeSync('setThreads', () => api.setThreads(n as never));
        probeSync('getThreads', () => api.getThreads());
        api.setThreads(savedThreads);
        probeSync('setMemoryLimit', () => api.setMemoryLimit(bytes as never));
        // (a limit of Infinity is a legitimate value: the guard is off)
        probeSync('getMemoryLimit', () => api.getMemoryLimit() > 0);
        api.setMemoryLimit(LIMIT);
      }),
      cfg(600),
    );
  });
});
