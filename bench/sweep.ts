/**
 * The size sweep of SPEC §9 (issue 9): where each library wins, from the paper's small sizes up.
 *
 * - **Identity attention** over d ∈ {2, 4, 8, 16, 32, 64, 128} × L ∈ {16, 64, 256, 1024}, `f32`,
 *   λ = 1/√d, one `identityAttentionSync` call on `B` prompts: `B` is chosen per cell so that a call
 *   does about {@link ATTN_FLOP} counted flop (4·B·L²·d), at most 2^23 input values; reported in
 *   GFLOP/s. The plain-TypeScript reference runs on fewer prompts (about 4 Mflop, at least one) and
 *   is scaled by the prompt count (exact: the prompts are independent).
 * - **Online SGD** over d ∈ {2, …, 128} × batch ∈ {32, 256, 4096}: one `TwoHeadLayer.train` run
 *   (H = 2, 'dot', `f32`, λ = 1/√d, lr 0.05, mixture `±3 e_1`, σ = 1) of `steps = SGD_SAMPLES / batch`
 *   steps (at least 8), `recordEvery: steps`, `recordFinal: false`; reported in ns per sample. Plain
 *   TS: the same steps (sample, reference gradient, update) for about 2^13 samples, scaled by steps.
 * - The per-call time of every sync entry point is `bench/calls.ts`.
 *
 * Peers (numpy, PyTorch, JAX) run the same cells in `bench/peers.py --sweep` (called by
 * `bench/compare.ts`). Each cell: 1 warm-up call, then ≥ 3 calls and ≥ 0.2 s (at most 10); the best
 * call. Quick mode: d ∈ {2, 16, 128}, L ∈ {16, 256}, batch ∈ {32, 4096}, about 1/16 of the work per
 * cell, 1–2 calls.
 */
import { render } from '../packages/lab/src/report/render';
import type { PlotSpec } from '../packages/lab/src/report/charts';
import { hconcat, linePlot } from '../packages/lab/src/report/charts';
import { identityAttentionSync, TwoHeadLayer } from '../src/index';
import { identityFlat } from '../test/reference';
import { plainSampler, plainSgdStep } from './plain';
import { attentionFlop, best, mixture, prompts, timeIt } from './workloads';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CallRow } from './calls';

export const SWEEP_DS = [2, 4, 8, 16, 32, 64, 128] as const;
export const SWEEP_LS = [16, 64, 256, 1024] as const;
export const SWEEP_BATCHES = [32, 256, 4096] as const;
/** The grid of quick mode (a smoke test of the script, not a measurement). */
const QUICK_DS = [2, 16, 128];
const QUICK_LS = [16, 256];
const QUICK_BATCHES = [32, 4096];
/** Counted flop per attention call (quick: / 16). */
export const ATTN_FLOP = 1e8;
/** Samples per SGD call (quick: / 16). */
export const SGD_SAMPLES = 2 ** 14;
/** The peers a sweep can have, besides attnclust and plain TS. */
export type SweepPeer = 'numpy' | 'pytorch' | 'jax';
export const ATTN_PEERS: SweepPeer[] = ['numpy', 'pytorch', 'jax'];
export const SGD_PEERS: SweepPeer[] = ['pytorch', 'jax'];

/** A peer's time for a cell, or why there is none. */
export type SweepEntry = { seconds: number } | { missing: string };

export interface AttnCell {
  d: number;
  l: number;
  /** Prompts per call. */
  b: number;
  /** Prompts of the plain-TS run. */
  bPlain: number;
  attnclustSeconds?: number;
  plainTsSeconds?: number;
  /** Peer seconds for `b` prompts. */
  peers: Partial<Record<SweepPeer, SweepEntry>>;
}

export interface SgdCell {
  d: number;
  batch: number;
  steps: number;
  /** Steps of the plain-TS run. */
  stepsPlain: number;
  attnclustSeconds?: number;
  plainTsSeconds?: number;
  peers: Partial<Record<SweepPeer, SweepEntry>>;
}

const REPS = { warmup: 1, minReps: 3, maxReps: 10, minSeconds: 0.2 };
const QUICK_REPS = { warmup: 1, minReps: 1, maxReps: 2, minSeconds: 0.05 };

