/**
 * Cancellation with an `AbortSignal`.
 *
 * Cancellation lives in the native core: every async call runs under a token that its kernels
 * check at each chunk boundary (a block of queries, a chunk of samples, a training step, a k-means
 * pass). The signal's `abort` event sets the token, and the call rejects with an `AbortError`
 * within one chunk (measured in test/hostile-abort.test.ts). The addon also stops every call in
 * flight when the process exits (`process.exit()`, through the `exit` event registered in
 * `native.ts`) or when a worker's environment is torn down (`worker.terminate()`).
 *
 * @internal
 */
import { abortError } from './errors';
import { native, type Native } from './native';

/** Most training steps per native call: a call returns one risk (or loss) per step, so this bounds that array. */
export const MAX_CALL_STEPS = 1 << 16;

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
 * `work(token)` with a native token that `signal` sets when it fires: rejects with the signal's
 * AbortError when it fired (at once, without starting the work, when it already had).
 */
export async function cancellable<T>(signal: AbortSignal | undefined, work: (token: Native.CancelToken | undefined) => Promise<T>): Promise<T> {
  throwIfAborted(signal);
  if (signal === undefined) return work(undefined);
  const token = new native.CancelToken();
  const onAbort = (): void => token.cancel();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await work(token);
  } catch (e) {
    if (signal.aborted) throw abortError(signal);
    throw e;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
