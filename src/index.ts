/**
 * attnclust: attention-based clustering (Maulen-Soto, Marion, Boyer; NeurIPS 2025).
 * Explicit exports only.
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
