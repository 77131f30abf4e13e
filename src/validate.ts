/**
 * Argument checks. Each names the argument in backticks and says what was expected.
 */
import { choices } from './native';
import type { Dtype, Float, MatrixLike, Tensor, TokensLike } from './types';

function show(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined) return String(v);
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}`;
  return typeof v;
}

/** A number (not NaN): a TypeError for another type, a RangeError for NaN (out of range, like ±∞). */
export function number(name: string, v: unknown): number {
  if (typeof v !== 'number') throw new TypeError(`\`${name}\` must be a number, got ${show(v)}`);
  if (Number.isNaN(v)) throw new RangeError(`\`${name}\` must be a number, got NaN`);
  return v;
}

/**
 * A JS number, any value (NaN and ±∞ included): the type rule only, for values whose range the
 * native core checks (it names the argument and what it expected).
 */
export function numeric(name: string, v: unknown): number {
  if (typeof v !== 'number') throw new TypeError(`\`${name}\` must be a number, got ${show(v)}`);
  return v;
}

/** An integer in `[0, 2^32 − 1]`: what the addon's `u32` arguments accept (their range is the core's rule). */
export function u32(name: string, v: unknown): number {
  return integer(name, v, 0, 2 ** 32 - 1);
}

/** An array of JS numbers (any values: their range is the core's rule). */
export function numbers(name: string, v: unknown): number[] {
  if (!Array.isArray(v)) throw new TypeError(`\`${name}\` must be an array of numbers, got ${show(v)}`);
  for (let i = 0; i < v.length; i++) {
    if (typeof v[i] !== 'number') throw new TypeError(`\`${name}[${i}]\` must be a number, got ${show(v[i])}`);
  }
  return v as number[];
}

/** An integer in `[min, max]`. */
export function integer(name: string, v: unknown, min: number, max: number): number {
  const n = number(name, v);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new RangeError(`\`${name}\` must be an integer in [${min}, ${max}], got ${n}`);
  }
  return n;
}

/** A seed: an integer in `[0, 2^53 − 1]`. */
export function seed(name: string, v: unknown): number {
  return integer(name, v, 0, Number.MAX_SAFE_INTEGER);
}

/** A boolean (default when undefined). */
export function boolean(name: string, v: unknown, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw new TypeError(`\`${name}\` must be a boolean, got ${show(v)}`);
  return v;
}

/** One of the given strings (default when undefined). */
export function oneOf<T extends string>(name: string, v: unknown, choices: readonly T[], dflt?: T): T {
  if (v === undefined && dflt !== undefined) return dflt;
  if (typeof v !== 'string' || !(choices as readonly string[]).includes(v)) {
    throw new TypeError(`\`${name}\` must be one of ${choices.map((c) => `'${c}'`).join(', ')}, got ${show(v)}`);
  }
  return v as T;
}

