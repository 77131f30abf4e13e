/**
 * The number of worker threads. Results never depend on it (work is cut into fixed-size chunks);
 * only speed does. The default is the number of cores, or `ATTNCLUST_THREADS`.
 *
 * **Per process.** The addon is loaded once per process and keeps one thread pool, shared by the
 * main thread and every `worker_threads` worker: `setThreads` in a worker changes the pool of the
 * whole process (and later calls from every thread use it). A per-worker pool would multiply the
 * threads by the number of workers on the same cores.
 */
import { call } from './errors';
import { native } from './native';
import * as v from './validate';

/**
 * Sets the number of worker threads used by every later call, from any thread of the process
 * (see above), `n` an integer in [1, 256].
 *
 * @throws {RangeError} naming `threads` when `n` is not an integer in [1, 256].
 */
export function setThreads(n: number): void {
  // (the range is the addon's rule)
  const k = v.u32('threads', n);
  call(() => native.setThreads(k));
}

/** The number of worker threads in use (the default: the number of cores, or `ATTNCLUST_THREADS`). Never throws. */
export function getThreads(): number {
  return call(() => native.getThreads());
}
