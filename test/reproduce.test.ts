// `npm run reproduce` builds only what is stale (issue 11: after `npm ci` it rebuilt the addon for
// 1.5 minutes). scripts/build-if-stale.mjs decides by modification times, checked here on a
// scratch tree; the script itself is what `reproduce` runs first.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without declarations
import { nativeStale, tsStale } from '../scripts/build-if-stale.mjs';

const root = mkdtempSync(join(tmpdir(), 'attnclust-stale-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Writes `file` under the scratch root with modification time `t` (seconds). */
function put(file: string, t: number): void {
  const p = join(root, file);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, '');
  utimesSync(p, t, t);
}

describe('reproduce builds only what is stale', () => {
  it('package.json: reproduce runs the freshness check, not an unconditional build', () => {
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts['reproduce']).toMatch(/^node scripts\/build-if-stale\.mjs && /);
    expect(pkg.scripts['reproduce']).not.toMatch(/npm run build\b/);
  });

  it('the addon: missing, up to date, then stale after a Rust edit', () => {
    expect(nativeStale(root)).toMatch(/never built/);
    put('crates/core/src/lib.rs', 1000);
    put('crates/core/Cargo.toml', 1000);
    put('Cargo.lock', 1000);
    put('native/attnclust.linux-x64-gnu.node', 2000);
    put('native/index.js', 2000);
    expect(nativeStale(root)).toMatch(/index\.d\.ts is missing/);
    put('native/index.d.ts', 500); // napi leaves an unchanged declaration file alone
    expect(nativeStale(root)).toBeNull(); // as right after `npm ci`
    put('crates/core/target/release/build/out.rs', 3000); // build products do not count
    expect(nativeStale(root)).toBeNull();
    put('crates/core/src/lib.rs', 3000);
    expect(nativeStale(root)).toMatch(/crates\/core\/src\/lib\.rs is newer/);
    put('crates/core/src/lib.rs', 1000);
    put('Cargo.lock', 3000);
    expect(nativeStale(root)).toMatch(/Cargo\.lock/);
  });

  it('the TypeScript: up to date, then stale after an edit, a missing output or a new tsconfig', () => {
    put('src/a.ts', 1000);
    put('src/sub/b.ts', 1000);
    put('src/types.d.ts', 5000); // declarations have no output
    put('bench/run.ts', 1000);
    put('dist/src/a.js', 2000);
    put('dist/bench/run.js', 2000);
    expect(tsStale(root)).toMatch(/dist\/src\/sub\/b\.js is missing/);
    put('dist/src/sub/b.js', 2000);
    put('tsconfig.json', 1000);
    expect(tsStale(root)).toBeNull();
    put('src/sub/b.ts', 3000);
    expect(tsStale(root)).toMatch(/src\/sub\/b\.ts is newer than dist\/src\/sub\/b\.js/);
    put('src/sub/b.ts', 1000);
    put('tsconfig.json', 3000);
    expect(tsStale(root)).toMatch(/tsconfig/);
  });
});
