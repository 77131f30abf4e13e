/**
 * Model B, identity attention: `Y = softmax_rows(λ X Xᵀ) X` (`W_Q = W_K = W_V = I`), the layer that
 * quantizes a prompt in context with no trainable parameter.
 *
 * Scores are `λ⟨x_i, x_j⟩` ('dot') or `−λ‖x_i − x_j‖²/2` ('distance'); `excludeSelf` masks the
 * diagonal; `depth` applies the layer repeatedly, `residual` makes each application
 * `X ← X + Attn(X)`. The softmax is max-subtracted: no `λ` overflows it.
 */
import { abortError, call, callAsync } from './errors';
import { native, type Native } from './native';
import type { IdentityAttentionOptions, Tensor, TokensLike } from './types';
import * as v from './validate';

function prepare(x: unknown, opts: unknown): { t: Tensor; b: number; l: number; d: number; o: Native.IdentityOptions; signal?: AbortSignal } {
  const t = v.tokens('x', x);
  const o = v.options('options', opts, false);
  const [b, l, d] = (t.shape.length === 3 ? t.shape : [1, ...t.shape]) as [number, number, number];
  if (d < 1) throw new RangeError(`\`x\` must have at least one coordinate per token, got shape [${t.shape.join(', ')}]`);
  const excludeSelf = v.boolean('excludeSelf', o.excludeSelf, false);
  if (excludeSelf && l === 1) throw new RangeError('`excludeSelf` needs prompts of at least 2 tokens, got 1');
  const signal = o.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError('`signal` must be an AbortSignal');
  return {
    t,
    b,
    l,
    d,
    o: {
      lambda: o.lambda === undefined ? 1 / Math.sqrt(d) : v.positive('lambda', o.lambda),
      scores: v.oneOf('scores', o.scores, ['dot', 'distance'] as const, 'dot'),
      excludeSelf,
      depth: o.depth === undefined ? 1 : v.integer('depth', o.depth, 1, 4096),
      residual: v.boolean('residual', o.residual, false),
    },
    signal,
  };
}

/** Identity attention on `[L, d]` or `[B, L, d]` tokens, off the event loop. Same shape and dtype out. */
export async function identityAttention(x: TokensLike, opts: IdentityAttentionOptions = {}): Promise<Tensor> {
  const a = prepare(x, opts);
  if (a.signal?.aborted) throw abortError(a.signal);
  try {
    const y = await callAsync(() => native.identityAttention(a.t.data, a.b, a.l, a.d, a.o, a.signal));
    return { shape: a.t.shape, data: y };
  } catch (e) {
    if (a.signal?.aborted) throw abortError(a.signal);
    throw e;
  }
}

/** Identity attention, on the calling thread (for small inputs). */
export function identityAttentionSync(x: TokensLike, opts: Omit<IdentityAttentionOptions, 'signal'> = {}): Tensor {
  const a = prepare(x, opts);
  return { shape: a.t.shape, data: call(() => native.identityAttentionSync(a.t.data, a.b, a.l, a.d, a.o)) };
}