export function attentionCells(quick: boolean): AttnCell[] {
  const flop = quick ? ATTN_FLOP / 16 : ATTN_FLOP;
  const cells: AttnCell[] = [];
  for (const l of SWEEP_LS.filter((v) => !quick || QUICK_LS.includes(v)))
    for (const d of SWEEP_DS.filter((v) => !quick || QUICK_DS.includes(v))) {
      const per = attentionFlop(1, l, d);
      const b = Math.max(1, Math.min(Math.round(flop / per), Math.floor(2 ** 23 / (l * d))));
      const bPlain = Math.max(1, Math.min(b, Math.round(4e6 / per)));
      cells.push({ d, l, b, bPlain, peers: {} });
    }
  return cells;
}

export function sgdCells(quick: boolean): SgdCell[] {
  const samples = quick ? SGD_SAMPLES / 16 : SGD_SAMPLES;
  const cells: SgdCell[] = [];
  for (const batch of SWEEP_BATCHES.filter((v) => !quick || QUICK_BATCHES.includes(v)))
    for (const d of SWEEP_DS.filter((v) => !quick || QUICK_DS.includes(v))) {
      const steps = Math.max(8, Math.round(samples / batch));
      cells.push({ d, batch, steps, stepsPlain: Math.max(1, Math.min(steps, Math.round(2 ** 13 / batch))), peers: {} });
    }
  return cells;
}

/** Times attnclust and plain TS on every attention cell (fills the cells in place). */
export async function timeAttentionSweep(cells: AttnCell[], quick: boolean, log: (m: string) => void = () => {}): Promise<void> {
  for (const c of cells) {
    const x = prompts(c.b, c.l, 11, c.d);
    const lambda = 1 / Math.sqrt(c.d);
    c.attnclustSeconds = best(await timeIt(() => identityAttentionSync(x, { lambda }), quick ? QUICK_REPS : REPS));
    const xp = prompts(c.bPlain, c.l, 12, c.d).data;
    const tp = best(await timeIt(() => identityFlat(xp, c.bPlain, c.l, c.d, { lambda }), { warmup: 0, minReps: 1, maxReps: quick ? 1 : 3, minSeconds: 0.1 }));
    c.plainTsSeconds = (tp * c.b) / c.bPlain;
    log(`sweep attention d=${c.d} L=${c.l} B=${c.b}: attnclust ${gflops(c, c.attnclustSeconds).toFixed(2)} GFLOP/s, plain TS ${gflops(c, c.plainTsSeconds).toFixed(2)} GFLOP/s`);
  }
}

/** Times attnclust and plain TS on every SGD cell (fills the cells in place). */
export async function timeSgdSweep(cells: SgdCell[], quick: boolean, log: (m: string) => void = () => {}): Promise<void> {
  for (const c of cells) {
    const g = mixture(c.d);
    const lambda = 1 / Math.sqrt(c.d);
    let seed = 0;
    const run = () => {
      seed++;
      return new TwoHeadLayer({ dim: c.d, heads: 2, lambda, dtype: 'f32', init: { kind: 'random', scale: 0.01, seed } }).train(g, {
        steps: c.steps,
        batch: c.batch,
        lr: 0.05,
        seed,
        recordEvery: c.steps,
        recordFinal: false,
      });
    };
    c.attnclustSeconds = best(await timeIt(run, quick ? QUICK_REPS : REPS));
    const sample = plainSampler(c.d, 13);
    const plainRun = () => {
      let theta = Array.from({ length: 2 }, (_, h) => Array.from({ length: c.d }, (_, j) => 0.01 * (h === j ? 1 : -1)));
      for (let s = 0; s < c.stepsPlain; s++) theta = plainSgdStep(theta, sample, c.batch, lambda, 0.05);
      return theta;
    };
    const tp = best(await timeIt(plainRun, { warmup: 0, minReps: 1, maxReps: quick ? 1 : 3, minSeconds: 0.1 }));
    c.plainTsSeconds = (tp * c.steps) / c.stepsPlain;
    log(`sweep sgd d=${c.d} batch=${c.batch} steps=${c.steps}: attnclust ${nsPerSample(c, c.attnclustSeconds).toFixed(1)} ns/sample, plain TS ${nsPerSample(c, c.plainTsSeconds).toFixed(1)} ns/sample`);
  }
}

