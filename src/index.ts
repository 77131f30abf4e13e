/**
 * attnclust: attention-based clustering (Maulen-Soto, Marion, Boyer; NeurIPS 2025, arXiv
 * 2505.13112). Explicit exports only.
 *
 * Conventions of every export:
 * - **Shapes.** A `Tensor` is `{ shape, data }` with `data` row-major: `[n, d]` tokens, `[B, L, d]`
 *   prompts, `[H, d]` heads; nested arrays (`number[][]`) are accepted where a `MatrixLike` or
 *   `TokensLike` is. `f32` data are `Float32Array`, `f64` data `Float64Array`.
 * - **Units.** Data are in the user's units; `lambda` is an inverse temperature (reciprocal squared
 *   data units); `sigma`, `scale`, `radius` are standard deviations or lengths in data units, and
 *   variances are named `variances`; risks and losses are mean squared errors.
 * - **Errors.** A `TypeError` for a wrong type or shape, an unknown option key (named, with the
 *   closest valid key) or an unknown string choice; a `RangeError` for a value out of range, a
 *   non-finite value, a result that would overflow, or a call beyond the memory limit
 *   (`setMemoryLimit`); each names the argument. An async call whose `signal` aborts rejects with
 *   an `Error` named `'AbortError'`. Each function lists its own cases under `@throws`.
 * - **Sources.** The models follow the specification (docs/spec.md, cited as SPEC §n); the exact
 *   population quantities are derived in docs/population.md; each function names the reference of
 *   the algorithm it runs.
 *
 * @packageDocumentation
 */
export { GaussianMixture, MixturePrior } from './gmm';
export type { PromptOptions } from './gmm';
export { TwoHeadLayer } from './layer';
export type { TwoHeadLayerOptions } from './layer';
export { identityAttention, identityAttentionSync } from './identity';
export { identityAttentionLimit, limitQuantization, limitQuantizationRatio } from './population';
export type { LimitOptions, LimitQuantization } from './population';
export { attention, attentionSync, attentionBackward, attentionBackwardSync, identityWeights } from './attention';
export type { AttentionWeights, AttentionMask, AttentionOptions, AttentionGradients } from './attention';
export { AttentionLayer } from './attention-layer';
export type { AttentionLayerOptions, AttentionTrainOptions } from './attention-layer';
export { metrics, alignment, centroidError, matching, quantizationRatio, adjustedRandIndex } from './metrics';
export type { HeadMatching, MatchedPair } from './metrics';
export { setThreads, getThreads } from './threads';
export { setMemoryLimit, getMemoryLimit } from './memory';
export { kmeans, kmeansAsync, em } from './baselines';
export { closestKey } from './validate';
export type { KMeansOptions, KMeansResult, EmOptions, EmResult } from './baselines';
export type {
  AlignedHistoryEntry,
  Covariance,
  Dtype,
  FullBatchTrainOptions,
  Float,
  HistoryEntry,
  IdentityAttentionOptions,
  InitSpec,
  MatrixLike,
  MixtureKind,
  MixtureSample,
  OnlineTrainOptions,
  OptimizerKind,
  OptimizerSpec,
  PopulationResult,
  PopulationTrainOptions,
  PromptBatch,
  PriorWeights,
  QuadratureOptions,
  SampleOptions,
  ScheduleSpec,
  Scores,
  Tensor,
  TokensLike,
  TrainOptions,
  TrainResult,
} from './types';
