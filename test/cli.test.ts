// The `attnclust` command as a user runs it (the compiled CLI in a child process).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const bin = resolve(__dirname, '..', 'packages', 'lab', 'bin', 'attnclust.js');

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Width and height from a PNG's IHDR chunk, after checking the signature. */
function pngSize(file: string): [number, number] {
  const b = readFileSync(file);
  expect([...b.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  expect(b.subarray(12, 16).toString('ascii')).toBe('IHDR');
  return [b.readUInt32BE(16), b.readUInt32BE(20)];
}

describe('attnclust CLI', () => {
  it('lists the experiments', () => {
    const r = cli('list');
    expect(r.code).toBe(0);
    for (const id of ['e1', 'e2', 'e3', 'e4', 'e5', 'e6', 'e7', 'e8', 'e9']) expect(r.out).toMatch(new RegExp(`^${id} `, 'm'));
  });

  it('runs e5 at tiny scale and writes data, plots and the index', () => {
    const out = mkdtempSync(join(tmpdir(), 'attnclust-cli-'));
    const r = cli('run', 'e5', '--scale', 'tiny', '--out', out, '--json');
    expect(r.code, r.err).toBe(0);
    const summary = JSON.parse(r.out) as { experiments: { id: string; summary: Record<string, number> }[] };
    expect(summary.experiments[0]?.id).toBe('e5');
    expect(summary.experiments[0]?.summary['ratio median at best λ']).toBeLessThan(1);
    for (const f of ['e5-result.json', 'e5-ratios.csv', 'e5-lambda.svg', 'e5-lambda.png', 'e5-lambda.vl.json', 'e5-sweeps.png', 'e5-before-after.png', 'index.html', 'index.md']) {
      expect(existsSync(join(out, f)), f).toBe(true);
    }
    const [w, h] = pngSize(join(out, 'e5-lambda.png'));
    expect(w).toBeGreaterThan(200);
    expect(h).toBeGreaterThan(100);
    expect(readFileSync(join(out, 'e5-lambda.svg'), 'utf8')).toMatch(/<svg[\s\S]*quantization ratio/);
    const json = JSON.parse(readFileSync(join(out, 'e5-result.json'), 'utf8')) as { config: { seed: number }; tables: unknown[] };
    expect(json.config.seed).toBe(5);
    expect(json.tables.length).toBeGreaterThan(0);
    expect(readFileSync(join(out, 'e5-ratios.csv'), 'utf8').split('\n')[0]).toBe('sweep,value,lambda,prompt,ratio,ariOutputs,ariInputs');
    const index = readFileSync(join(out, 'index.md'), 'utf8');
    expect(index).toMatch(/E5 — /);
    expect(index).toMatch(/e5-lambda\.png/);
    expect(readFileSync(join(out, 'index.html'), 'utf8')).toMatch(/<img src="e5-lambda.png"/);
  });

  it('runs a config file and applies --seed and --set', () => {
    const dir = mkdtempSync(join(tmpdir(), 'attnclust-cfg-'));
    const cfg = join(dir, 'e4.json');
    writeFileSync(cfg, JSON.stringify({ experiment: 'e4', scale: 'tiny', config: { steps: 5 } }));
    const r = cli('run', cfg, '--out', dir, '--seed', '9', '--set', 'points=20');
    expect(r.code, r.err).toBe(0);
    const json = JSON.parse(readFileSync(join(dir, 'e4-result.json'), 'utf8')) as { scale: string; config: Record<string, number> };
    expect(json.scale).toBe('tiny');
    expect(json.config).toMatchObject({ steps: 5, seed: 9, points: 20 });
  });

  it('names the bad field of a config and fails with exit code 2', () => {
    const dir = mkdtempSync(join(tmpdir(), 'attnclust-bad-'));
    const cfg = join(dir, 'bad.json');
    writeFileSync(cfg, JSON.stringify({ experiment: 'e5', config: { prompts: -3 } }));
    const r = cli('run', cfg, '--out', dir);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/`prompts`/);
    // an unknown key of the file, or of its `config`: the closest valid key is named (issue 10)
    writeFileSync(cfg, JSON.stringify({ experiment: 'e5', confg: { prompts: 3 } }));
    const key = cli('run', cfg, '--out', dir);
    expect(key.code).toBe(2);
    expect(key.err).toMatch(/`confg` \(did you mean `config`\?\) is not a config file field; expected one of `experiment`, `scale`, `seed`, `config`/);
    writeFileSync(cfg, JSON.stringify({ experiment: 'e5', config: { promts: 3 } }));
    const field = cli('run', cfg, '--out', dir);
    expect(field.code).toBe(2);
    expect(field.err).toMatch(/`promts` \(did you mean `prompts`\?\)/);
    const unknown = cli('run', 'e99', '--out', dir);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/unknown experiment 'e99'/);
    const badFlag = cli('run', 'e5', '--scale', 'huge');
    expect(badFlag.code).not.toBe(0);
    expect(badFlag.err).toMatch(/huge/);
  });

  it('--version prints the version in package.json', () => {
    const pkg = JSON.parse(readFileSync(resolve(__dirname, '..', 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = cli(flag);
      expect(r.code, r.err).toBe(0);
      expect(r.out.trim()).toBe(pkg.version);
    }
  });

  it('exits quietly when stdout is closed early (`attnclust list | head -1`)', async () => {
    // The reader is gone before the first write: every write fails with EPIPE.
    const child = spawn(process.execPath, [bin, 'list'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const code = await new Promise<number | null>((res) => child.on('close', (c) => res(c)));
    expect(err).toBe('');
    expect(code).toBe(0);
    // And as a shell pipeline.
    const sh = spawnSync('sh', ['-c', `"${process.execPath}" "${bin}" list | head -1`], { encoding: 'utf8' });
    expect(sh.stderr).toBe('');
    expect(sh.stdout).toMatch(/^e1 +\S.*\n$/);
  });

  it('Ctrl-C before the first experiment finishes, into a new --out: exits 130 cleanly, writes no index', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'attnclust-int-')), 'new-report');
    const child = spawn(process.execPath, [bin, 'run', 'e1', '--scale', 'small', '--out', out], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    let sent = false;
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      if (!sent && /training runs: \d+\/\d+/.test(err)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((res) => child.on('close', (c) => res(c)));
    expect(sent).toBe(true);
    expect(err).not.toMatch(/e1: done/); // the test needs e1 stopped, not finished
    expect(code, err).toBe(130);
    expect(err).not.toMatch(/ENOENT|Error|at .*\.js:\d+/);
    expect(err).toMatch(/stopped during e1\n/);
    expect(err).toMatch(/nothing finished, so no index was written/);
    expect(existsSync(join(out, 'index.md'))).toBe(false);
  });
});
