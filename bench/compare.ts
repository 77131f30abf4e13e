/**
 * `npm run bench:compare`: W1–W8 (SPEC §9) timed side by side in one run — attnclust, the
 * plain-TypeScript reference, numpy, PyTorch CPU and JAX CPU (each workload with the peers SPEC §9
 * names for it) — all on the same number of threads, with this machine's FMA peak and copy bandwidth
 * measured in the same run, 1- vs N-thread scaling of attnclust on W1 and W4, the per-call cost of
 * every sync entry point (`bench/calls.ts`) and the size sweeps of identity attention (d × L) and
 * online SGD (d × batch) (`bench/sweep.ts`). Prints the tables and writes `bench/results/latest.json`,
 * `bench/results/<YYYY-MM-DD>.json`, `bench/results/latest.md` (the tables) and the plots
 * `bench/results/{sweep-attention,sweep-sgd,calls}.svg`.
 *
 *     node dist/bench/compare.js [--threads N] [--peers numpy,pytorch,jax] [--no-install] [--quick]
 *                                [--only W1,…,W8,calls,sweep-attention,sweep-sgd]
 *
 * (`--quick` — or `ATTNCLUST_BENCH_QUICK=1` — `--only` and `--peers` are for smoke tests: fewer calls,
 * less work per sweep cell, a subset; such a partial run writes the same files into
 * `bench/results/partial-run.tmp/` (git-ignored) instead. The full run takes about 15 minutes.)
 *
 * - **Timing.** Every workload is called once untimed (warm-up; JAX compiles there), then timed
 *   until at least 5 calls and 1.5 s (at most 30 calls; peers stop after 3 calls of over 1 s). The
 *   reported `seconds` is the **best** (minimum) call: the least disturbed by other processes on a
 *   shared machine; the median is in the JSON too (`medianSeconds`).
 * - **Threads.** `setThreads(N)` for attnclust; the peers run in `bench/peers.py` child processes
 *   (one per peer) with `OMP_NUM_THREADS`, `MKL_NUM_THREADS`, `OPENBLAS_NUM_THREADS` = N,
 *   `XLA_FLAGS=--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads=N` and
 *   `torch.set_num_threads(N)`. N defaults to the number of cores.
 * - **Peers** install on demand into the git-ignored virtual environment `bench/.venv` (created with
 *   `python3 -m venv` if missing; `pip install numpy`, `torch` from the PyTorch CPU index, `jax`);
 *   `--no-install` only uses what is there. A peer that cannot be installed or imported, or a
 *   workload that fails in it, is reported as `{ "missing": "<reason>" }`, never dropped.
 * - **Plain TS** runs at a reduced size and is extrapolated by counted work (`bench/plain.ts`); the
 *   JSON says from which size (`extrapolatedFrom`).
 * - **W3 memory** is measured in fresh child processes (attnclust: `bench/memory.ts`; peers:
 *   `peers.py --w3-memory`): resident-set high-water mark of one call above the resident set before
 *   it, `/proc/self/clear_refs` resetting the mark.
 * - **Fractions.** `peakFraction` = GFLOP/s (counted work) / calibrated FMA peak;
 *   `bandwidthFraction` = W5's input GB/s / copy bandwidth (bytes read + written, STREAM copy).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { measureBandwidthGBs, measurePeakGflops } from '../src/calibrate';
import { GaussianMixture, getThreads, setThreads, TwoHeadLayer } from '../src/index';
import { PLAIN } from './plain';
import { timeCalls, type CallRow } from './calls';
import { printTable } from './run';
import {
  ATTN_PEERS,
  attentionCells,
  attentionPlot,
  attentionTable,
  callsPlot,
  callsTable,
  markdownTable,
  SGD_PEERS,
  sgdCells,
  sgdPlot,
  sgdTable,
  timeAttentionSweep,
  timeSgdSweep,
  writeSvg,
  type AttnCell,
  type SgdCell,
} from './sweep';
import { best, CASES, IDS, median, METRICS, PEERS_OF, TITLES, timeIt, W8_CALLS, w4Final, type WorkloadId } from './workloads';

const ROOT = resolve(__dirname, '..', '..');
const BENCH = join(ROOT, 'bench');
const VENV = process.env.ATTNCLUST_BENCH_VENV ?? join(BENCH, '.venv');
const PY = join(VENV, 'bin', 'python');
type PeerName = 'numpy' | 'pytorch' | 'jax';
/** Sections besides W1–W8: the per-call table and the two size sweeps. */
const EXTRAS = ['calls', 'sweep-attention', 'sweep-sgd', 'population'] as const;
type Extra = (typeof EXTRAS)[number];
const PEER_NAMES: PeerName[] = ['numpy', 'pytorch', 'jax'];

