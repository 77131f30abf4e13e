/**
 * E2 — final alignment and centroid error of the trained heads vs the separation `‖μ*‖/σ`, with
 * k-means and EM fitted on a sample of the same mixture beside them: medians and 10–90 % quantiles
 * over seeds, and the count of failed seeds (final centroid error above `FAILED_CENTROID_ERROR`).
 * E3 reuses this sweep with the dimension as the varying parameter.
 */
import { z } from 'zod';
import { em, kmeans } from 'attnclust';
import { GaussianMixture } from 'attnclust';
import { TwoHeadLayer } from 'attnclust';
import { alignment, centroidError } from 'attnclust';
import { linePlot, hconcat } from '../report/charts';
import { band, bandFields, byScale, type Context, countFailed, type Experiment, FAILED_CENTROID_ERROR, type Figure, fmtBand, runLimited, sphereMeans, type Table } from './common';

/** Settings shared by E2 and E3. */
export const sweepFields = {
  seed: z.number().int().min(0),
  lambdas: z.array(z.number().positive()).min(1),
  steps: z.number().int().min(1),
  batch: z.number().int().min(1),
  lr: z.number().positive(),
  seeds: z.number().int().min(1),
  baselineSamples: z.number().int().min(2),
};

interface Point {
  dim: number;
  norm: number;
  sigma: number;
}

/** Final metrics at one point of a sweep, one entry per seed. */
export interface SweepRow {
  x: number;
  /** Per `λ`: the layer's final alignment and centroid error over seeds. */
  layer: { lambda: number; align: number[]; err: number[] }[];
  kmAlign: number[];
  kmErr: number[];
  emErr: number[];
}

/** Final metrics of one seed at one point: the layer's for each `λ`, then the baselines'. */
interface SeedResult {
  layer: { align: number; err: number }[];
  kmAlign: number;
  kmErr: number;
  emAlign: number;
  emErr: number;
}

/** Final metrics of the layer (for each `λ`) and of the baselines at each point, over seeds. */
export async function sweep(
  label: string,
  points: Point[],
  xs: number[],
  c: { seed: number; lambdas: number[]; steps: number; batch: number; lr: number; seeds: number; baselineSamples: number },
  ctx: Context,
): Promise<{ table: Table; rows: SweepRow[] }> {
  const table: Table = { name: 'final', columns: [label, 'method', 'lambda', 'seed', 'alignment', 'centroidError'], rows: [] };
  ctx.progress.start(`${label} sweep`, points.length * c.seeds);
  // Every (point, seed) in one queue with two in flight, the costliest points (largest dimension)
  // first: no barrier between points and no large run left alone at the end. Every run is
  // independent (its own seed), so the order changes nothing in the results.
  const tasks = points.flatMap((p, i) =>
    Array.from({ length: c.seeds }, (_, s) => ({
      i,
      s,
      run: async (): Promise<SeedResult> => {
        const seed = c.seed * 1000 + s;
        const means = sphereMeans(2, p.dim, p.norm, seed, p.norm);
        const mix = GaussianMixture.isotropic({ means, sigma: p.sigma });
        const layer = [];
        for (const lambda of c.lambdas) {
          const l = new TwoHeadLayer({ dim: p.dim, lambda, init: { kind: 'random', scale: 0.01, seed } });
          await l.train(mix, { steps: c.steps, batch: c.batch, lr: c.lr, seed, recordEvery: c.steps, signal: ctx.signal });
          layer.push({ align: alignment(l.params, means), err: centroidError(l.params, means) });
        }
        const sample = mix.sample(c.baselineSamples, { seed, stream: 7 });
        const km = kmeans(sample.x, 2, { seed });
        const fit = em(sample.x, 2, { seed, covariance: 'isotropic' });
        ctx.progress.tick();
        return { layer, kmAlign: alignment(km.centers, means), kmErr: centroidError(km.centers, means), emAlign: alignment(fit.means, means), emErr: centroidError(fit.means, means) };
      },
    })),
  );
  const order = [...tasks].sort((a, b) => (points[b.i] as Point).dim - (points[a.i] as Point).dim);
  const done = await runLimited(
    order.map((t) => t.run),
    2,
    ctx.signal,
  );
  const results: SeedResult[][] = points.map(() => new Array<SeedResult>(c.seeds));
  order.forEach((t, j) => (results[t.i]![t.s] = done[j]!));
  const rows: SweepRow[] = [];
  for (const [i, runs] of results.entries()) {
    const x = xs[i] as number;
    runs.forEach((r, s) => {
      c.lambdas.forEach((lambda, j) => table.rows.push([x, 'attention layer', lambda, s, r.layer[j]!.align, r.layer[j]!.err]));
      table.rows.push([x, 'k-means', NaN, s, r.kmAlign, r.kmErr], [x, 'EM', NaN, s, r.emAlign, r.emErr]);
    });
    rows.push({
      x,
      layer: c.lambdas.map((lambda, j) => ({ lambda, align: runs.map((r) => r.layer[j]!.align), err: runs.map((r) => r.layer[j]!.err) })),
      kmAlign: runs.map((r) => r.kmAlign),
      kmErr: runs.map((r) => r.kmErr),
      emErr: runs.map((r) => r.emErr),
    });
  }
  ctx.progress.stop();
  return { table, rows };
}

