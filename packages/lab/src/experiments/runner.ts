/**
 * Runs an experiment: merges defaults for a scale with overrides, validates the config (zod, with
 * messages naming the field), times the run.
 */
import { closestKey } from 'attnclust';
import { z } from 'zod';
import type { Context, Experiment, ExperimentResult, Scale } from './common';

/** A config error naming the bad field and what was expected. */
export class ConfigError extends TypeError {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * An unknown key with the valid key it was likely meant to be, by the library's rule
 * (`closestKey`, the one its options objects use): `` `lamdas` (did you mean `lambdas`?) ``, or
 * just `` `lamdas` `` when no valid key is close.
 */
export function unknownKey(key: string, valid: readonly string[], prefix = ''): string {
  const near = closestKey(key, valid);
  return near === undefined ? `\`${prefix}${key}\`` : `\`${prefix}${key}\` (did you mean \`${prefix}${near}\`?)`;
}

/**
 * Throws a `ConfigError` for the first key of `data` (when a plain object) not in `valid`: `what`
 * gets the key as `unknownKey` writes it (with `prefix`, e.g. `base.`) and says what it is not;
 * the valid keys follow.
 */
export function checkKeys(data: unknown, valid: readonly string[], what: (key: string) => string, prefix = ''): void {
  if (!data || typeof data !== 'object' || Array.isArray(data)) return;
  for (const k of Object.keys(data)) {
    if (!valid.includes(k)) throw new ConfigError(`${what(unknownKey(k, valid, prefix))}; expected ${valid.length > 1 ? 'one of ' : ''}${valid.map((f) => `\`${f}\``).join(', ')}`);
  }
}

/** Formats zod issues as `field: message` lines. */
export function describeIssues(error: z.ZodError, prefix = ''): string {
  return error.issues
    .map((i) => {
      const path = [prefix, ...i.path.map(String)].filter(Boolean).join('.');
      return `\`${path || '(config)'}\`: ${i.message}`;
    })
    .join('; ');
}

/** The config an experiment runs with: its defaults for `scale`, overridden by `overrides`. */
export function resolveConfig(exp: Experiment<Record<string, unknown>>, scale: Scale, overrides: Record<string, unknown>): Record<string, unknown> {
  const base = exp.defaults(scale);
  const unknown = Object.keys(overrides).filter((k) => !(k in base));
  if (unknown.length) {
    const valid = Object.keys(base);
    throw new ConfigError(`unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => unknownKey(k, valid)).join(', ')} for ${exp.id}; expected some of ${valid.map((k) => `\`${k}\``).join(', ')}`);
  }
  const merged = { ...base, ...overrides };
  const parsed = exp.schema.safeParse(merged);
  if (!parsed.success) throw new ConfigError(`invalid config for ${exp.id}: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

/** Runs `exp` with a resolved config. */
export async function runExperiment(exp: Experiment<Record<string, unknown>>, scale: Scale, config: Record<string, unknown>, ctx: Context): Promise<ExperimentResult> {
  const t0 = performance.now();
  const r = await exp.run(config, ctx);
  return { id: exp.id, title: exp.title, scale, config, ...r, seconds: (performance.now() - t0) / 1000 };
}
