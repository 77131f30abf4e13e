/**
 * `npm run bench:compare`: W1–W5 (SPEC §9) timed side by side in one run — attnclust, the
 * plain-TypeScript reference, numpy, PyTorch CPU and JAX CPU — all on the same number of threads,
 * with this machine's FMA peak and copy bandwidth measured in the same run, and 1- vs N-thread
 * scaling of attnclust on W1 and W4. Prints a table and writes `bench/results/latest.json` and
 * `bench/results/<YYYY-MM-DD>.json`.
 *
 *     node dist/bench/compare.js [--threads N] [--peers numpy,pytorch,jax] [--no-install] [--quick] [--only W1,W5]
 *
 * (`--quick`, `--only` and `--peers` are for smoke tests: fewer calls, a subset; such a partial run
 * writes `bench/results/partial.tmp` (git-ignored) instead of the results. The full run takes about
 * 5 minutes.)
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
import { getThreads, setThreads } from '../src/index';
import { PLAIN } from './plain';
import { printTable } from './run';
import { best, CASES, IDS, median, METRICS, TITLES, timeIt, w4Final, type WorkloadId } from './workloads';

const ROOT = resolve(__dirname, '..', '..');
const BENCH = join(ROOT, 'bench');
const VENV = process.env.ATTNCLUST_BENCH_VENV ?? join(BENCH, '.venv');
const PY = join(VENV, 'bin', 'python');
type PeerName = 'numpy' | 'pytorch' | 'jax';
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
  if (r.stderr) process.stderr.write(r.stderr.split('\n').filter((l) => /^(numpy|pytorch|jax) W/.test(l)).map((l) => `  ${l}\n`).join(''));
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
  const quick = flag('--quick');
  const install = !flag('--no-install');
  const peers = (arg('--peers')?.split(',') as PeerName[] | undefined) ?? PEER_NAMES;
  const ids = (arg('--only')?.split(',') as WorkloadId[] | undefined) ?? IDS;
  for (const p of peers) if (!PEER_NAMES.includes(p)) throw new Error(`--peers: unknown peer ${p} (known: ${PEER_NAMES.join(', ')})`);
  for (const id of ids) if (!IDS.includes(id)) throw new Error(`--only: unknown workload ${id} (known: ${IDS.join(', ')})`);
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

  // 6. Peers, one child process each.
  const missing = preparePeers(peers, install);
  const peerResults: Record<string, Record<WorkloadId, PeerEntry>> = {};
  const peerVersions: Record<string, string> = {};
  for (const p of peers) {
    const entries = {} as Record<WorkloadId, PeerEntry>;
    const why = missing[p];
    if (why !== undefined) {
      for (const id of ids) entries[id] = { missing: why };
      log(`${p}: missing (${why})`);
    } else {
      log(`${p}: timing ${ids.join(', ')}`);
      const out = runPeer(p, threads, ['--only', ids.join(','), ...(quick ? ['--quick'] : [])], 900_000);
      if (typeof out.version === 'string') peerVersions[p] = out.version;
      const ws = (out.workloads ?? {}) as Record<string, { seconds?: number; median?: number; reps?: number; error?: string }>;
      for (const id of ids) {
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
    const ps: Record<string, PeerEntry> = {};
    for (const p of peers) ps[p] = peerResults[p]![id];
    ps.plainTs = plain[id]!;
    const entry: Record<string, unknown> = { id, attnclust, peers: ps };
    const s = scaling[id];
    if (s) entry.scaling = { oneThreadSeconds: s.one, [threads === 2 ? 'twoThreadSeconds' : `threads${threads}Seconds`]: s.many };
    return entry;
  });
  const result = {
    date: new Date().toISOString(),
    threads,
    peakGflops,
    bandwidthGBs,
    workloads,
    machine: { cpu: cpus()[0]?.model ?? '', cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30), loadAverageStart: load0, loadAverageEnd: load1 },
    versions: { node: process.version, ...peerVersions },
    method:
      'seconds = best of >= 5 calls (>= 1.5 s) after 1 warm-up call; plain TS at a reduced size, extrapolated by counted work; ' +
      'W4 = TwoHeadLayer.train(gmm, {steps: 1, batch: 2^20, recordFinal: false}), f32 (withRecordFinalSeconds: the default recordFinal: true); ' +
      'W3 extra memory = VmHWM - VmRSS before one call, fresh process; bandwidth counts bytes read + written',
  };
  const dir = join(BENCH, 'results');
  mkdirSync(dir, { recursive: true });
  const json = `${JSON.stringify(result, null, 2)}\n`;
  // A smoke run (--quick, --only, other peers) must not replace the recorded results.
  const partial = quick || ids.length !== IDS.length || peers.length !== PEER_NAMES.length;
  const written = partial ? ['partial.tmp'] : ['latest.json', `${today()}.json`];
  for (const f of written) writeFileSync(join(dir, f), json);

  // 8. Table.
  const cols: (PeerName | 'plainTs')[] = [...peers, 'plainTs'];
  const head = ['id', 'workload', 'attnclust', 'rate', 'fraction', ...cols.map((c) => (c === 'plainTs' ? 'plain TS' : c))];
  const rows: string[][] = [head];
  for (const w of workloads) {
    const id = w.id as WorkloadId;
    const o = ours[id]!;
    const m = METRICS[id];
    const rate = id === 'W4' ? `${(m.rate(o.seconds) / 1e6).toFixed(1)} M samples/s` : `${m.rate(o.seconds).toFixed(id === 'W5' ? 2 : 1)} ${m.unit}`;
    const frac = id === 'W5' ? `${((100 * m.rate(o.seconds)) / bandwidthGBs).toFixed(0)}% of bw` : id === 'W4' ? '' : `${((100 * m.rate(o.seconds)) / peakGflops).toFixed(0)}% of peak`;
    const cells = cols.map((c) => {
      const e = (w.peers as Record<string, PeerEntry>)[c]!;
      if ('missing' in e) return 'missing';
      return `${fmtSeconds(e.seconds)} (${ratio(e.seconds, o.seconds)})${c === 'plainTs' ? '*' : ''}`;
    });
    rows.push([id, TITLES[id], fmtSeconds(o.seconds), rate, frac, ...cells]);
  }
  console.log(`\nattnclust vs peers — ${today()}, ${cpus()[0]?.model ?? ''} ${cpus().length} cores, ${threads} threads, load ${load0[0]!.toFixed(2)} → ${load1[0]!.toFixed(2)}`);
  console.log(`calibrated f32 FMA peak ${peakGflops.toFixed(1)} GFLOP/s; copy bandwidth ${bandwidthGBs.toFixed(1)} GB/s (read + written)`);
  console.log('times: best call; (×) = peer time / attnclust time, "faster"/"slower" says how attnclust does\n');
  printTable(rows);
  console.log('\n* plain TS extrapolated by counted work: ' + ids.map((id) => `${id} from ${(plain[id] as { extrapolatedFrom: string }).extrapolatedFrom}`).join('; '));
  const mem = (e: PeerEntry | undefined): string => (e && 'extraMemoryMiB' in e && e.extraMemoryMiB !== undefined ? `${e.extraMemoryMiB.toFixed(0)} MiB` : e && 'missing' in e ? 'missing' : 'n/a');
  if (ids.includes('W3'))
    console.log(
    `W3 extra memory above the inputs: attnclust ${w3mem.extraMemoryMiB !== undefined ? `${w3mem.extraMemoryMiB.toFixed(1)} MiB` : `missing (${w3mem.missing})`}` +
      peers.map((p) => `, ${p} ${mem(peerResults[p]?.W3)}`).join(''),
  );
  if (withFinal) console.log(`W4 = train({ steps: 1, batch: 2^20, recordFinal: false }); with the default recordFinal (the risk on one more fresh batch): ${fmtSeconds(withFinal.seconds)}`);
  for (const id of ['W1', 'W4'] as const) {
    const s = scaling[id];
    if (!s) continue;
    console.log(`scaling ${id}: 1 thread ${fmtSeconds(s.one)}, ${threads} threads ${fmtSeconds(s.many)}: ×${(s.one / s.many).toFixed(2)}`);
  }
  for (const p of peers) {
    const w = Object.entries(peerResults[p]!).filter(([, e]) => 'missing' in e) as [string, { missing: string }][];
    const reasons = [...new Set(w.map(([, e]) => e.missing))];
    if (reasons.length === 1 && w.length === ids.length) console.log(`missing ${p} (every workload): ${reasons[0]}`);
    else if (w.length) console.log(`missing ${p}: ${w.map(([id, e]) => `${id}: ${e.missing}`).join('; ')}`);
  }
  console.log(`\nwrote ${written.map((f) => `bench/results/${f}`).join(' and ')}${partial ? ' (a partial run: latest.json is left alone)' : ''} (${((Date.now() - started) / 1e3).toFixed(0)} s; threads now ${getThreads()})`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
