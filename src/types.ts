/**
 * Public types of attnclust. Every name users see is declared here; the string unions of options
 * the addon takes (dtypes, scores, optimisers, schedules) are its generated types (`#[napi(string_enum)]`
 * in crates/attnclust-node/src/enums.rs), not copies.
 */
import type { Dtype, OptimizerKind, Scores } from './native';
export type { Covariance, Dtype, Mask as AttentionMask, MixtureKind, OptimizerKind, Scores } from './native';

/** A float typed array: its type is the tensor's dtype. */
export type Float = Float32Array | Float64Array;

/** A dense row-major array: `data.length` is the product of `shape`. */
export interface Tensor {
  /** Dimensions, outermost first: `[n, d]`, `[B, L, d]`… */
  shape: number[];
  /** The values, row-major; a `Float64Array` for `'f64'`, a `Float32Array` for `'f32'`. */
  data: Float;
}

/** A matrix given as a `Tensor` or as plain nested arrays (`number[][]`). */
export type MatrixLike = Tensor | number[][];

/** A `[L, d]` or `[B, L, d]` input given as a `Tensor` or as nested arrays. */
export type TokensLike = Tensor | number[][] | number[][][];

/** Initialisation of the head parameters. */
export type InitSpec =
  /** `scale · N(0, I)` per head. */
  | {
      /** Independent Gaussian heads. */
      kind: 'random';
      /** Standard deviation of each coordinate, `≥ 0`, in data units. */
      scale: number;
      /** Seed of the draw. */
      seed: number;
    }
  /** Every head at `at` (default the origin) plus `noise · N(0, I)`: a symmetric start. */
  | {
      /** All heads at one point. */
      kind: 'point';
      /** The point, `d` numbers (default the origin). */
      at?: number[];
      /** Standard deviation of the noise added to each head (0: all heads equal). */
      noise: number;
      /** Seed of the noise. */
      seed: number;
    }
  /** Heads on tokens of the training data, chosen k-means++-like (Arthur and Vassilvitskii 2007). */
  | {
      /** Heads on data points (only through `layer.initFromData`). */
      kind: 'data';
      /** Seed of the choice. */
      seed: number;
    };

/** Options of a Gaussian-mixture sample. */
export interface SampleOptions {
  /** Seed of the draw: a non-negative integer below 2^53 (the same seed gives the same sample). */
  seed: number;
  /** Type of `x` (default `'f64'`; `f32` samples are the `f64` ones rounded). */
  dtype?: Dtype;
  /** A second number naming the stream, so one seed can give independent samples (default 0). */
  stream?: number;
  /** `sampleAsync` only: stops the draw within one chunk of samples (a rejection with an AbortError). */
  signal?: AbortSignal;
}

/** A sample and the component each point came from (kept for metrics only). */
export interface MixtureSample {
  /** `[n, d]`. */
  x: Tensor;
  /** The component each row of `x` was drawn from (`0 … K−1`). */
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
  /** `[B, K]`, f64: each prompt's mixture weights (each row sums to 1). */
  weights: Tensor;
}

/**
 * Mixture weights of the prompts of a `MixturePrior` (default: equal, `1/K` each):
 * - `number[]`: `K` positive weights summing to 1 (within 1e-6), the same for every prompt;
 * - `{ dirichlet: α }`: drawn per prompt from `Dirichlet(α)`, `α` one positive concentration for
 *   all components or `K` of them (small `α`: very unequal clusters; `α = 1`: uniform on the
 *   simplex). Deterministic per `(seed, prompt)`, like the rest of the prompt.
 */
export type PriorWeights =
  | number[]
  | {
      /** Dirichlet concentration: one positive number for all K components, or K of them. */
      dirichlet: number | number[];
    };

/**
 * Optimiser of a training run (`TwoHeadLayer.train` and `AttentionLayer.train`): a name (`'sgd'`,
 * `'momentum'`, `'adam'`, with the default settings) or an object with its settings.
 */
export type OptimizerSpec =
  | OptimizerKind
  | {
      /** Plain gradient descent: `θ ← θ − η_t g`. */
      kind: 'sgd';
    }
  | {
      /** Heavy-ball momentum (Polyak 1964): `v ← β v + g`, `θ ← θ − η_t v`. */
      kind: 'momentum';
      /** Momentum `β` in [0, 1) (default 0.9). */
      beta?: number;
    }
  | {
      /** Adam with bias correction (Kingma and Ba 2015, Algorithm 1). */
      kind: 'adam';
      /** First-moment decay in [0, 1) (default 0.9). */
      beta1?: number;
      /** Second-moment decay in [0, 1) (default 0.999). */
      beta2?: number;
      /** Added to the denominator (default 1e-8). */
      eps?: number;
    };

/** Learning-rate schedule: `η_t` for step `t` from the base rate `lr`. */
export type ScheduleSpec =
  | 'constant'
  /** `η (floor + (1 − floor)(1 + cos(π t/total))/2)`; `total` defaults to `steps`. */
  | {
      /** Cosine decay from `η` to `floor · η`. */
      kind: 'cosine';
      /** Steps of the decay (default: the run's `steps`). */
      total?: number;
      /** Final rate as a fraction of `η`, in [0, 1] (default 0). */
      floor?: number;
    }
  /** `η / (1 + t/τ)`. */
  | {
      /** Inverse-time decay. */
      kind: 'inverse-time';
      /** Time scale `τ > 0`, in steps. */
      tau: number;
    };

