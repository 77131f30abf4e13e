/**
 * Numerics at the edges of the float range.
 *
 * The kernels compute in the dtype of their inputs. Large values do not overflow the softmax
 * itself (it is max-subtracted), but its scores can: `λ⟨x, x'⟩` with entries of 1e30 is 1e60·λ,
 * beyond the largest `f32` (3.4e38), and a norm `‖x‖²` overflows `f64` from entries of ≈1e154.
 * Overflowed scores would make the softmax compute `∞ − ∞ = NaN`, or silently flatten it.
 *
 * The decision (applied by identity attention, model C, the two-head layer and the metrics):
 *
 * - Before a call, a cheap bound on every intermediate it forms (scores, norms, products,
 *   accumulated sums) is computed in `f64` from the row norms of its inputs, `λ` and the sizes.
 * - **f32 inputs whose bound leaves the f32 range** (with a margin of 2⁸) are computed in `f64`:
 *   the inputs are widened exactly, the kernel runs in `f64`, and the results are rounded back to
 *   `f32`. So 1e30 inputs, or `λ` beyond the f32 range, give the correct finite result (for
 *   example the hard-attention limit) instead of NaN. When a *result* itself does not fit in f32
 *   (a gradient of 1e90, say), the call throws a `RangeError` naming `x`, saying its values are too
 *   large for f32.
 * - **f64 inputs whose bound leaves the f64 range** throw a `RangeError` naming `x` (and `λ`)
 *   that says the values overflow; nothing is computed.
 * - Every float result is checked once more before it is returned (by the core for attention and
 *   identity attention, a range error marked `numeric: 'overflow'`): no call returns NaN or ±∞.
 * - The metrics are scale-invariant, so they rescale their inputs by powers of two (exact) instead:
 *   `alignment` row by row, `centroidError` and `quantizationRatio` jointly (per prompt).
 *
 * @internal
 */
import { call } from './errors';
import { native } from './native';
import type { Dtype, Float } from './types';

/** Largest finite f32. */
export const F32_MAX = 3.4028234663852886e38;
/** Largest finite f64. */
export const F64_MAX = Number.MAX_VALUE;
/** Safety factor between a bound and the largest float. */
const MARGIN = 256;
/** Smallest `λ` used in f32 as it is (below, its f32 rounding loses precision). */
const F32_MIN_LAMBDA = 1e-30;

/** Largest finite value of a dtype. */
export function maxOf(dt: Dtype): number {
  return dt === 'f32' ? F32_MAX : F64_MAX;
}

/** Whether a bound on every intermediate fits in `dt` with the margin. */
export function fits(bound: number, dt: Dtype): boolean {
  return Number.isFinite(bound) && bound * MARGIN <= maxOf(dt);
}

/** Whether `λ` can be used as it is in f32. */
export function lambdaFitsF32(lambda: number): boolean {
  return lambda >= F32_MIN_LAMBDA && lambda * MARGIN <= F32_MAX;
}

/** Largest absolute value. */
export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const v = Math.abs(a[i] as number);
    if (v > m) m = v;
  }
  return m;
}

/** Euclidean norm of `a[from .. from + n)`, without overflow or underflow (scaled when the plain sum leaves the safe range). */
export function norm(a: ArrayLike<number>, from: number, n: number): number {
  let s = 0;
  for (let i = from; i < from + n; i++) {
    const v = a[i] as number;
    s += v * v;
  }
  if (Number.isFinite(s) && s > 1e-280) return Math.sqrt(s);
  if (Number.isNaN(s)) return NaN;
  let m = 0;
  for (let i = from; i < from + n; i++) m = Math.max(m, Math.abs(a[i] as number));
  if (m === 0 || m === Infinity) return m;
  let t = 0;
  for (let i = from; i < from + n; i++) {
    const v = (a[i] as number) / m;
    t += v * v;
  }
  return m * Math.sqrt(t);
}

/** Values from which `maxRowNorm` of a typed array is the addon's one vectorised pass. */
const NATIVE_NORM_VALUES = 2048;

/**
 * Largest row norm of a row-major `[n, d]` array (0 for no rows; NaN when a row holds a NaN). A
 * large `Float32Array`/`Float64Array` is measured by the core (`kernels::real::max_row_norm`, one
 * vectorised pass, on the pool's threads): this plain loop cost 49 ms on W7's 4096 × 256 × 16
 * tokens.
 */
export function maxRowNorm(a: ArrayLike<number>, d: number): number {
  if ((a instanceof Float32Array || a instanceof Float64Array) && a.length >= NATIVE_NORM_VALUES && d >= 1) return call(() => native.maxRowNorm(a, d));
  let m = 0;
  if (d <= 0) return 0;
  for (let i = 0; i + d <= a.length; i += d) m = Math.max(m, norm(a, i, d));
  return m;
}

/** A widened (f64) copy of an f32 array, or the array itself. */
export function widen(a: Float): Float64Array {
  return a instanceof Float64Array ? a : Float64Array.from(a);
}

/**
 * The results of a widened computation rounded back to `dt`; a RangeError naming `arg` when one
 * does not fit (`what` says which result).
 */
export function narrow(a: Float, dt: Dtype, arg: string, what: string): Float {
  if (dt === 'f64' || a instanceof Float32Array) return a;
  const out = Float32Array.from(a);
  for (let i = 0; i < out.length; i++) {
    if (!Number.isFinite(out[i] as number)) {
      throw new RangeError(`\`${arg}\` has values too large for f32: ${what} reaches ${(a[i] as number).toExponential(3)}, beyond the f32 range (±3.4e38); use f64 inputs or rescale \`${arg}\``);
    }
  }
  return out;
}

/** A RangeError for inputs whose intermediates would overflow f64. */
export function overflow(arg: string, detail: string): RangeError {
  return new RangeError(`\`${arg}\` has values too large: ${detail} would overflow f64 (±1.8e308); rescale \`${arg}\``);
}

/** Checks that every value of a result is finite; a RangeError naming `arg` otherwise. */
export function checkResult(a: ArrayLike<number>, arg: string, what: string): void {
  for (let i = 0; i < a.length; i++) {
    const v = a[i] as number;
    if (!Number.isFinite(v)) throw new RangeError(`\`${arg}\` has values too large: ${what} overflows (got ${v} at index ${i})`);
  }
}

/** Checks that a scalar result is finite; a RangeError naming `arg` otherwise. */
export function checkScalar(v: number, arg: string, what: string): number {
  if (!Number.isFinite(v)) throw new RangeError(`\`${arg}\` has values too large: ${what} overflows (got ${v})`);
  return v;
}
