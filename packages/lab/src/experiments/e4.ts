/**
 * E4 — the 2-D illustration: the two input clouds, the layer's outputs `T_Θ(x)` (each cloud
 * flattened onto the segment between the heads), and the head trajectories from initialisation to
 * the end of training.
 */
import { z } from 'zod';
import { GaussianMixture } from 'attnclust';
import { TwoHeadLayer } from 'attnclust';
import { alignment, centroidError, quantizationRatio } from 'attnclust';
import { hconcat, scatterPlot } from '../report/charts';
import type { Scores } from 'attnclust';
import { byScale, type Experiment, fmt, rows, sphereMeans, type Table, onlineFields } from './common';

const schema = z.object({
  ...onlineFields,
  points: z.number().int().min(1),
  initScale: z.number().min(0),
  scores: z.enum(['dot', 'distance']),
});
export type E4Config = z.infer<typeof schema>;

export const e4: Experiment<E4Config> = {
  id: 'e4',
  title: '2-D illustration',
  description: 'input clouds, the layer outputs (flattened clouds) and the head trajectories in 2-D',
  schema,
  defaults: (scale) => ({
    seed: 4,
    norm: 3,
    sigma: 0.8,
    // Small enough that the outputs spread along the segment between the heads (the flattened
    // clouds), large enough that the heads still end on the centroids.
    lambda: 0.2,
    steps: byScale(scale, { tiny: 30, small: 200, default: 400, paper: 1000 }),
    batch: byScale(scale, { tiny: 32, small: 128, default: 256, paper: 512 }),
    lr: 0.05,
    points: byScale(scale, { tiny: 100, small: 400, default: 600, paper: 1500 }),
    initScale: 0.5,
    scores: 'dot' as Scores,
  }),
  async run(c, ctx) {
    const means = sphereMeans(2, 2, c.norm, c.seed, 1.5 * c.norm);
    const mix = GaussianMixture.isotropic({ means, sigma: c.sigma });
    const layer = new TwoHeadLayer({ dim: 2, lambda: c.lambda, scores: c.scores, init: { kind: 'random', scale: c.initScale, seed: c.seed } });
    ctx.progress.start('e4: training', 1);
    const r = await layer.train(mix, { steps: c.steps, batch: c.batch, lr: c.lr, seed: c.seed, recordEvery: Math.max(1, Math.floor(c.steps / 100)), recordParams: true, signal: ctx.signal });
    ctx.progress.tick();
    ctx.progress.stop();
    const sample = mix.sample(c.points, { seed: c.seed, stream: 11 });
    const out = layer.forward(sample.x);
    const xs = rows(sample.x);
    const ys = rows(out);
    const mu = rows(means);
    const traj = [0, 1].map((h) => ({
      name: `head ${h + 1}`,
      x: r.history.map((e) => e.params!.data[h * 2] as number),
      y: r.history.map((e) => e.params!.data[h * 2 + 1] as number),
    }));
    const markers = mu.map((m, k) => ({ x: m[0] as number, y: m[1] as number, label: `μ*${k + 1}` }));
    const label = (i: number) => `component ${(sample.labels[i] as number) + 1}`;
    // Points in label order, so the legend lists component 1 first.
    const order = Array.from(sample.labels.keys()).sort((i, j) => (sample.labels[i] as number) - (sample.labels[j] as number));
    const table: Table = { name: 'points', columns: ['x1', 'x2', 'component', 'y1', 'y2'], rows: xs.map((p, i) => [p[0]!, p[1]!, sample.labels[i] as number, ys[i]![0]!, ys[i]![1]!]) };
    const trajTable: Table = { name: 'trajectories', columns: ['step', 'head', 'theta1', 'theta2'], rows: r.history.flatMap((e) => [0, 1].map((h) => [e.step, h + 1, e.params!.data[h * 2] as number, e.params!.data[h * 2 + 1] as number])) };
    const a = alignment(layer.params, means);
    // How far the outputs moved toward their own centroid: Σ‖T(x_i) − μ_{z_i}‖² / Σ‖x_i − μ_{z_i}‖².
    const pull = quantizationRatio(sample.x, out, means, sample.labels);
    const err = centroidError(layer.params, means);
    return {
      tables: [table, trajTable],
      figures: [
        {
          name: 'illustration',
          title: 'Inputs, outputs and head trajectories in 2-D',
          spec: hconcat(
            [
              scatterPlot({ title: 'inputs x and head trajectories', points: order.map((i) => ({ x: xs[i]![0]!, y: xs[i]![1]!, group: label(i) })), paths: traj, markers, groupTitle: 'cluster', pathTitle: 'head' }),
              scatterPlot({ title: 'outputs T(x)', points: order.map((i) => ({ x: ys[i]![0]!, y: ys[i]![1]!, group: label(i) })), markers, groupTitle: 'cluster' }),
            ],
            { title: `Two-head layer in 2-D ('${c.scores}' scores, λ = ${c.lambda}, ‖μ*‖/σ = ${fmt(c.norm / c.sigma)})`, shared: ['x', 'y', 'color'] },
          ) as unknown as Record<string, unknown>,
          caption: 'Left: the sample coloured by true component, the heads moving from their initialisation to the centroids (crosses). Right: the layer maps every token to a convex combination of the heads, flattening each cloud onto its centroid.',
        },
      ],
      summary: { alignment: a, centroidError: err, quantizationRatio: pull },
      text: `After ${c.steps} steps the heads sit at ${rows(layer.params).map((p) => `(${p.map((v) => fmt(v)).join(', ')})`).join(' and ')} for centroids ${mu.map((p) => `(${p.map((v) => fmt(v)).join(', ')})`).join(' and ')}: alignment ${fmt(a, 4)}, relative centroid error ${fmt(err)}. The outputs T(x) are ${fmt(pull)} times as far (in squared distance) from their own centroid as the inputs.`,
    };
  },
};
