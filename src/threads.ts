/**
 * The number of worker threads. Results never depend on it (work is cut into fixed-size chunks);
 * only speed does. The default is the number of cores, or `ATTNCLUST_THREADS`.
 */
import { call } from './errors';
import { native } from './native';
import * as v from './validate';

/** Sets the number of worker threads used by every later call. */
export function setThreads(n: number): void {
  const k = v.integer('threads', n, 1, 256);
  call(() => native.setThreads(k));
}

/** The number of worker threads in use. */
export function getThreads(): number {
  return call(() => native.getThreads());
}
