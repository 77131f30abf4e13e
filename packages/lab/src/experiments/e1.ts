/**
 * E1 — alignment of the heads with the true centroids over training iterations, for each
 * initialisation regime and both score kinds, over many seeds (median and 10–90 % band), with the
 * count of failed seeds (final centroid error above `FAILED_CENTROID_ERROR`).
 *
 * Data: a 2-component isotropic mixture in `d` dimensions whose centroids have norm `norm` and
 * random directions; noise `σ`. Training: online SGD on fresh batches (the population risk).
 */
import { z } from 'zod';
import { GaussianMixture } from 'attnclust';
import { TwoHeadLayer } from 'attnclust';
import type { HistoryEntry, InitSpec, Scores } from 'attnclust';
import { linePlot } from '../report/charts';
import { band, bandFields, byScale, countFailed, type Experiment, FAILED_CENTROID_ERROR, fmt, fmtBand, runLimited, sphereMeans, type Table, onlineFields } from './common';

export const INIT_REGIMES = ['random-small', 'random-large', 'point', 'data'] as const;
export type InitRegime = (typeof INIT_REGIMES)[number];

const schema = z.object({
  ...onlineFields,
  dim: z.number().int().min(1).max(4096),
  seeds: z.number().int().min(1),
  inits: z.array(z.enum(INIT_REGIMES)).min(1),
  scores: z.array(z.enum(['dot', 'distance'])).min(1),
  recordEvery: z.number().int().min(1),
});
export type E1Config = z.infer<typeof schema>;

/** The `InitSpec` of a regime: small (0.01) or large (`norm`) random, one point with 1e-3 noise, data. */
export function initFor(regime: InitRegime, norm: number, seed: number): InitSpec {
  switch (regime) {
    case 'random-small':
      return { kind: 'random', scale: 0.01, seed };
    case 'random-large':
      return { kind: 'random', scale: norm, seed };
    case 'point':
      return { kind: 'point', noise: 1e-3, seed };
    case 'data':
      return { kind: 'data', seed };
  }
}

/** A layer initialised by `regime` (data starts draw from `mix`). */
export function layerFor(mix: GaussianMixture, c: { lambda: number; norm: number }, scores: Scores, regime: InitRegime, seed: number): TwoHeadLayer {
  const init = initFor(regime, c.norm, seed);
  if (init.kind === 'data') return new TwoHeadLayer({ dim: mix.dim, lambda: c.lambda, scores }).initFromData(mix, { seed });
  return new TwoHeadLayer({ dim: mix.dim, lambda: c.lambda, scores, init });
}

