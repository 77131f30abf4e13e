/**
 * No Rust constant copied into TypeScript (issue 10): the limits the core enforces live in the
 * core, and the addon exports them (`native.limits()`). The JSDoc of `src/` states some of them for
 * the reader; each number it states is checked here against the export, so a kernel change that
 * moves a limit fails this test instead of leaving the documentation wrong.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { native } from '../src/native';

const src = join(__dirname, '..', 'src');

/** A number as the docs write it: `4096`, `2^20`, `10⁶`, `10 000`. */
function parse(s: string): number {
  const t = s.replace(/\s/g, '');
  const sup = '⁰¹²³⁴⁵⁶⁷⁸⁹';
  let m = /^(\d+)\^(\d+)$/.exec(t);
  if (m) return Number(m[1]) ** Number(m[2]);
  m = new RegExp(`^(\\d+)([${sup}]+)$`).exec(t);
  if (m) return Number(m[1]) ** Number([...(m[2] as string)].map((c) => sup.indexOf(c)).join(''));
  if (/^\d+$/.test(t)) return Number(t);
  throw new Error(`not a number the docs write: ${s}`);
}

type Limit = keyof ReturnType<typeof native.limits>;

/** `[file, pattern whose groups are the stated numbers, the limits they state]`: each must match. */
const stated: [string, RegExp, Limit[]][] = [
  ['layer.ts', /Token dimension `d`, an integer in \[1, ([^\]]+)\]/g, ['twoHeadDim']],
  ['layer.ts', /Number of heads `H`, an integer in \[1, ([^\]]+)\]/g, ['twoHeadHeads']],
  ['layer.ts', /\(rank ≤ (\d+)\)/g, ['populationRank']],
  ['population.ts', /\(rank ≤ (\d+)\)/g, ['populationRank']],
  ['types.ts', /Fresh samples per step: an integer in \[1, ([^\]]+)\]/g, ['trainBatch']],
  ['gmm.ts', /`k` is an integer in \[1, ([^\]]+)\], `dim` in \[1, ([^\]]+)\]/g, ['priorK', 'priorDim']],
  ['gmm.ts', /at most ([\d ]+) tries/g, ['priorTries']],
  ['identity.ts', /`depth` is not\s+\*?\s*an integer in \[1, ([^\]]+)\]/g, ['identityDepth']],
  ['types.ts', /Apply the layer this many times, an integer in \[1, ([^\]]+)\]/g, ['identityDepth']],
  ['attention-layer.ts', /Number of heads `H`, an integer in \[1, ([^\]]+)\]/g, ['attentionHeads']],
  ['attention-layer.ts', /(?:Token dimension `d`|Query\/key size|Value size), an integer in \[1, ([^\]]+)\]/g, ['attentionWidth']],
  ['attention-layer.ts', /Prompts per step, an integer in \[1, ([^\]]+)\]/g, ['attentionBatch']],
  ['attention-layer.ts', /Tokens per prompt, an integer in \[1, ([^\]]+)\]/g, ['attentionLength']],
  ['baselines.ts', /at most (\d+)\. Restart 0/g, ['nInit']],
  ['baselines.ts', /(?:Lloyd updates per restart|Most M-steps), in \[1, ([^\]]+)\]/g, ['maxIter']],
  ['layer.ts', /`n` draws of a mixture, `n` an integer in\s+\*?\s*\[1, ([^\]]+)\]/g, ['initDraws']],
  ['threads.ts', /`n` (?:is not )?an integer in \[1, ([^\]]+)\]/g, ['threads']],
];

describe("the limits the docs state are the core's (native.limits())", () => {
  const limits = native.limits();
  it.each(stated)('%s: %s', (file, re, names) => {
    const text = readFileSync(join(src, file), 'utf8');
    const found = [...text.matchAll(re)];
    expect(found.length, `${file} no longer states ${names.join(', ')}: update this table`).toBeGreaterThan(0);
    for (const m of found) {
      names.forEach((name, i) => expect(parse(m[i + 1] as string), `${file}: ${m[0]}`).toBe(limits[name]));
    }
  });

  it('reads the documented forms of a number', () => {
    expect([parse('4096'), parse('2^20'), parse('10⁶'), parse('10 000'), parse('2^14')]).toEqual([4096, 2 ** 20, 1e6, 10000, 16384]);
  });
});
