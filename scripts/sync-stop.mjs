#!/usr/bin/env node
// How long a long *synchronous* call holds `worker.terminate()` and `process.exit()`.
//
//   node scripts/sync-stop.mjs [runs=10] [workload …]     (needs a built package: `npm run build`)
//
// For each workload, `runs` times: a worker starts the synchronous call (seconds of work), says so
// just before, and is terminated 300 ms later; the time `await worker.terminate()` takes is
// measured (it includes Node's own teardown of the worker: ≈ 5–30 ms for a small heap, 200–300 ms
// for a worker holding 1 GB of typed arrays, whatever it was doing). One more run per workload times the whole call on an untouched worker (the time the
// terminate would be held without the stop). Then, `runs` times, a process whose worker is in
// `identityAttentionSync` calls `process.exit()` from its main thread: the time from the call to
// the process's end is measured. Prints one JSON line per measurement and a summary table (max and
// median, ms). Run it with another Node binary (`node-matrix`) to measure that Node line.
// Workloads `SIGINT`, `SIGTERM`, `SIGINT+handler`, `SIGTERM+handler` (not in the default list)
// send the signal to a process whose *main thread* is in `identityAttentionSync`, without and with
// a `process.on(signal)` handler, and time how long the process takes to end.
import { spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Worker code for each workload: `prep` builds the inputs, `call` is the long synchronous call. */
export const workloads = {
  identityAttentionSync: {
    prep: `const x = { shape: [1, 16384, 64], data: Float32Array.from({ length: 16384 * 64 }, (_, i) => Math.sin(i * 0.37)) };`,
    call: `api.identityAttentionSync(x)`,
  },
  attentionSync: {
    prep: `const w = api.identityWeights(16, { heads: 2 }); const x = { shape: [64, 2048, 16], data: Float32Array.from({ length: 64 * 2048 * 16 }, (_, i) => Math.sin(i * 0.37)) };`,
    call: `api.attentionSync(x, w)`,
  },
  attentionBackwardSync: {
    prep: `const w = api.identityWeights(32, { heads: 1 }); const x = { shape: [1, 12288, 32], data: Float32Array.from({ length: 12288 * 32 }, (_, i) => Math.sin(i * 0.11)) };`,
    call: `api.attentionBackwardSync(x, w, x)`,
  },
  sample: {
    prep: `const gmm = api.GaussianMixture.isotropic({ means: [Array(64).fill(0), Array(64).fill(1)], sigma: 1 });`,
    call: `gmm.sample(3000000, { seed: 0, dtype: 'f32' })`,
  },
  kmeans: {
    prep: `const gmm = api.GaussianMixture.isotropic({ means: [Array(32).fill(0), Array(32).fill(1)], sigma: 1 }); const pts = gmm.sample(200000, { seed: 1 }).x;`,
    call: `api.kmeans(pts, 64, { seed: 0, nInit: 1, maxIter: 10, tol: 0 })`,
  },
  em: {
    prep: `const gmm = api.GaussianMixture.isotropic({ means: [Array(32).fill(0), Array(32).fill(1)], sigma: 1 }); const pts = gmm.sample(20000, { seed: 1 }).x;`,
    call: `api.em(pts, 32, { seed: 0, maxIter: 10, tol: 0 })`,
  },
  'TwoHeadLayer.gradient': {
    prep: `const gmm = api.GaussianMixture.isotropic({ means: [Array(64).fill(0), Array(64).fill(1)], sigma: 1 }); const pts = gmm.sample(250000, { seed: 1, dtype: 'f32' }).x; const layer = new api.TwoHeadLayer({ dim: 64, heads: 64, lambda: 1, dtype: 'f32' });`,
    call: `layer.gradient(pts)`,
  },
};

const workerCode = (w, timeIt) => `
  const { parentPort } = require('node:worker_threads');
  const api = require(${JSON.stringify(root)});
  ${w.prep}
  parentPort.postMessage('started');
  const t0 = performance.now();
  let outcome = 'returned';
  try { ${w.call}; } catch (e) { outcome = e.name + ': ' + e.message; }
  parentPort.postMessage({ ms: performance.now() - t0, outcome, timed: ${timeIt} });
`;

function startWorker(code) {
  const w = new Worker(code, { eval: true });
  const started = new Promise((res, rej) => {
    w.once('message', () => res());
    w.once('error', rej);
  });
  return { w, started };
}

/** The time `await worker.terminate()` takes, 300 ms into the call; `returned` when the call ended first. */
export async function terminateHeld(name) {
  const { w, started } = startWorker(workerCode(workloads[name], false));
  let finished;
  w.on('message', (m) => typeof m === 'object' && (finished = m));
  await started;
  await sleep(300);
  const t0 = performance.now();
  await w.terminate();
  return { held: performance.now() - t0, returnedBeforeTerminate: finished !== undefined };
}

/** The whole call's duration on a worker left alone. */
async function callDuration(name) {
  const { w, started } = startWorker(workerCode(workloads[name], true));
  await started;
  const m = await new Promise((res) => w.on('message', (m) => typeof m === 'object' && res(m)));
  await w.terminate();
  return m;
}

/** The time `process.exit()` on the main thread takes while a worker is in `identityAttentionSync`. */
export async function exitHeld() {
  const code = `
    const { Worker } = require('node:worker_threads');
    const w = new Worker(${JSON.stringify(workerCode(workloads.identityAttentionSync, false))}, { eval: true });
    w.once('message', () => setTimeout(() => { process.stdout.write('exit ' + Date.now() + '\\n'); process.exit(0); }, 300));
  `;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (b) => (out += b.toString()));
  const end = await new Promise((res) => child.on('exit', () => res(Date.now())));
  return { held: end - Number(/exit (\d+)/.exec(out)?.[1]) };
}

