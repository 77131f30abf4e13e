/**
 * `npm run bench`: W1–W8 (SPEC §9) with tinybench, attnclust against the plain-TypeScript reference
 * (`bench/plain.ts`, run at a reduced size and extrapolated by counted work, as labelled), then the
 * per-call cost of every sync entry point (`bench/calls.ts`) and the size sweeps (`bench/sweep.ts`),
 * attnclust against plain TS.
 *
 *     node dist/bench/run.js [--only W1,W4,calls,sweep-attention,sweep-sgd] [--time <ms per task>] [--quick]
 *
 * Prints, per workload, the mean time per call (W8: per `identityAttentionSync` call), the rate
 * (GFLOP/s, samples/s, GB/s or µs/call; for the attention workloads also the fraction of the FMA peak
 * measured at the start), and the ratio of the plain-TS time to attnclust's. `--quick` (or
 * `ATTNCLUST_BENCH_QUICK=1`): 200 ms per task, less work per sweep cell. For peers (numpy, PyTorch,
 * JAX) see `bench/compare.ts`.
 */
import { Bench } from 'tinybench';
import { measurePeakGflops } from '../src/calibrate';
import { getThreads } from '../src/index';
import { timeCalls } from './calls';
import { PLAIN } from './plain';
import { attentionCells, attentionTable, callsTable, sgdCells, sgdTable, timeAttentionSweep, timeSgdSweep } from './sweep';
import { CASES, IDS, METRICS, TITLES, W8_CALLS, type WorkloadId } from './workloads';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function fmtRate(id: WorkloadId, seconds: number): string {
  const m = METRICS[id];
  const r = m.rate(seconds);
  if (m.unit === 'samples/s') return `${(r / 1e6).toFixed(2)} M samples/s`;
  return `${r.toFixed(id === 'W5' || id === 'W8' ? 2 : 1)} ${m.unit}`;
}

async function main(): Promise<void> {
  const extrasAll = ['calls', 'sweep-attention', 'sweep-sgd'];
  const sel = arg('--only')?.split(',') ?? [...IDS, ...extrasAll];
  for (const x of sel) if (!(IDS as string[]).includes(x) && !extrasAll.includes(x)) throw new Error(`--only: unknown workload ${x} (known: ${[...IDS, ...extrasAll].join(', ')})`);
  const only = IDS.filter((id) => sel.includes(id));
  const quick = process.argv.includes('--quick') || ['1', 'true', 'yes'].includes(process.env.ATTNCLUST_BENCH_QUICK ?? '');
  const time = Number(arg('--time') ?? (quick ? 200 : 2000));
  const threads = getThreads();
  const peak = measurePeakGflops(0.3);
  console.log(`attnclust benchmarks (tinybench), ${threads} threads, calibrated f32 FMA peak ${peak.toFixed(1)} GFLOP/s`);
  console.log('plain TS: the plain-TypeScript reference at a reduced size, time extrapolated by counted work (see notes)\n');

  const rows: string[][] = [['id', 'workload', 'attnclust', 'rate', 'of peak', 'plain TS', 'plain rate', 'speed-up', 'plain TS note']];
  for (const id of only) {
    const nat = CASES[id]();
    const pl = PLAIN[id]();
    const bench = new Bench({ time, iterations: 3, warmup: true, warmupIterations: 1, warmupTime: 0, throws: true });
    bench.add(`${id} attnclust`, async () => {
      await nat.run();
    });
    bench.add(`${id} plain TS`, () => {
      pl.run();
    }, {});
    // The plain runs take about a second each: a few iterations are enough.
    await bench.run();
    const [tn, tp] = bench.tasks;
    const rn = tn?.result;
    const rp = tp?.result;
    if (!rn || !('latency' in rn) || !rp || !('latency' in rp)) throw new Error(`${id}: tinybench did not finish`);
    const sn = rn.latency.mean / 1e3;
    const sp = (rp.latency.mean / 1e3) * pl.scale;
    const attention = id === 'W1' || id === 'W2' || id === 'W3' || id === 'W7';
    const per = id === 'W8' ? W8_CALLS : 1;
    rows.push([
      id,
      TITLES[id],
      `${per === 1 ? `${(sn * 1e3).toFixed(1)} ms` : `${((sn / per) * 1e6).toFixed(2)} µs`} ±${rn.latency.rme.toFixed(0)}%`,
      fmtRate(id, sn),
      attention ? `${((100 * METRICS[id].rate(sn)) / peak).toFixed(0)}%` : '',
      per === 1 ? `${sp.toFixed(2)} s` : `${((sp / per) * 1e6).toFixed(2)} µs`,
      fmtRate(id, sp),
      `${(sp / sn).toFixed(sp / sn >= 10 ? 0 : 2)}×`,
      `${pl.note} (${rp.latency.samplesCount} runs)`,
    ]);
    console.log(`${id} done`);
  }
  console.log();
  if (only.length) printTable(rows);
  if (sel.includes('calls')) {
    console.log('\nper-call cost of the sync entry points (smallest sizes; vs plain TS = plain time / attnclust time)');
    printTable(callsTable(timeCalls(quick)));
  }
  if (sel.includes('sweep-attention')) {
    const cells = attentionCells(quick);
    await timeAttentionSweep(cells, quick);
    console.log('\nsize sweep, identity attention (GFLOP/s = 4·B·L²·d / time; vs plain TS = plain time / attnclust time)');
    printTable(attentionTable(cells, []));
  }
  if (sel.includes('sweep-sgd')) {
    const cells = sgdCells(quick);
    await timeSgdSweep(cells, quick);
    console.log('\nsize sweep, two-head online SGD, one run (ns per sample; vs plain TS = plain time / attnclust time)');
    printTable(sgdTable(cells, []));
  }
}

export function printTable(rows: string[][]): void {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  rows.forEach((r, i) => {
    console.log(r.map((cell, c) => (c < 2 || c === r.length - 1 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '));
    if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  });
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
