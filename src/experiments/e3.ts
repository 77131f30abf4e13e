/**
 * E3 — final alignment and centroid error of the trained heads vs the dimension `d`, at a fixed
 * separation, with k-means and EM beside them (the sweep of E2 along another axis).
 */
import { z } from 'zod';
import { band, byScale, type Experiment, fmt } from './common';
import { sweep, sweepFields, sweepFigure } from './e2';

const schema = z.object({ ...sweepFields, separation: z.number().positive(), sigma: z.number().positive(), dims: z.array(z.number().int().min(1)).min(1) });
export type E3Config = z.infer<typeof schema>;

export const e3: Experiment<E3Config> = {
  id: 'e3',
  title: 'Final alignment and centroid error vs dimension',
  description: 'final head alignment and centroid error as the dimension grows (2 to 256), with k-means and EM',
  schema,
  defaults: (scale) => ({
    seed: 3,
    lambda: 1,
    steps: byScale(scale, { tiny: 20, small: 150, default: 300, paper: 1500 }),
    batch: byScale(scale, { tiny: 32, small: 128, default: 256, paper: 1024 }),
    lr: 0.05,
    seeds: byScale(scale, { tiny: 2, small: 4, default: 6, paper: 30 }),
    baselineSamples: byScale(scale, { tiny: 64, small: 1000, default: 2000, paper: 10000 }),
    separation: 4,
    sigma: 1,
    dims: byScale(scale, { tiny: [2, 8], small: [2, 8, 32, 128], default: [2, 4, 8, 16, 32, 64, 128, 256], paper: [2, 4, 8, 16, 32, 64, 128, 256] }),
  }),
  async run(c, ctx) {
    const { table, rows } = await sweep('dim', c.dims.map((d) => ({ dim: d, norm: c.separation * c.sigma, sigma: c.sigma })), c.dims, c, ctx);
    const worst = rows.reduce((a, r) => (band(r.layerAlign).mean < band(a.layerAlign).mean ? r : a), rows[0]!);
    return {
      tables: [table],
      figures: [sweepFigure('dimension', `Recovery vs dimension (‖μ*‖/σ = ${c.separation}, λ = ${c.lambda})`, 'dimension d', true, rows, c.seeds)],
      summary: Object.fromEntries(rows.flatMap((r) => [[`layer alignment at d=${r.x}`, band(r.layerAlign).mean], [`layer centroid error at d=${r.x}`, band(r.layerErr).mean], [`k-means centroid error at d=${r.x}`, band(r.kmErr).mean]])),
      text:
        `Over d = ${c.dims.join(', ')} at ‖μ*‖/σ = ${c.separation}, the layer's final alignment is ` +
        rows.map((r) => `${fmt(band(r.layerAlign).mean)} (d = ${r.x})`).join(', ') +
        `; the lowest is at d = ${worst.x}. Its centroid error ranges ${fmt(Math.min(...rows.map((r) => band(r.layerErr).mean)))}–${fmt(Math.max(...rows.map((r) => band(r.layerErr).mean)))}, ` +
        `k-means's ${fmt(Math.min(...rows.map((r) => band(r.kmErr).mean)))}–${fmt(Math.max(...rows.map((r) => band(r.kmErr).mean)))} (the baselines see a fixed sample of ${c.baselineSamples} points; the layer sees ${c.steps} × ${c.batch} fresh ones).`,
    };
  },
};
