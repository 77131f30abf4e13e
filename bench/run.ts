/**
 * `npm run bench`: W1–W5 (SPEC §9) with tinybench, attnclust against the plain-TypeScript reference
 * (`bench/plain.ts`, run at a reduced size and extrapolated by counted work, as labelled).
 *
 *     node dist/bench/run.js [--only W1,W4] [--time <ms per task>]
 *
 * Prints, per workload, the mean time per call, the rate (GFLOP/s, samples/s or GB/s; for the
 * attention workloads also the fraction of the FMA peak measured at the start), and the ratio of the
 * plain-TS time to attnclust's. For peers (numpy, PyTorch, JAX) see `bench/compare.ts`.
 */
import { Bench } from 'tinybench';
import { measurePeakGflops } from '../src/calibrate';
import { getThreads } from '../src/index';
import { PLAIN } from './plain';
import { CASES, IDS, METRICS, TITLES, type WorkloadId } from './workloads';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function fmtRate(id: WorkloadId, seconds: number): string {
  const m = METRICS[id];
  const r = m.rate(seconds);
  if (m.unit === 'samples/s') return `${(r / 1e6).toFixed(2)} M samples/s`;
  return `${r.toFixed(id === 'W5' ? 2 : 1)} ${m.unit}`;
}

async function main(): Promise<void> {
  const only = (arg('--only')?.split(',') as WorkloadId[] | undefined) ?? IDS;
  const time = Number(arg('--time') ?? 2000);
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
    const attention = id === 'W1' || id === 'W2' || id === 'W3';
    rows.push([
      id,
      TITLES[id],
      `${(sn * 1e3).toFixed(1)} ms ±${rn.latency.rme.toFixed(0)}%`,
      fmtRate(id, sn),
      attention ? `${((100 * METRICS[id].rate(sn)) / peak).toFixed(0)}%` : '',
      `${sp.toFixed(2)} s`,
      fmtRate(id, sp),
      `${(sp / sn).toFixed(0)}×`,
      `${pl.note} (${rp.latency.samplesCount} runs)`,
    ]);
    console.log(`${id} done`);
  }
  console.log();
  printTable(rows);
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
