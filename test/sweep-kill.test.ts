// End to end, as on a cluster: a sweep run whole, then as 3 shard processes of which one is
// SIGKILLed mid-run and restarted, then merged; the merge must equal the whole run point for point.
// Also: SIGTERM (any number of them) stops after the current point with a valid file and exit 75,
// a second SIGINT quits at once, the shard lock, and the CLI's exit codes.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const bin = resolve(__dirname, '..', 'packages', 'lab', 'bin', 'attnclust.js');

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Complete lines in a file (0 if it does not exist yet). */
function completeLines(file: string): number {
  if (!existsSync(file)) return 0;
  return readFileSync(file, 'utf8').split('\n').length - 1;
}

function start(...args: string[]): { child: ChildProcess; done: Promise<{ code: number | null; signal: NodeJS.Signals | null; err: string }> } {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; err: string }>((res) => child.on('close', (code, signal) => res({ code, signal, err })));
  return { child, done };
}

/** Resolves when `file` has at least `n` complete lines (polls every 5 ms). */
async function untilLines(file: string, n: number, timeoutMs = 60_000): Promise<void> {
  const t0 = Date.now();
  while (completeLines(file) < n) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`${file} did not reach ${n} lines`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** e5 at tiny scale, 15 points of ~0.15 s each (48 prompts of 128 tokens per point). */
function writeConfig(dir: string): string {
  const cfg = join(dir, 'sweep.config.json');
  writeFileSync(cfg, JSON.stringify({ experiment: 'e5', scale: 'tiny', grid: { lambda: [0.1, 0.3, 1], seed: [1, 2, 3, 4, 5] }, base: { prompts: 48, length: 128 } }));
  return cfg;
}

const parse = (file: string) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { point: Record<string, unknown>; result: Record<string, unknown> });

