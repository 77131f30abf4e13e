/**
 * A sweep config file, validated against its experiment:
 *
 * ```json
 * { "experiment": "e5", "scale": "tiny", "grid": { "lambda": [0.1, 0.3, 1], "seed": [1, 2] }, "base": { "prompts": 8 } }
 * ```
 *
 * - `experiment`: an experiment id; `scale` (default `default`): the defaults the points start from.
 * - `grid`: config fields of the experiment, each with a non-empty list of values; the sweep is
 *   their cartesian product (order: {@link expandGrid}). As a convenience a singular name `x` that
 *   is not a config field, whose plural `xs` is a list field, sets `xs: [v]` (`lambda` → `lambdas`).
 *   `seed` in the grid is a replicate label: it is part of the point, and so of the derived seed.
 * - `base`: fixed overrides for every point (not `seed`).
 *
 * Each point runs with the experiment's defaults for the scale, then `base`, then its grid values,
 * then `seed` = {@link pointSeed}(point).
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { SCALES, type Scale } from '../experiments/common';
import { EXPERIMENTS, type Experiment, findExperiment } from '../experiments/index';
import { ConfigError, checkKeys, describeIssues, resolveConfig, unknownKey } from '../experiments/runner';
import { type Grid, type Json, type Point, canonicalJson, expandGrid, pointSeed } from './grid';

const fileSchema = z
  .object({
    experiment: z.string().min(1),
    scale: z.enum(SCALES as unknown as [Scale, ...Scale[]]).default('default'),
    grid: z.record(z.string(), z.array(z.unknown()).min(1, 'expected a non-empty list of values')),
    base: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

const FILE_FIELDS = ['experiment', 'scale', 'grid', 'base'];

/** The raw config: what the file says (and what `sweep.json` in the output directory records). */
export interface SweepConfig {
  experiment: string;
  scale: Scale;
  grid: Record<string, Json[]>;
  base: Record<string, Json>;
}

/** A validated sweep: the experiment, its points in order, and how a point becomes a config. */
export interface Sweep {
  config: SweepConfig;
  exp: Experiment<Record<string, unknown>>;
  scale: Scale;
  grid: Grid;
  /** Grid field → the config field it sets (itself, or its plural for a singular name). */
  fields: Record<string, { target: string; wrap: boolean }>;
  points: Point[];
}

/** How grid field `name` maps onto a config with these defaults, or undefined if it does not. */
function mapField(name: string, defaults: Record<string, unknown>): { target: string; wrap: boolean } | undefined {
  if (name in defaults) return { target: name, wrap: false };
  const plural = `${name}s`;
  if (Array.isArray(defaults[plural])) return { target: plural, wrap: true };
  return undefined;
}

/** The grid names an experiment accepts: its config fields and the singulars of its list fields. */
export function gridFieldNames(defaults: Record<string, unknown>): string[] {
  const singulars = Object.keys(defaults)
    .filter((k) => k.endsWith('s') && Array.isArray(defaults[k]) && !(k.slice(0, -1) in defaults))
    .map((k) => k.slice(0, -1));
  return [...Object.keys(defaults), ...singulars];
}

/** The config overrides point `p` runs with (defaults and validation are `resolveConfig`'s). */
export function pointOverrides(sweep: Sweep, p: Point): Record<string, unknown> {
  const o: Record<string, unknown> = { ...sweep.config.base };
  for (const [name, v] of Object.entries(p)) {
    if (name === 'seed') continue;
    const f = sweep.fields[name]!;
    o[f.target] = f.wrap ? [v] : v;
  }
  o.seed = pointSeed(p);
  return o;
}

