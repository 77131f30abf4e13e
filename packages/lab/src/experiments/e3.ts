/**
 * E3 — final alignment and centroid error of the trained heads vs the dimension `d`, at a fixed
 * separation, with k-means and EM beside them (the sweep of E2 along another axis; medians, quantiles
 * and failed seeds as there).
 */
import { z } from 'zod';
import { byScale, type Experiment } from './common';
import { sweep, sweepFields, sweepFigure, sweepSummary, sweepText } from './e2';

const schema = z.object({ ...sweepFields, separation: z.number().positive(), norm: z.number().positive(), dims: z.array(z.number().int().min(1)).min(1) });
export type E3Config = z.infer<typeof schema>;

export const e3: Experiment<E3Config> = {
  id: 'e3',
  title: 'Final alignment and centroid error vs dimension',
  description: 'final head alignment and centroid error as the dimension grows (2 to 256), with k-means and EM',
  schema,
  defaults: (scale) => ({
    seed: 3,
    lambdas: [0.25, 1],
    steps: byScale(scale, { tiny: 20, small: 400, default: 1000, paper: 3000 }),
    batch: byScale(scale, { tiny: 32, small: 128, default: 256, paper: 1024 }),
    lr: 0.05,
    seeds: byScale(scale, { tiny: 2, small: 4, default: 8, paper: 30 }),
    baselineSamples: byScale(scale, { tiny: 64, small: 1000, default: 2000, paper: 10000 }),
    separation: 4,
    norm: 4,
    dims: byScale(scale, { tiny: [2, 8], small: [2, 8, 32, 128], default: [2, 4, 8, 16, 32, 64, 128, 256], paper: [2, 4, 8, 16, 32, 64, 128, 256] }),
  }),
  async run(c, ctx) {
    const sigma = c.norm / c.separation;
    const { table, rows } = await sweep('dim', c.dims.map((d) => ({ dim: d, norm: c.norm, sigma })), c.dims, c, ctx);
    return {
      tables: [table],
      figures: [sweepFigure('dimension', `Recovery vs dimension (‖μ*‖/σ = ${c.separation}, ‖μ*‖ = ${c.norm})`, 'dimension d', true, rows, c.seeds)],
      summary: sweepSummary(rows, (x) => `at d=${x}`),
      text: `From d = ${rows[0]!.x} to d = ${rows[rows.length - 1]!.x} at ‖μ*‖/σ = ${c.separation} (${c.seeds} seeds, ${c.steps} steps of ${c.batch} fresh samples), ` + sweepText(rows, c.lambdas, c.baselineSamples),
    };
  },
};
