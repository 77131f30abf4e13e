/**
 * Joins shard files into one JSONL file: the union of their records, one line per point, ordered by
 * point ({@link comparePoints}: fields in alphabetical order, numbers numerically).
 *
 * - Inputs are files, or directories (every `shard-*.jsonl` inside).
 * - The same point with identical results in several files (a shard run twice, overlapping
 *   shardings) is kept once; with different results it is a {@link MergeConflict} naming the point
 *   and both places, and nothing is written.
 * - A torn last line (a shard killed and not yet resumed) is skipped with a warning: that point is
 *   not finished. When the directories hold a `sweep.json`, points of the sweep that no input has
 *   are counted as missing.
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
  /** When the inputs' `sweep.json` files agree: the sweep's size and how many of its points no input has. */
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

/** Merges the shard files named by `inputs` into `out`. */
export function mergeShards(inputs: string[], out: string): MergeReport {
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
  const manifests = dirs.map(manifestOf);
  const first = manifests[0];
  if (first && manifests.every((m) => m && sweepIdentity(m) === sweepIdentity(first))) {
    const grid: Grid = Object.entries(first.grid).map(([k, vs]) => [k, vs as Json[]] as const);
    const all = expandGrid(grid).map(pointKey);
    const missing = all.filter((k) => !seen.has(k));
    report.sweep = { points: all.length, missing: missing.length, firstMissing: missing.slice(0, 5) };
  }
  return report;
}
