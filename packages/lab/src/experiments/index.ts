/**
 * The experiments, by id; `reproduce` runs them all, in this order.
 */
import type { Experiment, Scale } from './common';
import { e1 } from './e1';
import { e2 } from './e2';
import { e3 } from './e3';
import { e4 } from './e4';
import { e5 } from './e5';
import { e6 } from './e6';
import { e7 } from './e7';
import { e8 } from './e8';
import { e9 } from './e9';

/** Every experiment, in report order. */
export const EXPERIMENTS: readonly Experiment<Record<string, unknown>>[] = [e1, e2, e3, e4, e5, e6, e7, e8, e9] as unknown as Experiment<Record<string, unknown>>[];

/** The experiment with this id, or undefined. */
export function findExperiment(id: string): Experiment<Record<string, unknown>> | undefined {
  return EXPERIMENTS.find((e) => e.id === id.toLowerCase());
}

export type { Experiment, Scale };