const failedRun = (err: number) => err > FAILED_CENTROID_ERROR;

/**
 * The two panels (alignment, centroid error) of a sweep: medians with the 10–90 % quantile band,
 * each failed seed as a cross, and the failure threshold as a dashed line on the error panel.
 */
export function sweepFigure(name: string, title: string, xLabel: string, logX: boolean, rows: SweepRow[], seeds: number): Figure {
  const x = rows.map((r) => r.x);
  /** `get` gives the plotted values per seed, `err` the centroid errors that decide failure. */
  const series = (label: string, get: (r: SweepRow) => number[], err: (r: SweepRow) => number[]) => {
    const b = rows.map((r) => band(get(r)));
    const failed = rows.flatMap((r) => {
      const v = get(r);
      return err(r).flatMap((e, s) => (Number.isNaN(e) || failedRun(e) ? [{ x: r.x, y: v[s] as number }] : []));
    });
    return { name: label, x, y: b.map((v) => v.median), lo: b.map((v) => v.lo), hi: b.map((v) => v.hi), failed };
  };
  const lambdas = rows[0]?.layer.map((l) => l.lambda) ?? [];
  const layerSeries = (get: 'align' | 'err') => lambdas.map((lambda, j) => series(`attention layer, λ = ${lambda}`, (r) => r.layer[j]![get], (r) => r.layer[j]!.err));
  return {
    name,
    title,
    spec: hconcat(
      [
        linePlot({ title: 'alignment', x: { label: xLabel, log: logX }, y: { label: 'mean cosine over heads' }, series: [...layerSeries('align'), series('k-means', (r) => r.kmAlign, (r) => r.kmErr)] }),
        linePlot({
          title: 'relative centroid error',
          x: { label: xLabel, log: logX },
          y: { label: '‖θ − μ*‖ / ‖μ*‖', log: true },
          series: [...layerSeries('err'), series('k-means', (r) => r.kmErr, (r) => r.kmErr), series('EM', (r) => r.emErr, (r) => r.emErr)],
          yRule: FAILED_CENTROID_ERROR,
        }),
      ],
      { title, shared: ['color'], legendBelow: true },
    ) as unknown as Record<string, unknown>,
    caption:
      `Median over ${seeds} seeds with the 10–90 % quantile band; crosses: single failed seeds (final relative centroid error above ${FAILED_CENTROID_ERROR}, the dashed line). ` +
      'k-means and EM are fitted on a fixed sample of the same mixture.',
  };
}

/** `a → b`: median [10–90 %] of a per-seed metric at the first and last point, for the text. */
export function fromTo(rows: SweepRow[], get: (r: SweepRow) => number[]): string {
  return `${fmtBand(get(rows[0]!))} → ${fmtBand(get(rows[rows.length - 1]!))}`;
}

/** Failed seeds (of `seeds`) at the first and last point, for the text. */
function failedFromTo(rows: SweepRow[], err: (r: SweepRow) => number[]): string {
  const n = (r: SweepRow) => `${countFailed(err(r), failedRun)}/${err(r).length}`;
  return `${n(rows[0]!)} → ${n(rows[rows.length - 1]!)} failed`;
}

/**
 * The summary of a sweep: per point (`at(x)` names it) and method, the median, q10 and q90 of
 * the final alignment (layer) and centroid error, and the count of failed seeds.
 */
