/**
 * Errors: the native layer reports `TypeError: …` / `RangeError: …` messages; they are turned into
 * real `TypeError`/`RangeError` objects here, in one place.
 */

/** Turns an error from the native addon into the JS error class its message names. */
export function translate(e: unknown): unknown {
  if (!(e instanceof Error)) return e;
  const m = /^(TypeError|RangeError|AbortError|Error): ([\s\S]*)$/.exec(e.message);
  const code = (e as { code?: unknown }).code;
  if (m) {
    const [, kind, msg] = m;
    if (kind === 'TypeError') return new TypeError(msg);
    if (kind === 'RangeError') return new RangeError(msg);
    const err = new Error(msg);
    // A call stopped by its cancellation token without a signal (the process or worker exiting).
    if (kind === 'AbortError') err.name = 'AbortError';
    return err;
  }
  // napi-rs's own conversion errors (a wrong JS type reaching the addon).
  if (code === 'InvalidArg' || code === 'NumberExpected' || code === 'StringExpected' || code === 'ObjectExpected') {
    return new TypeError(e.message);
  }
  return e;
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
