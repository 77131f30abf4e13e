/**
 * Shared by E5 and E6: identity attention on prompts and its per-prompt measurements.
 */
import { kmeans } from 'attnclust';
import { MixturePrior } from 'attnclust';
import { identityAttention } from 'attnclust';
import { adjustedRandIndex, quantizationRatio } from 'attnclust';
import type { IdentityAttentionOptions, PromptBatch, Tensor } from 'attnclust';
import { z } from 'zod';
import { byScale, prompt, type Scale } from './common';

/** The prompt settings E5 and E6 share (sphere prior). */
export const promptFields = {
  seed: z.number().int().min(0),
  dim: z.number().int().min(1),
  k: z.number().int().min(1),
  length: z.number().int().min(2),
  radius: z.number().positive(),
  sigma: z.number().positive(),
  prompts: z.number().int().min(1),
};

/** Their defaults: 2 centroids on the sphere of radius 3 in d = 16, σ = 0.5, L = 256 by default. */
export function promptDefaults(scale: Scale, seed: number) {
  return {
    seed,
    dim: 16,
    k: 2,
    length: byScale(scale, { tiny: 32, small: 128, default: 256, paper: 256 }),
    radius: 3,
    sigma: 0.5,
    prompts: byScale(scale, { tiny: 3, small: 16, default: 32, paper: 128 }),
  };
}

/** Prompts of a sphere prior. */
export function prompts(o: { k: number; dim: number; radius: number; sigma: number; prompts: number; length: number; seed: number }): PromptBatch {
  return MixturePrior.sphere({ k: o.k, dim: o.dim, radius: o.radius, sigma: o.sigma }).samplePrompts(o.prompts, o.length, { seed: o.seed, dtype: 'f32' });
}

/** Each prompt's quantization ratio. */
export function ratios(p: PromptBatch, y: Tensor): number[] {
  const [b, l] = p.x.shape as [number, number, number];
  return Array.from({ length: b }, (_, i) => quantizationRatio(prompt(p.x, i), prompt(y, i), prompt(p.means, i), p.labels.subarray(i * l, (i + 1) * l)));
}

/** Each prompt's adjusted Rand index of a per-prompt k-means (k = K) on `t` against the true labels. */
export function kmeansAri(p: PromptBatch, t: Tensor, seed: number): number[] {
  const [b, l] = p.x.shape as [number, number, number];
  const k = p.means.shape[1] as number;
  return Array.from({ length: b }, (_, i) => adjustedRandIndex(kmeans(prompt(t, i), k, { seed: seed + i }).labels, p.labels.subarray(i * l, (i + 1) * l)));
}

/** Identity attention on all prompts. */
export function attend(p: PromptBatch, opts: IdentityAttentionOptions): Promise<Tensor> {
  return identityAttention(p.x, opts);
}
