/**
 * E5 — in-context quantization by identity attention `Y = softmax(λXXᵀ)X`: the quantization ratio
 * `Σ‖y_i − μ_{z_i}‖² / Σ‖x_i − μ_{z_i}‖²` (below 1: tokens moved toward their own centroid) vs `λ`,
 * vs the prompt length `L`, vs the separation, vs `K`; the cluster recovery (adjusted Rand index of a
 * per-prompt k-means) on the outputs beside the same on the raw prompt; a 2-D before/after panel.
 * Every number is a median over prompts with its 10–90 % quantiles; a prompt *fails* when its ratio
 * is at least 1 (`RATIO_FAILED`).
 */
import { z } from 'zod';
import { GaussianMixture } from 'attnclust';
import { limitQuantization } from 'attnclust';
import type { PromptBatch, Scores } from 'attnclust';
import { hconcat, linePlot, scatterPlot } from '../report/charts';
import { band, bandFields, byScale, countFailed, type Experiment, fmt, fmtBand, logspace, prompt, RATIO_FAILED, rows, type Table } from './common';
import { attend, kmeansAri, prompts, ratios, promptDefaults, promptFields } from './icq';

const schema = z.object({
  ...promptFields,
  lambdas: z.array(z.number().positive()).min(1),
  lengths: z.array(z.number().int().min(2)).min(1),
  separations: z.array(z.number().positive()).min(1),
  ks: z.array(z.number().int().min(1)).min(1),
  scores: z.enum(['dot', 'distance']),
});
export type E5Config = z.infer<typeof schema>;

type Row = { x: number; ratio: number[]; ariY?: number[]; ariX?: number[] };

/** Target accuracy of the exact L = ∞ ratios; at large λ the softmax is nearly a step and the quadrature may stop short of it: the largest change reached is reported in the caption. */
const LIMIT_TOL = 1e-7;

/** Largest K whose prompts have an exact infinite-context ratio (the centroids' span, rank ≤ 4). */
const LIMIT_MAX_K = 4;

/**
 * The quantization ratio of each prompt's own mixture at infinite context (docs/population.md):
 * what the finite-L ratio of that prompt tends to as L → ∞.
 */
function limitRatios(p: PromptBatch, sigma: number, lambda: number, scores: Scores, worst: { error: number }): number[] {
  const [b] = p.means.shape as [number, number, number];
  return Array.from({ length: b }, (_, i) => {
    const means = prompt(p.means, i);
    const gmm = GaussianMixture.isotropic({ means: { shape: means.shape, data: Float64Array.from(means.data) }, sigma });
    const r = limitQuantization(gmm, { lambda, scores, quadrature: { tol: LIMIT_TOL } });
    worst.error = Math.max(worst.error, r.error);
    return r.ratio;
  });
}

/** Mean and standard error of the per-prompt gap between the finite-L and the limiting ratio. */
function gap(finite: number[], limit: number[]): { mean: number; se: number } {
  const d = finite.map((r, i) => r - (limit[i] as number));
  const m = d.reduce((a, b) => a + b, 0) / d.length;
  const se = d.length > 1 ? Math.sqrt(d.reduce((a, x) => a + (x - m) ** 2, 0) / (d.length - 1) / d.length) : NaN;
  return { mean: m, se };
}

/**
 * `promises`, each marked as handled: the caller awaits them one by one, and one that fails
 * before its turn must not end the process as an unhandled rejection (its turn still throws).
 */
function started<T>(promises: Promise<T>[]): Promise<T>[] {
  for (const p of promises) p.catch(() => {});
  return promises;
}

