// Sweeps, in process: grid expansion, seed derivation, sharding, config validation, crash-safe
// JSONL (torn-line recovery), resume, stop-after-current-point, and merge order and conflicts.
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../packages/lab/src/experiments/runner';
import { parseSweep, pointOverrides } from '../packages/lab/src/sweep/config';
import { canonicalJson, comparePoints, expandGrid, parseShard, pointSeed, shardIndices } from '../packages/lab/src/sweep/grid';
import { scanJsonl } from '../packages/lab/src/sweep/jsonl';
import { LockLost, ShardLock, ShardLocked } from '../packages/lab/src/sweep/lock';
import { MergeConflict, MergeIncomplete, mergeShards } from '../packages/lab/src/sweep/merge';
import { checkRecord, type SweepRecord } from '../packages/lab/src/sweep/record';
import { runSweep, shardFile } from '../packages/lab/src/sweep/run';
import { EXIT_STOPPED } from '../packages/lab/src/cli/sweep';

const tmp = (name: string) => mkdtempSync(join(tmpdir(), `attnclust-${name}-`));
const lines = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean);
const records = (file: string) => lines(file).map((l) => JSON.parse(l) as SweepRecord);

/** A fast e5 sweep: 6 points. */
const smallSweep = () => parseSweep({ experiment: 'e5', scale: 'tiny', grid: { lambda: [0.1, 0.3, 1], seed: [1, 2] }, base: { prompts: 2, length: 16 } });

describe('grid', () => {
  it('canonical JSON sorts keys at every depth', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: 0 }], c: 'x' } })).toBe('{"a":{"c":"x","d":[2,{"y":0,"z":1}]},"b":1}');
    expect(canonicalJson({ seed: 1, lambda: 0.1 })).toBe(canonicalJson({ lambda: 0.1, seed: 1 }));
  });

  it('derives a 40-bit seed from the canonical JSON of the point (SHA-256), independent of key order', () => {
    // int.from_bytes(hashlib.sha256(b'{"lambda":0.1,"seed":1}').digest()[:8], 'big') >> 24
    expect(pointSeed({ lambda: 0.1, seed: 1 })).toBe(202423709726);
    expect(pointSeed({ seed: 1, lambda: 0.1 })).toBe(202423709726);
    expect(pointSeed({ lambda: 0.1, seed: 2 })).not.toBe(pointSeed({ lambda: 0.1, seed: 1 }));
    const seeds = expandGrid([['a', Array.from({ length: 200 }, (_, i) => i)]]).map(pointSeed);
    expect(new Set(seeds).size).toBe(200);
    for (const s of seeds) expect(Number.isInteger(s) && s >= 0 && s < 2 ** 40).toBe(true);
  });

  it('expands the grid as nested loops: first field outermost, last fastest', () => {
    expect(expandGrid([['a', [1, 2]], ['b', ['x', 'y', 'z']]])).toEqual([
      { a: 1, b: 'x' }, { a: 1, b: 'y' }, { a: 1, b: 'z' },
      { a: 2, b: 'x' }, { a: 2, b: 'y' }, { a: 2, b: 'z' },
    ]);
    expect(expandGrid([])).toEqual([{}]);
  });

  it('shards by index modulo n, a partition of the points', () => {
    expect(shardIndices(10, { index: 1, count: 3 })).toEqual([1, 4, 7]);
    for (const n of [1, 2, 3, 7, 12, 13]) {
      const all = Array.from({ length: n }, (_, i) => shardIndices(12, { index: i, count: n })).flat().sort((a, b) => a - b);
      expect(all).toEqual(Array.from({ length: 12 }, (_, i) => i));
    }
    expect(parseShard('2/3')).toEqual({ index: 2, count: 3 });
    for (const bad of ['3/3', '1/0', '-1/2', 'a/b', '1', '']) expect(() => parseShard(bad), bad).toThrow(/--shard/);
  });

  it('orders points field by field, numbers numerically', () => {
    const pts = [{ lambda: 10, seed: 1 }, { lambda: 1, seed: 2 }, { lambda: 0.3, seed: 2 }, { lambda: 1, seed: 1 }, { lambda: 0.3, seed: 1 }];
    expect([...pts].sort(comparePoints)).toEqual([{ lambda: 0.3, seed: 1 }, { lambda: 0.3, seed: 2 }, { lambda: 1, seed: 1 }, { lambda: 1, seed: 2 }, { lambda: 10, seed: 1 }]);
    expect(comparePoints({ a: 1 }, { a: 1, b: 0 })).toBeLessThan(0);
    expect(comparePoints({ s: 'b' }, { s: 'a' })).toBeGreaterThan(0);
  });
});

