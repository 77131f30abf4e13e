/**
 * E7 — a general attention layer (model C, one head, `W_Q, W_K, W_V, W_O` all trained) on mixture
 * prompts with the reconstruction loss `Σ_i ‖x_i − Attn(X)_i‖²`, from random initialisation: what
 * does it learn? Measured: the loss over training beside identity attention's at its best `λ`; the
 * learned bilinear form `λ W_Q W_Kᵀ` and write-back `W_V W_O`, compared with multiples of the
 * identity (their mean diagonal, and the size of the off-diagonal part relative to it); and the
 * quantization ratio of the trained layer on held-out prompts. Medians over seeds with their
 * 10–90 % quantiles; a seed *fails* when its held-out loss is above identity attention's at its
 * best λ (it learned less than the parameter-free reference).
 */
import { z } from 'zod';
import { AttentionLayer } from 'attnclust';
import { MixturePrior } from 'attnclust';
import { identityAttention } from 'attnclust';
import { hconcat, heatmap, linePlot, type PlotSpec } from '../report/charts';
import type { Tensor } from 'attnclust';
import { band, bandFields, byScale, countFailed, type Experiment, fmt, fmtBand, logspace, type Table } from './common';
import { ratios } from './icq';

const schema = z.object({
  seed: z.number().int().min(0),
  dim: z.number().int().min(1).max(256),
  k: z.number().int().min(1),
  radius: z.number().positive(),
  sigma: z.number().positive(),
  length: z.number().int().min(2),
  batch: z.number().int().min(1),
  steps: z.number().int().min(1),
  lr: z.number().positive(),
  seeds: z.number().int().min(1),
  heldOut: z.number().int().min(1),
});
export type E7Config = z.infer<typeof schema>;

/** Mean diagonal and (mean |off-diagonal|) / |mean diagonal| of a square matrix. */
export function identityLikeness(m: Tensor): { diagonal: number; offRatio: number } {
  const d = m.shape[0] as number;
  let diag = 0;
  let off = 0;
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) (i === j ? (diag += m.data[i * d + j] as number) : (off += Math.abs(m.data[i * d + j] as number)));
  diag /= d;
  off /= Math.max(1, d * d - d);
  return { diagonal: diag, offRatio: off / Math.abs(diag) };
}

/** A heat map of a square `[d, d]` matrix. */
function matrixMap(title: string, m: Tensor): PlotSpec {
  const d = m.shape[0] as number;
  return heatmap({ title, rows: d, cols: d, data: m.data });
}

function loss(x: Tensor, y: Tensor): number {
  let s = 0;
  for (let i = 0; i < x.data.length; i++) s += ((x.data[i] as number) - (y.data[i] as number)) ** 2;
  const [b, l] = x.shape as [number, number, number];
  return s / (b * l);
}

