// Runs the README's API example as written (against the built package) and checks what it prints.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
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

describe('README Layout section', () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const start = readme.indexOf('## Layout');
  const layout = readme.slice(start, readme.indexOf('\n## ', start + 1));
  const words = new Set(layout.match(/[\w.-]+/g) ?? []);
  const stems = (dir: string, ext: string): string[] =>
    readdirSync(join(root, dir))
      .filter((f) => f.endsWith(ext) && f !== 'mod.rs' && f !== 'lib.rs' && !f.endsWith('tests.rs'))
      .map((f) => f.slice(0, -ext.length));

  it('names every module of the core, the binding and src/ (a new file must be placed in it)', () => {
    const core = 'crates/attnclust-core/src';
    const dirs = readdirSync(join(root, core), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    const missing = [
      ...dirs.filter((d) => !layout.includes(`${d}/`)).map((d) => `${core}/${d}/`),
      ...dirs.flatMap((d) => stems(`${core}/${d}`, '.rs').filter((m) => !words.has(m)).map((m) => `${core}/${d}/${m}.rs`)),
      ...stems('crates/attnclust-node/src', '.rs').filter((m) => !words.has(m)).map((m) => `crates/attnclust-node/src/${m}.rs`),
      ...stems('src', '.ts').filter((m) => !words.has(`${m}.ts`)).map((m) => `src/${m}.ts`),
    ];
    expect(missing).toEqual([]);
  });

  it('every top-level path it names exists', () => {
    const named = [...layout.matchAll(/^(\S+)\s{2,}/gm)].map((m) => m[1] as string).filter((p) => !p.startsWith('`')).flatMap((p) => p.split(',').map((q) => q.trim()).filter(Boolean));
    expect(named.length).toBeGreaterThan(5);
    expect(named.filter((p) => !existsSync(join(root, p)))).toEqual([]);
  });
});