describe('sweep on a cluster (child processes)', () => {
  it('survives a SIGKILLed shard: restart resumes, merge equals the whole run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'attnclust-kill-'));
    const cfg = writeConfig(dir);
    const whole = cli('sweep', cfg, '--out', join(dir, 'whole'), '--threads', '1', '--json');
    expect(whole.code, whole.err).toBe(0);
    expect(JSON.parse(whole.out)).toMatchObject({ points: 15, ran: 15, stopped: false });

    const out = join(dir, 'sharded');
    const shards = [0, 1, 2].map((i) => start('sweep', cfg, '--out', out, '--shard', `${i}/3`, '--threads', '1'));
    const victim = join(out, 'shard-1-of-3.jsonl');
    await untilLines(victim, 1);
    shards[1]!.child.kill('SIGKILL');
    const ends = await Promise.all(shards.map((s) => s.done));
    expect(ends[0]!.code, ends[0]!.err).toBe(0);
    expect(ends[2]!.code, ends[2]!.err).toBe(0);
    expect(ends[1]!.signal).toBe('SIGKILL');
    const atKill = completeLines(victim);
    expect(atKill).toBeGreaterThanOrEqual(1);
    expect(atKill).toBeLessThan(5); // shard 1/3 has points 1, 4, 7, 10, 13
    console.log(`shard 1/3 killed with ${atKill}/5 points on disk`);

    const again = start('sweep', cfg, '--out', out, '--shard', '1/3', '--threads', '1');
    const r = await again.done;
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(new RegExp(`shard 1/3 has 5, ${atKill} already in .*, ${5 - atKill} to run`));
    expect(r.err).toMatch(new RegExp(`took over a stale lock of pid ${shards[1]!.child.pid} on host .* \\(that process is gone\\)`));
    expect(existsSync(`${victim}.lock`)).toBe(false);
    expect(completeLines(victim)).toBe(5);

    const merged = join(dir, 'merged.jsonl');
    const m = cli('merge', out, '--out', merged, '--json');
    expect(m.code, m.err).toBe(0);
    expect(JSON.parse(m.out)).toMatchObject({ points: 15, duplicates: 0, torn: [], sweep: { points: 15, missing: 0 } });
    const wholeMerged = join(dir, 'whole-merged.jsonl');
    expect(cli('merge', join(dir, 'whole'), '--out', wholeMerged).code).toBe(0);
    // Point for point: same points, same results, each once; and the same bytes.
    const a = parse(merged);
    const b = parse(join(dir, 'whole', 'shard-0-of-1.jsonl'));
    expect(a).toHaveLength(15);
    expect(new Set(a.map((x) => JSON.stringify(x.point))).size).toBe(15);
    const byPoint = new Map(b.map((x) => [JSON.stringify(x.point), x.result]));
    for (const x of a) expect(x.result).toEqual(byPoint.get(JSON.stringify(x.point)));
    expect(readFileSync(merged, 'utf8')).toBe(readFileSync(wholeMerged, 'utf8'));
  });

  it('stops after the current point on SIGTERM, however many arrive (exit 75, file valid), then resumes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'attnclust-term-'));
    const cfg = writeConfig(dir);
    const out = join(dir, 'out');
    const file = join(out, 'shard-2-of-3.jsonl');
    const run = start('sweep', cfg, '--out', out, '--shard', '2/3', '--threads', '1');
    await untilLines(file, 1);
    const atSignal = completeLines(file);
    // Slurm may deliver TERM more than once: still one graceful stop.
    for (let i = 0; i < 3; i++) run.child.kill('SIGTERM');
    const r = await run.done;
    const text = readFileSync(file, 'utf8');
    if (r.code === 0) return; // finished all 5 points before the signal arrived: nothing to check
    expect(r.code, r.err).toBe(75);
    expect(r.err.match(/SIGTERM; stopping after the current point/g)).toHaveLength(1);
    expect(r.err).not.toMatch(/quitting now/);
    expect(text.endsWith('\n')).toBe(true);
    const n = completeLines(file);
    expect(n).toBeGreaterThanOrEqual(atSignal);
    expect(n).toBeLessThan(5);
    expect(r.err).toMatch(new RegExp(`stopped with ${n}/5 points in .* \\(exit 75\\)`));
    expect(existsSync(`${file}.lock`)).toBe(false);
    const again = cli('sweep', cfg, '--out', out, '--shard', '2/3', '--threads', '1', '--json');
    expect(again.code, again.err).toBe(0);
    expect(JSON.parse(again.out)).toMatchObject({ resumed: n, ran: 5 - n });
  });

  it('a second SIGINT quits at once (exit 130), releasing the lock; the file stays valid', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'attnclust-int-'));
    const cfg = writeConfig(dir);
    const out = join(dir, 'out');
    const file = join(out, 'shard-0-of-1.jsonl');
    const run = start('sweep', cfg, '--out', out, '--threads', '1');
    await untilLines(file, 1);
    run.child.kill('SIGINT');
    await new Promise((r) => setTimeout(r, 20));
    run.child.kill('SIGINT');
    const r = await run.done;
    if (r.code === 0) return; // finished all 15 points before the signals arrived
    expect(r.code, r.err).toBe(130);
    expect(r.err).toMatch(/SIGINT; stopping after the current point \(Ctrl-C again to quit now\)/);
    expect(r.err).toMatch(/SIGINT again; quitting now/);
    expect(readFileSync(file, 'utf8').endsWith('\n')).toBe(true);
    expect(existsSync(`${file}.lock`)).toBe(false);
  });

  it('exits 2 naming the problem: a grid field the experiment lacks, a merge conflict', () => {
    const dir = mkdtempSync(join(tmpdir(), 'attnclust-sweep-err-'));
    const cfg = join(dir, 'bad.json');
    writeFileSync(cfg, JSON.stringify({ experiment: 'e5', scale: 'tiny', grid: { lamda: [1] } }));
    const bad = cli('sweep', cfg, '--out', join(dir, 'out'));
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/`grid\.lamda` \(did you mean `grid\.lambda`\?\) is not a config field of e5; expected one of .*`lambda`/);
    const shard = cli('sweep', cfg, '--out', join(dir, 'out'), '--shard', '3/3');
    expect(shard.code).not.toBe(0);
    expect(shard.err).toMatch(/--shard/);

    const line = (ratio: number) => JSON.stringify({ point: { lambda: 1 }, result: { seed: 3, summary: { ratio } } }) + '\n';
    writeFileSync(join(dir, 'a.jsonl'), line(0.5));
    writeFileSync(join(dir, 'b.jsonl'), line(0.25));
    const m = cli('merge', join(dir, 'a.jsonl'), join(dir, 'b.jsonl'), '--out', join(dir, 'm.jsonl'));
    expect(m.code).toBe(2);
    expect(m.err).toMatch(/point \{"lambda":1\} has two different results/);
    expect(existsSync(join(dir, 'm.jsonl'))).toBe(false);

    // A sweep with a shard not run: merge exits 2 naming the missing points, unless --allow-missing.
    const part = join(dir, 'part');
    expect(cli('sweep', writeConfig(dir), '--out', part, '--shard', '0/3', '--threads', '1').code).toBe(0);
    const inc = cli('merge', part, '--out', join(dir, 'part.jsonl'));
    expect(inc.code).toBe(2);
    expect(inc.err).toMatch(/merge: 10 of the sweep's 15 points are missing: \{"lambda":0\.1,"seed":2\} \(point 1, shard 1\/3\), /);
    expect(existsSync(join(dir, 'part.jsonl'))).toBe(false);
    const allow = cli('merge', part, '--out', join(dir, 'part.jsonl'), '--allow-missing', '--json');
    expect(allow.code, allow.err).toBe(0);
    expect(JSON.parse(allow.out)).toMatchObject({ points: 5, sweep: { points: 15, missing: 10 } });
    expect(allow.err).toMatch(/--allow-missing: 10 of the sweep's 15 points are missing/);
  });
});