/** GFLOP/s of a call of `seconds` on an attention cell. */
export const gflops = (c: AttnCell, seconds: number): number => attentionFlop(c.b, c.l, c.d) / seconds / 1e9;
/** ns per sample of a run of `seconds` on an SGD cell. */
export const nsPerSample = (c: SgdCell, seconds: number): number => (seconds / (c.steps * c.batch)) * 1e9;

const secondsOf = (e: SweepEntry | undefined): number | undefined => (e !== undefined && 'seconds' in e ? e.seconds : undefined);
const fmt = (v: number | undefined, digits = 2): string => (v === undefined || !Number.isFinite(v) ? 'missing' : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(digits));
const fmtRatio = (r: number | undefined): string => (r === undefined || !Number.isFinite(r) ? 'missing' : `${r >= 10 ? r.toFixed(0) : r.toFixed(2)}×`);

/**
 * Table rows of a size sweep (header first): the cell's key columns, then `unit` of attnclust, each
 * peer and plain TS (`rate` turns a time into that unit), then attnclust's ratio to each.
 */
function sweepTable<C extends { attnclustSeconds?: number; plainTsSeconds?: number; peers: Record<string, unknown> }>(
  cells: C[],
  peers: SweepPeer[],
  keys: { head: string[]; of: (c: C) => (string | number)[] },
  unit: string,
  rate: (c: C, seconds: number) => number,
  digits: number,
): string[][] {
  const head = [...keys.head, `attnclust ${unit}`, ...peers.map((p) => `${p} ${unit}`), `plain TS ${unit}`, ...peers.map((p) => `vs ${p}`), 'vs plain TS'];
  const rows = [head];
  for (const c of cells) {
    const ours = c.attnclustSeconds;
    const ps = peers.map((p) => secondsOf(c.peers[p] as Parameters<typeof secondsOf>[0]));
    rows.push([
      ...keys.of(c).map(String),
      fmt(ours && rate(c, ours), digits),
      ...ps.map((s) => fmt(s && rate(c, s), digits)),
      fmt(c.plainTsSeconds && rate(c, c.plainTsSeconds), digits),
      ...ps.map((s) => fmtRatio(s && ours ? s / ours : undefined)),
      fmtRatio(c.plainTsSeconds && ours ? c.plainTsSeconds / ours : undefined),
    ]);
  }
  return rows;
}

/** Table rows of the attention sweep (header first): GFLOP/s of each, and attnclust's ratio to each peer. */
export function attentionTable(cells: AttnCell[], peers: SweepPeer[]): string[][] {
  return sweepTable(cells, peers, { head: ['d', 'L', 'B'], of: (c) => [c.d, c.l, c.b] }, 'GFLOP/s', gflops, 2);
}

/** Table rows of the SGD sweep (header first): ns per sample of each, and attnclust's ratio to each peer. */
export function sgdTable(cells: SgdCell[], peers: SweepPeer[]): string[][] {
  return sweepTable(cells, peers, { head: ['d', 'batch', 'steps'], of: (c) => [c.d, c.batch, c.steps] }, 'ns/sample', nsPerSample, 1);
}

/** Table rows of the per-call costs (header first). */
export function callsTable(rows: CallRow[]): string[][] {
  return [
    ['entry point', 'size', 'attnclust µs/call', 'plain TS µs/call', 'vs plain TS'],
    ...rows.map((r) => [r.name, r.size, fmt(r.attnclustMicroseconds), fmt(r.plainTsMicroseconds), fmtRatio(r.speedup)]),
  ];
}