export const e7: Experiment<E7Config> = {
  id: 'e7',
  title: 'A general attention layer trained on mixture prompts',
  description: 'model C (W_Q, W_K, W_V, W_O trained) on prompts with the reconstruction loss: what W_Q W_Kᵀ and W_V W_O learn',
  schema,
  defaults: (scale) => ({
    seed: 7,
    dim: 8,
    k: 2,
    radius: 3,
    sigma: 0.5,
    length: byScale(scale, { tiny: 16, small: 64, default: 64, paper: 128 }),
    batch: byScale(scale, { tiny: 2, small: 8, default: 8, paper: 16 }),
    steps: byScale(scale, { tiny: 10, small: 300, default: 600, paper: 3000 }),
    lr: 0.01,
    seeds: byScale(scale, { tiny: 1, small: 2, default: 4, paper: 10 }),
    heldOut: byScale(scale, { tiny: 2, small: 16, default: 32, paper: 128 }),
  }),
  async run(c, ctx) {
    const prior = MixturePrior.sphere({ k: c.k, dim: c.dim, radius: c.radius, sigma: c.sigma });
    const test = prior.samplePrompts(c.heldOut, c.length, { seed: c.seed + 1_000_000, dtype: 'f32' });
    // Identity attention over a λ grid on the held-out prompts: the parameter-free reference.
    const grid = logspace(0.01, 10, 13);
    const idLoss: number[] = [];
    for (const lambda of grid) idLoss.push(loss(test.x, await identityAttention(test.x, { lambda })));
    const bestId = idLoss.reduce((b, v, i) => (v < (idLoss[b] as number) ? i : b), 0);
    const bestLambda = grid[bestId] as number;
    const bestIdRatios = ratios(test, await identityAttention(test.x, { lambda: bestLambda }));
    const bestIdRatio = band(bestIdRatios).median;
    ctx.progress.start('e7: training model C', c.seeds);
    const table: Table = { name: 'training', columns: ['seed', 'step', 'loss'], rows: [] };
    const finals: { qk: ReturnType<typeof identityLikeness>; vo: ReturnType<typeof identityLikeness>; testLoss: number; ratio: number; layer: AttentionLayer }[] = [];
    const curves: { step: number; loss: number }[][] = [];
    for (let s = 0; s < c.seeds; s++) {
      const layer = new AttentionLayer({ dim: c.dim, init: { kind: 'random', seed: c.seed * 1000 + s } });
      const r = await layer.train(prior, { steps: c.steps, batch: c.batch, length: c.length, lr: c.lr, seed: c.seed * 1000 + s, signal: ctx.signal });
      r.history.forEach((e) => table.rows.push([s, e.step, e.loss]));
      curves.push(r.history);
      const y = await layer.forward(test.x);
      const qk = layer.queryKey();
      const scaled = { shape: qk.shape, data: qk.data.map((v) => v * layer.lambda) };
      finals.push({ qk: identityLikeness(scaled), vo: identityLikeness(layer.valueOutput()), testLoss: loss(test.x, y), ratio: band(ratios(test, y)).median, layer });
      ctx.progress.tick();
    }
    ctx.progress.stop();
    const steps = curves[0]!.map((e) => e.step);
    const lossBand = steps.map((_, i) => band(curves.map((h) => h[i]?.loss ?? NaN)));
    const first = finals[0]!;
    const qk0 = first.layer.queryKey();
    const qkScaled = { shape: qk0.shape, data: qk0.data.map((v) => v * first.layer.lambda) };
    const idBestLoss = idLoss[bestId] as number;
    const failedSeed = (testLoss: number) => testLoss > idBestLoss;
    const failedSeeds = finals.flatMap((f, s) => (Number.isNaN(f.testLoss) || failedSeed(f.testLoss) ? [s] : []));
    const of = (f: (q: (typeof finals)[number]) => number) => finals.map(f);
    const med = (f: (q: (typeof finals)[number]) => number) => band(of(f)).median;
    return {
      tables: [table, { name: 'final', columns: ['seed', 'lambdaQKDiagonal', 'lambdaQKOffRatio', 'VODiagonal', 'VOOffRatio', 'heldOutLoss', 'heldOutRatio'], rows: finals.map((f, s) => [s, f.qk.diagonal, f.qk.offRatio, f.vo.diagonal, f.vo.offRatio, f.testLoss, f.ratio]) }],
      figures: [
        {
          name: 'loss',
          title: 'Reconstruction loss while training model C',
          spec: linePlot({
            title: `Model C on sphere-prior prompts (K = ${c.k}, d = ${c.dim}, L = ${c.length})`,
            x: { label: 'Adam step' },
            y: { label: 'loss per token (training batches)', log: true },
            series: [
              {
                name: 'trained layer',
                x: steps,
                y: lossBand.map((b) => b.median),
                lo: lossBand.map((b) => b.lo),
                hi: lossBand.map((b) => b.hi),
                failed: failedSeeds.map((s) => ({ x: steps[steps.length - 1] as number, y: curves[s]![curves[s]!.length - 1]?.loss ?? NaN })),
              },
              { name: `identity attention, best λ = ${fmt(bestLambda)}`, x: steps, y: steps.map(() => idBestLoss) },
            ],
          }) as unknown as Record<string, unknown>,
          caption: `Median over ${c.seeds} random initialisations with the 10–90 % quantile band; the flat line is identity attention at its best λ on held-out prompts; crosses at the last step: the final training loss of each failed seed (held-out loss above identity attention's).`,
        },
        {
          name: 'matrices',
          title: 'What the layer learned (seed 0)',
          spec: hconcat([matrixMap('λ W_Q W_Kᵀ', qkScaled), matrixMap('W_V W_O', first.layer.valueOutput())], { title: 'Learned matrices, seed 0' }) as unknown as Record<string, unknown>,
          caption: 'A multiple of the identity in both panels means the trained layer is identity attention with a learned temperature and output scale.',
        },
      ],
      summary: Object.fromEntries([
        ...bandFields((st) => `λ W_Q W_Kᵀ mean diagonal ${st}`, of((f) => f.qk.diagonal)),
        ...bandFields((st) => `λ W_Q W_Kᵀ off-diagonal ratio ${st}`, of((f) => f.qk.offRatio)),
        ...bandFields((st) => `W_V W_O mean diagonal ${st}`, of((f) => f.vo.diagonal)),
        ...bandFields((st) => `W_V W_O off-diagonal ratio ${st}`, of((f) => f.vo.offRatio)),
        ...bandFields((st) => `held-out loss ${st}`, of((f) => f.testLoss)),
        ...bandFields((st) => `held-out ratio ${st}`, of((f) => f.ratio)),
        ['failed seeds', countFailed(of((f) => f.testLoss), failedSeed)],
        ['identity best λ', bestLambda],
        ['identity held-out loss at best λ', idBestLoss],
        ...bandFields((st) => `identity held-out ratio ${st} at best λ`, bestIdRatios),
      ]),
      text:
        `Trained from random weights (${c.seeds} seeds, ${c.steps} Adam steps of ${c.batch} prompts of ${c.length} tokens, d = ${c.dim}; medians over seeds, 10–90 % quantiles in brackets), the layer's λ W_Q W_Kᵀ has mean diagonal ${fmtBand(of((f) => f.qk.diagonal))} ` +
        `with off-diagonal entries ${fmtBand(of((f) => f.qk.offRatio))} of it on average, and W_V W_O has mean diagonal ${fmtBand(of((f) => f.vo.diagonal))} (off-diagonal ${fmtBand(of((f) => f.vo.offRatio))} of it): ` +
        `close to identity attention with an effective λ ≈ ${fmt(med((f) => f.qk.diagonal))}. On held-out prompts its loss per token is ${fmtBand(of((f) => f.testLoss))} and its quantization ratio (median over prompts) ${fmtBand(of((f) => f.ratio))}, ` +
        `against ${fmt(idBestLoss)} and ${fmt(bestIdRatio)} for identity attention at its best λ = ${fmt(bestLambda)}. ` +
        `${failedSeeds.length} of ${c.seeds} seeds failed (held-out loss above identity attention's).`,
    };
  },
};
