/**
 * Public types of attnclust. Every name users see is declared here.
 */

/** A float typed array: its type is the tensor's dtype. */
export type Float = Float32Array | Float64Array;

/** `'f32'` (Float32Array) or `'f64'` (Float64Array). */
export type Dtype = 'f32' | 'f64';

/** A dense row-major array: `data.length` is the product of `shape`. */
export interface Tensor {
  shape: number[];
  data: Float;
}

/** A matrix given as a `Tensor` or as plain nested arrays (`number[][]`). */
export type MatrixLike = Tensor | number[][];

/** A `[L, d]` or `[B, L, d]` input given as a `Tensor` or as nested arrays. */
export type TokensLike = Tensor | number[][] | number[][][];

/** How a head (or a token, in identity attention) scores a token. */
export type Scores = 'dot' | 'distance';

/** Initialisation of the head parameters. */
export type InitSpec =
  /** `scale · N(0, I)` per head. */
  | { kind: 'random'; scale: number; seed: number }
  /** Every head at `at` (default the origin) plus `noise · N(0, I)`: a symmetric start. */
  | { kind: 'point'; at?: number[]; noise: number; seed: number }
  /** Heads on tokens of the training data, chosen k-means++-like. */
  | { kind: 'data'; seed: number };

/** Options of a Gaussian-mixture sample. */
export interface SampleOptions {
  /** Non-negative integer below 2^53. */
  seed: number;
  /** Default `'f64'`. */
  dtype?: Dtype;
  /** A second number naming the stream, so one seed can give independent samples (default 0). */
  stream?: number;
}

/** A sample and the component each point came from (kept for metrics only). */
export interface MixtureSample {
  /** `[n, d]`. */
  x: Tensor;
  labels: Uint32Array;
}

/** Prompts drawn from a prior, one mixture each. */
export interface PromptBatch {
  /** `[B, L, d]`. */
  x: Tensor;
  /** `B · L` labels, prompt-major. */
  labels: Uint32Array;
  /** `[B, K, d]`: each prompt's centroids. */
  means: Tensor;
}

/** Optimiser of a training run. */
export type OptimizerSpec =
  | 'sgd'
  | 'momentum'
  | 'adam'
  | { kind: 'sgd' }
  | { kind: 'momentum'; beta?: number }
  | { kind: 'adam'; beta1?: number; beta2?: number; eps?: number };

/** Learning-rate schedule: `η_t` for step `t` from the base rate `lr`. */
export type ScheduleSpec =
  | 'constant'
  /** `η (floor + (1 − floor)(1 + cos(π t/total))/2)`; `total` defaults to `steps`. */
  | { kind: 'cosine'; total?: number; floor?: number }
  /** `η / (1 + t/τ)`. */
  | { kind: 'inverse-time'; tau: number };

/** One recorded point of a training run. */
export interface HistoryEntry {
  /** Number of updates done before this point. */
  step: number;
  /** Risk of the parameters at this point: on the step's fresh batch (online) or on the whole sample (full batch). */
  risk: number;
  /** Alignment with the true centroids, when they are known. */
  alignment?: number;
  /** Relative centroid error, when the centroids are known. */
  centroidError?: number;
  /** The parameters at this point, when `recordParams` is set. */
  params?: Tensor;
}

/** Options of `TwoHeadLayer.train`. */
export interface TrainOptions {
  /** Number of updates. */
  steps: number;
  /** Fresh samples per step (online SGD from a mixture); ignored for a fixed sample (full batch). */
  batch?: number;
  /** Base learning rate. */
  lr: number;
  /** Seed of the samples drawn during training. */
  seed: number;
  /** Default `'sgd'`. */
  optimizer?: OptimizerSpec;
  /** Default `'constant'`. */
  schedule?: ScheduleSpec;
  /** Record the history every this many steps (default: about 200 points over the run). */
  recordEvery?: number;
  /** Keep a copy of the parameters in each history entry (head trajectories). */
  recordParams?: boolean;
  /** True centroids for the alignment of a fixed-sample run (a mixture source brings its own). */
  means?: MatrixLike;
  /** Stops the run within one chunk of work; the layer keeps the parameters reached. */
  signal?: AbortSignal;
  /** Called with each history entry as soon as it is recorded. */
  onStep?: (entry: HistoryEntry) => void;
}

/** Result of `TwoHeadLayer.train`. */
export interface TrainResult {
  /** Final parameters `[H, d]`. */
  params: Tensor;
  history: HistoryEntry[];
}

/** Options of identity attention. */
export interface IdentityAttentionOptions {
  /** Inverse temperature `λ > 0` (default `1/√d`). */
  lambda?: number;
  /** Default `'dot'`. */
  scores?: Scores;
  /** Mask the diagonal: a token does not attend to itself. */
  excludeSelf?: boolean;
  /** Apply the layer this many times (default 1). */
  depth?: number;
  /** Each application is `X ← X + Attn(X)` instead of `X ← Attn(X)`. */
  residual?: boolean;
  /** Cancels the call before it starts running. */
  signal?: AbortSignal;
}