/** A Markdown table. */
export function markdownTable(rows: string[][]): string {
  const [head, ...body] = rows;
  const line = (r: string[]) => `| ${r.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(head!), `|${head!.map(() => '---').join('|')}|`, ...body.map(line)].join('\n');
}

const SERIES_NAMES: Record<SweepPeer | 'attnclust' | 'plainTs', string> = { attnclust: 'attnclust', numpy: 'numpy', pytorch: 'PyTorch', jax: 'JAX', plainTs: 'plain TS' };

/** Attention sweep plot: one panel per L, GFLOP/s against d (log–log), one line per library. */
export function attentionPlot(cells: AttnCell[], peers: SweepPeer[], peak?: number): PlotSpec {
  const panels = SWEEP_LS.filter((l) => cells.some((c) => c.l === l)).map((l) => {
    const cs = cells.filter((c) => c.l === l);
    const x = cs.map((c) => c.d);
    const line = (name: keyof typeof SERIES_NAMES, s: (c: AttnCell) => number | undefined) => ({ name: SERIES_NAMES[name], x, y: cs.map((c) => (s(c) === undefined ? NaN : gflops(c, s(c)!))) });
    return linePlot({
      title: `identity attention, L = ${l}`,
      x: { label: 'd', log: true },
      y: { label: 'GFLOP/s (4·B·L²·d)', log: true },
      series: [line('attnclust', (c) => c.attnclustSeconds), ...peers.map((p) => line(p, (c) => secondsOf(c.peers[p]))), line('plainTs', (c) => c.plainTsSeconds)],
      points: true,
      width: 260,
      height: 220,
    });
  });
  return hconcat(panels, { title: `Identity attention sweep (f32, λ = 1/√d)${peak ? `; calibrated FMA peak ${peak.toFixed(0)} GFLOP/s` : ''}`, columns: 2, shared: ['color'] });
}

/** SGD sweep plot: one panel per batch, ns/sample against d (log–log), one line per library. */
export function sgdPlot(cells: SgdCell[], peers: SweepPeer[]): PlotSpec {
  const panels = SWEEP_BATCHES.filter((b) => cells.some((c) => c.batch === b)).map((batch) => {
    const cs = cells.filter((c) => c.batch === batch);
    const x = cs.map((c) => c.d);
    const line = (name: keyof typeof SERIES_NAMES, s: (c: SgdCell) => number | undefined) => ({ name: SERIES_NAMES[name], x, y: cs.map((c) => (s(c) === undefined ? NaN : nsPerSample(c, s(c)!))) });
    return linePlot({
      title: `online SGD, batch ${batch}`,
      x: { label: 'd', log: true },
      y: { label: 'ns per sample (lower is better)', log: true },
      series: [line('attnclust', (c) => c.attnclustSeconds), ...peers.map((p) => line(p, (c) => secondsOf(c.peers[p]))), line('plainTs', (c) => c.plainTsSeconds)],
      points: true,
      width: 260,
      height: 220,
    });
  });
  return hconcat(panels, { title: 'Two-head online SGD sweep (one run, H = 2, f32, λ = 1/√d)', shared: ['color'] });
}

/** Per-call plot: µs per call of each sync entry point, attnclust and plain TS on one row each (log scale). */
export function callsPlot(rows: CallRow[]): PlotSpec {
  const values = rows.flatMap((r) => [
    { call: r.name, who: 'attnclust', us: r.attnclustMicroseconds },
    { call: r.name, who: 'plain TS', us: r.plainTsMicroseconds },
  ]);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Per-call time of the sync entry points at their smallest sizes (lower is better)',
    config: { background: 'white', font: 'sans-serif', axis: { labelFontSize: 12, titleFontSize: 13, grid: true, gridOpacity: 0.5 }, legend: { labelFontSize: 12 } },
    data: { values },
    // A dot plot (bars have no base on a log scale).
    mark: { type: 'point', filled: true, size: 90 },
    width: 420,
    encoding: {
      y: { field: 'call', type: 'nominal', sort: null, title: null, axis: { labelLimit: 300 } },
      x: { field: 'us', type: 'quantitative', scale: { type: 'log' }, title: 'µs per call (log scale)' },
      color: { field: 'who', type: 'nominal', title: null },
      shape: { field: 'who', type: 'nominal', title: null },
    },
  } as PlotSpec;
}

/** Renders `spec` to `<dir>/<name>.svg` (SVG only: the PNG is not needed here). */
export async function writeSvg(spec: PlotSpec, dir: string, name: string): Promise<string> {
  const { svg } = await render(spec);
  const path = join(dir, `${name}.svg`);
  writeFileSync(path, svg);
  return path;
}