export const e5: Experiment<E5Config> = {
  id: 'e5',
  title: 'In-context quantization by identity attention',
  description: 'quantization ratio and cluster recovery of identity attention vs λ, L, separation and K, with per-prompt k-means',
  schema,
  defaults: (scale) => ({
    ...promptDefaults(scale, 5),
    lambdas: byScale(scale, { tiny: [0.03, 0.3, 3, 10], small: [0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30], default: [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 3, 5, 10, 30], paper: logspace(0.003, 30, 25) }),
    lengths: byScale(scale, { tiny: [8, 32], small: [16, 64, 256], default: [16, 32, 64, 128, 256, 512, 1024], paper: [16, 32, 64, 128, 256, 512, 1024, 2048] }),
    separations: byScale(scale, { tiny: [2, 6], small: [1, 2, 4, 8], default: [1, 2, 3, 4, 6, 8], paper: [0.5, 1, 1.5, 2, 3, 4, 6, 8, 12] }),
    ks: byScale(scale, { tiny: [2, 3], small: [2, 4, 8], default: [2, 3, 4, 6, 8], paper: [2, 3, 4, 5, 6, 8, 12, 16] }),
    scores: 'dot' as const,
  }),
  async run(c, ctx) {
    const base = { k: c.k, dim: c.dim, radius: c.radius, sigma: c.sigma, prompts: c.prompts, length: c.length, seed: c.seed };
    const total = c.lambdas.length + c.lengths.length + c.separations.length + c.ks.length + 1;
    ctx.progress.start('e5: identity attention', total);
    const table: Table = { name: 'ratios', columns: ['sweep', 'value', 'lambda', 'prompt', 'ratio', 'ariOutputs', 'ariInputs'], rows: [] };
    const p0 = prompts(base);
    const ariX = kmeansAri(p0, p0.x, c.seed);
    const vsLambda: Row[] = [];
    const exact = c.k <= LIMIT_MAX_K;
    const limits: number[][] = [];
    const worst = { error: 0 };
    // Every λ's identity attention starts at once (on the worker threads) while this thread
    // computes the exact limits and the measurements of the λ before: they overlap instead of
    // taking turns. The results are the same whatever the order.
    const ys = started(c.lambdas.map((lambda) => attend(p0, { lambda, scores: c.scores, signal: ctx.signal })));
    for (const [li, lambda] of c.lambdas.entries()) {
      if (exact) limits.push(limitRatios(p0, c.sigma, lambda, c.scores, worst));
      const y = await ys[li]!;
      const row = { x: lambda, ratio: ratios(p0, y), ariY: kmeansAri(p0, y, c.seed), ariX };
      row.ratio.forEach((r, i) => table.rows.push(['lambda', lambda, lambda, i, r, row.ariY[i]!, ariX[i]!]));
      vsLambda.push(row);
      ctx.progress.tick();
    }
    const best = vsLambda.reduce((a, r) => (band(r.ratio).median < band(a.ratio).median ? r : a), vsLambda[0]!);
    const lambdaStar = best.x;
    const bestIndex = vsLambda.indexOf(best);
    const limitAtBest = exact ? gap(best.ratio, limits[bestIndex]!) : undefined;
    const exactWindow = exact ? vsLambda.filter((_, i) => band(limits[i]!).median < 1).map((r) => r.x) : [];
    const sweep = async (name: string, values: number[], make: (v: number) => Parameters<typeof prompts>[0], withAri = false): Promise<Row[]> => {
      const out: Row[] = [];
      const ps = values.map((v) => prompts(make(v)));
      const ys = started(ps.map((p) => attend(p, { lambda: lambdaStar, scores: c.scores, signal: ctx.signal })));
      for (const [vi, v] of values.entries()) {
        const p = ps[vi]!;
        const y = await ys[vi]!;
        const row: Row = { x: v, ratio: ratios(p, y) };
        if (withAri) {
          row.ariY = kmeansAri(p, y, c.seed);
          row.ariX = kmeansAri(p, p.x, c.seed);
        }
        row.ratio.forEach((r, i) => table.rows.push([name, v, lambdaStar, i, r, row.ariY?.[i] ?? NaN, row.ariX?.[i] ?? NaN]));
        out.push(row);
        ctx.progress.tick();
      }
      return out;
    };
    const vsLength = await sweep('length', c.lengths, (l) => ({ ...base, length: l }));
    // The same prompts' mixtures at L = ∞ (the λ* row of the λ sweep: the prior and seed are the same).
    const limitLength = exact ? band(limits[bestIndex]!).median : NaN;
    const vsSeparation = await sweep('separation', c.separations, (s) => ({ ...base, radius: s * c.sigma }), true);
    const vsK = await sweep('k', c.ks, (k) => ({ ...base, k }));
    // 2-D before/after panel.
    const p2 = prompts({ ...base, dim: 2, prompts: 1, length: Math.min(c.length, 400) });
    const lambda2 = lambdaStar * Math.sqrt(c.dim / 2);
    const y2 = await attend(p2, { lambda: lambda2, scores: c.scores });
    ctx.progress.tick();
    ctx.progress.stop();

    const failedPrompt = (r: number) => r >= RATIO_FAILED;
    /** Median and 10–90 % band of `get` over prompts; with `ratio`, the failed prompts as crosses. */
    const series = (name: string, r: Row[], get: (r: Row) => number[], ratio = false) => {
      const b = r.map((q) => band(get(q)));
      const failed = ratio ? r.flatMap((q) => q.ratio.filter((v) => Number.isNaN(v) || failedPrompt(v)).map((v) => ({ x: q.x, y: v }))) : undefined;
      return { name, x: r.map((q) => q.x), y: b.map((v) => v.median), lo: b.map((v) => v.lo), hi: b.map((v) => v.hi), ...(failed ? { failed } : {}) };
    };
    const ratioSeries = (name: string, r: Row[]) => series(name, r, (q) => q.ratio, true);
    const ratioAxis = { label: 'quantization ratio', log: true };
    const window = vsLambda.filter((r) => band(r.ratio).median < RATIO_FAILED).map((r) => r.x);
    const label = (i: number) => `component ${(p2.labels[i] as number) + 1}`;
    const mu2 = rows(prompt(p2.means, 0)).map((m, k) => ({ x: m[0]!, y: m[1]!, label: `μ${k + 1}` }));
    const nFailed = (r: Row) => countFailed(r.ratio, failedPrompt);
    /** Summary fields of one sweep: ratio median, q10, q90 and failed prompts at each value. */
    const sweepFields = (at: string, r: Row[]): [string, number][] =>
      r.flatMap((q) => [...bandFields((st) => `ratio ${st} at ${at}=${q.x}`, q.ratio), [`failed prompts at ${at}=${q.x}`, nFailed(q)] as [string, number]]);
    const first = <T>(a: T[]) => a[0]!;
    const last = <T>(a: T[]) => a[a.length - 1]!;
    const caption = `Median over ${c.prompts} prompts with the 10–90 % quantile band; crosses: single prompts whose ratio is at least ${RATIO_FAILED} (failed: the tokens did not move toward their own centroid), above the dashed line.`;
    return {
      tables: [table],
      figures: [
        {
          name: 'lambda',
          title: 'Quantization ratio and cluster recovery vs λ',
          spec: hconcat(
            [
              linePlot({
                title: 'quantization ratio vs λ',
                x: { label: 'λ', log: true },
                y: ratioAxis,
                series: [
                  ratioSeries(`identity attention, L = ${c.length}`, vsLambda),
                  ...(exact ? [series('L = ∞ (exact)', vsLambda.map((r, i) => ({ x: r.x, ratio: limits[i]! })), (q) => q.ratio)] : []),
                ],
                yRule: RATIO_FAILED,
              }),
              linePlot({
                title: 'cluster recovery (per-prompt k-means)',
                x: { label: 'λ', log: true },
                y: { label: 'adjusted Rand index', domain: [-0.1, 1.05] },
                series: [series('k-means on outputs Y', vsLambda, (r) => r.ariY ?? []), series('k-means on prompt X', vsLambda, (r) => r.ariX ?? [])],
              }),
            ],
            { title: `Identity attention on sphere-prior prompts (K = ${c.k}, d = ${c.dim}, L = ${c.length}, r = ${c.radius}, σ = ${c.sigma})`, legendBelow: true },
          ) as unknown as Record<string, unknown>,
          caption: `${caption} Cluster recovery: median and 10–90 % band of the adjusted Rand index over prompts.${exact ? " The L = ∞ curve is exact up to the quadrature (largest change between its last two levels: ${fmt(worst.error)}): each prompt's own mixture at infinite context (docs/population.md)." : ''}`,
        },
        {
          name: 'sweeps',
          title: `Quantization ratio vs L, separation and K, and cluster recovery (λ = ${fmt(lambdaStar)})`,
          spec: hconcat(
            [
              linePlot({
                title: 'vs prompt length L',
                x: { label: 'L', log: true },
                y: ratioAxis,
                series: [ratioSeries('ratio', vsLength), ...(exact ? [{ name: 'L = ∞ (exact)', x: vsLength.map((r) => r.x), y: vsLength.map(() => limitLength), lo: vsLength.map(() => limitLength), hi: vsLength.map(() => limitLength) }] : [])],
                yRule: RATIO_FAILED,
              }),
              linePlot({ title: 'vs separation r/σ', x: { label: 'radius / σ' }, y: ratioAxis, series: [ratioSeries('ratio', vsSeparation)], yRule: RATIO_FAILED }),
              linePlot({ title: 'vs number of components K', x: { label: 'K' }, y: ratioAxis, series: [ratioSeries('ratio', vsK)], yRule: RATIO_FAILED }),
              linePlot({
                title: 'cluster recovery vs separation',
                x: { label: 'radius / σ' },
                y: { label: 'adjusted Rand index', domain: [-0.1, 1.05] },
                series: [series('k-means on outputs Y', vsSeparation, (r) => r.ariY ?? []), series('k-means on prompt X', vsSeparation, (r) => r.ariX ?? [])],
              }),
            ],
            { title: `Identity attention at λ = ${fmt(lambdaStar)}`, columns: 2, legendBelow: true },
          ) as unknown as Record<string, unknown>,
          caption: `Each panel varies one setting of the prior, the others as in the λ sweep; the last panel compares a per-prompt k-means on the outputs with one on the raw prompt. ${caption}`,
        },
        {
          name: 'before-after',
          title: '2-D prompt before and after identity attention',
          spec: hconcat(
            [
              scatterPlot({ title: 'prompt X', points: rows(prompt(p2.x, 0)).map((q, i) => ({ x: q[0]!, y: q[1]!, group: label(i) })), markers: mu2, groupTitle: 'cluster' }),
              scatterPlot({ title: `outputs Y (λ = ${fmt(lambda2)})`, points: rows(prompt(y2, 0)).map((q, i) => ({ x: q[0]!, y: q[1]!, group: label(i) })), markers: mu2, groupTitle: 'cluster' }),
            ],
            { shared: ['x', 'y', 'color'] },
          ) as unknown as Record<string, unknown>,
          caption: 'One 2-D prompt: each token is replaced by a softmax-weighted mean of the prompt, which pulls it into its own cluster.',
        },
      ],
      summary: Object.fromEntries([
        ['best λ', lambdaStar],
        ...bandFields((st) => `ratio ${st} at best λ`, best.ratio),
        ['failed prompts at best λ', nFailed(best)],
        ['lowest λ with ratio median below 1', window.length ? Math.min(...window) : NaN],
        ['highest λ with ratio median below 1', window.length ? Math.max(...window) : NaN],
        ...bandFields((st) => `ARI of k-means on outputs ${st} at best λ`, best.ariY ?? []),
        ...bandFields((st) => `ARI of k-means on prompt ${st}`, ariX),
        ...sweepFields('λ', vsLambda),
        ...sweepFields('best λ, L', vsLength),
        ...sweepFields('best λ, r/σ', vsSeparation),
        ...sweepFields('best λ, K', vsK),
        ...(limitAtBest
          ? [
              ...bandFields((st) => `exact L = ∞ ratio ${st} at best λ`, limits[bestIndex]!),
              ...bandFields((st) => `gap of the finite-L ratio to L = ∞ ${st} at best λ`, best.ratio.map((r, i) => r - limits[bestIndex]![i]!)),
              ['gap of the finite-L ratio to L = ∞ at best λ, in standard errors of its average over prompts', limitAtBest.mean / limitAtBest.se] as const,
            ]
          : []),
      ]),
      text:
        `On ${c.prompts} prompts (K = ${c.k}, d = ${c.dim}, L = ${c.length}, radius ${c.radius}, σ = ${c.sigma}); every figure is the median over prompts with the 10–90 % quantiles in brackets, and a prompt fails when its quantization ratio is at least ${RATIO_FAILED}. ` +
        (window.length ? `The median ratio is below 1 for λ from ${fmt(Math.min(...window))} to ${fmt(Math.max(...window))} ` : 'The median ratio is below 1 at no λ of the grid, ') +
        `and smallest, ${fmtBand(best.ratio)} (${nFailed(best)}/${c.prompts} failed), at λ = ${fmt(lambdaStar)}. ` +
        `Median ratio at each λ: ${vsLambda.map((r) => `${fmt(band(r.ratio).median)} (λ = ${fmt(r.x)}, ${nFailed(r)} failed)`).join(', ')}. ` +
        `A per-prompt k-means recovers the clusters with adjusted Rand index ${fmtBand(ariX)} on the raw prompt and ${fmtBand(best.ariY ?? [])} on the outputs at λ = ${fmt(lambdaStar)}. ` +
        `At that λ the ratio goes from ${fmtBand(first(vsLength).ratio)} (L = ${first(vsLength).x}) to ${fmtBand(last(vsLength).ratio)} (L = ${last(vsLength).x}), ` +
        `from ${fmtBand(first(vsSeparation).ratio)} to ${fmtBand(last(vsSeparation).ratio)} as r/σ goes from ${first(vsSeparation).x} to ${last(vsSeparation).x}, ` +
        `and from ${fmtBand(first(vsK).ratio)} (K = ${first(vsK).x}) to ${fmtBand(last(vsK).ratio)} (K = ${last(vsK).x}). ` +
        `Per-prompt k-means ARI along the separation sweep, on the outputs vs on the prompt: ` +
        vsSeparation.map((r) => `${fmt(band(r.ariY ?? []).median)} vs ${fmt(band(r.ariX ?? []).median)} (r/σ = ${r.x})`).join(', ') +
        '.' +
        (limitAtBest
          ? ` At infinite context the same prompts' mixtures give a median ratio of ${fmt(band(limits[bestIndex]!).median)} at λ = ${fmt(lambdaStar)} (exact, no sampling); the finite-L ratio sits ${fmt(limitAtBest.mean)} from it on average over prompts, ` +
            `${fmt(limitAtBest.mean / limitAtBest.se)} standard errors (a finite-size effect of L = ${c.length} when that is large, not noise). ` +
            (exactWindow.length ? `The exact L = ∞ median ratio is below 1 for λ from ${fmt(Math.min(...exactWindow))} to ${fmt(Math.max(...exactWindow))}.` : 'The exact L = ∞ median ratio is below 1 at no λ of the grid.')
          : ` (No exact L = ∞ curve: K = ${c.k} centroids can span more than ${LIMIT_MAX_K} dimensions.)`),
    };
  },
};
