/**
 * Model B, identity attention: `Y = softmax_rows(λ X Xᵀ) X` (`W_Q = W_K = W_V = I`), the layer that
 * quantizes a prompt in context with no trainable parameter.
 *
 * Scores are `λ⟨x_i, x_j⟩` ('dot') or `−λ‖x_i − x_j‖²/2` ('distance'); `excludeSelf` masks the
 * diagonal; `depth` applies the layer repeatedly, `residual` makes each application
 * `X ← X + Attn(X)`. The softmax is max-subtracted: no `λ` overflows it.
 *
 * Edges of the float range (see `numerics.ts`): when the scores could leave the f32 range (entries
 * of 1e20 and more, or `λ` beyond it) an f32 input is computed in f64 and the result rounded back;
 * when they could leave the f64 range the call throws a RangeError naming `x`. With `residual` the
 * tokens can double at each application, so a deep residual stack is bounded layer by layer.
 * Distance scores are formed as `λ⟨x_i, x_j⟩ − λ‖x_j‖²/2` while that is accurate: its rounding grows
 * with the spread `λ·max‖x_i‖²`, so the core attends an f32 prompt in f64 past its
 * `DISTANCE_F32_SPREAD`, and past `DISTANCE_F64_SPREAD` forms the scores from the differences
 * `−λ/2·Σ_f (x_if − x_jf)²` in f64, exact to a few ulps of the scores at every `λ` (a saturated
 * `λ` with `excludeSelf` gives each token its nearest other token); both bounds and their measured
 * errors are in `crates/attnclust-core/src/models/identity.rs`, and its peak-bytes estimate counts
 * the buffers of each form.
 *
 * Cancellation: the async form's `signal` stops the native kernel at its next block of queries.
 */
import { cancellable, signalOf } from './cancel';
import { call, callAsync } from './errors';
import { checkMemory } from './memory';
import { choices, native, resultArray, SMALL_RESULT_BYTES, type Native } from './native';
import { fits, lambdaFitsF32, maxRowNorm, narrow, overflow, widen } from './numerics';
import type { Dtype, Float, IdentityAttentionOptions, Tensor, TokensLike } from './types';
import * as v from './validate';

/** The options of `identityAttention`. */
const IDENTITY_KEYS = ['lambda', 'scores', 'excludeSelf', 'depth', 'residual', 'signal'] as const;

interface Prepared {
  t: Tensor;
  b: number;
  l: number;
  d: number;
  o: Native.IdentityOptions;
  signal?: AbortSignal;
  /** The input's dtype. */
  dtype: Dtype;
  /** The dtype the kernel runs in. */
  compute: Dtype;
  /** Apply the layers one by one, checking the bound before each (deep residual stacks). */
  stepwise: boolean;
}

/** A bound on every intermediate of one application to tokens of norm ≤ `r` (scores, norms, sums). */
function layerBound(r: number, lambda: number, scores: string, l: number): number {
  const s = scores === 'dot' ? 1 : 1.5; // distance: λ⟨x, x'⟩ plus the bias λ‖x'‖²/2
  return Math.max(r * r, 2 * s * lambda * r * r, l * r);
}

function tooLarge(r: number, lambda: number): RangeError {
  return overflow('x', `the scores λ‖x‖² ≈ ${(lambda * r * r).toExponential(2)} (\`lambda\` = ${lambda}, largest ‖x_i‖ = ${r.toExponential(2)})`);
}

/** The core's largest depth, read once. */
let maxDepthValue: number | undefined;
function maxDepth(): number {
  return (maxDepthValue ??= native.identityMaxDepth());
}

/**
 * The kernel's peak bytes (computed in the core), remembered for the last sizes asked: a loop of
 * small calls on one shape asks the addon once. The thread count is part of the key (per-thread
 * scratch), read each time because another worker can change it.
 */
const lastPeak = { b: -1, l: -1, d: -1, compute: '', threads: -1, bytes: 0 };
function peakBytes(b: number, l: number, d: number, compute: Dtype): number {
  const threads = native.getThreads();
  const c = lastPeak;
  if (c.b !== b || c.l !== l || c.d !== d || c.compute !== compute || c.threads !== threads) {
    const bytes = call(() => native.identityPeakBytes(b, l, d, compute));
    Object.assign(c, { b, l, d, compute, threads, bytes });
  }
  return c.bytes;
}

/** One native application of the layer(s) on the calling thread. */
function runSync(cur: Float, a: Prepared, depth: number): Float {
  const o = a.o;
  return call(() => native.identityAttentionSync(cur, a.b, a.l, a.d, o.lambda, o.scores, o.excludeSelf, depth, o.residual));
}

