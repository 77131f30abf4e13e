/**
 * Joins shard files into one JSONL file: the union of their records, one line per point, ordered by
 * point ({@link comparePoints}: fields in alphabetical order, numbers numerically).
 *
 * - Inputs are files, or directories (every `shard-*.jsonl` inside).
 * - The same point with identical results in several files (a shard run twice, overlapping
 *   shardings) is kept once; with different results it is a {@link MergeConflict} naming the point
 *   and both places, and nothing is written.
 * - A torn last line (a shard killed and not yet resumed) is skipped with a warning: that point is
 *   not finished.
 * - When the inputs' directories (or the directories of input files) hold a `sweep.json` and they
 *   all describe one sweep, every point of that sweep must be present: otherwise merge throws
 *   {@link MergeIncomplete} naming the missing points (and their shard), and writes nothing, unless
 *   `allowMissing` (then {@link MergeReport.sweep} counts them). Without a `sweep.json`,
 *   completeness cannot be checked and `sweep` is absent.
 * - The output is written to a temporary file, `fsync`ed and renamed into place.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, statSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ConfigError } from '../experiments/runner';
import { type SweepConfig, sweepIdentity } from './config';
import { type Grid, type Json, canonicalJson, comparePoints, expandGrid } from './grid';
import { fsyncDir, readJsonl } from './jsonl';
import { type SweepRecord, checkRecord, pointKey, recordLine } from './record';
import { MANIFEST } from './run';

/** Two different results for one point. */
export class MergeConflict extends ConfigError {
  constructor(
    message: string,
    readonly point: string,
  ) {
    super(message);
    this.name = 'MergeConflict';
  }
}

/** Points of the sweep that no input has (and `allowMissing` was not given). */
export class MergeIncomplete extends ConfigError {
  constructor(
    message: string,
    readonly missing: string[],
  ) {
    super(message);
    this.name = 'MergeIncomplete';
  }
}

/** Options of {@link mergeShards}. */
export interface MergeOptions {
  /** Write the merge even when points of the sweep are missing. Default false. */
  allowMissing?: boolean;
}

/** What a merge did. */
export interface MergeReport {
  out: string;
  files: string[];
  /** Points written. */
  points: number;
  /** Lines read that repeated a point already seen (with the identical result). */
  duplicates: number;
  /** Torn last lines skipped. */
  torn: { file: string; line: number; reason: string }[];
  /** When the inputs' `sweep.json` files agree: the sweep's size and how many of its points no input has (non-zero only with `allowMissing`). */
  sweep?: { points: number; missing: number; firstMissing: string[] };
}

/** The shard files named by `inputs` (directories expand to their `shard-*.jsonl`, sorted). */
export function listShardFiles(inputs: string[]): { files: string[]; dirs: string[] } {
  const files: string[] = [];
  const dirs: string[] = [];
  for (const input of inputs) {
    const p = resolve(input);
    let isDir: boolean;
    try {
      isDir = statSync(p).isDirectory();
    } catch {
      throw new ConfigError(`merge: ${input} does not exist`);
    }
    if (!isDir) {
      files.push(p);
      continue;
    }
    dirs.push(p);
    const inside = readdirSync(p)
      .filter((f) => /^shard-.*\.jsonl$/.test(f))
      .sort()
      .map((f) => join(p, f));
    if (!inside.length) throw new ConfigError(`merge: no shard-*.jsonl files in ${input}`);
    files.push(...inside);
  }
  return { files: [...new Set(files)], dirs };
}

function manifestOf(dir: string): SweepConfig | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, MANIFEST), 'utf8')) as SweepConfig;
  } catch {
    return undefined;
  }
}

/** The shard count `n` when every file is named `shard-<i>-of-<n>.jsonl` with one `n`. */
function shardCount(files: string[]): number | undefined {
  const ns = new Set(files.map((f) => /shard-\d+-of-(\d+)\.jsonl$/.exec(f)?.[1]));
  const [only] = [...ns];
  return ns.size === 1 && only !== undefined ? Number(only) : undefined;
}

/** The sweep's size and missing points, when the manifests beside the inputs agree; throws if incomplete. */
function completeness(files: string[], dirs: string[], seen: Map<string, unknown>, allowMissing: boolean): MergeReport['sweep'] {
  const places = [...new Set([...dirs, ...files.map((f) => dirname(f))])];
  const manifests = places.map(manifestOf);
  const first = manifests[0];
  if (!first || !manifests.every((m) => m && sweepIdentity(m) === sweepIdentity(first))) return undefined;
  const grid: Grid = Object.entries(first.grid).map(([k, vs]) => [k, vs as Json[]] as const);
  const all = expandGrid(grid).map(pointKey);
  const missingIdx = all.flatMap((k, j) => (seen.has(k) ? [] : [j]));
  const missing = missingIdx.map((j) => all[j]!);
  const n = shardCount(files);
  const named = missingIdx.slice(0, 10).map((j) => `${all[j]} (point ${j}${n ? `, shard ${j % n}/${n}` : ''})`);
  if (missing.length && !allowMissing) {
    const more = missing.length > named.length ? `, and ${missing.length - named.length} more` : '';
    throw new MergeIncomplete(
      `merge: ${missing.length} of the sweep's ${all.length} points are missing: ${named.join(', ')}${more}. Resume their shards (run the same sweep command again), or merge anyway with --allow-missing; nothing was written`,
      missing,
    );
  }
  return { points: all.length, missing: missing.length, firstMissing: named };
}

/** Merges the shard files named by `inputs` into `out`. */
export function mergeShards(inputs: string[], out: string, opts: MergeOptions = {}): MergeReport {
  if (!inputs.length) throw new ConfigError('merge: give at least one shard file or directory');
  const { files, dirs } = listShardFiles(inputs);
  const seen = new Map<string, { record: SweepRecord; result: string; where: string }>();
  const torn: MergeReport['torn'] = [];
  let duplicates = 0;
  for (const file of files) {
    const scan = readJsonl(file, checkRecord);
    if (scan.torn) torn.push({ file, ...scan.torn });
    for (const { value, line } of scan.records) {
      const key = pointKey(value.point);
      const result = canonicalJson(value.result);
      const where = `${file}:${line}`;
      const prev = seen.get(key);
      if (!prev) seen.set(key, { record: value, result, where });
      else if (prev.result === result) duplicates++;
      else throw new MergeConflict(`merge: point ${key} has two different results: ${prev.where} and ${where}`, key);
    }
  }
  const records = [...seen.values()].map((v) => v.record).sort((a, b) => comparePoints(a.point, b.point));
  const sweep = completeness(files, dirs, seen, opts.allowMissing ?? false);
  const target = resolve(out);
  mkdirSync(dirname(target), { recursive: true });
  const tmp = `${target}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    const text = records.map((r) => recordLine(r) + '\n').join('');
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, target);
  fsyncDir(dirname(target));
  const report: MergeReport = { out: target, files, points: records.length, duplicates, torn };
  if (sweep) report.sweep = sweep;
  return report;
}
