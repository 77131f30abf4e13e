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

/** Arithmetic mean. */
export function mean(a: readonly number[]): number {
  return a.length === 0 ? NaN : a.reduce((s, x) => s + x, 0) / a.length;
}

/** Quantile `q` by linear interpolation between order statistics. */
export function quantile(a: readonly number[], q: number): number {
  if (a.length === 0) return NaN;
  const s = [...a].sort((x, y) => x - y);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return (s[lo] as number) + ((s[hi] as number) - (s[lo] as number)) * (pos - lo);
}

/** Mean and the 10–90 % band of a set of runs. */
export function band(a: readonly number[]): { mean: number; lo: number; hi: number } {
  return { mean: mean(a), lo: quantile(a, 0.1), hi: quantile(a, 0.9) };
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