describe('sweep config', () => {
  it('maps a singular onto a list field, prefers an exact field, and passes the derived seed', () => {
    const s = parseSweep({ experiment: 'e5', scale: 'tiny', grid: { lambda: [0.1, 0.3], length: [16], seed: [7] } });
    expect(s.points).toEqual([{ lambda: 0.1, length: 16, seed: 7 }, { lambda: 0.3, length: 16, seed: 7 }]);
    expect(s.fields.lambda).toEqual({ target: 'lambdas', wrap: true });
    expect(s.fields.length).toEqual({ target: 'length', wrap: false });
    const o = pointOverrides(s, s.points[0]!);
    expect(o).toEqual({ lambdas: [0.1], length: 16, seed: pointSeed({ lambda: 0.1, length: 16, seed: 7 }) });
    expect(s.scale).toBe('tiny');
    expect(parseSweep({ experiment: 'e4', grid: { lambda: [1] } }).scale).toBe('default');
  });

  it('names a bad field and what was expected', () => {
    const bad = (c: unknown) => () => parseSweep(c);
    expect(bad({ experiment: 'e5', grid: { foo: [1] } })).toThrow(ConfigError);
    expect(bad({ experiment: 'e5', grid: { foo: [1] } })).toThrow(/`grid\.foo` is not a config field of e5; expected one of `seed`, .*`lambdas`.*`lambda`/);
    expect(bad({ experiment: 'e5', grid: { lambda: [0.1, -1] } })).toThrow(/`grid\.lambda\[1\]` \(-1\)/);
    expect(bad({ experiment: 'e5', grid: { lambda: [] } })).toThrow(/`grid\.lambda`: expected a non-empty list/);
    expect(bad({ experiment: 'e5', grid: {}, base: { seed: 1 } })).toThrow(/`base\.seed`/);
    expect(bad({ experiment: 'e5', grid: {}, base: { prompts: 0 } })).toThrow(/`base\.prompts`/);
    expect(bad({ experiment: 'e5', grid: { lambda: [1] }, base: { lambdas: [2] } })).toThrow(/`grid\.lambda` sets `lambdas`, which `base` sets too/);
    expect(bad({ experiment: 'e5', grid: { lambda: [1, 1] } })).toThrow(/twice/);
    expect(bad({ experiment: 'e99', grid: {} })).toThrow(/`experiment`: unknown experiment 'e99'/);
    expect(bad({ experiment: 'e5', grid: {}, scale: 'huge' })).toThrow(/`scale`/);
    expect(bad({ experiment: 'e5', grids: {} })).toThrow(/`grids` \(did you mean `grid`\?\) is not a sweep config field; expected one of `experiment`, `scale`, `grid`, `base`/);
  });

  it("names the closest valid key of an unknown one, by the library's closestKey (issue 10)", () => {
    const bad = (c: unknown) => () => parseSweep(c);
    // grid: a singular and a plural both valid; the typo is closest to `lambdas`… or `lambda`
    expect(bad({ experiment: 'e5', grid: { lamda: [1] } })).toThrow(/`grid\.lamda` \(did you mean `grid\.lambda`\?\) is not a config field of e5; expected one of /);
    expect(bad({ experiment: 'e5', grid: {}, base: { prompt: 3 } })).toThrow(/`base\.prompt` \(did you mean `base\.prompts`\?\) is not a config field of e5; expected one of .*`prompts`/);
    expect(bad({ experiment: 'e5', expriment: 'e5', grid: {} })).toThrow(/`expriment` \(did you mean `experiment`\?\)/);
    // nothing close: no suggestion, the valid keys listed
    expect(bad({ experiment: 'e5', grid: {}, base: { zzzzzz: 3 } })).toThrow(/`base\.zzzzzz` is not a config field of e5; expected one of /);
    expect(bad({ experiment: 'e5', grid: {}, base: { zzzzzz: 3 } })).not.toThrow(/did you mean/);
  });
});

