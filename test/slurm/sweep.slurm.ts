// `npm run test:slurm`: the Slurm examples (examples/slurm-*.sh) against a real single-node Slurm
// (test/slurm/cluster.ts), run as a cluster user would, with the installed CLI (this checkout's
// packages/lab/bin/attnclust.js, built once by `npm ci`; nothing is built inside a job):
//
// 1. the example array and its merge, unchanged: the merge equals the unsharded run point for point;
// 2. a second sweep whose task 0 gets `scancel --signal=TERM` (twice), task 1 is requeued
//    (`scontrol requeue`) and task 2's step is SIGKILLed (`scancel --signal=KILL <job>.0`): the two
//    first requeue and resume by themselves while the merge waits; the merge then fails naming
//    shard 2's missing points; shard 2 resubmitted takes over its stale lock and resumes; the new
//    merge equals the unsharded run point for point, nothing lost or duplicated, no node drained.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, startCluster, until } from './cluster';

const root = resolve(__dirname, '..', '..');
const bin = join(root, 'packages', 'lab', 'bin', 'attnclust.js');
/** Options for both jobs of the submit script: one CPU and a little memory per task on the test node. */
const SBATCH = ['--cpus-per-task=1', '--mem=256M'];
const ENDED = ['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'NODE_FAIL', 'OUT_OF_MEMORY', 'PREEMPTED', 'BOOT_FAIL', 'DEADLINE'];

let c: Cluster;
let failed = false;

beforeAll(async () => {
  c = await startCluster();
}, 180_000);

afterEach((ctx) => {
  if (ctx.task.result?.state === 'fail') failed = true;
});

afterAll(async () => {
  if (!c) return;
  await c.stop();
  // The scratch directory (configuration, daemon and job logs, results) stays when a test failed.
  if (failed) console.log(`test:slurm: logs and results kept in ${c.dir}\n${c.logs()}`);
  else rmSync(c.dir, { recursive: true, force: true });
}, 240_000);

interface Rec {
  point: Record<string, unknown>;
  result: unknown;
}
const parse = (file: string): Rec[] =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Rec);
const lineCount = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').length - 1 : 0);

/** A directory to submit from, with the project's examples/ in it (as in the shared checkout). */
function workdir(name: string): string {
  const w = join(c.dir, 'jobs', name);
  mkdirSync(w, { recursive: true });
  symlinkSync(join(root, 'examples'), join(w, 'examples'));
  return w;
}

