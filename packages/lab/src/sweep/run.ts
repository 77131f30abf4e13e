/**
 * Runs one shard of a sweep into `<out>/shard-<i>-of-<n>.jsonl`, resumably:
 *
 * - `<out>/sweep.json` records the sweep (experiment, scale, grid, base); a later run, of any shard,
 *   with a different sweep into the same directory is refused, so results never mix.
 * - The shard file is scanned first: a torn last line (a kill mid-write) is truncated away and its
 *   point redone; points already in the file are skipped.
 * - Each finished point is appended as one line and `fsync`ed before the next one starts.
 * - When `signal` aborts, the run stops after the current point (the file stays valid).
 * - One process writes a shard file at a time: `<file>.lock` is held for the whole run, and checked
 *   before each write ({@link ShardLock}: a stale lock from a dead or silent process is taken over).
 */
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Progress, silent } from '../experiments/common';
import { ConfigError, resolveConfig, runExperiment } from '../experiments/runner';
import { type Sweep, type SweepConfig, pointOverrides, sweepIdentity } from './config';
import { type Point, type Shard, canonicalJson, pointSeed, shardIndices } from './grid';
import { JsonlAppender, fsyncDir } from './jsonl';
import { type LockHolder, type LockOptions, ShardLock } from './lock';
import { checkRecord, makeRecord, pointKey, recordLine } from './record';

/** The file name of the sweep description in an output directory. */
export const MANIFEST = 'sweep.json';

/** The file shard `index`/`count` writes in `dir`. */
export function shardFile(dir: string, shard: Shard): string {
  return join(dir, `shard-${shard.index}-of-${shard.count}.jsonl`);
}

/** Writes `<dir>/sweep.json` if absent (atomically), else checks that it describes the same sweep. */
export function ensureManifest(dir: string, config: SweepConfig, points: number): void {
  const file = join(dir, MANIFEST);
  const text = JSON.stringify({ ...config, points }, null, 1) + '\n';
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, file); // fails if the file exists: never overwrites another run's manifest
    fsyncDir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
      renameSync(tmp, file); // filesystems without hard links
      fsyncDir(dir);
      return;
    }
    let existing: SweepConfig;
    try {
      existing = JSON.parse(readFileSync(file, 'utf8')) as SweepConfig;
    } catch (err) {
      throw new ConfigError(`${file} is not readable (${(err as Error).message}); it describes the sweep in this directory`);
    }
    if (sweepIdentity(existing) !== sweepIdentity(config)) {
      throw new ConfigError(`${dir} holds results of a different sweep (see ${file}); use another --out directory, or delete it to start over`);
    }
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      /* already renamed */
    }
  }
}

/** Options of {@link runSweep}. */
export interface SweepRunOptions {
  /** Output directory (created if needed). */
  out: string;
  /** Default `0/1` (every point). */
  shard?: Shard;
  /** One tick per point. */
  progress?: Progress;
  /** Aborting stops the run after the current point. */
  signal?: AbortSignal;
  /** Called after each point is on disk. */
  onPoint?: (info: { index: number; point: Point; seed: number; seconds: number }) => void;
  /** The shard lock's timing (and a callback when it waits for a holder on another machine). */
  lock?: LockOptions;
}

/** What a shard run did. */
export interface SweepRunReport {
  experiment: string;
  scale: string;
  file: string;
  shard: Shard;
  /** Points in the whole sweep. */
  points: number;
  /** Points of this shard. */
  shardPoints: number;
  /** Of those, found finished in the file at the start. */
  resumed: number;
  /** Run now. */
  ran: number;
  /** Still to run (non-zero only when stopped). */
  remaining: number;
  /** A stale lock taken over before starting: whose, and why it was judged stale. */
  tookLock?: { holder: LockHolder | undefined; reason: string };
  /** The torn last line that was truncated away, if any. */
  repaired?: { line: number; reason: string };
  /** True when stopped by `signal` before the shard was complete. */
  stopped: boolean;
  seconds: number;
}

/** Called once the shard file has been scanned, before any point runs. */
export type OnStart = (r: Omit<SweepRunReport, 'ran' | 'stopped' | 'seconds'>) => void;

/** Runs (or resumes) one shard of `sweep`. */
export async function runSweep(sweep: Sweep, opts: SweepRunOptions, onStart?: OnStart): Promise<SweepRunReport> {
  const t0 = performance.now();
  const shard = opts.shard ?? { index: 0, count: 1 };
  const progress = opts.progress ?? silent;
  const out = resolve(opts.out);
  mkdirSync(out, { recursive: true });
  ensureManifest(out, sweep.config, sweep.points.length);
  const file = shardFile(out, shard);
  const mine = shardIndices(sweep.points.length, shard);
  const byKey = new Map(mine.map((j) => [pointKey(sweep.points[j]!), j]));
  const { lock, took } = await ShardLock.acquire(file, opts.lock);
  try {
    return await runLocked(sweep, opts, { t0, shard, progress, file, mine, byKey, lock, took }, onStart);
  } finally {
    lock.release();
  }
}

async function runLocked(
  sweep: Sweep,
  opts: SweepRunOptions,
  c: { t0: number; shard: Shard; progress: Progress; file: string; mine: number[]; byKey: Map<string, number>; lock: ShardLock; took: SweepRunReport['tookLock'] },
  onStart?: OnStart,
): Promise<SweepRunReport> {
  const { t0, shard, progress, file, mine, byKey, lock, took } = c;
  const { appender, scan } = JsonlAppender.open(file, checkRecord);
  try {
    const done = new Set<number>();
    for (const { value, line } of scan.records) {
      const key = pointKey(value.point);
      const j = byKey.get(key);
      if (j === undefined) throw new ConfigError(`${file}:${line}: point ${key} is not one of shard ${shard.index}/${shard.count}'s points of this sweep`);
      const seed = pointSeed(value.point);
      if (value.result.seed !== seed) throw new ConfigError(`${file}:${line}: point ${key} ran with seed ${canonicalJson(value.result.seed)}, but its seed is ${seed}`);
      done.add(j);
    }
    const todo = mine.filter((j) => !done.has(j));
    const base = { experiment: sweep.exp.id, scale: sweep.scale, file, shard, points: sweep.points.length, shardPoints: mine.length, resumed: done.size, repaired: scan.torn, tookLock: took };
    onStart?.({ ...base, remaining: todo.length });
    progress.start(`${sweep.exp.id} shard ${shard.index}/${shard.count}`, mine.length);
    if (done.size) progress.tick(done.size);
    let ran = 0;
    for (const j of todo) {
      if (opts.signal?.aborted) break;
      const point = sweep.points[j]!;
      const t = performance.now();
      const config = resolveConfig(sweep.exp, sweep.scale, pointOverrides(sweep, point));
      // No signal: the current point always finishes, so an interrupted shard loses no work.
      const r = await runExperiment(sweep.exp, sweep.scale, config, { progress: silent });
      const seed = config.seed as number;
      lock.check(); // never write after another process took the shard over
      appender.append(recordLine(makeRecord(point, seed, r.summary)));
      ran++;
      progress.tick();
      opts.onPoint?.({ index: j, point, seed, seconds: (performance.now() - t) / 1000 });
    }
    progress.stop();
    const remaining = todo.length - ran;
    return { ...base, ran, remaining, stopped: remaining > 0, seconds: (performance.now() - t0) / 1000 };
  } finally {
    appender.close();
  }
}
