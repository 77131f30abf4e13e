/**
 * Progress on stderr: a cli-progress bar on a terminal, plain lines (start, every 25 %, end) when
 * stderr is not a terminal (CI logs, pipes).
 */
import { SingleBar, Presets } from 'cli-progress';
import type { Progress } from '../experiments/common';

/** A progress reporter for this process's stderr. */
export function stderrProgress(quiet = false): Progress {
  if (quiet) return { start() {}, tick() {}, stop() {} };
  if (process.stderr.isTTY) {
    let bar: SingleBar | undefined;
    return {
      start(label, total) {
        bar?.stop();
        bar = new SingleBar({ format: `${label.padEnd(28)} [{bar}] {value}/{total} {eta_formatted}`, stream: process.stderr, hideCursor: true, clearOnComplete: false }, Presets.shades_classic);
        bar.start(total, 0);
      },
      tick(n = 1) {
        bar?.increment(n);
      },
      stop() {
        bar?.stop();
        bar = undefined;
      },
    };
  }
  let label = '';
  let total = 0;
  let done = 0;
  let nextMark = 0;
  let t0 = 0;
  return {
    start(l, t) {
      label = l;
      total = t;
      done = 0;
      nextMark = 0.25;
      t0 = performance.now();
      process.stderr.write(`${label}: 0/${total}\n`);
    },
    tick(n = 1) {
      done += n;
      if (total > 0 && done / total >= nextMark && done < total) {
        process.stderr.write(`${label}: ${done}/${total}\n`);
        while (done / total >= nextMark) nextMark += 0.25;
      }
    },
    stop() {
      process.stderr.write(`${label}: ${done}/${total} done in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    },
  };
}
