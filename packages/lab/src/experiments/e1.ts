/**
 * E1 — alignment of the heads with the true centroids over training iterations, for each
 * initialisation regime and both score kinds, over many seeds (mean and 10–90 % band).
 *
 * Data: a 2-component isotropic mixture in `d` dimensions whose centroids have norm `norm` and
 * random directions; noise `σ`. Training: online SGD on fresh batches (the population risk).
 */
import { z } from 'zod';
import { GaussianMixture } from 'attnclust';
import { TwoHeadLayer } from 'attnclust';
import type { InitSpec, Scores } from 'attnclust';
import { linePlot } from '../report/plot';
import { band, byScale, type Experiment, fmt, runLimited, sphereMeans, type Table, onlineFields } from './common';

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
    const curves: { scores: string; name: string; x: number[]; mean: number[]; lo: number[]; hi: number[] }[] = [];
    const finals: Record<string, number> = {};
    for (const [scores, regime] of combos) {
      const runs = await runLimited(
        Array.from({ length: c.seeds }, (_, s) => async () => {
          const seed = c.seed * 1000 + s;
          const layer = layerFor(mix, c, scores, regime, seed);
          const r = await layer.train(mix, { steps: c.steps, batch: c.batch, lr: c.lr, seed, recordEvery: c.recordEvery, signal: ctx.signal });
          ctx.progress.tick();
          return r.history;
        }),
        2,
        ctx.signal,
      );
      runs.forEach((h, s) => h.forEach((e) => table.rows.push([scores, regime, s, e.step, e.risk, e.alignment ?? NaN, e.centroidError ?? NaN])));
      const steps = (runs[0] ?? []).map((e) => e.step);
      const bands = steps.map((_, i) => band(runs.map((h) => h[i]?.alignment ?? NaN)));
      curves.push({ scores, name: `${regime}`, x: steps, mean: bands.map((b) => b.mean), lo: bands.map((b) => b.lo), hi: bands.map((b) => b.hi) });
      finals[`final alignment ${scores} ${regime}`] = bands[bands.length - 1]?.mean ?? NaN;
      finals[`final centroid error ${scores} ${regime}`] = band(runs.map((h) => h[h.length - 1]?.centroidError ?? NaN)).mean;
    }
    ctx.progress.stop();
    const figures = c.scores.map((scores) => ({
      name: `alignment-${scores}`,
      title: `Alignment vs iteration ('${scores}' scores)`,
      spec: linePlot({
        title: `Head alignment, '${scores}' scores (d = ${c.dim}, ‖μ‖/σ = ${fmt(c.norm / c.sigma)}, λ = ${c.lambda})`,
        x: { label: 'SGD step' },
        y: { label: 'alignment (mean cosine)', domain: [-0.2, 1] },
        legendTitle: 'initialisation',
        series: curves.filter((cv) => cv.scores === scores),
      }) as unknown as Record<string, unknown>,
      caption: `Mean over ${c.seeds} seeds with the 10–90 % band.`,
    }));
    const parts = c.scores.map((s) => `'${s}' scores: ` + c.inits.map((i) => `${i} ${fmt(finals[`final alignment ${s} ${i}`] ?? NaN)}`).join(', '));
    return {
      tables: [table],
      figures,
      summary: finals,
      text: `Online SGD on a 2-component mixture (d = ${c.dim}, ‖μ‖ = ${c.norm}, σ = ${c.sigma}, λ = ${c.lambda}, ${c.steps} steps of ${c.batch} fresh samples, lr ${c.lr}, ${c.seeds} seeds). Final mean alignment: ${parts.join('; ')}.`,
    };
  },
};