describe('JSONL files', () => {
  const good = '{"point":{"a":1},"result":{"seed":1,"summary":{}}}\n';
  const scan = (s: string) => scanJsonl(Buffer.from(s), checkRecord, 'f.jsonl');

  it('finds a torn last line: no trailing newline, or not JSON', () => {
    expect(scan(good + good).torn).toBeUndefined();
    const noNewline = scan(good + good.slice(0, 20));
    expect(noNewline.records).toHaveLength(1);
    expect(noNewline.torn).toEqual({ line: 2, reason: 'no trailing newline' });
    expect(noNewline.goodBytes).toBe(Buffer.byteLength(good));
    const garbage = scan(good + '\0\0\0{"point\n');
    expect(garbage.torn?.line).toBe(2);
    expect(garbage.torn?.reason).toMatch(/not JSON/);
    expect(scan(good + '{"x":1}\n').torn?.reason).toMatch(/not a sweep record/);
  });

  it('refuses a bad line that is not the last', () => {
    expect(() => scan(good + 'nonsense\n' + good)).toThrow(/f\.jsonl:2: not JSON/);
  });
});

describe('running a sweep', () => {
  it('writes one line per point, resumes, and redoes the point of a torn last line', async () => {
    const sweep = smallSweep();
    const out = tmp('sweep');
    const r1 = await runSweep(sweep, { out });
    expect(r1).toMatchObject({ points: 6, shardPoints: 6, resumed: 0, ran: 6, remaining: 0, stopped: false });
    const file = shardFile(out, { index: 0, count: 1 });
    const whole = readFileSync(file, 'utf8');
    const recs = records(file);
    expect(recs.map((r) => r.point)).toEqual(sweep.points);
    for (const r of recs) {
      expect(r.result.seed).toBe(pointSeed(r.point));
      expect(Object.keys(r.result).sort()).toEqual(['seed', 'summary']);
      expect(typeof r.result.summary?.['ratio median at best λ']).toBe('number');
    }
    // Resume: nothing to do.
    const r2 = await runSweep(sweep, { out });
    expect(r2).toMatchObject({ resumed: 6, ran: 0 });
    expect(readFileSync(file, 'utf8')).toBe(whole);
    // A kill mid-write: the last line loses its end. It is truncated away and its point redone.
    truncateSync(file, Buffer.byteLength(whole) - 25);
    const r3 = await runSweep(sweep, { out });
    expect(r3).toMatchObject({ resumed: 5, ran: 1, repaired: { line: 6, reason: 'no trailing newline' } });
    expect(readFileSync(file, 'utf8')).toBe(whole);
    // Garbage after the last newline (a crash on some filesystems) is handled the same way.
    appendFileSync(file, '\0\0\0\0');
    expect(await runSweep(sweep, { out })).toMatchObject({ resumed: 6, ran: 0, repaired: { line: 7 } });
    expect(readFileSync(file, 'utf8')).toBe(whole);
  });

  it('stops after the current point when aborted, and a rerun completes the shard', async () => {
    const sweep = smallSweep();
    const out = tmp('abort');
    const ac = new AbortController();
    const shard = { index: 1, count: 2 };
    const r1 = await runSweep(sweep, { out, shard, signal: ac.signal, onPoint: () => ac.abort() });
    expect(r1).toMatchObject({ shardPoints: 3, ran: 1, remaining: 2, stopped: true });
    expect(lines(shardFile(out, shard))).toHaveLength(1);
    const r2 = await runSweep(sweep, { out, shard });
    expect(r2).toMatchObject({ resumed: 1, ran: 2, stopped: false });
    expect(records(shardFile(out, shard)).map((r) => r.point)).toEqual([1, 3, 5].map((j) => sweep.points[j]));
  });

  it('refuses a directory of another sweep, and a shard file with foreign points', async () => {
    const out = tmp('other');
    await runSweep(smallSweep(), { out, shard: { index: 0, count: 3 } });
    const other = parseSweep({ experiment: 'e5', scale: 'tiny', grid: { lambda: [0.1, 0.3], seed: [1, 2] }, base: { prompts: 2, length: 16 } });
    await expect(runSweep(other, { out })).rejects.toThrow(/holds results of a different sweep/);
    // shard 0/3's file copied in as shard 1/3's.
    writeFileSync(shardFile(out, { index: 1, count: 3 }), readFileSync(shardFile(out, { index: 0, count: 3 })));
    await expect(runSweep(smallSweep(), { out, shard: { index: 1, count: 3 } })).rejects.toThrow(/shard-1-of-3\.jsonl:1: point .* is not one of shard 1\/3's points/);
  });
});

describe('merge', () => {
  const rec = (lambda: number, seed: number, ratio: number) => JSON.stringify({ point: { lambda, seed }, result: { seed: 1, summary: { ratio } } }) + '\n';

  it('writes the union ordered by point, drops identical duplicates, skips a torn last line', () => {
    const dir = tmp('merge');
    writeFileSync(join(dir, 'shard-0-of-2.jsonl'), rec(10, 1, 0.5) + rec(0.3, 2, 0.2) + rec(1, 1, 0.1));
    writeFileSync(join(dir, 'shard-1-of-2.jsonl'), rec(1, 2, 0.3) + rec(0.3, 1, 0.4) + rec(10, 1, 0.5) + '{"point":{"lam');
    writeFileSync(join(dir, 'notes.jsonl'), 'not a shard file');
    const out = join(dir, 'merged', 'all.jsonl');
    const r = mergeShards([dir], out);
    expect(r).toMatchObject({ points: 5, duplicates: 1 });
    expect(r.files).toHaveLength(2);
    expect(r.torn).toEqual([{ file: join(dir, 'shard-1-of-2.jsonl'), line: 4, reason: 'no trailing newline' }]);
    expect(records(out).map((x) => [x.point.lambda, x.point.seed])).toEqual([[0.3, 1], [0.3, 2], [1, 1], [1, 2], [10, 1]]);
    // Lines are canonical JSON; merging the merged file again changes nothing.
    const text = readFileSync(out, 'utf8');
    mergeShards([out], out);
    expect(readFileSync(out, 'utf8')).toBe(text);
  });

  it('fails on two different results for one point, naming it and both places', () => {
    const dir = tmp('conflict');
    const a = join(dir, 'a.jsonl');
    const b = join(dir, 'b.jsonl');
    writeFileSync(a, rec(0.3, 1, 0.4) + rec(1, 1, 0.1));
    writeFileSync(b, rec(1, 1, 0.1000001));
    const out = join(dir, 'out.jsonl');
    expect(() => mergeShards([a, b], out)).toThrow(MergeConflict);
    expect(() => mergeShards([a, b], out)).toThrow(/point \{"lambda":1,"seed":1\} has two different results: .*a\.jsonl:2 and .*b\.jsonl:1/);
    expect(() => readFileSync(out)).toThrow();
  });

  it('fails naming the points of the sweep that no shard has (and their shard), unless allowMissing', async () => {
    const out = tmp('missing');
    await runSweep(smallSweep(), { out, shard: { index: 0, count: 3 } });
    await runSweep(smallSweep(), { out, shard: { index: 2, count: 3 } });
    const target = join(out, 'merged.jsonl');
    expect(() => mergeShards([out], target)).toThrow(MergeIncomplete);
    expect(() => mergeShards([out], target)).toThrow(
      /2 of the sweep's 6 points are missing: \{"lambda":0\.1,"seed":2\} \(point 1, shard 1\/3\), \{"lambda":1,"seed":1\} \(point 4, shard 1\/3\)\. .*--allow-missing; nothing was written/,
    );
    expect(existsSync(target)).toBe(false);
    // Files named directly are checked against the sweep.json beside them, too.
    expect(() => mergeShards([shardFile(out, { index: 0, count: 3 })], target)).toThrow(/4 of the sweep's 6 points are missing/);
    const r = mergeShards([out], target, { allowMissing: true });
    expect(r.points).toBe(4);
    expect(r.sweep).toEqual({ points: 6, missing: 2, firstMissing: ['{"lambda":0.1,"seed":2} (point 1, shard 1/3)', '{"lambda":1,"seed":1} (point 4, shard 1/3)'] });
    expect(lines(target)).toHaveLength(4);
    await runSweep(smallSweep(), { out, shard: { index: 1, count: 3 } });
    expect(mergeShards([out], target).sweep).toEqual({ points: 6, missing: 0, firstMissing: [] });
  });
});

describe('shard lock', () => {
  const setup = async () => {
    const dir = tmp('lock');
    const file = join(dir, 'shard-0-of-1.jsonl');
    const { lock } = await ShardLock.acquire(file);
    const mine = JSON.parse(readFileSync(`${file}.lock`, 'utf8')) as Record<string, unknown>;
    lock.release();
    return { file, lockFile: `${file}.lock`, mine };
  };
  const exited = (child: ReturnType<typeof spawn>) => new Promise((r) => child.on('exit', r));

  it('one holder at a time, released by release(); a lock of a live local process is refused, of a gone one taken over', async () => {
    const { file, lockFile, mine } = await setup();
    expect(mine).toMatchObject({ host: hostname(), pid: process.pid });
    expect(existsSync(lockFile)).toBe(false);
    const { lock, took } = await ShardLock.acquire(file);
    expect(took).toBeUndefined();
    await expect(ShardLock.acquire(file)).rejects.toThrow(/already being written by this process/);
    lock.release();
    lock.release();
    expect(existsSync(lockFile)).toBe(false);

    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    writeFileSync(lockFile, JSON.stringify({ ...mine, pid: child.pid, startTime: undefined, token: 'other' }));
    await expect(ShardLock.acquire(file)).rejects.toThrow(ShardLocked);
    await expect(ShardLock.acquire(file)).rejects.toThrow(new RegExp(`being written by pid ${child.pid} on host ${hostname()} .*still running`));
    child.kill('SIGKILL');
    await exited(child);
    const r = await ShardLock.acquire(file);
    expect(r.took).toMatchObject({ holder: { pid: child.pid }, reason: 'that process is gone' });
    r.lock.release();

    // A live pid that started at another time than the lock says: pid reuse, so the holder is gone.
    writeFileSync(lockFile, JSON.stringify({ ...mine, pid: process.ppid, startTime: '1', token: 'reused' }));
    const r2 = await ShardLock.acquire(file);
    expect(r2.took?.reason).toBe('that process is gone');
    r2.lock.release();
    // Our own pid, but not our lock: a previous incarnation (a restarted container's pid 1).
    writeFileSync(lockFile, JSON.stringify({ ...mine, token: 'previous' }));
    const r3 = await ShardLock.acquire(file);
    expect(r3.took?.reason).toBe('that process is gone');
    r3.lock.release();
  });

  it('a lock from another machine: taken over once its heartbeat is stale, refused while it beats', async () => {
    const { file, lockFile } = await setup();
    const remote = { host: 'node-elsewhere', pid: 4242, token: 'remote', since: '2026-01-01T00:00:00.000Z' };
    writeFileSync(lockFile, JSON.stringify(remote));
    const hourAgo = new Date(Date.now() - 3600_000);
    utimesSync(lockFile, hourAgo, hourAgo);
    const old = await ShardLock.acquire(file, { staleSeconds: 60 });
    expect(old.took).toMatchObject({ holder: { host: 'node-elsewhere', pid: 4242 } });
    expect(old.took?.reason).toMatch(/^no heartbeat for 3[56]\d\d s$/);
    old.lock.release();

    // Fresh, then silent: waited for, then taken over.
    writeFileSync(lockFile, JSON.stringify(remote));
    const waits: unknown[] = [];
    const t0 = Date.now();
    const silent = await ShardLock.acquire(file, { staleSeconds: 0.5, heartbeatSeconds: 0.1, onWait: (h) => waits.push(h) });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(450);
    expect(waits).toEqual([remote]);
    silent.lock.release();

    // Fresh and beating: refused after waiting.
    writeFileSync(lockFile, JSON.stringify(remote));
    const beat = setInterval(() => utimesSync(lockFile, new Date(), new Date()), 50);
    try {
      await expect(ShardLock.acquire(file, { staleSeconds: 1, heartbeatSeconds: 0.1 })).rejects.toThrow(/pid 4242 on host node-elsewhere .*heartbeat .* stayed fresh/);
    } finally {
      clearInterval(beat);
    }
    expect(JSON.parse(readFileSync(lockFile, 'utf8'))).toEqual(remote);
  });

  it('a run whose lock was taken over stops without writing', async () => {
    const out = tmp('lost');
    const sweep = smallSweep();
    const file = shardFile(out, { index: 0, count: 1 });
    let n = 0;
    const run = runSweep(sweep, {
      out,
      onPoint: () => {
        if (++n === 2) writeFileSync(`${file}.lock`, JSON.stringify({ host: 'node-elsewhere', pid: 7, token: 'thief', since: 'now' }));
      },
    });
    await expect(run).rejects.toThrow(LockLost);
    expect(lines(file)).toHaveLength(2);
    // Its release left the thief's lock alone.
    expect(JSON.parse(readFileSync(`${file}.lock`, 'utf8'))).toMatchObject({ token: 'thief' });
  });

  it('the lock is released on process.exit (a second Ctrl-C) and left by SIGKILL', async () => {
    const { file, lockFile } = await setup();
    const lockJs = resolve(__dirname, '..', 'packages', 'lab', 'dist', 'src', 'sweep', 'lock.js');
    const code = `require(${JSON.stringify(lockJs)}).ShardLock.acquire(${JSON.stringify(file)}).then(() => { console.log('held'); setTimeout(() => process.exit(130), 50); });`;
    const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8' });
    expect(r.stdout).toBe('held\n');
    expect(r.status).toBe(130);
    expect(existsSync(lockFile)).toBe(false);
    const child = spawn(process.execPath, ['-e', code.replace('process.exit(130)', 'process.kill(process.pid, "SIGKILL")')], { stdio: 'ignore' });
    await exited(child);
    expect(JSON.parse(readFileSync(lockFile, 'utf8'))).toMatchObject({ pid: child.pid });
  });
});

describe('examples', () => {
  const root = resolve(__dirname, '..');
  const read = (f: string) => readFileSync(join(root, 'examples', f), 'utf8');

  it('the sweep config is valid; Slurm and Kubernetes run its 3 shards with the same config', () => {
    const config = JSON.parse(read('sweep-e5.json')) as unknown;
    expect(parseSweep(config).points).toHaveLength(30);
    const slurm = read('slurm-array.sh');
    expect(slurm).toMatch(/^#SBATCH --array=0-2$/m);
    expect(slurm).toMatch(/^SHARDS=3 /m);
    expect(slurm).toMatch(/CONFIG=\$\{SWEEP_CONFIG:-examples\/sweep-e5\.json\}/);
    expect(slurm).toMatch(/srun node "\$ATTNCLUST" sweep "\$CONFIG" --out "\$OUT" \\\n\s+--shard "\$\{SLURM_ARRAY_TASK_ID\}\/\$\{SHARDS\}"/);
    for (const f of ['slurm-array.sh', 'slurm-merge.sh', 'slurm-submit.sh']) expect(read(f), f).not.toMatch(/^[^#]*\bnpx\b/m);
    const k8s = read('k8s-indexed-job.yaml');
    expect(k8s).toMatch(/^ {2}completionMode: Indexed$/m);
    expect(k8s).toMatch(/^ {2}completions: 3\b/m);
    expect(k8s).toMatch(/--shard "\$\{JOB_COMPLETION_INDEX\}\/3"/);
    // The exit code of a graceful stop is what both schedulers' configurations name.
    expect(EXIT_STOPPED).toBe(75);
    expect(slurm).toMatch(/if \[ "\$rc" -eq 75 \]; then\n.*\n\s+scontrol requeue "\$SLURM_JOB_ID"/);
    expect(k8s).toMatch(/onExitCodes:\n\s+containerName: sweep\n\s+operator: In\n\s+values: \[75\]/);
    // node is PID 1 (the shell execs it), with no npm in between.
    expect(k8s).toMatch(/- exec node \/opt\/attnclust\/packages\/lab\/bin\/attnclust\.js sweep /);
    expect(k8s).not.toMatch(/^[^#]*\bnpx?\b/m);
    expect(k8s).toMatch(/^ {6}terminationGracePeriodSeconds: 120\b/m);
    expect(k8s).toMatch(/^ {2}podReplacementPolicy: Failed$/m);
    const embedded = /sweep-e5\.json: \|\n((?: {4}.*\n)+)/.exec(k8s)?.[1];
    expect(JSON.parse(embedded ?? 'null')).toEqual(config);
  });
});
