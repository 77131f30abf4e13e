/**
 * A strict TypeScript consumer of the public API, compiled (never run) by test/types.test.ts: the
 * types must accept what the runtime accepts and refuse what it refuses. Each `@ts-expect-error`
 * line must be an error, or tsc fails with "Unused '@ts-expect-error' directive".
 */
import { GaussianMixture, MixturePrior, TwoHeadLayer, identityAttentionSync, kmeans, type AlignedHistoryEntry, type HistoryEntry, type TrainResult } from '../../src/index';

export async function readmeExample(): Promise<string> {
  const gmm = GaussianMixture.isotropic({ means: [[3, 0], [-3, 0]], sigma: 0.5 });
  const layer = new TwoHeadLayer({ dim: 2, heads: 2, lambda: 1 });
  const { history } = await layer.train(gmm, { steps: 300, batch: 256, lr: 0.05, seed: 2 });
  // A run from a mixture knows its centroids: `alignment` is a number, not `number | undefined`.
  return history.at(-1)!.alignment.toFixed(4);
}

export async function trainForms(layer: TwoHeadLayer, gmm: GaussianMixture, x: number[][]): Promise<void> {
  // @ts-expect-error `batch` is required for a mixture source.
  await layer.train(gmm, { steps: 1, lr: 0.1, seed: 0 });
  // @ts-expect-error a fixed sample is used whole: no `batch`.
  await layer.train(x, { steps: 1, lr: 0.1, seed: 0, batch: 8 });
  // @ts-expect-error a mixture brings its own centroids: no `means`.
  await layer.train(gmm, { steps: 1, batch: 8, lr: 0.1, seed: 0, means: [[0, 0]] });
  const full: TrainResult = await layer.train(x, { steps: 1, lr: 0.1, seed: 0 });
  const e: HistoryEntry | undefined = full.history[0];
  // @ts-expect-error without `means` the alignment may be absent.
  const a: number = e!.alignment;
  const withMeans: TrainResult<AlignedHistoryEntry> = await layer.train(x, { steps: 1, lr: 0.1, seed: 0, means: [[1, 0]] });
  const b: number = withMeans.history[0]!.alignment;
  await layer.train(gmm, { steps: 1, batch: 8, lr: 0.1, seed: 0, onStep: (s) => s.alignment.toFixed(2) });
  // @ts-expect-error misspelled option (the runtime throws a TypeError too).
  await layer.train(gmm, { steps: 1, batch: 8, lr: 0.1, seed: 0, optimiser: 'adam' });
  void a;
  void b;
}

export function options(): void {
  // @ts-expect-error misspelled option.
  identityAttentionSync([[0, 1]], { lamda: 0.3 });
  // @ts-expect-error `head` is not an option.
  new TwoHeadLayer({ dim: 16, head: 3, lambda: 1 });
  // @ts-expect-error `signal` belongs to the async form.
  identityAttentionSync([[0, 1]], { signal: new AbortController().signal });
  // @ts-expect-error unknown option of the prior.
  MixturePrior.sphere({ k: 2, dim: 2, radius: 1, sigma: 0.1, minSep: 1 });
  // @ts-expect-error `seed` is required.
  kmeans([[0, 1]], 1, {});
  new TwoHeadLayer({ dim: 2, lambda: 1, init: { kind: 'point', noise: 0, seed: 0, at: [0, 0] } });
  // @ts-expect-error `at` belongs to kind 'point'.
  new TwoHeadLayer({ dim: 2, lambda: 1, init: { kind: 'random', scale: 1, seed: 0, at: [0, 0] } });
}
