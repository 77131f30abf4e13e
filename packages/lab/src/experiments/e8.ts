/**
 * E8 — more heads on more components: `H = K` heads on a `K`-component mixture whose weights are
 * `π_k ∝ r^k` (`r = 1`: equal weights; small `r`: a heavy component and light ones), for 'dot' and
 * 'distance' scores. Heavy components pull heads toward them and a light component can be left
 * without a head (two heads sharing one centroid). The experiment counts, over seeds, the fraction of
 * runs whose heads reach every centroid (each matched head within a relative distance `tolerance`
 * of its centroid, under the matching that minimises the worst one), as `r` decreases; a seed
 * whose heads do not reach every centroid counts as *failed*. Alignments are medians over seeds
 * with their 10–90 % quantiles.
 */
import { z } from 'zod';
import { GaussianMixture } from 'attnclust';
import { TwoHeadLayer } from 'attnclust';
import { hconcat, linePlot } from '../report/charts';
import type { Tensor } from 'attnclust';
import { band, bandFields, byScale, type Experiment, fmt, fmtBand, rows, runLimited, sphereMeans, type Table, onlineFields } from './common';

const schema = z.object({
  ...onlineFields,
  dim: z.number().int().min(1),
  k: z.number().int().min(2).max(8),
  ratios: z.array(z.number().positive().max(1)).min(1),
  seeds: z.number().int().min(1),
  tolerance: z.number().positive(),
  initScale: z.number().min(0),
});
export type E8Config = z.infer<typeof schema>;

/** All permutations of `0..n-1`. */
function permutations(n: number): number[][] {
  if (n === 0) return [[]];
  return permutations(n - 1).flatMap((p) => Array.from({ length: n }, (_, i) => [...p.slice(0, i), n - 1, ...p.slice(i)]));
}

/** Largest relative distance head–centroid under the matching that minimises the largest one. */
export function worstMatchedError(params: Tensor, means: Tensor): number {
  const p = rows(params);
  const m = rows(means);
  const rel = (a: number[], b: number[]) => Math.hypot(...a.map((v, i) => v - (b[i] as number))) / Math.hypot(...b);
  let best = Infinity;
  for (const perm of permutations(p.length)) {
    let worst = 0;
    for (let j = 0; j < m.length; j++) worst = Math.max(worst, rel(p[perm[j] as number]!, m[j]!));
    best = Math.min(best, worst);
  }
  return best;
}