/** What each peer imports, and how to install it (from the package index pip is configured with). */
const PEER_PACKAGES: Record<PeerName, { imports: string; pip: string[] }> = {
  numpy: { imports: 'numpy', pip: ['numpy'] },
  pytorch: { imports: 'torch', pip: ['torch'] },
  jax: { imports: 'jax, numpy', pip: ['jax', 'numpy'] },
};

interface Timed {
  seconds: number;
  medianSeconds: number;
  reps: number;
}
type PeerEntry = { seconds: number; medianSeconds?: number; reps?: number; extraMemoryMiB?: number; extraMemoryMethod?: string; extrapolatedFrom?: string } | { missing: string };

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const flag = (name: string): boolean => process.argv.includes(name);
const log = (m: string): void => {
  process.stderr.write(`${m}\n`);
};
/** The last non-empty line of a child's output (whole: it may be the JSON result). */
const lastLine = (s: string): string =>
  s
    .trim()
    .split('\n')
    .filter((l) => l.trim() !== '')
    .at(-1) ?? '';
/** A short reason from a child's stderr. */
const reason = (s: string): string => lastLine(s).slice(0, 300);

function peerEnv(threads: number): NodeJS.ProcessEnv {
  const t = String(threads);
  return {
    ...process.env,
    OMP_NUM_THREADS: t,
    MKL_NUM_THREADS: t,
    OPENBLAS_NUM_THREADS: t,
    XLA_FLAGS: `--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads=${t}`,
    JAX_PLATFORMS: 'cpu',
  };
}

/** Makes sure each peer imports in the venv (creating it and installing as needed); the reason when it cannot. */
function preparePeers(peers: PeerName[], install: boolean): Record<PeerName, string | undefined> {
  const missing: Record<PeerName, string | undefined> = { numpy: undefined, pytorch: undefined, jax: undefined };
  if (!existsSync(PY)) {
    if (!install) {
      for (const p of peers) missing[p] = `no Python environment at ${VENV} (run without --no-install to create it)`;
      return missing;
    }
    log(`creating the Python environment ${VENV}`);
    const r = spawnSync('python3', ['-m', 'venv', VENV], { encoding: 'utf8' });
    if (r.status !== 0 || !existsSync(PY)) {
      const why = `could not create ${VENV} with python3 -m venv: ${reason(r.stderr ?? '') || r.error?.message || `exit ${r.status}`}`;
      for (const p of peers) missing[p] = why;
      return missing;
    }
  }
  const tryImport = (p: PeerName) => spawnSync(PY, ['-c', `import ${PEER_PACKAGES[p].imports}`], { encoding: 'utf8', env: peerEnv(1), timeout: 120_000 });
  for (const p of peers) {
    let r = tryImport(p);
    if (r.status !== 0 && install) {
      log(`installing ${p} into ${VENV}: pip install ${PEER_PACKAGES[p].pip.join(' ')}`);
      const pip = spawnSync(PY, ['-m', 'pip', 'install', '--quiet', ...PEER_PACKAGES[p].pip], { encoding: 'utf8', stdio: ['ignore', 'inherit', 'pipe'], timeout: 1_800_000 });
      if (pip.status !== 0) {
        missing[p] = `pip install ${PEER_PACKAGES[p].pip[0]} failed: ${reason(pip.stderr ?? '') || pip.error?.message || `exit ${pip.status}`}`;
        continue;
      }
      r = tryImport(p);
    }
    if (r.status !== 0) missing[p] = `import ${PEER_PACKAGES[p].imports} failed: ${reason(r.stderr ?? '') || r.error?.message || `exit ${r.status}`}${install ? '' : ' (--no-install)'}`;
  }
  return missing;
}

