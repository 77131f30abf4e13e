/**
 * Sweep grids: points as plain JSON objects, their canonical form, the seed each point runs with,
 * the order points are expanded and merged in, and which shard runs which point.
 *
 * Everything here is pure and deterministic, so every shard process (on any machine) agrees on the
 * list of points, their seeds and their assignment to shards.
 */
import { createHash } from 'node:crypto';

/** A JSON value (what a grid value can be). */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** One point of a sweep: grid field → value. */
export type Point = Record<string, Json>;

/** A grid: its fields in the order they were written, each with its values in order. */
export type Grid = readonly (readonly [field: string, values: readonly Json[]])[];

/**
 * The canonical JSON of a value: object keys sorted (by UTF-16 code units) at every depth, no
 * whitespace. Two points are the same point exactly when their canonical JSON is equal.
 */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
}

/** Bits of a derived seed (see {@link pointSeed}). */
export const SEED_BITS = 40;

/**
 * The seed a point runs with: the first {@link SEED_BITS} bits of the SHA-256 of its canonical
 * JSON (UTF-8), as an integer in `[0, 2^40)`. In Python:
 * `int.from_bytes(hashlib.sha256(s.encode()).digest()[:8], 'big') >> 24`.
 *
 * 40 bits, not 53: experiments derive per-run seeds as `seed · 1000 + r`, which must stay an exact
 * integer (below 2^53). Two points of a 10⁴-point sweep share a seed with probability ~5·10⁻⁵.
 */
export function pointSeed(point: Point): number {
  const h = createHash('sha256').update(canonicalJson(point), 'utf8').digest();
  return Number(h.readBigUInt64BE(0) >> BigInt(64 - SEED_BITS));
}

/**
 * The points of a grid, as nested loops: the first field is the outermost loop, the last field
 * varies fastest, and each field's values come in the order written. Point `j` of a grid with
 * value counts `n_1 … n_m` has value index `⌊j / (n_{f+1}·…·n_m)⌋ mod n_f` in field `f`. An empty
 * grid has one point, `{}`.
 */
export function expandGrid(grid: Grid): Point[] {
  let points: Point[] = [{}];
  for (const [field, values] of grid) {
    const next: Point[] = [];
    for (const p of points) for (const v of values) next.push({ ...p, [field]: v });
    points = next;
  }
  return points;
}

/** A shard: `index` of `count` (0-based). */
export interface Shard {
  index: number;
  count: number;
}

/** Parses `i/n` (0 ≤ i < n); throws a `RangeError` naming `--shard` otherwise. */
export function parseShard(s: string): Shard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(s);
  if (!m) throw new RangeError(`\`--shard\` must be i/n with 0 ≤ i < n (e.g. 0/3), got '${s}'`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(count) || count < 1 || index >= count) {
    throw new RangeError(`\`--shard\` must be i/n with 0 ≤ i < n (e.g. 0/3), got '${s}'`);
  }
  return { index, count };
}

/** The indices (into the expanded grid) of the points shard `index`/`count` runs: `j ≡ index (mod count)`. */
export function shardIndices(total: number, shard: Shard): number[] {
  const out: number[] = [];
  for (let j = shard.index; j < total; j += shard.count) out.push(j);
  return out;
}

const TYPE_RANK: Record<string, number> = { null: 0, boolean: 1, number: 2, string: 3, array: 4, object: 5 };

function kind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/** Orders JSON values: by type (null, booleans, numbers, strings, arrays, objects), numbers numerically, strings by code units, arrays and objects by canonical JSON. */
export function compareJson(a: unknown, b: unknown): number {
  const ka = kind(a);
  const kb = kind(b);
  if (ka !== kb) return (TYPE_RANK[ka] ?? 9) - (TYPE_RANK[kb] ?? 9);
  if (ka === 'number') return (a as number) - (b as number);
  if (ka === 'boolean') return Number(a) - Number(b);
  const sa = ka === 'string' ? (a as string) : canonicalJson(a);
  const sb = kb === 'string' ? (b as string) : canonicalJson(b);
  return sa < sb ? -1 : sa > sb ? 1 : 0;
}

/**
 * The order of merged results: field by field in alphabetical order of field name, each compared
 * with {@link compareJson} (numbers numerically, so λ = 0.3 comes before λ = 1 and 10), a point
 * lacking a field before one having it; ties broken by canonical JSON. A total order.
 */
export function comparePoints(a: Point, b: Point): number {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  for (const k of keys) {
    const ha = k in a;
    const hb = k in b;
    if (ha !== hb) return ha ? 1 : -1;
    const c = compareJson(a[k], b[k]);
    if (c !== 0) return c;
  }
  const ca = canonicalJson(a);
  const cb = canonicalJson(b);
  return ca < cb ? -1 : ca > cb ? 1 : 0;
}