/** The environment a user submits from: ATTNCLUST set, node on the PATH (jobs inherit it). */
function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...c.env, ATTNCLUST: bin, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`, ...extra };
}

function submit(cwd: string, env: NodeJS.ProcessEnv): { array: string; merge: string } {
  const out = c.run(join(cwd, 'examples', 'slurm-submit.sh'), SBATCH, { cwd, env });
  const m = /array=(\d+) merge=(\d+)/.exec(out);
  if (!m) throw new Error(`slurm-submit.sh printed ${out}`);
  return { array: m[1]!, merge: m[2]! };
}

const state = (id: string) => c.job(id).JobState ?? '';

async function ended(id: string, timeoutMs: number): Promise<Record<string, string>> {
  return until(`job ${id} to end`, () => {
    const j = c.job(id);
    return ENDED.includes(j.JobState ?? '') ? j : undefined;
  }, timeoutMs);
}

/** The sweep run whole, without Slurm, merged: the reference the sharded runs must equal. */
function unsharded(config: string, dir: string): string {
  const out = join(dir, 'whole');
  const r = spawnSync(process.execPath, [bin, 'sweep', config, '--out', out, '--threads', '1'], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  const m = spawnSync(process.execPath, [bin, 'merge', out, '--out', `${out}.jsonl`], { encoding: 'utf8' });
  expect(m.status, m.stderr).toBe(0);
  return `${out}.jsonl`;
}

/** Point for point: the same points, each once, the same results, and the same bytes. */
function expectSame(merged: string, whole: string, points: number): void {
  const a = parse(merged);
  const b = parse(whole);
  expect(a).toHaveLength(points);
  expect(b).toHaveLength(points);
  expect(new Set(a.map((x) => JSON.stringify(x.point))).size).toBe(points);
  const byPoint = new Map(b.map((x) => [JSON.stringify(x.point), x.result]));
  for (const x of a) expect(x.result, JSON.stringify(x.point)).toEqual(byPoint.get(JSON.stringify(x.point)));
  expect(readFileSync(merged, 'utf8')).toBe(readFileSync(whole, 'utf8'));
}

/** Each shard file holds its points once (no line written twice by two writers), no torn line. */
function expectShards(out: string, sizes: number[]): number[] {
  return sizes.map((n, i) => {
    const file = join(out, `shard-${i}-of-${sizes.length}.jsonl`);
    const text = readFileSync(file, 'utf8');
    expect(text.endsWith('\n'), file).toBe(true);
    const recs = parse(file);
    expect(recs, file).toHaveLength(n);
    expect(new Set(recs.map((r) => JSON.stringify(r.point))).size, file).toBe(n);
    expect(existsSync(`${file}.lock`), `${file}.lock released`).toBe(false);
    return recs.length;
  });
}

function expectNodeHealthy(): void {
  const n = c.nodeState();
  expect(n.state, `node ${c.node}: ${n.state} ${n.reason}`).toBe('idle');
  expect(readFileSync(join(c.dir, 'slurmd.log'), 'utf8')).not.toMatch(/Kill task failed|Unable to kill/i);
}

const log = (dir: string, name: string) => readFileSync(join(dir, name), 'utf8');

describe('sweeps on a real Slurm cluster', () => {
  it('the example array and its merge equal the unsharded run', async () => {
    const w = workdir('example');
    const t0 = Date.now();
    const { array, merge } = submit(w, userEnv());
    const m = await ended(merge, 900_000);
    const seconds = (Date.now() - t0) / 1000;
    const mergeLog = log(w, `attnclust-merge-e5-${merge}.out`);
    expect(m.JobState, mergeLog).toBe('COMPLETED');
    expect(m.ExitCode).toBe('0:0');
    for (const i of [0, 1, 2]) {
      const j = c.job(`${array}_${i}`);
      expect(j.JobState, log(w, `attnclust-sweep-e5-${array}_${i}.out`)).toBe('COMPLETED');
      expect(j.Restarts).toBe('0');
    }
    const perShard = expectShards(join(w, 'results', 'sweep-e5'), [10, 10, 10]);
    const whole = unsharded(join(root, 'examples', 'sweep-e5.json'), w);
    expectSame(join(w, 'results', 'sweep-e5.jsonl'), whole, 30);
    expect(mergeLog).toMatch(/merge: 30 points from 3 files/);
    expectNodeHealthy();
    console.log(`scenario 1 (example array ${array}, merge ${merge}): 30 points merged = 30 unsharded, per shard ${perShard.join('+')}, 0 lost, 0 duplicated, node idle (${seconds.toFixed(0)} s)`);
  }, 1_200_000);

  it('TERM, requeue and step SIGKILL: tasks resume, the merge waits and then names what is missing, nothing lost or duplicated', async () => {
    const w = workdir('disrupted');
    // 36 points of e5 at tiny scale, 12 per shard, each long enough (~0.5–1 s) to catch tasks mid-run.
    const config = join(w, 'sweep-disrupted.json');
    writeFileSync(config, JSON.stringify({ experiment: 'e5', scale: 'tiny', grid: { lambda: [0.1, 0.3, 1, 3], seed: [1, 2, 3, 4, 5, 6, 7, 8, 9] }, base: { prompts: 256, length: 256 } }));
    const out = join(w, 'results', 'disrupted');
    const env = userEnv({ SWEEP_CONFIG: config, SWEEP_OUT: out });
    const shardFile = (i: number) => join(out, `shard-${i}-of-3.jsonl`);
    const t0 = Date.now();
    const { array, merge } = submit(w, env);
    const task = (i: number) => `${array}_${i}`;
    const taskLog = (i: number, job = array) => log(w, `attnclust-sweep-e5-${job}_${i}.out`);

    // Every task running with at least one point on disk, then the three disruptions at once.
    await until('all three tasks to write a point', () => [0, 1, 2].every((i) => state(task(i)) === 'RUNNING' && lineCount(shardFile(i)) >= 1), 300_000, 100);
    const atDisruption = [0, 1, 2].map((i) => lineCount(shardFile(i)));
    c.run('scancel', ['--signal=TERM', task(0)]);
    c.run('scancel', ['--signal=TERM', task(0)]); // a second TERM is the same graceful stop
    c.run('scontrol', ['requeue', task(1)]);
    c.run('scancel', ['--signal=KILL', `${task(2)}.0`]);

    // Task 2 fails; its killed process leaves its lock behind.
    const t2 = await ended(task(2), 120_000);
    expect(t2.JobState, taskLog(2)).toBe('FAILED');
    const stale = JSON.parse(readFileSync(`${shardFile(2)}.lock`, 'utf8')) as { pid: number; host: string };
    expect(() => process.kill(stale.pid, 0)).toThrow();
    const killedAt = lineCount(shardFile(2));

    // Tasks 0 and 1 are requeued (by the job script after exit 75, by Slurm for the requeue); the
    // merge keeps waiting for them (afterany: a requeued task has not ended).
    await until('tasks 0 and 1 to be requeued', () => [0, 1].every((i) => c.job(task(i)).Restarts === '1'), 120_000);
    expect(state(merge)).toBe('PENDING');
    expect(c.job(merge).Reason).toBe('Dependency');

    // Both resume and finish; then the merge runs, and fails naming shard 2's missing points.
    for (const i of [0, 1]) expect((await ended(task(i), 600_000)).JobState, taskLog(i)).toBe('COMPLETED');
    const m1 = await ended(merge, 120_000);
    const merge1Log = log(w, `attnclust-merge-e5-${merge}.out`);
    expect(m1.JobState, merge1Log).toBe('FAILED');
    expect(m1.ExitCode).toBe('2:0');
    expect(merge1Log).toMatch(new RegExp(`${12 - killedAt} of the sweep's 36 points are missing: .*shard 2/3`));
    expect(existsSync(`${out}.jsonl`)).toBe(false);

    // The logs keep every attempt (--open-mode=append); the points each first attempt left on disk.
    const stoppedAt = [0, 1].map((i) => Number(/shard \d\/3: stopped with (\d+)\/12 points/.exec(taskLog(i))?.[1]));
    for (const i of [0, 1]) expect(taskLog(i)).toMatch(new RegExp(`shard ${i}/3 has 12, ${stoppedAt[i]} already in`));
    const log0 = taskLog(0);
    expect(log0).toMatch(/restart 0\) on[\s\S]*SIGTERM; stopping after the current point[\s\S]*\(exit 75\)[\s\S]*requeueing job[\s\S]*restart 1\) on[\s\S]*exit 0\s*$/);
    expect(log0).not.toMatch(/quitting now/);
    expect(log0.match(/SIGTERM; stopping/g)).toHaveLength(1);
    expect(taskLog(1)).toMatch(/restart 0\) on[\s\S]*DUE TO JOB REQUEUE[\s\S]*restart 1\) on[\s\S]*exit 0\s*$/);

    // The documented recovery: resubmit the failed task, then the merge after it.
    const again = c.run('sbatch', ['--parsable', ...SBATCH, '--array=2', 'examples/slurm-array.sh'], { cwd: w, env }).trim().split(';')[0]!;
    const merge2 = c.run('sbatch', ['--parsable', ...SBATCH, `--dependency=afterany:${again}`, 'examples/slurm-merge.sh'], { cwd: w, env }).trim().split(';')[0]!;
    expect((await ended(`${again}_2`, 600_000)).JobState, taskLog(2, again)).toBe('COMPLETED');
    expect(taskLog(2, again)).toMatch(new RegExp(`took over a stale lock of pid ${stale.pid} on host ${stale.host} \\(that process is gone\\)`));
    expect(taskLog(2, again)).toMatch(new RegExp(`shard 2/3 has 12, ${killedAt} already in`));
    const m2 = await ended(merge2, 120_000);
    expect(m2.JobState, log(w, `attnclust-merge-e5-${merge2}.out`)).toBe('COMPLETED');
    const seconds = (Date.now() - t0) / 1000;

    const perShard = expectShards(out, [12, 12, 12]);
    const whole = unsharded(config, w);
    expectSame(`${out}.jsonl`, whole, 36);
    expectNodeHealthy();
    console.log(
      `scenario 2 (array ${array}): 36 points merged = 36 unsharded, per shard ${perShard.join('+')}, 0 lost, 0 duplicated, node idle; ` +
        `points on disk at the disruptions ${atDisruption.join('/')}; shard 0 stopped by TERM with ${stoppedAt[0]}, shard 1 stopped by the requeue with ${stoppedAt[1]}, ` +
        `shard 2 SIGKILLed with ${killedAt} (first merge: ${12 - killedAt} missing, exit 2) (${seconds.toFixed(0)} s)`,
    );
  }, 1_800_000);
});