export function sweepSummary(rows: SweepRow[], at: (x: number) => string): Record<string, number> {
  return Object.fromEntries(
    rows.flatMap((r) => [
      ...r.layer.flatMap((l) => [
        ...bandFields((st) => `layer λ=${l.lambda} alignment ${st} ${at(r.x)}`, l.align),
        ...bandFields((st) => `layer λ=${l.lambda} centroid error ${st} ${at(r.x)}`, l.err),
        [`layer λ=${l.lambda} failed seeds ${at(r.x)}`, countFailed(l.err, failedRun)] as [string, number],
      ]),
      ...bandFields((st) => `k-means centroid error ${st} ${at(r.x)}`, r.kmErr),
      [`k-means failed seeds ${at(r.x)}`, countFailed(r.kmErr, failedRun)] as [string, number],
      ...bandFields((st) => `EM centroid error ${st} ${at(r.x)}`, r.emErr),
      [`EM failed seeds ${at(r.x)}`, countFailed(r.emErr, failedRun)] as [string, number],
    ]),
  );
}

/** The sentence of a sweep's text that quotes the layer and the baselines from the first to the last point. */
export function sweepText(rows: SweepRow[], lambdas: number[], baselineSamples: number): string {
  const layerText = lambdas
    .map((lambda, j) => `λ = ${lambda}: alignment ${fromTo(rows, (r) => r.layer[j]!.align)}, centroid error ${fromTo(rows, (r) => r.layer[j]!.err)} (${failedFromTo(rows, (r) => r.layer[j]!.err)})`)
    .join('; ');
  return (
    `the trained heads go (median [10–90 % quantiles] over seeds; a seed fails when its final relative centroid error is above ${FAILED_CENTROID_ERROR}) ${layerText}. ` +
    `k-means on ${baselineSamples} samples: centroid error ${fromTo(rows, (r) => r.kmErr)} (${failedFromTo(rows, (r) => r.kmErr)}); EM: ${fromTo(rows, (r) => r.emErr)} (${failedFromTo(rows, (r) => r.emErr)}).`
  );
}

const schema = z.object({ ...sweepFields, dim: z.number().int().min(1), norm: z.number().positive(), separations: z.array(z.number().positive()).min(1) });
export type E2Config = z.infer<typeof schema>;

export const e2: Experiment<E2Config> = {
  id: 'e2',
  title: 'Final alignment and centroid error vs separation',
  description: 'final head alignment and centroid error as the separation ‖μ*‖/σ grows, with k-means and EM',
  schema,
  defaults: (scale) => ({
    seed: 2,
    lambdas: [0.25, 1],
    steps: byScale(scale, { tiny: 20, small: 400, default: 1000, paper: 3000 }),
    batch: byScale(scale, { tiny: 32, small: 128, default: 256, paper: 1024 }),
    lr: 0.05,
    seeds: byScale(scale, { tiny: 2, small: 4, default: 10, paper: 30 }),
    baselineSamples: byScale(scale, { tiny: 64, small: 1000, default: 2000, paper: 10000 }),
    dim: 16,
    norm: 4,
    separations: byScale(scale, { tiny: [1, 4], small: [0.5, 1, 2, 4, 8], default: [0.5, 1, 1.5, 2, 3, 4, 6, 8], paper: [0.5, 0.75, 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8] }),
  }),
  async run(c, ctx) {
    // The centroids keep the norm ‖μ*‖ = `norm`; the noise σ = norm / separation shrinks.
    const { table, rows } = await sweep('separation', c.separations.map((s) => ({ dim: c.dim, norm: c.norm, sigma: c.norm / s })), c.separations, c, ctx);
    return {
      tables: [table],
      figures: [sweepFigure('separation', `Recovery vs separation (d = ${c.dim}, ‖μ*‖ = ${c.norm})`, '‖μ*‖ / σ', true, rows, c.seeds)],
      summary: sweepSummary(rows, (x) => `at separation=${x}`),
      text: `With ‖μ*‖ = ${c.norm} in d = ${c.dim} and σ shrinking so that ‖μ*‖/σ goes from ${rows[0]!.x} to ${rows[rows.length - 1]!.x} (${c.seeds} seeds, ${c.steps} steps of ${c.batch} fresh samples), ` + sweepText(rows, c.lambdas, c.baselineSamples),
    };
  },
};