/** One recorded point of a training run. */
export interface HistoryEntry {
  /** Number of updates done before this point. */
  step: number;
  /** Risk of the parameters at this point: on the step's fresh batch (online) or on the whole sample (full batch). */
  risk: number;
  /** Alignment with the true centroids, when they are known (always, for a run from a mixture or with `means`). */
  alignment?: number;
  /** Relative centroid error, when the centroids are known and none of them is the origin. */
  centroidError?: number;
  /** The parameters at this point, when `recordParams` is set. */
  params?: Tensor;
}

/** How exact population quantities compute their Gaussian integrals (tensor Gauss–Hermite quadrature). */
export interface QuadratureOptions {
  /** Nodes per dimension (1 … 2048 at rank 1, 512 at rank 2, 64 at rank 3, 24 at rank 4); by default chosen by convergence. */
  nodes?: number;
  /** Relative accuracy of the automatic choice, in (0, 1) (default 1e-12). */
  tol?: number;
}

/** The exact population risk of a layer, its gradient, and how they were computed. */
export interface PopulationResult {
  /** `R(Θ) = E‖x − T_Θ(x)‖²` under the mixture. */
  risk: number;
  /** `∇R(Θ)`, `[H, d]`, f64. */
  gradient: Tensor;
  /** Rank of `span{θ_h}`: the dimension of the integrals. */
  rank: number;
  /** Gauss–Hermite nodes per dimension of the final level. */
  nodes: number;
  /** Change between the last two levels relative to `E‖x‖²` (NaN for a fixed `nodes`). */
  error: number;
  /** Whether that change is within `tol`. */
  converged: boolean;
}

/** A recorded point of a run whose true centroids are known (from a mixture, or given as `means`). */
export interface AlignedHistoryEntry extends HistoryEntry {
  /** Alignment with the true centroids (see `metrics.alignment`). */
  alignment: number;
}

/** Options shared by both forms of `TwoHeadLayer.train`. */
interface TrainOptionsBase<E extends HistoryEntry> {
  /** Number of updates: an integer in [0, 2^53 − 1]. */
  steps: number;
  /** Base learning rate `η > 0`. */
  lr: number;
  /** Seed of the samples drawn during training (online) or of nothing (full batch): an integer in [0, 2^53 − 1]. */
  seed: number;
  /** Default `'sgd'`. */
  optimizer?: OptimizerSpec;
  /** Default `'constant'`. */
  schedule?: ScheduleSpec;
  /** Record the history every this many steps (default: about 200 points over the run). */
  recordEvery?: number;
  /** Keep a copy of the parameters in each history entry (head trajectories). */
  recordParams?: boolean;
  /** Record the point after the last update too (its risk costs one more batch; default true). */
  recordFinal?: boolean;
  /** Stops the run (a rejection with an AbortError); the layer keeps the parameters reached. */
  signal?: AbortSignal;
  /** Called with each history entry as soon as it is recorded. */
  onStep?: (entry: E) => void;
}

/** Options of `TwoHeadLayer.train` from a `GaussianMixture`: online SGD on `batch` fresh samples per step. */
export interface OnlineTrainOptions extends TrainOptionsBase<AlignedHistoryEntry> {
  /** `'online'` (the default from a mixture). */
  method?: 'online';
  /** Fresh samples per step: an integer in [1, 2^26]. Required. */
  batch: number;
}

/**
 * Options of `TwoHeadLayer.train` on a fixed sample: full-batch gradient descent (every step uses
 * the whole sample, so there is no `batch`).
 */
export interface FullBatchTrainOptions<E extends HistoryEntry = HistoryEntry> extends TrainOptionsBase<E> {
  /** `'full-batch'` (the only method on a fixed sample). */
  method?: 'full-batch';
  /** True centroids `[K, d]`, for the alignment and centroid error of the history. */
  means?: MatrixLike;
}

/**
 * Options of `TwoHeadLayer.train` from an isotropic `GaussianMixture` with `method: 'population'`:
 * deterministic gradient descent on the exact population risk (no samples, so no `batch`; `seed`
 * is accepted and unused). See docs/population.md.
 */
export interface PopulationTrainOptions extends Omit<TrainOptionsBase<AlignedHistoryEntry>, 'seed'> {
  /** `'population'`: gradient descent on the exact population risk. Required (online SGD is the default). */
  method: 'population';
  /** How the exact risk and gradient are integrated (default: nodes chosen by convergence to 1e-12). */
  quadrature?: QuadratureOptions;
  /** Unused (no randomness). */
  seed?: number;
}

/** Options of `TwoHeadLayer.train`: which form depends on the source (and, from a mixture, `method`). */
export type TrainOptions = OnlineTrainOptions | PopulationTrainOptions | FullBatchTrainOptions;

/** Result of `TwoHeadLayer.train`. */
export interface TrainResult<E extends HistoryEntry = HistoryEntry> {
  /** Final parameters `[H, d]`. */
  params: Tensor;
  /** The recorded points of the run, every `recordEvery` steps and after the last step. */
  history: E[];
}

/** Options of identity attention. */
export interface IdentityAttentionOptions {
  /** Inverse temperature `λ > 0`, finite, in reciprocal squared data units (default `1/√d`). */
  lambda?: number;
  /** Scores `λ⟨x_i, x_j⟩` (`'dot'`, the default) or `−λ‖x_i − x_j‖²/2` (`'distance'`). */
  scores?: Scores;
  /** Mask the diagonal: a token does not attend to itself (default false; needs `L ≥ 2`). */
  excludeSelf?: boolean;
  /** Apply the layer this many times, an integer in [1, 4096] (default 1). */
  depth?: number;
  /** Each application is `X ← X + Attn(X)` instead of `X ← Attn(X)` (default false). */
  residual?: boolean;
  /** Async form only: cancels the call within one block of queries (a rejection with an AbortError). */
  signal?: AbortSignal;
}