/** Validates a parsed config file (`source` names it in messages); throws `ConfigError`. */
export function parseSweep(data: unknown, source = 'sweep config'): Sweep {
  checkKeys(data, FILE_FIELDS, (k) => `invalid ${source}: ${k} is not a sweep config field`);
  const parsed = fileSchema.safeParse(data);
  if (!parsed.success) throw new ConfigError(`invalid ${source}: ${describeIssues(parsed.error)}`);
  const { experiment, scale, grid: rawGrid, base } = parsed.data;
  const exp = findExperiment(experiment);
  if (!exp) {
    throw new ConfigError(`invalid ${source}: \`experiment\`: unknown experiment '${experiment}'; expected one of ${EXPERIMENTS.map((e) => e.id).join(', ')}`);
  }
  const defaults = exp.defaults(scale);
  if ('seed' in base) {
    throw new ConfigError(`invalid ${source}: \`base.seed\`: each point's seed is derived from its values; for replicates put \`"seed": [1, 2, …]\` in the grid`);
  }
  checkKeys(base, Object.keys(defaults), (k) => `invalid ${source}: ${k} is not a config field of ${exp.id}`, 'base.');
  const baseParsed = exp.schema.safeParse({ ...defaults, ...base });
  if (!baseParsed.success) throw new ConfigError(`invalid ${source}: ${describeIssues(baseParsed.error, 'base')}`);
  const fields: Sweep['fields'] = {};
  const setBy: Record<string, string> = {};
  for (const name of Object.keys(rawGrid)) {
    const f = mapField(name, defaults);
    if (!f) {
      const valid = gridFieldNames(defaults);
      throw new ConfigError(`invalid ${source}: ${unknownKey(name, valid, 'grid.')} is not a config field of ${exp.id}; expected one of ${valid.map((k) => `\`${k}\``).join(', ')}`);
    }
    if (f.target in base) throw new ConfigError(`invalid ${source}: \`grid.${name}\` sets \`${f.target}\`, which \`base\` sets too; keep it in one place`);
    if (setBy[f.target]) throw new ConfigError(`invalid ${source}: \`grid.${name}\` and \`grid.${setBy[f.target]}\` both set \`${f.target}\``);
    setBy[f.target] = name;
    fields[name] = f;
  }
  const grid: Grid = Object.entries(rawGrid).map(([k, vs]) => [k, vs as Json[]] as const);
  // Each value on its own (so a bad one is named by its place in the grid), then every point.
  for (const [name, values] of grid) {
    if (name === 'seed') continue;
    const f = fields[name]!;
    values.forEach((v, i) => {
      const parsedPoint = exp.schema.safeParse({ ...defaults, ...base, [f.target]: f.wrap ? [v] : v });
      if (!parsedPoint.success) {
        const own = parsedPoint.error.issues.filter((q) => q.path[0] === f.target);
        const issues = (own.length ? own : parsedPoint.error.issues).map((q) => q.message).join('; ');
        throw new ConfigError(`invalid ${source}: \`grid.${name}[${i}]\` (${canonicalJson(v)}): ${issues}`);
      }
    });
  }
  const sweep: Sweep = { config: { experiment: exp.id, scale, grid: rawGrid as Record<string, Json[]>, base: base as Record<string, Json> }, exp, scale, grid, fields, points: [] };
  const points = expandGrid(grid);
  const seen = new Set<string>();
  for (const p of points) {
    const key = canonicalJson(p);
    if (seen.has(key)) throw new ConfigError(`invalid ${source}: the grid has the point ${key} twice (a value repeated in a field)`);
    seen.add(key);
    try {
      resolveConfig(exp, scale, pointOverrides(sweep, p));
    } catch (e) {
      if (e instanceof ConfigError) throw new ConfigError(`invalid ${source}: point ${key}: ${e.message}`);
      throw e;
    }
  }
  sweep.points = points;
  return sweep;
}

/** Reads and validates a sweep config file. */
export async function loadSweep(file: string): Promise<Sweep> {
  let data: unknown;
  try {
    data = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new ConfigError(`cannot read sweep config ${file}: ${(e as Error).message}`);
  }
  return parseSweep(data, `sweep config ${file}`);
}

/** A string that is equal for two configs exactly when they describe the same sweep in the same order. */
export function sweepIdentity(c: SweepConfig): string {
  return JSON.stringify([c.experiment, c.scale, Object.entries(c.grid).map(([k, vs]) => [k, vs.map(canonicalJson)]), canonicalJson(c.base)]);
}
