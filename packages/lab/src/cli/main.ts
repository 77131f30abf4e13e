/**
 * The `attnclust` command line: `reproduce`, `run`, `list`, `sweep`, `merge`.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { z } from 'zod';
import { SCALES, type Scale } from '../experiments/common';
import { EXPERIMENTS, findExperiment } from '../experiments/index';
import { ConfigError, checkKeys, describeIssues, resolveConfig, runExperiment } from '../experiments/runner';
import { type IndexEntry, readEntry, writeExperiment, writeIndex } from '../report/write';
import { setThreads, getThreads } from 'attnclust';
import { stderrProgress } from './progress';
import { mergeCommand, sweepCommand } from './sweep';
import { parseShard } from '../sweep/grid';

interface CommonOptions {
  out: string;
  seed?: number;
  threads?: number;
  scale: Scale;
  json?: boolean;
  set?: Record<string, unknown>;
}

function intArg(name: string, min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer in [${min}, ${max}], got '${v}'`);
    return n;
  };
}

/** `--shard i/n`. */
function shardArg(v: string): { index: number; count: number } {
  try {
    return parseShard(v);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

/** `--set field=value`: the value is read as JSON when it parses, else as a string. */
function setArg(v: string, prev: Record<string, unknown> = {}): Record<string, unknown> {
  const i = v.indexOf('=');
  if (i <= 0) throw new InvalidArgumentError(`--set expects field=value, got '${v}'`);
  const key = v.slice(0, i);
  const raw = v.slice(i + 1);
  let value: unknown = raw;
  try {
    value = JSON.parse(raw);
  } catch {
    /* a plain string */
  }
  return { ...prev, [key]: value };
}

function addCommon(cmd: Command, scaleDefault: Scale): Command {
  return cmd
    .option('--out <dir>', 'output directory', 'report')
    .option('--seed <n>', 'base seed (overrides the config)', intArg('--seed', 0, Number.MAX_SAFE_INTEGER))
    .option('--threads <n>', 'worker threads (results do not depend on it)', intArg('--threads', 1, 256))
    .addOption(new Option('--scale <scale>', 'problem sizes').choices([...SCALES]).default(scaleDefault))
    .option('--json', 'print a machine-readable summary on stdout');
}

/** A config file: `{ "experiment": "e5", "scale"?: …, "seed"?: …, "config"?: { …overrides } }`. */
const configFile = z
  .object({
    experiment: z.string(),
    scale: z.enum(SCALES as unknown as [Scale, ...Scale[]]).optional(),
    seed: z.number().int().min(0).optional(),
    config: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

async function loadTarget(target: string): Promise<{ id: string; scale?: Scale; overrides: Record<string, unknown> }> {
  if (!target.endsWith('.json')) return { id: target, overrides: {} };
  let data: unknown;
  try {
    data = JSON.parse(await readFile(target, 'utf8'));
  } catch (e) {
    throw new ConfigError(`cannot read config file ${target}: ${(e as Error).message}`);
  }
  checkKeys(data, Object.keys(configFile.shape), (k) => `invalid config file ${target}: ${k} is not a config file field`);
  const parsed = configFile.safeParse(data);
  if (!parsed.success) throw new ConfigError(`invalid config file ${target}: ${describeIssues(parsed.error)}`);
  const overrides = { ...(parsed.data.config ?? {}) };
  if (parsed.data.seed !== undefined) overrides.seed = parsed.data.seed;
  return { id: parsed.data.experiment, scale: parsed.data.scale, overrides };
}

/** Aborts on the first Ctrl-C (finished experiments stay on disk); a second one exits at once. */
function interruptible(): AbortController {
  const ac = new AbortController();
  let count = 0;
  process.on('SIGINT', () => {
    count++;
    if (count === 1) {
      process.stderr.write('\nattnclust: interrupted; stopping after the current chunk of work (Ctrl-C again to quit now)\n');
      ac.abort();
    } else {
      process.exit(130);
    }
  });
  return ac;
}

async function runMany(ids: string[], o: CommonOptions, overridesFor: (id: string) => Record<string, unknown>, header: string): Promise<void> {
  if (o.threads !== undefined) setThreads(o.threads);
  const out = resolve(o.out);
  const ac = interruptible();
  const progress = stderrProgress();
  const summaries: Record<string, unknown>[] = [];
  const t0 = performance.now();
  for (const id of ids) {
    const exp = findExperiment(id)!;
    const overrides = { ...overridesFor(id) };
    if (o.seed !== undefined) overrides.seed = o.seed;
    const config = resolveConfig(exp, o.scale, overrides);
    process.stderr.write(`${exp.id}: ${exp.title} (scale ${o.scale})\n`);
    let result;
    try {
      result = await runExperiment(exp, o.scale, config, { progress, signal: ac.signal });
    } catch (e) {
      progress.stop();
      if (ac.signal.aborted) {
        process.stderr.write(`attnclust: stopped during ${exp.id}${summaries.length ? `; finished experiments are in ${out}` : ''}\n`);
        process.exitCode = 130;
        break;
      }
      throw e;
    }
    const files = await writeExperiment(result, out);
    summaries.push({ id: result.id, title: result.title, seconds: result.seconds, summary: result.summary, files });
    process.stderr.write(`${exp.id}: done in ${result.seconds.toFixed(1)} s — ${result.text}\n\n`);
  }
  // The index shows every experiment found in the output directory, this run's and earlier ones.
  const entries: IndexEntry[] = [];
  for (const e of EXPERIMENTS) {
    const entry = await readEntry(out, e.id);
    if (entry) entries.push(entry);
  }
  const seconds = (performance.now() - t0) / 1000;
  if (!entries.length) {
    // Interrupted before anything finished, into a new directory: there is no report to index.
    process.stderr.write(`report: nothing finished, so no index was written (${seconds.toFixed(1)} s)\n`);
    if (o.json) process.stdout.write(JSON.stringify({ out, seconds, experiments: summaries }, null, 1) + '\n');
    return;
  }
  await writeIndex(out, entries, header);
  process.stderr.write(`report: ${resolve(out, 'index.html')} and index.md (${seconds.toFixed(1)} s, ${getThreads()} threads)\n`);
  if (o.json) process.stdout.write(JSON.stringify({ out, seconds, experiments: summaries }, null, 1) + '\n');
}

/** The version in the nearest `package.json` above this file (the package the CLI ships in). */
export function packageVersion(): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version?: unknown };
      if (typeof pkg.version === 'string') return pkg.version;
    } catch {
      /* not here: look one directory up */
    }
    if (dirname(dir) === dir) return 'unknown';
  }
}

