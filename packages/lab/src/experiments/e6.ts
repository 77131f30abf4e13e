/**
 * E6 — depth: identity attention applied `m = 1…M` times, with and without the residual
 * connection. Without it, each application with 'distance' scores is one step of Gaussian
 * *blurring* mean shift on the prompt (the tokens themselves move, so the kernel density changes
 * every step); with the residual each application is `X ← X + Attn(X)`. Measured per depth: the
 * quantization ratio, the within-cluster spread and the distance between cluster means, each
 * relative to the prompt's: medians over prompts with their 10–90 % quantiles, and the count of
 * failed prompts (quantization ratio at least 1, `RATIO_FAILED`). The merge depth of a variant is
 * the first depth at which the median (over prompts) distance between cluster means is below a
 * tenth of the prompt's.
 */
import { z } from 'zod';
import { hconcat, linePlot } from '../report/charts';
import type { Tensor } from 'attnclust';
import { band, bandFields, byScale, countFailed, type Experiment, fmtBand, prompt, RATIO_FAILED, type Table } from './common';
import { identityAttention } from 'attnclust';
import { prompts, ratios, promptDefaults, promptFields } from './icq';

const schema = z.object({
  ...promptFields,
  lambdas: z.array(z.number().positive()).min(1),
  maxDepth: z.number().int().min(1).max(4096),
  scores: z.array(z.enum(['dot', 'distance'])).min(1),
});
export type E6Config = z.infer<typeof schema>;

/**
 * Per prompt, from the cluster means `x̄_k` (taken in `X`) and `ȳ_k` (taken in `Y`, same labels):
 * `within = Σ_i ‖y_i − ȳ_{z_i}‖² / Σ_i ‖x_i − x̄_{z_i}‖²` (below 1: clusters contract) and
 * `between = mean_{k<l} ‖ȳ_k − ȳ_l‖ / mean_{k<l} ‖x̄_k − x̄_l‖` (near 0: clusters merged).
 */
export function clusterGeometry(x: Tensor, y: Tensor, labels: Uint32Array, k: number): { within: number[]; between: number[] } {
  const [b, l, d] = x.shape as [number, number, number];
  const stats = (t: Tensor, p: number): { spread: number; gap: number } => {
    const v = prompt(t, p).data;
    const sums = new Float64Array(k * d);
    const counts = new Float64Array(k);
    for (let i = 0; i < l; i++) {
      const z = labels[p * l + i] as number;
      counts[z]! += 1;
      for (let j = 0; j < d; j++) sums[z * d + j]! += v[i * d + j] as number;
    }
    for (let z = 0; z < k; z++) for (let j = 0; j < d; j++) sums[z * d + j]! /= Math.max(1, counts[z] as number);
    let spread = 0;
    for (let i = 0; i < l; i++) {
      const z = labels[p * l + i] as number;
      for (let j = 0; j < d; j++) spread += ((v[i * d + j] as number) - (sums[z * d + j] as number)) ** 2;
    }
    let gap = 0;
    let pairs = 0;
    for (let a = 0; a < k; a++) {
      for (let c = a + 1; c < k; c++) {
        if (!counts[a] || !counts[c]) continue;
        let s = 0;
        for (let j = 0; j < d; j++) s += ((sums[a * d + j] as number) - (sums[c * d + j] as number)) ** 2;
        gap += Math.sqrt(s);
        pairs++;
      }
    }
    return { spread, gap: pairs ? gap / pairs : NaN };
  };
  const within: number[] = [];
  const between: number[] = [];
  for (let p = 0; p < b; p++) {
    const sx = stats(x, p);
    const sy = stats(y, p);
    within.push(sy.spread / sx.spread);
    between.push(sy.gap / sx.gap);
  }
  return { within, between };
}

