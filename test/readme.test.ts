// Runs the README's API example as written (against the built package) and checks what it prints.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(__dirname, '..');

function example(): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## The API in 15 lines'));
  const m = /```js\n([\s\S]*?)```/.exec(section);
  if (!m) throw new Error('README has no js example after "## The API in 15 lines"');
  return m[1] as string;
}

describe('README example', () => {
  it('is about 15 lines of code', () => {
    const lines = example().split('\n').filter((l) => l.trim() && !l.trim().startsWith('//'));
    expect(lines.length).toBeLessThanOrEqual(16);
  });

  it('runs as written and reproduces both claims', () => {
    const code = example().replace("require('attnclust')", `require(${JSON.stringify(root)})`);
    expect(code).not.toBe(example());
    const file = join(mkdtempSync(join(tmpdir(), 'attnclust-readme-')), 'example.cjs');
    writeFileSync(file, code);
    const out = execFileSync(process.execPath, [file], { encoding: 'utf8' });
    const alignment = Number(/alignment (\S+)/.exec(out)?.[1]);
    const ratio = Number(/quantization ratio (\S+)/.exec(out)?.[1]);
    expect(alignment).toBeGreaterThanOrEqual(0.99);
    expect(ratio).toBeLessThan(0.2);
    expect(ratio).toBeGreaterThan(0);
  });
});
