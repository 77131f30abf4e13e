/**
 * Types that agree with the runtime (issue 10): a strict consumer (test/types/consumer.ts) must
 * compile, and each of its `@ts-expect-error` lines must be a type error.
 */
import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(__dirname, '..');

describe('public types', () => {
  it('compile a strict consumer, refusing what the runtime refuses', () => {
    let out = '';
    try {
      execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(__dirname, 'types', 'tsconfig.json')], { encoding: 'utf8' });
    } catch (e) {
      out = String((e as { stdout?: string }).stdout ?? e);
    }
    expect(out).toBe('');
  }, 60_000);
});