export const e6: Experiment<E6Config> = {
  id: 'e6',
  title: 'Depth: identity attention applied m times',
  description: 'quantization ratio and within-cluster spread after m = 1…16 identity layers, with and without residual',
  schema,
  defaults: (scale) => ({
    ...promptDefaults(scale, 6),
    lambdas: [0.25, 1],
    maxDepth: byScale(scale, { tiny: 4, small: 16, default: 16, paper: 32 }),
    scores: ['dot', 'distance'],
  }),
  async run(c, ctx) {
    const p = prompts(c);
    const depths = Array.from({ length: c.maxDepth }, (_, i) => i + 1);
    const variants = c.lambdas.flatMap((lambda) => c.scores.flatMap((s) => [false, true].map((residual) => ({ lambda, scores: s, residual }))));
    ctx.progress.start('e6: depth', variants.length * depths.length);
    const table: Table = { name: 'depth', columns: ['lambda', 'scores', 'residual', 'depth', 'prompt', 'ratio', 'withinSpreadRatio', 'betweenDistanceRatio'], rows: [] };
    type Runs = number[][]; // per depth, one value per prompt
    const curves: { name: string; x: number[]; ratio: Runs; within: Runs; between: Runs }[] = [];
    for (const v of variants) {
      const ratio = [];
      const within = [];
      const between = [];
      // Depth m is one more application to the output of depth m − 1.
      let y: Tensor = p.x;
      for (const m of depths) {
        y = await identityAttention(y, { lambda: v.lambda, scores: v.scores, residual: v.residual, signal: ctx.signal });
        const r = ratios(p, y);
        const g = clusterGeometry(p.x, y, p.labels, c.k);
        r.forEach((q, i) => table.rows.push([v.lambda, v.scores, String(v.residual), m, i, q, g.within[i]!, g.between[i]!]));
        ratio.push(r);
        within.push(g.within);
        between.push(g.between);
        ctx.progress.tick();
      }
      curves.push({ name: `λ = ${v.lambda}, ${v.scores}${v.residual ? ' + residual' : ''}`, x: depths, ratio, within, between });
    }
    ctx.progress.stop();
    const failedPrompt = (r: number) => r >= RATIO_FAILED;
    const line = (get: (q: (typeof curves)[number]) => Runs, ratio = false) =>
      curves.map((q) => {
        const bs = get(q).map((v) => band(v));
        const failed = ratio ? q.ratio.flatMap((v, i) => v.filter((r) => Number.isNaN(r) || failedPrompt(r)).map((r) => ({ x: q.x[i] as number, y: r }))) : undefined;
        return { name: q.name, x: q.x, y: bs.map((b) => b.median), lo: bs.map((b) => b.lo), hi: bs.map((b) => b.hi), ...(failed ? { failed } : {}) };
      });
    const last = (runs: Runs) => runs[runs.length - 1]!;
    /** First depth at which the median distance between cluster means is below a tenth of the prompt's. */
    const mergeDepth = (q: (typeof curves)[number]) => {
      const i = q.between.findIndex((v) => band(v).median < 0.1);
      return i < 0 ? NaN : (q.x[i] as number);
    };
    const nFailed = (v: number[]) => countFailed(v, failedPrompt);
    const bandCaption = `Median over ${c.prompts} prompts with the 10–90 % quantile band.`;
    return {
      tables: [table],
      figures: [
        {
          name: 'ratio',
          title: 'Quantization ratio vs depth',
          spec: linePlot({ title: `Quantization ratio after m layers (K = ${c.k}, d = ${c.dim}, L = ${c.length})`, x: { label: 'depth m' }, y: { label: 'quantization ratio', log: true }, legendTitle: 'variant', series: line((q) => q.ratio, true), yRule: RATIO_FAILED }) as unknown as Record<string, unknown>,
          caption: `${bandCaption} Crosses: single prompts whose ratio is at least ${RATIO_FAILED} (failed: the tokens did not move toward their own centroid), above the dashed line.`,
        },
        {
          name: 'geometry',
          title: 'Cluster geometry vs depth',
          spec: hconcat(
            [
              linePlot({ title: 'within-cluster spread, Y relative to X', x: { label: 'depth m' }, y: { label: 'spread(Y) / spread(X)', log: true }, legendTitle: 'variant', series: line((q) => q.within) }),
              linePlot({ title: 'distance between cluster means, Y relative to X', x: { label: 'depth m' }, y: { label: 'gap(Y) / gap(X)', log: true }, legendTitle: 'variant', series: line((q) => q.between) }),
            ],
            { shared: ['color'], legendBelow: true },
          ) as unknown as Record<string, unknown>,
          caption: `${bandCaption} Spread: squared distances of tokens to their own cluster mean. Gap: mean distance between the cluster means. Clusters are taken from the true labels.`,
        },
      ],
      summary: Object.fromEntries(
        curves.flatMap((q) => [
          ...bandFields((st) => `ratio ${st} at m=1 ${q.name}`, q.ratio[0]!),
          [`failed prompts at m=1 ${q.name}`, nFailed(q.ratio[0]!)] as [string, number],
          ...bandFields((st) => `ratio ${st} at m=${c.maxDepth} ${q.name}`, last(q.ratio)),
          [`failed prompts at m=${c.maxDepth} ${q.name}`, nFailed(last(q.ratio))] as [string, number],
          ...bandFields((st) => `within spread ${st} at m=${c.maxDepth} ${q.name}`, last(q.within)),
          ...bandFields((st) => `between gap ${st} at m=${c.maxDepth} ${q.name}`, last(q.between)),
          [`merge depth ${q.name}`, mergeDepth(q)] as [string, number],
        ]),
      ),
      text:
        `With K = ${c.k}, d = ${c.dim}, L = ${c.length} and ${c.prompts} prompts (medians over prompts, 10–90 % quantiles in brackets; a prompt fails when its ratio is at least ${RATIO_FAILED}), the quantization ratio after 1 and ${c.maxDepth} layers is ` +
        curves.map((q) => `${fmtBand(q.ratio[0]!)} → ${fmtBand(last(q.ratio))} (${q.name}; ${nFailed(q.ratio[0]!)} → ${nFailed(last(q.ratio))} failed)`).join(', ') +
        `. After ${c.maxDepth} layers the within-cluster spread relative to the prompt's is ` +
        curves.map((q) => `${fmtBand(last(q.within))} (${q.name})`).join(', ') +
        ", and the distance between cluster means relative to the prompt's is " +
        curves.map((q) => `${fmtBand(last(q.between))} (${q.name})`).join(', ') +
        '. Clusters merge (the median distance between their means comes within a tenth of its value in the prompt) at depth ' +
        curves.map((q) => `${Number.isNaN(mergeDepth(q)) ? `> ${c.maxDepth}` : mergeDepth(q)} (${q.name})`).join(', ') +
        '.',
    };
  },
};