export const e8: Experiment<E8Config> = {
  id: 'e8',
  title: 'Three heads on three unequal components',
  description: "H = K = 3 heads on components of unequal weight: 'dot' vs 'distance' scores, fraction of seeds reaching all centroids",
  schema,
  defaults: (scale) => ({
    seed: 8,
    dim: 8,
    k: 3,
    ratios: byScale(scale, { tiny: [1, 0.2], small: [1, 0.5, 0.2], default: [1, 0.7, 0.5, 0.35, 0.2, 0.1], paper: [1, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2, 0.15, 0.1] }),
    norm: 4,
    sigma: 1,
    lambda: 1,
    steps: byScale(scale, { tiny: 20, small: 500, default: 1000, paper: 3000 }),
    batch: byScale(scale, { tiny: 32, small: 128, default: 256, paper: 1024 }),
    lr: 0.05,
    seeds: byScale(scale, { tiny: 2, small: 6, default: 12, paper: 50 }),
    tolerance: 0.25,
    initScale: 0.01,
  }),
  async run(c, ctx) {
    const k = c.k;
    const scoresList = ['dot', 'distance'] as const;
    ctx.progress.start('e8: training runs', c.ratios.length * 2 * c.seeds);
    const table: Table = { name: 'runs', columns: ['ratio', 'scores', 'seed', 'worstRelativeError', 'reachedAll', 'finalAlignment'], rows: [] };
    const fraction: Record<string, number[]> = { dot: [], distance: [] };
    /** Per score kind, per ratio: each seed's final alignment and whether it failed. */
    const runsOf: Record<string, { alignment: number; failed: boolean }[][]> = { dot: [], distance: [] };
    const weightsFor = (r: number) => {
      const raw = Array.from({ length: k }, (_, i) => r ** i);
      const total = raw.reduce((a, b) => a + b, 0);
      return raw.map((w) => w / total);
    };
    // Every (ratio, scores, seed) run in one queue with two in flight (no barrier between points);
    // the runs are independent, so the order changes nothing in the results.
    const points = c.ratios.flatMap((r) => scoresList.map((scores) => ({ r, scores, weights: weightsFor(r) })));
    const all = await runLimited(
      points.flatMap(({ scores, weights }) =>
        Array.from({ length: c.seeds }, (_, s) => async () => {
          const seed = c.seed * 1000 + s;
          const means = sphereMeans(k, c.dim, c.norm, seed, c.norm);
          const mix = GaussianMixture.isotropic({ means, sigma: c.sigma, weights });
          const layer = new TwoHeadLayer({ dim: c.dim, heads: k, lambda: c.lambda, scores, init: { kind: 'random', scale: c.initScale, seed } });
          const h = await layer.train(mix, { steps: c.steps, batch: c.batch, lr: c.lr, seed, recordEvery: c.steps, signal: ctx.signal });
          ctx.progress.tick();
          return { worst: worstMatchedError(layer.params, means), alignment: h.history[h.history.length - 1]!.alignment ?? NaN };
        }),
      ),
      2,
      ctx.signal,
    );
    for (const [pi, { r, scores }] of points.entries()) {
      const runs = all.slice(pi * c.seeds, (pi + 1) * c.seeds);
      runs.forEach((q, s) => table.rows.push([r, scores, s, q.worst, String(q.worst < c.tolerance), q.alignment]));
      fraction[scores]!.push(runs.filter((q) => q.worst < c.tolerance).length / runs.length);
      runsOf[scores]!.push(runs.map((q) => ({ alignment: q.alignment, failed: !(q.worst < c.tolerance) })));
    }
    ctx.progress.stop();
    const weightsOf = (r: number) =>
      weightsFor(r)
        .map((w) => fmt(w, 2))
        .join('/');
    const series = (get: Record<string, number[]>) => scoresList.map((s) => ({ name: `'${s}' scores`, x: c.ratios, y: get[s]! }));
    const alignSeries = scoresList.map((s) => {
      const b = runsOf[s]!.map((runs) => band(runs.map((q) => q.alignment)));
      const failed = runsOf[s]!.flatMap((runs, i) => runs.filter((q) => q.failed).map((q) => ({ x: c.ratios[i] as number, y: q.alignment })));
      return { name: `'${s}' scores`, x: c.ratios, y: b.map((v) => v.median), lo: b.map((v) => v.lo), hi: b.map((v) => v.hi), failed };
    });
    const nFailed = (s: string, i: number) => runsOf[s]![i]!.filter((q) => q.failed).length;
    const summary: Record<string, number> = {};
    c.ratios.forEach((r, i) =>
      scoresList.forEach((s) => {
        summary[`fraction reaching all, ${s}, r=${r}`] = fraction[s]![i]!;
        summary[`failed seeds, ${s}, r=${r}`] = nFailed(s, i);
        for (const [k, v] of bandFields((st) => `final alignment ${st}, ${s}, r=${r}`, runsOf[s]![i]!.map((q) => q.alignment))) summary[k] = v;
      }),
    );
    return {
      tables: [table],
      figures: [
        {
          name: 'imbalance',
          title: `${k} heads on ${k} components of unequal weight`,
          spec: hconcat(
            [
              linePlot({ title: 'seeds whose heads reach every centroid', x: { label: 'weight ratio r (π_k ∝ r^k)', log: true }, y: { label: 'fraction of seeds', domain: [0, 1.02] }, series: series(fraction) }),
              linePlot({ title: 'final alignment', x: { label: 'weight ratio r (π_k ∝ r^k)', log: true }, y: { label: 'mean cosine over heads' }, series: alignSeries }),
            ],
            { title: `H = K = ${k}, d = ${c.dim}, ‖μ*‖/σ = ${fmt(c.norm / c.sigma)}, λ = ${c.lambda}, ${c.steps} steps`, shared: ['color'], legendBelow: true },
          ) as unknown as Record<string, unknown>,
          caption: `${c.seeds} seeds per point. A run reaches every centroid when each matched head is within ${c.tolerance} relative distance of its centroid; otherwise it failed. Right: median final alignment over seeds with the 10–90 % quantile band; crosses: the final alignment of each failed seed.`,
        },
      ],
      summary,
      text:
        `With ${k} heads on ${k} components (d = ${c.dim}, ‖μ*‖ = ${c.norm}, σ = ${c.sigma}, λ = ${c.lambda}, ${c.steps} steps, ${c.seeds} seeds), the fraction of seeds whose heads reach every centroid is, ` +
        c.ratios.map((r, i) => `for weights ${weightsOf(r)}: ${fmt(fraction.dot![i]!)} ('dot') and ${fmt(fraction.distance![i]!)} ('distance')`).join('; ') +
        `. Final alignment, median [10–90 % quantiles] over seeds, from r = ${c.ratios[0]} to r = ${c.ratios[c.ratios.length - 1]}: ` +
        scoresList.map((s) => `${fmtBand(runsOf[s]![0]!.map((q) => q.alignment))} → ${fmtBand(runsOf[s]![c.ratios.length - 1]!.map((q) => q.alignment))} ('${s}'; ${nFailed(s, 0)} → ${nFailed(s, c.ratios.length - 1)} of ${c.seeds} failed)`).join(', ') +
        '.',
    };
  },
};