/** Builds the program (exported for tests). */
export function program(): Command {
  const p = new Command('attnclust')
    .description('Attention-based clustering: train two-head attention layers on Gaussian mixtures, measure in-context quantization, write reports.')
    .version(packageVersion(), '-V, --version', 'print the version and exit')
    .showHelpAfterError();

  addCommon(p.command('reproduce').description("run the paper's experiments (E1–E9) and write the report"), 'default')
    .option('--only <ids>', 'comma-separated experiment ids to run')
    .action(async (o: CommonOptions & { only?: string }) => {
      const ids = o.only ? o.only.split(',').map((s) => s.trim()) : EXPERIMENTS.map((e) => e.id);
      for (const id of ids) if (!findExperiment(id)) throw new ConfigError(`unknown experiment '${id}'; expected one of ${EXPERIMENTS.map((e) => e.id).join(', ')}`);
      await runMany(ids, o, () => ({}), `Reproduction of "Attention-based clustering" (NeurIPS 2025) at scale \`${o.scale}\`, generated by \`attnclust reproduce\`.`);
    });

  addCommon(p.command('run').argument('<target>', 'an experiment id (see `attnclust list`) or a config.json file').description('run one experiment'), 'default')
    .option('--set <field=value>', 'override a config field (JSON value); repeatable', setArg)
    .action(async (target: string, o: CommonOptions) => {
      const t = await loadTarget(target);
      const exp = findExperiment(t.id);
      if (!exp) throw new ConfigError(`unknown experiment '${t.id}'; expected one of ${EXPERIMENTS.map((e) => e.id).join(', ')}`);
      const scale = o.scale === 'default' && t.scale ? t.scale : o.scale;
      await runMany([exp.id], { ...o, scale }, () => ({ ...t.overrides, ...(o.set ?? {}) }), `\`attnclust run ${target}\` at scale \`${scale}\`.`);
    });

  p.command('sweep')
    .argument('<config>', 'a sweep config.json: { "experiment", "scale"?, "grid": { field: [values…] }, "base"?: { … } }')
    .description('run a grid of points (or one shard of it) into <out>/shard-<i>-of-<n>.jsonl, resuming what is there')
    .requiredOption('--out <dir>', 'output directory (shard files and sweep.json)')
    .addOption(new Option('--shard <i/n>', 'run the points whose index ≡ i (mod n), 0 ≤ i < n').argParser(shardArg).default({ index: 0, count: 1 }, '0/1'))
    .option('--threads <n>', 'worker threads (results do not depend on it)', intArg('--threads', 1, 256))
    .option('--json', 'print a machine-readable report on stdout')
    .action(sweepCommand);

  p.command('merge')
    .argument('<inputs...>', 'shard files, or directories (every shard-*.jsonl inside)')
    .description('join shard files into one JSONL file, one line per point, ordered by point')
    .requiredOption('--out <file>', 'the merged .jsonl file')
    .option('--allow-missing', 'write the merge even when points of the sweep are missing (otherwise: exit 2 naming them)')
    .option('--json', 'print a machine-readable report on stdout')
    .action(mergeCommand);

  p.command('list')
    .description('list the experiments')
    .option('--json', 'machine-readable')
    .action((o: { json?: boolean }) => {
      if (o.json) {
        process.stdout.write(JSON.stringify(EXPERIMENTS.map((e) => ({ id: e.id, title: e.title, description: e.description, defaults: e.defaults('default') })), null, 1) + '\n');
        return;
      }
      for (const e of EXPERIMENTS) process.stdout.write(`${e.id.padEnd(4)} ${e.description}\n`);
    });
  return p;
}

/**
 * A closed stdout (`attnclust list | head -1`) ends the command quietly: EPIPE means the reader has
 * what it wanted, not that attnclust failed. Other stdout errors still surface.
 */
function quietOnClosedStdout(): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    process.exit(process.exitCode ?? 0);
  });
}

/** Entry point of `bin/attnclust.js`. */
export async function main(argv: string[]): Promise<void> {
  quietOnClosedStdout();
  try {
    await program().parseAsync(argv);
  } catch (e) {
    if (e instanceof ConfigError || e instanceof TypeError || e instanceof RangeError) {
      process.stderr.write(`attnclust: ${e.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw e;
  }
}
