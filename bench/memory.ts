/**
 * W3's memory: run by `bench/compare.ts` as a fresh child process (`node dist/bench/memory.js
 * [threads]`), prints one JSON line `{ extraMemoryMiB, seconds, method }`.
 *
 * Method (Linux): start the thread pool on a small prompt, make the W3 input (`1 × 16384 × 64`
 * `f32`, 4 MiB), read `VmRSS` from `/proc/self/status`, reset the resident-set high-water mark by
 * writing `5` to `/proc/self/clear_refs` (it becomes the current `VmRSS`), run W3 once, read `VmHWM`:
 * the extra memory is `VmHWM − VmRSS before`, the peak resident memory of the call above what the
 * process held with its inputs (the 4 MiB output included). Where `clear_refs` cannot be written the
 * fallback is `VmHWM after − VmHWM before`, a lower bound (reported as such in `method`).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { identityAttentionSync, setThreads } from '../src/index';
import { LAMBDA, prompts, SIZES } from './workloads';

function status(field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  if (!m) throw new Error(`no ${field} in /proc/self/status`);
  return Number(m[1]) * 1024;
}

function main(): void {
  const threads = Number(process.argv[2] ?? 0);
  if (threads > 0) setThreads(threads);
  identityAttentionSync(prompts(1, 256, 9), { lambda: LAMBDA }); // starts the pool
  const x = prompts(SIZES.W3.b, SIZES.W3.l, 4);
  const rss = status('VmRSS');
  const hwmBefore = status('VmHWM');
  let exact = true;
  try {
    writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    exact = false;
  }
  const t0 = process.hrtime.bigint();
  const y = identityAttentionSync(x, { lambda: LAMBDA });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const hwm = status('VmHWM');
  const extra = exact ? hwm - rss : hwm - hwmBefore;
  process.stdout.write(
    `${JSON.stringify({
      extraMemoryMiB: Math.max(0, extra) / 2 ** 20,
      seconds,
      outputMiB: y.data.byteLength / 2 ** 20,
      method: exact ? 'VmHWM after one call - VmRSS before it (VmHWM reset by /proc/self/clear_refs)' : 'VmHWM after - VmHWM before (no clear_refs: a lower bound)',
    })}\n`,
  );
}

main();