/** Runs `peers.py` with `args`; its JSON output, or `{ missing }`. */
function runPeer(peer: PeerName, threads: number, args: string[], timeoutMs: number): Record<string, unknown> {
  const r = spawnSync(PY, [join(BENCH, 'peers.py'), '--peer', peer, '--threads', String(threads), ...args], {
    encoding: 'utf8',
    env: peerEnv(threads),
    timeout: timeoutMs,
    maxBuffer: 64 << 20,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (r.stderr) process.stderr.write(r.stderr.split('\n').filter((l) => /^(numpy|pytorch|jax) (W|sweep )/.test(l)).map((l) => `  ${l}\n`).join(''));
  if (r.error || r.status !== 0) {
    const why = r.error?.message ?? `exit ${r.status ?? r.signal}: ${reason(r.stderr ?? '')}`;
    return { missing: `peers.py ${args.join(' ')} failed: ${why}` };
  }
  try {
    return JSON.parse(lastLine(r.stdout)) as Record<string, unknown>;
  } catch {
    return { missing: `peers.py printed no JSON: ${reason(r.stdout)}` };
  }
}

function timed(t: number[]): Timed {
  return { seconds: best(t), medianSeconds: median(t), reps: t.length };
}

function fmtSeconds(s: number): string {
  if (s < 1e-3) return `${(s * 1e6).toFixed(s < 1e-5 ? 2 : 1)} µs`;
  if (s >= 100) return `${s.toFixed(0)} s`;
  if (s >= 1) return `${s.toFixed(2)} s`;
  return `${(s * 1e3).toFixed(s >= 0.1 ? 0 : 1)} ms`;
}

/** `peer time / attnclust time`: above 1, attnclust is faster. */
function ratio(peer: number, ours: number): string {
  const r = peer / ours;
  return r >= 1 ? `${r >= 10 ? r.toFixed(0) : r.toFixed(1)}× faster` : `${(1 / r).toFixed(1)}× slower`;
}

function today(): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

async function main(): Promise<void> {
  const threads = Number(arg('--threads') ?? availableParallelism());
  const quick = flag('--quick') || ['1', 'true', 'yes'].includes(process.env.ATTNCLUST_BENCH_QUICK ?? '');
  const install = !flag('--no-install');
  const peers = (arg('--peers')?.split(',') as PeerName[] | undefined) ?? PEER_NAMES;
  const only = arg('--only')?.split(',') ?? [...IDS, ...EXTRAS];
  for (const p of peers) if (!PEER_NAMES.includes(p)) throw new Error(`--peers: unknown peer ${p} (known: ${PEER_NAMES.join(', ')})`);
  for (const id of only) if (!(IDS as string[]).includes(id) && !(EXTRAS as readonly string[]).includes(id)) throw new Error(`--only: unknown workload ${id} (known: ${[...IDS, ...EXTRAS].join(', ')})`);
  const ids = IDS.filter((id) => only.includes(id));
  const extras = EXTRAS.filter((e) => only.includes(e));
  if (!(Number.isInteger(threads) && threads >= 1)) throw new Error(`--threads must be a positive integer, got ${arg('--threads')}`);
  const reps = quick ? { warmup: 1, minReps: 2, maxReps: 3, minSeconds: 0.2 } : { warmup: 1, minReps: 5, maxReps: 30, minSeconds: 1.5 };
  const started = Date.now();
  const load0 = loadavg();
  log(`bench:compare — ${threads} threads, ${cpus()[0]?.model ?? 'cpu'} (${cpus().length} cores), load ${load0.map((l) => l.toFixed(2)).join(' ')}`);

  // 1. Calibration, on the same pool as attnclust.
  setThreads(threads);
  const peakGflops = measurePeakGflops(quick ? 0.1 : 0.5);
  const bandwidthGBs = measureBandwidthGBs(quick ? 128 : 512);
  log(`calibration: f32 FMA peak ${peakGflops.toFixed(1)} GFLOP/s, copy bandwidth ${bandwidthGBs.toFixed(1)} GB/s (read + written)`);

  // 2. attnclust.
  const ours: Partial<Record<WorkloadId, Timed>> = {};
  for (const id of ids) {
    const c = CASES[id]();
    ours[id] = timed(await timeIt(c.run, reps));
    log(`attnclust ${id}: best ${fmtSeconds(ours[id]!.seconds)}, median ${fmtSeconds(ours[id]!.medianSeconds)} (${ours[id]!.reps} calls)`);
  }
  const withFinal = ids.includes('W4') ? timed(await timeIt(w4Final().run, { ...reps, minReps: quick ? 2 : 3 })) : undefined;
  if (withFinal) log(`attnclust W4 with recordFinal (step + risk on one more batch): best ${fmtSeconds(withFinal.seconds)}`);

  // 2b. Exact quantities (docs/population.md): one evaluation of the exact population risk and
  // gradient at H = 2 (quadrature chosen by convergence to 1e-12) against one online-SGD step on
  // 10⁴ fresh samples of the same mixture, same layer size, same run.
  let population: { d: number; exactSeconds: number; sgdSeconds: number; nodes: number; rank: number } | undefined;
  if (extras.includes('population')) {
    const d = 16;
    const means = new Float64Array(2 * d);
    means[0] = 4;
    means[d + 1] = 4;
    const gmm = GaussianMixture.isotropic({ means: { shape: [2, d], data: means }, sigma: 1 });
    const init = { kind: 'random', scale: 0.5, seed: 1 } as const;
    const exactLayer = new TwoHeadLayer({ dim: d, lambda: 1, init });
    const sgdLayer = new TwoHeadLayer({ dim: d, lambda: 1, init });
    const info = exactLayer.population(gmm);
    const exactSeconds = best(await timeIt(() => exactLayer.population(gmm), reps));
    const sgdSeconds = best(await timeIt(() => sgdLayer.train(gmm, { steps: 1, batch: 10_000, lr: 1e-9, seed: 1, recordFinal: false }), reps));
    population = { d, exactSeconds, sgdSeconds, nodes: info.nodes, rank: info.rank };
    log(`exact population risk+gradient: ${fmtSeconds(exactSeconds)}; online-SGD step on 10^4 samples: ${fmtSeconds(sgdSeconds)}`);
  }

  // 3. Scaling: 1 thread, then N threads again, back to back.
  const scaling: Partial<Record<WorkloadId, { one: number; many: number }>> = {};
  for (const id of (['W1', 'W4'] as const).filter((i) => ids.includes(i))) {
    const c = CASES[id]();
    setThreads(1);
    const one = best(await timeIt(c.run, reps));
    setThreads(threads);
    const many = best(await timeIt(c.run, reps));
    scaling[id] = { one, many };
    log(`scaling ${id}: 1 thread ${fmtSeconds(one)}, ${threads} threads ${fmtSeconds(many)} (×${(one / many).toFixed(2)})`);
  }

  // 4. W3 memory, in a fresh process.
  let w3mem: { extraMemoryMiB?: number; method?: string; missing?: string } = {};
  if (ids.includes('W3')) {
    const r = spawnSync(process.execPath, [join(__dirname, 'memory.js'), String(threads)], { encoding: 'utf8', timeout: 300_000 });
    try {
      w3mem = r.status === 0 ? JSON.parse(lastLine(r.stdout)) : { missing: `memory.js failed: ${reason(r.stderr)}` };
    } catch {
      w3mem = { missing: `memory.js printed no JSON: ${reason(r.stdout)}` };
    }
    log(`attnclust W3 extra memory: ${w3mem.extraMemoryMiB?.toFixed(1) ?? w3mem.missing} MiB`);
  }

  // 5. Plain TypeScript, reduced and extrapolated.
  const plain: Partial<Record<WorkloadId, PeerEntry>> = {};
  for (const id of ids) {
    const pc = PLAIN[id]();
    const t = await timeIt(pc.run, { warmup: 1, minReps: quick ? 1 : 3, maxReps: 5, minSeconds: 0 });
    plain[id] = { seconds: best(t) * pc.scale, medianSeconds: median(t) * pc.scale, reps: t.length, extrapolatedFrom: pc.note.replace(/^extrapolated from /, '') };
    log(`plain TS ${id}: ${fmtSeconds(best(t))} at the reduced size, ${fmtSeconds(best(t) * pc.scale)} ${pc.note}`);
  }

  // 5b. Per-call costs and the size sweeps, attnclust and plain TS (same threads).
  const callRows: CallRow[] | undefined = extras.includes('calls') ? timeCalls(quick, log) : undefined;
  const attnCells: AttnCell[] | undefined = extras.includes('sweep-attention') ? attentionCells(quick) : undefined;
  if (attnCells) await timeAttentionSweep(attnCells, quick, log);
  const sgdCellsT: SgdCell[] | undefined = extras.includes('sweep-sgd') ? sgdCells(quick) : undefined;
  if (sgdCellsT) await timeSgdSweep(sgdCellsT, quick, log);

  // On a busy machine a full run can take long: each phase leaves what is measured so far in
  // bench/results/partial-run.tmp/checkpoint.json (git-ignored), so that a stopped run is not lost.
  const checkpoint = (phase: string): void => {
    const cdir = join(BENCH, 'results', 'partial-run.tmp');
    mkdirSync(cdir, { recursive: true });
    const state = { phase, date: new Date().toISOString(), threads, quick, peakGflops, bandwidthGBs, loadAverage: loadavg(), attnclust: ours, plainTs: plain, peers: peerResults, calls: callRows, sweep: { attention: attnCells, sgd: sgdCellsT } };
    writeFileSync(join(cdir, 'checkpoint.json'), `${JSON.stringify(state, null, 2)}\n`);
  };
  const peerResults: Record<string, Record<WorkloadId, PeerEntry>> = {};
  checkpoint('attnclust and plain TS done');

  // 6. Peers, one child process each.
  const missing = preparePeers(peers, install);
  const peerVersions: Record<string, string> = {};
  for (const p of peers) {
    const entries = {} as Record<WorkloadId, PeerEntry>;
    const why = missing[p];
    if (why !== undefined) {
      for (const id of ids) if (PEERS_OF[id].includes(p)) entries[id] = { missing: why };
      log(`${p}: missing (${why})`);
    } else {
      const mine = ids.filter((id) => PEERS_OF[id].includes(p));
      if (mine.length === 0) {
        peerResults[p] = entries;
        continue;
      }
      log(`${p}: timing ${mine.join(', ')}`);
      const out = runPeer(p, threads, ['--only', mine.join(','), ...(quick ? ['--quick'] : [])], 1_800_000);
      if (typeof out.version === 'string') peerVersions[p] = out.version;
      const ws = (out.workloads ?? {}) as Record<string, { seconds?: number; median?: number; reps?: number; error?: string }>;
      for (const id of mine) {
        const w = ws[id];
        if (typeof out.missing === 'string') entries[id] = { missing: out.missing };
        else if (w && typeof w.seconds === 'number') entries[id] = { seconds: w.seconds, medianSeconds: w.median, reps: w.reps };
        else entries[id] = { missing: w?.error ?? 'no result' };
      }
      const w3 = entries.W3;
      if (w3 && 'seconds' in w3) {
        const m = runPeer(p, threads, ['--w3-memory'], 300_000);
        if (typeof m.extraMemoryMiB === 'number') {
          w3.extraMemoryMiB = m.extraMemoryMiB;
          w3.extraMemoryMethod = String(m.method);
        }
        log(`${p} W3 extra memory: ${typeof m.extraMemoryMiB === 'number' ? m.extraMemoryMiB.toFixed(1) : m.missing} MiB`);
      }
    }
    peerResults[p] = entries;
    checkpoint(`${p} done`);
  }

  // 6b. The peers on the sweeps (a missing peer is recorded as missing in every cell).
  const sweepPeer = (p: PeerName, kind: 'attention' | 'sgd', cells: (AttnCell | SgdCell)[]): void => {
    const why = missing[p];
    let out: Record<string, unknown> = {};
    if (why === undefined) {
      log(`${p}: sweep ${kind} (${cells.length} cells)`);
      const spec = cells.map((c) => ('l' in c ? [c.d, c.l, c.b] : [c.d, c.batch, c.steps]));
      out = runPeer(p, threads, ['--sweep', kind, '--cells', JSON.stringify(spec), ...(quick ? ['--quick'] : [])], 1_800_000);
      if (typeof out.version === 'string') peerVersions[p] = out.version;
    }
    const res = Array.isArray(out.cells) ? (out.cells as { seconds?: number; error?: string }[]) : [];
    cells.forEach((c, i) => {
      const r = res[i];
      c.peers[p] =
        why !== undefined ? { missing: why } : typeof out.missing === 'string' ? { missing: out.missing } : r && typeof r.seconds === 'number' ? { seconds: r.seconds } : { missing: r?.error ?? 'no result' };
    });
  };
  const attnPeers = peers.filter((p) => ATTN_PEERS.includes(p));
  const sgdPeers = peers.filter((p) => SGD_PEERS.includes(p));
  for (const p of attnPeers) {
    if (!attnCells) break;
    sweepPeer(p, 'attention', attnCells);
    checkpoint(`${p} attention sweep done`);
  }
  for (const p of sgdPeers) {
    if (!sgdCellsT) break;
    sweepPeer(p, 'sgd', sgdCellsT);
    checkpoint(`${p} SGD sweep done`);
  }

  // 7. Results.
  const load1 = loadavg();
  const workloads = ids.map((id) => {
    const o = ours[id]!;
    const m = METRICS[id];
    const attnclust: Record<string, number | string> = { seconds: o.seconds, medianSeconds: o.medianSeconds };
    if (id === 'W1' || id === 'W2') {
      attnclust.gflops = m.rate(o.seconds);
      attnclust.peakFraction = m.rate(o.seconds) / peakGflops;
    }
    if (id === 'W3') {
      attnclust.gflops = m.rate(o.seconds);
      if (w3mem.extraMemoryMiB !== undefined) attnclust.extraMemoryMiB = w3mem.extraMemoryMiB;
      else attnclust.extraMemoryMissing = w3mem.missing ?? 'not measured';
    }
    if (id === 'W4') {
      attnclust.samplesPerSecond = m.rate(o.seconds);
      if (withFinal) attnclust.withRecordFinalSeconds = withFinal.seconds;
    }
    if (id === 'W5') {
      attnclust.gbPerSecond = m.rate(o.seconds);
      attnclust.bandwidthFraction = m.rate(o.seconds) / bandwidthGBs;
    }
    if (id === 'W6') attnclust.samplesPerSecond = m.rate(o.seconds);
    if (id === 'W7') {
      attnclust.gflops = m.rate(o.seconds);
      attnclust.peakFraction = m.rate(o.seconds) / peakGflops;
    }
    if (id === 'W8') attnclust.microsecondsPerCall = m.rate(o.seconds);
    const ps: Record<string, PeerEntry> = {};
    // Only the peers SPEC §9 names for this workload (W8: the plain-TypeScript reference alone).
    for (const p of peers) if (PEERS_OF[id].includes(p)) ps[p] = peerResults[p]![id];
    ps.plainTs = plain[id]!;
    const entry: Record<string, unknown> = { id, attnclust, peers: ps };
    const s = scaling[id];
    if (s) entry.scaling = { oneThreadSeconds: s.one, [threads === 2 ? 'twoThreadSeconds' : `threads${threads}Seconds`]: s.many };
    return entry;
  });
  // 8. Tables: printed, and the same in Markdown.
  const cols: (PeerName | 'plainTs')[] = [...peers, 'plainTs'];
  const head = ['id', 'workload', 'attnclust', 'rate', 'fraction', ...cols.map((c) => (c === 'plainTs' ? 'plain TS' : c))];
  // W8's times are shown per call (its run() makes W8_CALLS calls); '—' = not a peer of that workload (SPEC §9).
  const rows: string[][] = [head];
  for (const w of workloads) {
    const id = w.id as WorkloadId;
    const o = ours[id]!;
    const m = METRICS[id];
    const per = id === 'W8' ? W8_CALLS : 1;
    const rate = m.unit === 'samples/s' ? `${(m.rate(o.seconds) / 1e6).toFixed(1)} M samples/s` : `${m.rate(o.seconds).toFixed(id === 'W5' || id === 'W8' ? 2 : 1)} ${m.unit}`;
    const frac =
      id === 'W5' ? `${((100 * m.rate(o.seconds)) / bandwidthGBs).toFixed(0)}% of bw` : m.unit === 'GFLOP/s' ? `${((100 * m.rate(o.seconds)) / peakGflops).toFixed(0)}% of peak` : '';
    const cells = cols.map((c) => {
      const e = (w.peers as Record<string, PeerEntry | undefined>)[c];
      if (e === undefined) return '—';
      if ('missing' in e) return 'missing';
      return `${fmtSeconds(e.seconds / per)} (${ratio(e.seconds, o.seconds)})${c === 'plainTs' ? '*' : ''}`;
    });
    rows.push([id, TITLES[id], fmtSeconds(o.seconds / per), rate, frac, ...cells]);
  }
  const md: string[] = [];
  const say = (line: string, mdLine: string = line): void => {
    console.log(line);
    md.push(mdLine);
  };
  const table = (t: string[][]): void => {
    printTable(t);
    md.push('', markdownTable(t), '');
  };
  const loadNote = `load average ${load0.map((l) => l.toFixed(2)).join(' ')} at the start, ${load1.map((l) => l.toFixed(2)).join(' ')} at the end`;
  md.push(`# attnclust vs peers — ${today()}`, '');
  say(`\nattnclust vs peers — ${today()}, ${cpus()[0]?.model ?? ''} ${cpus().length} cores, ${threads} threads, ${loadNote}`, `${cpus()[0]?.model ?? ''}, ${cpus().length} cores, ${threads} threads; ${loadNote} (a shared machine: other processes take cores).`);
  say(`calibrated f32 FMA peak ${peakGflops.toFixed(1)} GFLOP/s; copy bandwidth ${bandwidthGBs.toFixed(1)} GB/s (read + written)`, `\nCalibrated f32 FMA peak ${peakGflops.toFixed(1)} GFLOP/s; copy bandwidth ${bandwidthGBs.toFixed(1)} GB/s (read + written). Versions: ${Object.entries({ node: process.version, ...peerVersions }).map(([k, v]) => `${k} ${v}`).join(', ')}.`);
  say('times: best call; (×) = peer time / attnclust time, "faster"/"slower" says how attnclust does; — = not a peer of that workload\n', '\nTimes: best call; (×) = peer time / attnclust time, "faster"/"slower" says how attnclust does; — = not a peer of that workload (SPEC §9).');
  if (ids.length > 0) {
    md.push('', '## Workloads W1–W8');
    table(rows);
    say('* plain TS extrapolated by counted work: ' + ids.map((id) => `${id} from ${(plain[id] as { extrapolatedFrom: string }).extrapolatedFrom}`).join('; '));
  }
  const mem = (e: PeerEntry | undefined): string => (e && 'extraMemoryMiB' in e && e.extraMemoryMiB !== undefined ? `${e.extraMemoryMiB.toFixed(0)} MiB` : e && 'missing' in e ? 'missing' : 'n/a');
  if (ids.includes('W3'))
    say(
      `W3 extra memory above the inputs: attnclust ${w3mem.extraMemoryMiB !== undefined ? `${w3mem.extraMemoryMiB.toFixed(1)} MiB` : `missing (${w3mem.missing})`}` +
        peers.map((p) => `, ${p} ${mem(peerResults[p]?.W3)}`).join(''),
    );
  if (withFinal) say(`W4 = train({ steps: 1, batch: 2^20, recordFinal: false }); with the default recordFinal (the risk on one more fresh batch): ${fmtSeconds(withFinal.seconds)}`);
  for (const id of ['W1', 'W4'] as const) {
    const s = scaling[id];
    if (!s) continue;
    say(`scaling ${id}: 1 thread ${fmtSeconds(s.one)}, ${threads} threads ${fmtSeconds(s.many)}: ×${(s.one / s.many).toFixed(2)}`);
  }
  if (population) {
    const p = population;
    say(
      `\nexact population risk + gradient (H = 2, d = ${p.d}, K = 2, rank ${p.rank}, ${p.nodes} Gauss–Hermite nodes per dimension): ${fmtSeconds(p.exactSeconds)}; one online-SGD step on 10^4 samples: ${fmtSeconds(p.sgdSeconds)} (×${(p.sgdSeconds / p.exactSeconds).toFixed(2)})`,
      `\n## Exact population risk\n\nOne evaluation of the exact population risk and gradient (H = 2, d = ${p.d}, K = 2, rank ${p.rank}, ${p.nodes} Gauss–Hermite nodes per dimension, to 1e-12): ${fmtSeconds(p.exactSeconds)}; one online-SGD step on 10⁴ fresh samples: ${fmtSeconds(p.sgdSeconds)}; the SGD step costs ×${(p.sgdSeconds / p.exactSeconds).toFixed(2)} the exact evaluation.`,
    );
  }
  if (callRows) {
    say('\nper-call cost of the sync entry points (smallest sizes; vs plain TS = plain time / attnclust time)', '\n## Per-call cost of the sync entry points (W8)\n\nSmallest sizes; "vs plain TS" = plain-TS time / attnclust time (above 1: attnclust is faster).');
    table(callsTable(callRows));
  }
  if (attnCells) {
    say('\nsize sweep, identity attention (GFLOP/s = 4·B·L²·d / time; "vs X" = X time / attnclust time)', '\n## Size sweep: identity attention\n\nGFLOP/s = 4·B·L²·d / time; "vs X" = X time / attnclust time (above 1: attnclust is faster).');
    table(attentionTable(attnCells, attnPeers));
  }
  if (sgdCellsT) {
    say('\nsize sweep, two-head online SGD, one run (ns per sample; "vs X" = X time / attnclust time)', '\n## Size sweep: two-head online SGD, one run\n\nns per sample (lower is better); "vs X" = X time / attnclust time (above 1: attnclust is faster).');
    table(sgdTable(sgdCellsT, sgdPeers));
  }
  const missingLines: string[] = [];
  for (const p of peers) {
    const w = Object.entries(peerResults[p]!).filter(([, e]) => 'missing' in e) as [string, { missing: string }][];
    const reasons = [...new Set(w.map(([, e]) => e.missing))];
    if (reasons.length === 1 && w.length === Object.keys(peerResults[p]!).length) missingLines.push(`missing ${p} (every workload): ${reasons[0]}`);
    else if (w.length) missingLines.push(`missing ${p}: ${w.map(([id, e]) => `${id}: ${e.missing}`).join('; ')}`);
    for (const [kind, cells] of [['attention sweep', attnCells], ['SGD sweep', sgdCellsT]] as const) {
      const why = [...new Set((cells ?? []).map((c) => c.peers[p]).filter((e) => e !== undefined && 'missing' in e).map((e) => (e as { missing: string }).missing))];
      if (why.length) missingLines.push(`missing ${p} in cells of the ${kind}: ${why.join('; ')}`);
    }
  }
  if (missingLines.length) {
    md.push('', '## Missing peers', '');
    for (const l of missingLines) say(l, `- ${l}`);
  }

  // 9. Files: JSON, Markdown, plots.
  const result = {
    date: new Date().toISOString(),
    threads,
    peakGflops,
    bandwidthGBs,
    workloads,
    calls: callRows,
    sweep: { attention: attnCells, sgd: sgdCellsT },
    population,
    machine: { cpu: cpus()[0]?.model ?? '', cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30), loadAverageStart: load0, loadAverageEnd: load1 },
    versions: { node: process.version, ...peerVersions },
    method:
      'seconds = best of >= 5 calls (>= 1.5 s) after 1 warm-up call; plain TS at a reduced size, extrapolated by counted work; ' +
      'W4 = TwoHeadLayer.train(gmm, {steps: 1, batch: 2^20, recordFinal: false}), f32 (withRecordFinalSeconds: the default recordFinal: true); ' +
      'W3 extra memory = VmHWM - VmRSS before one call, fresh process; bandwidth counts bytes read + written; ' +
      `W6 = 64 TwoHeadLayer.train under Promise.all; W8 = ${W8_CALLS} identityAttentionSync calls per timed run; ` +
      'calls: best batch / calls per batch (bench/calls.ts); sweeps: best of >= 3 calls (>= 0.2 s) after 1 warm-up, seconds per call of the cell (bench/sweep.ts)',
  };
  // A smoke run (--quick, --only, other peers) must not replace the recorded results: it goes to bench/results/partial-run.tmp/.
  const partial = quick || only.length !== IDS.length + EXTRAS.length || peers.length !== PEER_NAMES.length;
  const dir = partial ? join(BENCH, 'results', 'partial-run.tmp') : join(BENCH, 'results');
  mkdirSync(dir, { recursive: true });
  const json = `${JSON.stringify(result, null, 2)}\n`;
  const written = partial ? ['latest.json', 'latest.md'] : ['latest.json', `${today()}.json`, 'latest.md'];
  for (const f of written) writeFileSync(join(dir, f), f.endsWith('.md') ? `${md.join('\n')}\n` : json);
  const plots: Promise<string>[] = [];
  if (attnCells) plots.push(writeSvg(attentionPlot(attnCells, attnPeers, peakGflops), dir, 'sweep-attention'));
  if (sgdCellsT) plots.push(writeSvg(sgdPlot(sgdCellsT, sgdPeers), dir, 'sweep-sgd'));
  if (callRows) plots.push(writeSvg(callsPlot(callRows), dir, 'calls'));
  for (const f of await Promise.all(plots)) written.push(f.slice(dir.length + 1));
  const rel = dir.slice(ROOT.length + 1);
  console.log(`\nwrote ${written.map((f) => `${rel}/${f}`).join(', ')}${partial ? ' (a partial run: bench/results/latest.* are left alone)' : ''} (${((Date.now() - started) / 1e3).toFixed(0)} s; threads now ${getThreads()})`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
