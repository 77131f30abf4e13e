/**
 * Cancellation with an `AbortSignal`.
 *
 * Long calls run in chunks and check their signal between chunks (training: a chunk of steps;
 * identity attention and model C's forward: a block of prompts and layers). A call that runs as
 * one native task (sampling, model C's backward, k-means) is raced against its signal: it rejects
 * with an `AbortError` as soon as the signal fires, and the task, which cannot be stopped midway,
 * finishes in the background and its result is dropped.
 *
 * @internal
 */
import { abortError } from './errors';

/** The `signal` option: undefined or an `AbortSignal` (a TypeError naming `signal` otherwise). */
export function signalOf(v: unknown): AbortSignal | undefined {
  if (v !== undefined && !(v instanceof AbortSignal)) throw new TypeError('`signal` must be an AbortSignal');
  return v;
}

/** Throws the AbortError of `signal` when it has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}

/**
 * `work()`, rejected with an AbortError as soon as `signal` fires (or at once when it already has,
 * without starting the work).
 */
export async function raced<T>(signal: AbortSignal | undefined, work: () => Promise<T>): Promise<T> {
  throwIfAborted(signal);
  const p = work();
  if (signal === undefined) return p;
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
  });
  // The work's own outcome is observed even after an abort (no unhandled rejection).
  p.catch(() => undefined);
  try {
    return await Promise.race([p, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort!);
  }
}