/**
 * A process whose main thread is in `identityAttentionSync` gets `signal` 300 ms into the call:
 * the time from the signal to the process's end, and how it ended. `handler`: the process first
 * installs `process.on(signal, () => process.exit(3))`.
 */
export async function signalHeld(signal, handler) {
  const w = workloads.identityAttentionSync;
  const code = `
    const api = require(${JSON.stringify(root)});
    ${handler ? `process.on(${JSON.stringify(signal)}, () => process.exit(3));` : ''}
    ${w.prep}
    process.stdout.write('started\\n');
    const t0 = performance.now();
    ${w.call};
    process.stdout.write('returned ' + (performance.now() - t0).toFixed(0) + '\\n');
    setTimeout(() => {}, 5000); // more work queued: the loop runs on, and dispatches the signal
  `;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  let sent;
  child.stdout.on('data', (b) => {
    out += b.toString();
    if (sent === undefined && out.includes('started')) {
      sent = 0;
      setTimeout(() => {
        sent = performance.now();
        child.kill(signal);
      }, 300);
    }
  });
  const how = await new Promise((res) => child.on('exit', (code, sig) => res({ code, signal: sig })));
  return { held: performance.now() - sent, ...how, callReturned: out.includes('returned') };
}

const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return { max: s[s.length - 1], median: s[Math.floor(s.length / 2)] };
};

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const runs = Number(process.argv[2] ?? 10);
  const names = process.argv.length > 3 ? process.argv.slice(3) : [...Object.keys(workloads), 'process.exit'];
  const rows = [];
  for (const name of names) {
    const helds = [];
    let alone;
    if (name === 'process.exit') {
      for (let i = 0; i < runs; i++) helds.push((await exitHeld()).held);
    } else if (/^SIG(INT|TERM)(\+handler)?$/.test(name)) {
      const [sig, handler] = name.split('+');
      for (let i = 0; i < runs; i++) {
        const r = await signalHeld(sig, handler !== undefined);
        console.log(JSON.stringify({ name, ...r, held: +r.held.toFixed(1) }));
        helds.push(r.held);
      }
    } else {
      alone = await callDuration(name);
      for (let i = 0; i < runs; i++) {
        const r = await terminateHeld(name);
        if (r.returnedBeforeTerminate) throw new Error(`${name}: the call returned before the terminate (make it longer)`);
        helds.push(r.held);
      }
    }
    const s = stats(helds);
    const row = { node: process.version, name, runs, maxMs: +s.max.toFixed(1), medianMs: +s.median.toFixed(1), aloneMs: alone && +alone.ms.toFixed(0), aloneOutcome: alone?.outcome };
    console.log(JSON.stringify(row));
    rows.push(row);
  }
  console.log(`\n${process.version}: held (ms) over ${runs} runs`);
  for (const r of rows) console.log(`  ${r.name.padEnd(24)} max ${String(r.maxMs).padStart(7)}  median ${String(r.medianMs).padStart(7)}${r.aloneMs ? `   (call alone: ${r.aloneMs} ms)` : ''}`);
}
