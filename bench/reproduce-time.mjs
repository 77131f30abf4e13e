#!/usr/bin/env node
/**
 * Where `npm run reproduce` spends its time: runs the lab's experiments one after the other in one
 * process, as `attnclust reproduce` does, and prints per experiment its wall time, the process CPU
 * time it used (every thread: the main thread and the worker pool), and the floor that CPU time
 * sets on the wall time with `threads` threads (CPU / threads: what a perfectly parallel run on
 * otherwise idle cores would take). Wall time depends on the other load of a shared machine; CPU
 * time much less, so the floor column is the comparable one between runs. The load average is
 * printed before and after.
 *
 *     npm run build && node bench/reproduce-time.mjs [--scale default] [--only e1,e9] [--out dir] [--threads n]
 *
 * With `--out`, each experiment's report files are written there (as `attnclust reproduce --out`
 * would; not timed), e.g. to diff two builds' outputs.
 */
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';

const require = createRequire(import.meta.url);
const { EXPERIMENTS, findExperiment } = require('../packages/lab/dist/src/experiments/index.js');
const { resolveConfig, runExperiment } = require('../packages/lab/dist/src/experiments/runner.js');
const { silent } = require('../packages/lab/dist/src/experiments/common.js');
const { writeExperiment } = require('../packages/lab/dist/src/report/write.js');
const { getThreads, setThreads } = require('attnclust');

function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : def;
}

const scale = arg('--scale', 'default');
const only = arg('--only', undefined);
const out = arg('--out', undefined);
if (process.argv.includes('--threads')) setThreads(Number(arg('--threads', '2')));
const threads = getThreads();
const ids = only ? only.split(',') : EXPERIMENTS.map((e) => e.id);
const load = () => loadavg().map((v) => v.toFixed(2)).join(' ');

console.log(`scale ${scale}, ${threads} threads, load average before: ${load()}`);
console.log('exp     wall s    CPU s   floor s (CPU/threads)');
let [wall, cpu] = [0, 0];
for (const id of ids) {
  const exp = findExperiment(id);
  if (!exp) throw new Error(`unknown experiment ${id}`);
  const config = resolveConfig(exp, scale, {});
  const c0 = process.cpuUsage();
  const r = await runExperiment(exp, scale, config, { progress: silent });
  const c = process.cpuUsage(c0);
  const s = (c.user + c.system) / 1e6;
  [wall, cpu] = [wall + r.seconds, cpu + s];
  console.log(`${id.padEnd(4)} ${r.seconds.toFixed(2).padStart(9)} ${s.toFixed(2).padStart(8)} ${(s / threads).toFixed(2).padStart(9)}`);
  if (out) await writeExperiment(r, out);
}
console.log(`all  ${wall.toFixed(2).padStart(9)} ${cpu.toFixed(2).padStart(8)} ${(cpu / threads).toFixed(2).padStart(9)}`);
console.log(`load average after: ${load()}`);