function prepare(x: unknown, opts: unknown): Prepared {
  const t = v.tokens('x', x);
  const o = v.options('options', opts, false, IDENTITY_KEYS);
  const [b, l, d] = (t.shape.length === 3 ? t.shape : [1, ...t.shape]) as [number, number, number];
  // (d ≥ 1, λ > 0, the depth's range and `excludeSelf` with one-token prompts are the core's rules)
  const signal = signalOf(o.signal);
  const io: Native.IdentityOptions = {
    lambda: o.lambda === undefined ? 1 / Math.sqrt(d) : v.numeric('lambda', o.lambda),
    scores: v.oneOf('scores', o.scores, choices('Scores'), 'dot'),
    excludeSelf: v.boolean('excludeSelf', o.excludeSelf, false),
    depth: o.depth === undefined ? 1 : v.u32('depth', o.depth),
    residual: v.boolean('residual', o.residual, false),
  };
  const dtype = v.dtypeOf(t.data);
  // Norms can double at each residual application; without residual they never grow.
  const r = maxRowNorm(t.data, d);
  const rg = r === 0 ? 0 : r * (io.residual ? 2 ** io.depth : 1);
  const bound = Math.max(layerBound(rg / 2, io.lambda, io.scores, l), layerBound(r, io.lambda, io.scores, l), rg);
  let compute: Dtype = dtype;
  let stepwise = false;
  // (non-finite entries and an invalid λ or depth are left for the addon to report, naming them)
  const valid = Number.isFinite(r) && Number.isFinite(io.lambda) && io.lambda > 0 && io.depth >= 1 && io.depth <= maxDepth();
  if (valid && dtype === 'f32' && !(fits(bound, 'f32') && lambdaFitsF32(io.lambda))) compute = 'f64';
  if (valid && !fits(bound, 'f64')) {
    if (!(io.residual && io.depth > 1)) throw tooLarge(r, io.lambda);
    compute = 'f64';
    stepwise = true;
  }
  // Peak bytes: the kernel's (computed beside it, in the core) in the compute type, and a widened
  // input and the rounded output when f32 is computed in f64.
  const n = b * l * d;
  const peak = peakBytes(b, l, d, compute);
  checkMemory('x', peak + (compute !== dtype ? n * 12 : 0), () => `${b} × ${l} × ${d} ${compute} values, three times`);
  return { t, b, l, d, o: io, signal, dtype, compute, stepwise };
}

/** Before an application in a stepwise run: the bound with the tokens' current norms. */
function checkStep(a: Prepared, cur: Float): void {
  const r = maxRowNorm(cur, a.d);
  if (!fits(Math.max(layerBound(r, a.o.lambda, a.o.scores, a.l), 2 * r), 'f64')) throw tooLarge(r, a.o.lambda);
}

/** The result in the caller's dtype (the core refuses a non-finite output itself, as an overflow). */
function finish(a: Prepared, y: Float): Tensor {
  return { shape: a.t.shape, data: narrow(y, a.dtype, 'x', 'the output') };
}

/**
 * Identity attention (model B of arXiv 2505.13112, SPEC §3) on `[L, d]` or `[B, L, d]` tokens, off
 * the event loop: each prompt `X` becomes `softmax_rows(S) X`, `depth` times. Same shape and dtype
 * out. The kernel is tiled with an online softmax (FlashAttention-2, Dao 2023): the `L × L` scores
 * are never stored. `signal` stops it within one block of 64 queries.
 *
 * @throws {TypeError} when `x` is not a 2-D or 3-D array or tensor, `opts` has an unknown key (named,
 * with the closest valid key), or `signal` is not an `AbortSignal`.
 * @throws {RangeError} when `x` is not finite, `lambda` is not positive and finite, `depth` is not
 * an integer in [1, 4096], `excludeSelf` is set with `L < 2`, the values are too large for the
 * scores in f64, or the call exceeds the memory limit.
 * @throws {Error} named `'AbortError'` (a rejection) when `signal` aborts.
 */
export async function identityAttention(x: TokensLike, opts: IdentityAttentionOptions = {}): Promise<Tensor> {
  const a = prepare(x, opts);
  const data = a.compute === 'f64' ? widen(a.t.data) : a.t.data;
  return cancellable(a.signal, async (token) => {
    const run = (cur: Float, depth: number): Promise<Float> => callAsync(() => native.identityAttention(cur, a.b, a.l, a.d, { ...a.o, depth }, token));
    if (!a.stepwise) return finish(a, await run(data, a.o.depth));
    // A deep residual stack near the f64 range: one application at a time, each checked first.
    let cur: Float = data;
    for (let done = 0; done < a.o.depth; done++) {
      checkStep(a, cur);
      cur = await run(cur, 1);
    }
    return finish(a, cur);
  });
}

/**
 * `identityAttention` on the calling thread (for small inputs; it blocks the event loop).
 *
 * Blocks the calling thread, without a signal: in a worker, `worker.terminate()` stops it (≈ 10 ms and
 * one chunk of work); on the main thread nothing stops it, so use the async form for long work.
 *
 * @throws {TypeError} as `identityAttention`.
 * @throws {RangeError} as `identityAttention`.
 */
export function identityAttentionSync(x: TokensLike, opts: Omit<IdentityAttentionOptions, 'signal'> = {}): Tensor {
  const a = prepare(x, opts);
  const data = a.compute === 'f64' ? widen(a.t.data) : a.t.data;
  if (!a.stepwise && a.compute === a.dtype && data.byteLength <= SMALL_RESULT_BYTES) {
    // a small result: an array made here, filled by the addon (see SMALL_RESULT_BYTES)
    const y = resultArray(a.dtype, data.length);
    const o = a.o;
    call(() => native.identityAttentionIntoSync(data, y, a.b, a.l, a.d, o.lambda, o.scores, o.excludeSelf, o.depth, o.residual));
    return { shape: a.t.shape, data: y };
  }
  if (!a.stepwise) return finish(a, runSync(data, a, a.o.depth));
  let cur: Float = data;
  for (let done = 0; done < a.o.depth; done++) {
    checkStep(a, cur);
    cur = runSync(cur, a, 1);
  }
  return finish(a, cur);
}