export const e1: Experiment<E1Config> = {
  id: 'e1',
  title: 'Alignment of the heads vs iterations',
  description: 'alignment of the two heads with the centroids over online SGD, per initialisation and score kind',
  schema,
  defaults: (scale) => ({
    seed: 1,
    dim: 16,
    norm: 4,
    sigma: 1,
    lambda: 1,
    steps: byScale(scale, { tiny: 20, small: 400, default: 1000, paper: 3000 }),
    batch: byScale(scale, { tiny: 32, small: 128, default: 256, paper: 1024 }),
    lr: 0.05,
    seeds: byScale(scale, { tiny: 2, small: 5, default: 16, paper: 50 }),
    inits: [...INIT_REGIMES],
    scores: ['dot', 'distance'],
    recordEvery: byScale(scale, { tiny: 2, small: 5, default: 10, paper: 20 }),
  }),
  async run(c, ctx) {
    const means = sphereMeans(2, c.dim, c.norm, c.seed, c.norm);
    const mix = GaussianMixture.isotropic({ means, sigma: c.sigma });
    const combos = c.scores.flatMap((s) => c.inits.map((i) => [s, i] as const));
    ctx.progress.start('e1: training runs', combos.length * c.seeds);
    const table: Table = { name: 'alignment', columns: ['scores', 'init', 'seed', 'step', 'risk', 'alignment', 'centroidError'], rows: [] };
    const curves: { scores: string; name: string; x: number[]; y: number[]; lo: number[]; hi: number[]; failed: { x: number; y: number }[] }[] = [];
    const summary: Record<string, number> = {};
    const parts: Record<string, string[]> = {};
    // Every training run of every (scores, init) combination, and each combination's exact
    // population run, in one queue with two in flight: no barrier between combinations, and no
    // exact run left alone on one thread at the end (they go first). Every run is independent: the
    // order changes nothing in the results.
    const seedRuns = combos.map(([scores, regime]) =>
      Array.from({ length: c.seeds }, (_, s) => async () => {
        const seed = c.seed * 1000 + s;
        const layer = layerFor(mix, c, scores, regime, seed);
        const r = await layer.train(mix, { steps: c.steps, batch: c.batch, lr: c.lr, seed, recordEvery: c.recordEvery, signal: ctx.signal });
        ctx.progress.tick();
        return r.history;
      }),
    );
    // The same start as the first seed, on the exact population risk: the trajectory SGD follows in
    // expectation, with no sampling noise (docs/population.md; 48 Gauss–Hermite nodes per dimension).
    const exactRuns = combos.map(([scores, regime]) => async () => {
      const exactLayer = layerFor(mix, c, scores, regime, c.seed * 1000);
      const exact = await exactLayer.train(mix, { method: 'population', quadrature: { nodes: 48 }, steps: c.steps, lr: c.lr, seed: 0, recordEvery: c.recordEvery, signal: ctx.signal });
      return exact.history;
    });
    const all = await runLimited<HistoryEntry[]>([...exactRuns, ...seedRuns.flat()], 2, ctx.signal);
    const exactHistories = all.slice(0, combos.length);
    for (const [ci, [scores, regime]] of combos.entries()) {
      const runs = all.slice(combos.length + ci * c.seeds, combos.length + (ci + 1) * c.seeds);
      runs.forEach((h, s) => h.forEach((e) => table.rows.push([scores, regime, s, e.step, e.risk, e.alignment ?? NaN, e.centroidError ?? NaN])));
      const steps = (runs[0] ?? []).map((e) => e.step);
      const bands = steps.map((_, i) => band(runs.map((h) => h[i]?.alignment ?? NaN)));
      const finalAlign = runs.map((h) => h[h.length - 1]?.alignment ?? NaN);
      const finalErr = runs.map((h) => h[h.length - 1]?.centroidError ?? NaN);
      const failedSeeds = finalErr.flatMap((e, s) => (Number.isNaN(e) || e > FAILED_CENTROID_ERROR ? [s] : []));
      curves.push({
        scores,
        name: `${regime}`,
        x: steps,
        y: bands.map((b) => b.median),
        lo: bands.map((b) => b.lo),
        hi: bands.map((b) => b.hi),
        failed: failedSeeds.map((s) => ({ x: steps[steps.length - 1] as number, y: finalAlign[s] as number })),
      });
      for (const [k, v] of bandFields((st) => `final alignment ${st}, ${scores}, ${regime}`, finalAlign)) summary[k] = v;
      for (const [k, v] of bandFields((st) => `final centroid error ${st}, ${scores}, ${regime}`, finalErr)) summary[k] = v;
      summary[`failed seeds, ${scores}, ${regime}`] = countFailed(finalErr, (e) => e > FAILED_CENTROID_ERROR);
      (parts[scores] ??= []).push(`${regime} ${fmtBand(finalAlign)} (${failedSeeds.length} failed)`);
      const exactHistory = exactHistories[ci] ?? [];
      const ex = exactHistory.map((e) => e.alignment ?? NaN);
      curves.push({ scores, name: `${regime} · exact population GD`, x: exactHistory.map((e) => e.step), y: ex, lo: ex, hi: ex, failed: [] });
      summary[`final alignment, exact population GD, ${scores}, ${regime}`] = ex[ex.length - 1] ?? NaN;
    }
    ctx.progress.stop();
    const figures = c.scores.map((scores) => ({
      name: `alignment-${scores}`,
      title: `Alignment vs iteration ('${scores}' scores)`,
      spec: linePlot({
        title: `Head alignment, '${scores}' scores (d = ${c.dim}, ‖μ‖/σ = ${fmt(c.norm / c.sigma)}, λ = ${c.lambda})`,
        x: { label: 'SGD step' },
        y: { label: 'alignment (mean cosine over heads)', domain: [-0.2, 1] },
        legendTitle: 'initialisation',
        series: curves.filter((cv) => cv.scores === scores),
      }) as unknown as Record<string, unknown>,
      caption: `Median over ${c.seeds} seeds with the 10–90 % quantile band; crosses at the last step: the final alignment of each failed seed (final relative centroid error above ${FAILED_CENTROID_ERROR}). The '· exact population GD' lines follow gradient descent on the exact population risk from the first seed's start (no sampling noise).`,
    }));
    return {
      tables: [table],
      figures,
      summary,
      text:
        `Online SGD on a 2-component mixture (d = ${c.dim}, ‖μ‖ = ${c.norm}, σ = ${c.sigma}, λ = ${c.lambda}, ${c.steps} steps of ${c.batch} fresh samples, lr ${c.lr}, ${c.seeds} seeds). ` +
        `Final alignment, median [10–90 % quantiles] over seeds, and the seeds that failed (final relative centroid error above ${FAILED_CENTROID_ERROR}): ` +
        c.scores.map((s) => `'${s}' scores: ${(parts[s] ?? []).join(', ')}`).join('; ') +
        '.',
    };
  },
};
