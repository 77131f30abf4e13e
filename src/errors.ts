/**
 * Errors: the native addon throws real `TypeError` / `RangeError` objects (and an `Error` named
 * `AbortError` for a call stopped by the process or worker exiting) whose message names the JS
 * argument, with `argument`, `expected`, `got` and `code` properties (and `numeric`, `'overflow'` or
 * `'underflow'`, on a RangeError whose inputs were valid but whose result left the floating-point
 * range): they are built in Rust (crates/attnclust-node/src/errors.rs) and pass through unchanged. Only napi-rs's own argument
 * conversion errors (a wrong JS type reaching the addon, told apart by their `code`) become
 * TypeErrors here.
 */

/** napi-rs's codes for a JS value of the wrong type. */
const CONVERSION_CODES: ReadonlySet<unknown> = new Set(['InvalidArg', 'NumberExpected', 'StringExpected', 'ObjectExpected', 'BooleanExpected', 'ArrayExpected']);

/** `e`, or a TypeError for one of napi-rs's conversion errors. */
export function translate(e: unknown): unknown {
  if (e instanceof Error && !(e instanceof TypeError) && CONVERSION_CODES.has((e as { code?: unknown }).code)) return new TypeError(e.message);
  return e;
}

/**
 * Whether `e` is the addon's report that a result left the floating-point range (`which` of them,
 * or either when not given): the cue for a rescale-and-retry, read from the error's `numeric`
 * property, never from its message.
 */
export function isNumericFault(e: unknown, which?: 'overflow' | 'underflow'): boolean {
  if (!(e instanceof RangeError)) return false;
  const n = (e as { numeric?: unknown }).numeric;
  return which === undefined ? n === 'overflow' || n === 'underflow' : n === which;
}

/** Calls `f`, translating native errors. */
export function call<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw translate(e);
  }
}

/** Awaits `f()`, translating native errors. */
export async function callAsync<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw translate(e);
  }
}

/** The error a cancelled call rejects with. */
export function abortError(signal: AbortSignal | undefined): unknown {
  const reason: unknown = signal?.reason;
  if (reason instanceof Error && reason.name === 'AbortError') return reason;
  const e = new Error('The operation was aborted', { cause: reason });
  e.name = 'AbortError';
  return e;
}
