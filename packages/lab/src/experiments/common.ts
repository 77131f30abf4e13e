/**
 * What every experiment shares: scales, results, progress reporting, small statistics helpers.
 */
import { z } from 'zod';
import { MixturePrior } from 'attnclust';
import type { Tensor } from 'attnclust';

/** Problem sizes: `tiny` for tests, `small` for a quick look, `default` for `reproduce`, `paper` for figures. */
export type Scale = 'tiny' | 'small' | 'default' | 'paper';
export const SCALES: readonly Scale[] = ['tiny', 'small', 'default', 'paper'];

/** Reports progress of long steps (a progress bar on a terminal, plain lines otherwise). */
export interface Progress {
  start(label: string, total: number): void;
  tick(n?: number): void;
  stop(): void;
}

/** A progress reporter that says nothing. */
export const silent: Progress = { start() {}, tick() {}, stop() {} };

/** What an experiment runs with besides its config. */
export interface Context {
  progress: Progress;
  signal?: AbortSignal;
}

/** A table of numbers (one CSV file). */
export interface Table {
  name: string;
  columns: string[];
  rows: (number | string)[][];
}

/** A plot: a vega-lite spec and what it shows. */
export interface Figure {
  name: string;
  title: string;
  spec: Record<string, unknown>;
  caption: string;
}

/** Everything an experiment produced. */
export interface ExperimentResult {
  id: string;
  title: string;
  scale: Scale;
  config: Record<string, unknown>;
  tables: Table[];
  figures: Figure[];
  /** Headline numbers. */
  summary: Record<string, number | string | boolean>;
  /** A paragraph stating what the figures show, with the measured numbers. */
  text: string;
  seconds: number;
}

/** An experiment: its config schema, its defaults per scale, and how to run it. */
export interface Experiment<C extends Record<string, unknown> = Record<string, unknown>> {
  id: string;
  title: string;
  description: string;
  schema: z.ZodType<C>;
  defaults(scale: Scale): C;
  run(config: C, ctx: Context): Promise<Omit<ExperimentResult, 'id' | 'title' | 'scale' | 'config' | 'seconds'>>;
}

/** The settings every online-SGD experiment has (E1, E4, E8): the mixture's centroid norm and noise,
 * the layer's `λ`, and the training run. */
export const onlineFields = {
  seed: z.number().int().min(0),
  norm: z.number().positive(),
  sigma: z.number().positive(),
  lambda: z.number().positive(),
  steps: z.number().int().min(1),
  batch: z.number().int().min(1),
  lr: z.number().positive(),
};

/** Picks the value for a scale. */
export function byScale<T>(scale: Scale, v: Record<Scale, T>): T {
  return v[scale];
}

/**
 * Quantile `q` ∈ [0, 1] by linear interpolation between order statistics; NaN for an empty set or
 * when any value is NaN (a run that produced no number is never silently left out).
 */
export function quantile(a: readonly number[], q: number): number {
  if (a.length === 0 || a.some((v) => Number.isNaN(v))) return NaN;
  const s = [...a].sort((x, y) => x - y);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  if (lo === hi) return s[lo] as number;
  return (s[lo] as number) + ((s[hi] as number) - (s[lo] as number)) * (pos - lo);
}

/**
 * What every summary, text and plot quotes of a set of runs (seeds, or prompts): the median and
 * the 10–90 % quantile band. Never the mean: one failed seed out of ten moves a mean outside the
 * band of the other nine (E2 at λ = 1, ‖μ*‖/σ = 8: centroid errors 0.006 and one 0.72).
 */
export function band(a: readonly number[]): { median: number; lo: number; hi: number } {
  return { median: quantile(a, 0.5), lo: quantile(a, 0.1), hi: quantile(a, 0.9) };
}

/**
 * When a training run (one seed) counts as **failed** (E1–E3, and the k-means / EM baselines of
 * E2–E3): its final relative centroid error `metrics.centroidError` — the mean over heads of
 * `‖θ_h − μ*_k‖ / ‖μ*_k‖` under the best head–centroid matching — is above 0.25, i.e. its heads
 * are not on the centroids (a run that ends on them has errors of 0.001–0.05). E8 has its own
 * `tolerance` (every matched head within it); identity attention (E5, E6) fails on a prompt whose
 * quantization ratio is at least 1 ({@link RATIO_FAILED}); E7 on a seed whose held-out loss is
 * above identity attention's at its best λ.
 */
export const FAILED_CENTROID_ERROR = 0.25;

/** A prompt fails under identity attention when its quantization ratio is at least this (the tokens did not move toward their own centroids). */
export const RATIO_FAILED = 1;

/** How many of `a` fail the test `failed` (NaN counts as failed: the run gave no number). */
export function countFailed(a: readonly number[], failed: (v: number) => boolean): number {
  return a.filter((v) => Number.isNaN(v) || failed(v)).length;
}

/** `median [q10–q90]` for texts. */
export function fmtBand(a: readonly number[], digits = 3): string {
  const b = band(a);
  return `${fmt(b.median, digits)} [${fmt(b.lo, digits)}–${fmt(b.hi, digits)}]`;
}

/**
 * The summary fields of a set of runs: its median and its 10 % and 90 % quantiles, under the keys
 * `key('median')`, `key('q10')` and `key('q90')`.
 */
export function bandFields(key: (stat: 'median' | 'q10' | 'q90') => string, a: readonly number[]): [string, number][] {
  const b = band(a);
  return [
    [key('median'), b.median],
    [key('q10'), b.lo],
    [key('q90'), b.hi],
  ];
}

/** `n` points from `a` to `b` spaced evenly on a log scale. */
export function logspace(a: number, b: number, n: number): number[] {
  if (n === 1) return [a];
  return Array.from({ length: n }, (_, i) => a * Math.pow(b / a, i / (n - 1)));
}

/** Rounds for display. */
export function fmt(x: number, digits = 3): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return x.toExponential(digits - 1);
  return Number(x.toPrecision(digits)).toString();
}

/** `K` centroids of norm `norm` in dimension `dim`, uniformly random directions (fixed by `seed`). */
export function sphereMeans(k: number, dim: number, norm: number, seed: number, minSeparation = 0): Tensor {
  const p = MixturePrior.sphere({ k, dim, radius: norm, sigma: 0, minSeparation }).samplePrompts(1, 0, { seed, dtype: 'f64' });
  return { shape: [k, dim], data: p.means.data };
}

/** Rows of a `[n, d]` tensor as arrays. */
export function rows(t: Tensor): number[][] {
  const d = t.shape[t.shape.length - 1] as number;
  const out: number[][] = [];
  for (let i = 0; i < t.data.length; i += d) out.push(Array.from(t.data.subarray(i, i + d)));
  return out;
}

/** Runs `tasks` with at most `limit` in flight; results in task order. */
export async function runLimited<T>(tasks: (() => Promise<T>)[], limit: number, signal?: AbortSignal): Promise<T[]> {
  const out: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      signal?.throwIfAborted();
      const i = next++;
      out[i] = await (tasks[i] as () => Promise<T>)();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return out;
}

/** Prompt `b` of a `[B, L, d]` tensor as an `[L, d]` view. */
export function prompt(x: Tensor, b: number): Tensor {
  const [, l, d] = x.shape as [number, number, number];
  return { shape: [l, d], data: x.data.subarray(b * l * d, (b + 1) * l * d) };
}
