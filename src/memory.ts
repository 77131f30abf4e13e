/**
 * The memory guard: a call whose buffers would exceed a limit is refused before anything is
 * allocated, with a `RangeError` that states the size and the limit.
 *
 * Every entry point that allocates in proportion to sizes the user gives (samples, prompts,
 * attention outputs and intermediates, layer outputs and gradients, baselines, fixed-sample
 * training) estimates the bytes its native call will hold at its peak — outputs, the copies an
 * asynchronous call makes of its inputs, and the intermediates the kernels keep (for example the
 * per-prompt, per-head partial results of model C's backward pass) — and compares them with the
 * limit. The estimates are upper bounds up to small per-thread work buffers.
 *
 * The limit is, in order of precedence:
 * 1. the last `setMemoryLimit(bytes)`;
 * 2. the environment variable `ATTNCLUST_MEMORY_LIMIT`, read at first use: a number of bytes,
 *    optionally with a binary unit (`4294967296`, `4GiB`, `512MiB`, `1.5G`; `K`, `M`, `G`, `T`
 *    mean KiB, MiB, GiB, TiB), or `Infinity` to disable the guard;
 * 3. half of the memory available when it is first needed: `os.freemem()` (on Linux the
 *    kernel's `MemAvailable`), or the cgroup limit of the process (`process.constrainedMemory()`)
 *    when that is smaller. The value is fixed at first use, so a call is refused or not the same
 *    way for the life of the process.
 */
import * as os from 'node:os';
import type { Dtype } from './types';

let limit: number | undefined;

const UNITS: Record<string, number> = { '': 1, b: 1, k: 2 ** 10, kib: 2 ** 10, m: 2 ** 20, mib: 2 ** 20, g: 2 ** 30, gib: 2 ** 30, t: 2 ** 40, tib: 2 ** 40 };

/** Parses `ATTNCLUST_MEMORY_LIMIT`; throws a RangeError naming it when it is not a size. */
function parseLimit(text: string): number {
  const s = text.trim();
  if (/^\+?inf(inity)?$/i.test(s)) return Infinity;
  const m = /^(\d+(?:\.\d+)?(?:e\d+)?)\s*([a-z]*)$/i.exec(s);
  const unit = m ? UNITS[(m[2] as string).toLowerCase()] : undefined;
  const value = m && unit !== undefined ? Math.floor(Number(m[1]) * unit) : NaN;
  if (!(value > 0)) {
    throw new RangeError(`\`ATTNCLUST_MEMORY_LIMIT\` must be a positive number of bytes (e.g. 4294967296, 4GiB, 512MiB or Infinity), got '${text}'`);
  }
  return value;
}

/** Half of the memory available now (the default limit). */
function defaultLimit(): number {
  let free = os.freemem();
  const constrained = (process as { constrainedMemory?: () => number | undefined }).constrainedMemory?.();
  if (typeof constrained === 'number' && constrained > 0 && Number.isFinite(constrained)) free = Math.min(free, constrained);
  return Math.max(1, Math.floor(free / 2));
}

/**
 * The memory limit in bytes (`Infinity`: no limit); see above for its default.
 *
 * @throws {RangeError} naming `ATTNCLUST_MEMORY_LIMIT` when that variable is set and is not a size
 * (read at the first call).
 */
export function getMemoryLimit(): number {
  if (limit === undefined) {
    const env = process.env.ATTNCLUST_MEMORY_LIMIT;
    limit = env !== undefined && env !== '' ? parseLimit(env) : defaultLimit();
  }
  return limit;
}

/**
 * Sets the memory limit: the most bytes one call may allocate; `Infinity` disables the guard.
 * Returns the previous limit.
 *
 * @throws {TypeError} when `bytes` is not a number.
 * @throws {RangeError} when `bytes` is not a positive integer or `Infinity`.
 */
export function setMemoryLimit(bytes: number): number {
  if (typeof bytes !== 'number') throw new TypeError(`\`bytes\` must be a number, got ${typeof bytes}`);
  if (!(bytes >= 1) || (Number.isFinite(bytes) && !Number.isInteger(bytes))) {
    throw new RangeError(`\`bytes\` must be a positive integer or Infinity, got ${bytes}`);
  }
  const previous = getMemoryLimit();
  limit = bytes;
  return previous;
}

/** `bytes` in a readable binary unit: `512 B`, `3.0 MiB`, `16.0 GiB`, `32.0 TiB`… */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return String(bytes);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  if (i === units.length - 1 && v >= 1024) return `${bytes.toExponential(2)} B`;
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

/**
 * Refuses a call whose estimated peak `bytes` exceed the limit: a RangeError naming `args` (the
 * arguments that set the size, e.g. `['batch', 'length']`) and stating the size, what it holds
 * (`what`, or a function that spells it out, called only for the error), and the limit.
 */
export function checkMemory(args: string | readonly string[], bytes: number, what: string | (() => string)): void {
  const max = getMemoryLimit();
  if (!(bytes <= max)) {
    if (typeof what === 'function') what = what();
    const names = (typeof args === 'string' ? [args] : args).map((a) => `\`${a}\``);
    throw new RangeError(
      `${names.join(' × ')} ${names.length > 1 ? 'are' : 'is'} too large: this call would need about ${formatBytes(bytes)} (${what}), ` +
        `more than the memory limit of ${formatBytes(max)}; raise it with setMemoryLimit(bytes) or ATTNCLUST_MEMORY_LIMIT, or use smaller sizes`,
    );
  }
}

/** Bytes of one value of a dtype. */
export function bytesOf(dtype: Dtype): number {
  return dtype === 'f32' ? 4 : 8;
}