/** Whether two shapes are equal, entry by entry. */
export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Levenshtein distance between `a` and `b` (insertions, deletions, substitutions; case-insensitive). */
export function editDistance(a: string, b: string): number {
  const [s, t] = [a.toLowerCase(), b.toLowerCase()];
  let prev = Array.from({ length: t.length + 1 }, (_, j) => j);
  for (let i = 1; i <= s.length; i++) {
    const cur = [i];
    for (let j = 1; j <= t.length; j++) {
      cur[j] = Math.min((prev[j] as number) + 1, (cur[j - 1] as number) + 1, (prev[j - 1] as number) + (s[i - 1] === t[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[t.length] as number;
}

/**
 * The valid key closest to `key` by edit distance (Levenshtein: insertions, deletions and
 * substitutions of one character), when it is close enough to be a plausible typo — at most 2
 * edits, or a third of the longer name — else `undefined`; the first of equally close keys in
 * `valid`'s order. `closestKey('lamda', ['dim', 'lambda'])` is `'lambda'`;
 * `closestKey('seeds', ['dim'])` is `undefined`.
 *
 * This is the rule every options object of attnclust uses to name the key an unknown one was
 * meant to be ("unknown option `lamda`; did you mean `lambda`?"), exported so that tools built on
 * the library (attnclust-lab's config files) suggest keys the same way. Time `O(|key| · Σ|valid|)`.
 *
 * Never throws.
 */
export function closestKey(key: string, valid: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of valid) {
    const d = editDistance(key, k);
    if (d < bestD) [best, bestD] = [k, d];
  }
  // A typo changes a few letters: at most 2, or a third of the longer name.
  return best !== undefined && bestD <= Math.max(2, Math.floor(Math.max(key.length, best.length) / 3)) ? best : undefined;
}

/**
 * Throws a TypeError for the first own key of `o` that is not in `keys`, naming it and the closest
 * valid key: "`options`: unknown option `lamda`; did you mean `lambda`?". A misspelled option would
 * otherwise be ignored and the call run with the default (silently wrong science).
 */
export function knownKeys(name: string, o: object, keys: readonly string[]): void {
  // for-in over the own keys (no array allocated, unlike Object.keys): this runs on every call
  for (const key in o) {
    if (!Object.prototype.hasOwnProperty.call(o, key) || keys.includes(key)) continue;
    const near = closestKey(key, keys);
    const hint = near !== undefined ? `did you mean \`${near}\`?` : keys.length === 0 ? 'it takes no option' : `valid options: ${keys.map((k) => `\`${k}\``).join(', ')}`;
    throw new TypeError(`\`${name}\`: unknown option \`${key}\`; ${hint}`);
  }
}

/**
 * A plain object (the options bag of a call) whose keys are all in `keys` (see `knownKeys`); `{}`
 * when it is undefined and not `required`. A TypeError for another type or an unknown key.
 */
export function options(name: string, v: unknown, required: boolean, keys: readonly string[]): Record<string, unknown> {
  if (v === undefined && !required) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TypeError(`\`${name}\` must be an options object, got ${show(v)}`);
  knownKeys(name, v, keys);
  return v as Record<string, unknown>;
}

/** A plain object with a string `kind` among `kinds`, whose other keys are those `keys[kind]` lists. */
export function tagged<K extends string>(name: string, v: unknown, keys: Readonly<Record<K, readonly string[]>>): { kind: K; o: Record<string, unknown> } {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TypeError(`\`${name}\` must be an options object, got ${show(v)}`);
  const o = v as Record<string, unknown>;
  const kind = oneOf(`${name}.kind`, o.kind, Object.keys(keys) as K[]);
  knownKeys(name, o, ['kind', ...keys[kind]]);
  return { kind, o };
}

/** A dtype name. */
export function dtype(name: string, v: unknown, dflt: Dtype): Dtype {
  return oneOf(name, v, choices('Dtype'), dflt);
}

/** The dtype of a float array. */
export function dtypeOf(a: Float): Dtype {
  return a instanceof Float32Array ? 'f32' : 'f64';
}

/**
 * A float array of the given dtype holding `values`. Rounding to f32 can overflow (a finite f64
 * beyond ±3.4e38 becomes ±∞): that is a RangeError naming `name`.
 */
export function floats(values: ArrayLike<number>, dt: Dtype, name = 'value'): Float {
  if (dt === 'f64') return Float64Array.from(values);
  const out = Float32Array.from(values);
  for (let i = 0; i < out.length; i++) {
    if (!Number.isFinite(out[i] as number) && Number.isFinite(values[i] as number)) {
      throw new RangeError(`\`${name}\` must fit in f32: ${values[i]} at flat index ${i} is beyond ±3.4e38`);
    }
  }
  return out;
}

/** `a` itself when it already has dtype `dt`, else a converted copy (see `floats`). */
export function as(a: Float, dt: Dtype, name = 'value'): Float {
  return dtypeOf(a) === dt ? a : floats(a, dt, name);
}

/** An array of finite numbers. */
export function finiteArray(name: string, v: unknown, length?: number): number[] {
  if (!Array.isArray(v)) throw new TypeError(`\`${name}\` must be an array of numbers, got ${show(v)}`);
  if (length !== undefined && v.length !== length) throw new TypeError(`\`${name}\` must have ${length} entries, got ${v.length}`);
  // An index loop, not forEach: a hole in a sparse array is an `undefined` entry, not skipped.
  for (let i = 0; i < v.length; i++) {
    const x: unknown = v[i];
    if (typeof x !== 'number') throw new TypeError(`\`${name}[${i}]\` must be a number, got ${show(x)}`);
    if (!Number.isFinite(x)) throw new RangeError(`\`${name}[${i}]\` must be finite, got ${x}`);
  }
  return v as number[];
}

/** Throws a RangeError naming `name` when `data` holds a non-finite value (for small tensors that
 * are stored before any native call sees them, such as parameters). */
export function finiteData(name: string, data: ArrayLike<number>): void {
  for (let i = 0; i < data.length; i++) {
    const x = data[i] as number;
    if (!Number.isFinite(x)) throw new RangeError(`\`${name}\` must be finite, got ${x} at flat index ${i}`);
  }
}

/** A checked `Tensor`: float data, integer shape, matching length, finite values. */
export function tensor(name: string, v: unknown, rank?: number | readonly number[]): Tensor {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TypeError(`\`${name}\` must be a Tensor { shape, data }, got ${show(v)}`);
  const t = v as { shape?: unknown; data?: unknown };
  if (!(t.data instanceof Float32Array || t.data instanceof Float64Array)) {
    throw new TypeError(`\`${name}.data\` must be a Float32Array or Float64Array, got ${show(t.data)}`);
  }
  if (!Array.isArray(t.shape)) throw new TypeError(`\`${name}.shape\` must be an array of non-negative integers`);
  // One pass over the shape: its entries (holes included), a copy, and the size.
  const n = t.shape.length;
  const shape = new Array<number>(n);
  let size = 1;
  for (let i = 0; i < n; i++) {
    const s: unknown = t.shape[i];
    if (!(typeof s === 'number' && Number.isInteger(s) && s >= 0)) throw new TypeError(`\`${name}.shape\` must be an array of non-negative integers`);
    shape[i] = s;
    size *= s;
  }
  if (rank !== undefined && (typeof rank === 'number' ? rank !== n : !rank.includes(n))) {
    const ranks = typeof rank === 'number' ? [rank] : rank;
    throw new TypeError(`\`${name}\` must have rank ${ranks.join(' or ')}, got shape [${t.shape.join(', ')}]`);
  }
  if (t.shape.length > 0 && size === 0 && t.data.length === 0 && (t.shape as number[]).some((s) => s > 2 ** 32 - 1)) {
    throw new RangeError(`\`${name}.shape\` has a dimension beyond 2^32 − 1: [${t.shape.join(', ')}]`);
  }
  if (size !== t.data.length) {
    throw new TypeError(`\`${name}.data\` must hold ${size} values for shape [${t.shape.join(', ')}], got ${t.data.length}`);
  }
  // Finiteness of typed-array data is checked by the native kernels (in Rust, at memory speed, or
  // after the fact from a non-finite result), not here: a JS scan would cost more than the kernel.
  return { shape, data: t.data };
}

function nestedShape(name: string, v: unknown, depth: number): number[] {
  const shape: number[] = [];
  let cur: unknown = v;
  for (let i = 0; i < depth; i++) {
    if (!Array.isArray(cur)) throw new TypeError(`\`${name}\` must be nested arrays of depth ${depth}`);
    shape.push(cur.length);
    if (cur.length === 0) break;
    cur = cur[0];
  }
  while (shape.length < depth) shape.push(0);
  return shape;
}

/** Nested arrays of numbers (rectangular) as a tensor of dtype `dt`; their values are the core's to check. */
export function fromNested(name: string, v: unknown[], depth: number, dt: Dtype): Tensor {
  const shape = nestedShape(name, v, depth);
  const size = shape.reduce((a, b) => a * b, 1);
  const data = dt === 'f32' ? new Float32Array(size) : new Float64Array(size);
  let k = 0;
  // The index of the node being read at each level; its path (`[i][j]`) is only spelled out for an error.
  const at: number[] = [];
  const path = (level: number): string => at.slice(0, level).map((i) => `[${i}]`).join('');
  const walk = (node: unknown, level: number): void => {
    if (level === depth) {
      if (typeof node !== 'number') throw new TypeError(`\`${name}${path(level)}\` must be a number, got ${show(node)}`);
      // (finiteness is the core's rule, as for typed arrays: it names the entry, `x[1][0]`)
      data[k++] = node;
      if (Number.isFinite(node) && !Number.isFinite(data[k - 1] as number)) throw new RangeError(`\`${name}${path(level)}\` must fit in f32, got ${node} (beyond ±3.4e38)`);
      return;
    }
    if (!Array.isArray(node) || node.length !== shape[level]) {
      throw new TypeError(`\`${name}${path(level)}\` must be an array of length ${shape[level]} (rows must all have the same length), got ${show(node)}`);
    }
    for (let i = 0; i < node.length; i++) {
      at[level] = i;
      walk(node[i], level + 1); // holes included
    }
  };
  walk(v, 0);
  return { shape, data };
}

/** A matrix `[n, d]` from a `Tensor` or `number[][]`; plain arrays become dtype `dt`. */
export function matrix(name: string, v: unknown, dt: Dtype = 'f64'): Tensor {
  if (Array.isArray(v)) return fromNested(name, v, 2, dt);
  return tensor(name, v, 2);
}

/** Tokens `[L, d]` or `[B, L, d]` from a `Tensor` or nested arrays. */
export function tokens(name: string, v: unknown, dt: Dtype = 'f64'): Tensor {
  if (Array.isArray(v)) {
    const depth = Array.isArray(v[0]) && Array.isArray((v[0] as unknown[])[0]) ? 3 : 2;
    return fromNested(name, v, depth, dt);
  }
  return tensor(name, v, [2, 3]);
}

export type { MatrixLike, TokensLike };
