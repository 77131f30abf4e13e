// The install test: packs the package as it would be published (scripts/pack-local.mjs), installs
// the two tarballs (root + linux-x64-gnu binary) into a scratch project offline and with no Rust
// toolchain on PATH, then uses it as a user would: `require`, `import`, a strict TypeScript
// consumer, `npx attnclust --help`, and the error when no binary fits.
//
// Offline: the cache holds the tarballs `npm ci` fetched, but not necessarily the registry metadata
// `npm install` resolves version ranges with, so the scratch project's lockfile is seeded with the
// repo's pinned production packages (the `node_modules/…` entries of package-lock.json that are not
// dev-only, with their tarball URLs); attnclust and its binary package are resolved by npm from
// the tarballs. Skipped, with the reason printed, only when there
// is nothing built to pack (`npm run build` not run).
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(__dirname, '..');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');

interface Packed {
  root: { name: string; version: string; file: string; size: number; unpackedSize: number; files: string[] };
  platforms: { name: string; version: string; file: string; size: number; unpackedSize: number }[];
}

let skipReason: string | undefined;
let work = '';
let app = '';
let bin = '';
let env: NodeJS.ProcessEnv = {};
let packed: Packed;
let installSeconds = 0;

function run(cmd: string, args: string[], opts: SpawnSyncOptions = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env, cwd: app, timeout: 60_000, ...opts });
  if (r.error) throw r.error;
  return { status: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
}

function ok(cmd: string, args: string[], opts: SpawnSyncOptions = {}): string {
  const r = run(cmd, args, opts);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** The first executable called `name` on the current PATH. */
function which(name: string): string {
  for (const d of (process.env.PATH ?? '').split(delimiter)) {
    const p = join(d, name);
    if (d && existsSync(p) && statSync(p).isFile()) return p;
  }
  throw new Error(`\`${name}\` is not on PATH`);
}

/**
 * The environment of a machine without Rust: PATH without any directory holding cargo, rustc or
 * rustup, plus a directory with node, npm and npx (in case they share one with cargo); no npm
 * settings inherited from an enclosing `npm test` but its cache.
 */
function rustFreeEnv(): NodeJS.ProcessEnv {
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, 'node'));
  for (const tool of ['npm', 'npx']) symlinkSync(realpathSync(which(tool)), join(bin, tool));
  const hasRust = (d: string) => ['cargo', 'rustc', 'rustup'].some((x) => existsSync(join(d, x)));
  const PATH = [bin, ...(process.env.PATH ?? '').split(delimiter).filter((d) => d && !hasRust(d))].join(delimiter);
  const keep = new Set(['npm_config_cache', 'npm_config_userconfig', 'npm_config_registry']);
  const e: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.toLowerCase().startsWith('npm_') && !keep.has(k.toLowerCase())) continue;
    if (['INIT_CWD', 'NODE_OPTIONS', 'NODE_ENV', 'CARGO', 'RUSTC'].includes(k)) continue;
    e[k] = v;
  }
  return { ...e, PATH, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' };
}

/**
 * A lockfile holding the repo's pinned production packages with their tarball URLs, so that
 * `npm install --offline` takes them from the cache by integrity and needs no registry metadata.
 */
function seededLock(): object {
  type Entry = { version: string; dev?: boolean; resolved?: string; name?: string };
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, Entry> };
  const registry = (process.env.npm_config_registry ?? 'https://registry.npmjs.org/').replace(/\/?$/, '/');
  const packages: Record<string, unknown> = { '': { name: 'consumer', version: '1.0.0' } };
  for (const [k, v] of Object.entries(lock.packages)) {
    if (!k.startsWith('node_modules/') || v.dev) continue;
    const name = v.name ?? k.slice(k.lastIndexOf('node_modules/') + 'node_modules/'.length);
    packages[k] = { ...v, resolved: v.resolved ?? `${registry}${name}/-/${name.split('/').at(-1)}-${v.version}.tgz` };
  }
  return { name: 'consumer', version: '1.0.0', lockfileVersion: 3, requires: true, packages };
}

const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'attnclust-install-'));
  app = join(work, 'app');
  bin = join(work, 'bin');
  // Pack what is built (`npm test` runs after `npm ci`, which builds); no rebuild here.
  const p = spawnSync(process.execPath, [join(root, 'scripts', 'pack-local.mjs'), '--no-build', '--out', join(work, 'pack')], { encoding: 'utf8', cwd: root });
  if (p.status === 2) {
    skipReason = `packing is impossible here: ${p.stderr.trim().split('\n').at(-1)}`;
    console.warn(`test/install.test.ts skipped: ${skipReason}`);
    return;
  }
  if (p.status !== 0) throw new Error(`scripts/pack-local.mjs failed (${p.status}):\n${p.stderr}`);
  packed = JSON.parse(readFileSync(join(work, 'pack', 'pack.json'), 'utf8')) as Packed;

  env = rustFreeEnv();
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), `${JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }, null, 2)}\n`);
  writeFileSync(join(app, 'package-lock.json'), `${JSON.stringify(seededLock(), null, 2)}\n`);
  const t0 = performance.now();
  ok(join(bin, 'npm'), ['install', '--offline', '--no-audit', '--no-fund', '--loglevel=error', packed.root.file, ...packed.platforms.map((x) => x.file)]);
  installSeconds = (performance.now() - t0) / 1000;
  console.log(
    [
      `tarballs: ${packed.root.name} ${kib(packed.root.size)} (unpacked ${kib(packed.root.unpackedSize)}, ${packed.root.files.length} files)`,
      ...packed.platforms.map((x) => `${x.name} ${kib(x.size)} (unpacked ${kib(x.unpackedSize)})`),
      `npm install --offline (no Rust on PATH): ${installSeconds.toFixed(1)} s`,
    ].join('; '),
  );
}, 120_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('install from the packed tarballs', () => {
  it('installs offline with no Rust toolchain, the binary from the per-platform package', (ctx) => {
    if (skipReason) return ctx.skip(skipReason);
    expect(run('sh', ['-c', 'command -v cargo']).status).not.toBe(0);
    expect(run('sh', ['-c', 'command -v rustc']).status).not.toBe(0);
    expect(packed.root.files.filter((f) => f.endsWith('.node'))).toEqual([]);
    expect(packed.root.files).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'index.js', 'index.mjs', 'index.d.ts', 'index.d.mts', 'native/index.js', 'native/index.d.ts', 'dist/src/index.js', 'bin/attnclust.js']));
    expect(packed.root.files.filter((f) => /^(src|test|crates|dist\/bench)\//.test(f))).toEqual([]);
    const installed = JSON.parse(readFileSync(join(app, 'node_modules', 'attnclust', 'package.json'), 'utf8')) as { optionalDependencies?: Record<string, string>; scripts?: Record<string, string> };
    expect(installed.optionalDependencies).toEqual(Object.fromEntries(packed.platforms.map((x) => [x.name, x.version])));
    expect(installed.scripts?.prepare).toBeUndefined();
    expect(readdirSync(join(app, 'node_modules', 'attnclust', 'native'))).toEqual(['index.d.ts', 'index.js']);
    expect(existsSync(join(app, 'node_modules', 'attnclust-linux-x64-gnu', 'attnclust.linux-x64-gnu.node'))).toBe(true);
    expect(installSeconds).toBeLessThan(60);
  });

  it('works with require (CommonJS)', (ctx) => {
    if (skipReason) return ctx.skip(skipReason);
    writeFileSync(
      join(app, 'use.cjs'),
      `const assert = require('node:assert');
const attnclust = require('attnclust');
const { GaussianMixture, TwoHeadLayer, metrics, identityAttentionSync } = attnclust;
const gmm = GaussianMixture.isotropic({ means: [[4, 0], [0, 4]], sigma: 0.5 });
const { x } = gmm.sample(64, { seed: 1 });
const layer = new TwoHeadLayer({ dim: 2, lambda: 1 });
assert.deepStrictEqual(layer.forward(x).shape, [64, 2]);
assert.deepStrictEqual(identityAttentionSync(x, { lambda: 0.3 }).shape, [64, 2]);
assert.strictEqual(metrics.alignment([[1, 0], [0, 1]], [[0, 2], [3, 0]]), 1);
const binary = Object.keys(require.cache).filter((k) => k.endsWith('.node'));
console.log(JSON.stringify({ keys: Object.keys(attnclust).sort(), binary }));
`,
    );
    const r = JSON.parse(ok(join(bin, 'node'), ['use.cjs'])) as { keys: string[]; binary: string[] };
    expect(r.keys).toEqual(expect.arrayContaining(['GaussianMixture', 'MixturePrior', 'TwoHeadLayer', 'identityAttention', 'metrics', 'kmeans', 'em', 'setThreads']));
    expect(r.binary).toEqual([join(realpathSync(app), 'node_modules', 'attnclust-linux-x64-gnu', 'attnclust.linux-x64-gnu.node')]);
  });

  it('works with import (ESM): the same module instance, the same names', (ctx) => {
    if (skipReason) return ctx.skip(skipReason);
    writeFileSync(
      join(app, 'use.mjs'),
      `import assert from 'node:assert';
import { createRequire } from 'node:module';
import attnclust, { MixturePrior, identityAttention, metrics } from 'attnclust';
import * as ns from 'attnclust';
const cjs = createRequire(import.meta.url)('attnclust');
const prior = MixturePrior.sphere({ k: 2, dim: 16, radius: 3, sigma: 0.5 });
const { x, labels, means } = prior.samplePrompts(4, 64, { seed: 3 });
const y = await identityAttention(x, { lambda: 0.3 });
assert.ok(metrics.quantizationRatio(x, y, means, labels) < 0.5);
console.log(JSON.stringify({
  // \`default\` is the CommonJS module itself, \`__esModule\` tsc's interop marker.
  esm: Object.keys(ns).filter((k) => k !== 'default' && k !== '__esModule').sort(),
  cjs: Object.keys(cjs).sort(),
  same: attnclust === cjs && ns.TwoHeadLayer === cjs.TwoHeadLayer && metrics === cjs.metrics,
}));
`,
    );
    const r = JSON.parse(ok(join(bin, 'node'), ['use.mjs'])) as { esm: string[]; cjs: string[]; same: boolean };
    expect(r.esm).toEqual(r.cjs);
    expect(r.same).toBe(true);
  });

  it('type-checks a strict TypeScript consumer (CommonJS and ESM)', (ctx) => {
    if (skipReason) return ctx.skip(skipReason);
    const body = `
async function main(): Promise<number> {
  const gmm = GaussianMixture.isotropic({ means: [[4, 0], [0, 4]], sigma: 1 });
  const layer = new TwoHeadLayer({ dim: 2, lambda: 1, scores: 'distance', init: { kind: 'random', scale: 0.01, seed: 1 } });
  const result: TrainResult = await layer.train(gmm, { steps: 10, batch: 16, lr: 0.05, seed: 2, optimizer: { kind: 'adam' } });
  const last: HistoryEntry | undefined = result.history[result.history.length - 1];
  const alignment: number | undefined = last?.alignment;
  const sample: MixtureSample = gmm.sample(32, { seed: 4, dtype: 'f32' });
  const first: number | undefined = sample.x.data[0];
  const prior = MixturePrior.sphere({ k: 2, dim: 4, radius: 3, sigma: 0.5 });
  const { x, labels, means }: PromptBatch = prior.samplePrompts(2, 8, { seed: 3 });
  const y: Tensor = await identityAttention(x, { lambda: 0.3, depth: 2 });
  const ratio: number = metrics.quantizationRatio(x, y, means, labels);
  const km: KMeansResult = kmeans(sample.x, 2, { seed: 1 });
  const fit = em(sample.x, 2, { seed: 1, covariance: 'isotropic' });
  setThreads(getThreads());
  // @ts-expect-error \`lambda\` is a number
  new TwoHeadLayer({ dim: 2, lambda: '1' });
  // @ts-expect-error \`seed\` is required
  gmm.sample(4, {});
  // @ts-expect-error an unknown score kind
  identityAttentionSync(x, { scores: 'cosine' });
  return (alignment ?? 0) + (first ?? 0) + ratio + km.inertia + fit.logLikelihood;
}
void main();
`;
    writeFileSync(
      join(app, 'use-cjs.ts'),
      `import { GaussianMixture, MixturePrior, TwoHeadLayer, em, getThreads, identityAttention, identityAttentionSync, kmeans, metrics, setThreads } from 'attnclust';
import type { HistoryEntry, KMeansResult, MixtureSample, PromptBatch, Tensor, TrainResult } from 'attnclust';
${body}`,
    );
    writeFileSync(
      join(app, 'use-esm.mts'),
      `import attnclust, { GaussianMixture, MixturePrior, TwoHeadLayer, em, getThreads, identityAttention, identityAttentionSync, kmeans, metrics, setThreads } from 'attnclust';
import type { HistoryEntry, KMeansResult, MixtureSample, PromptBatch, Tensor, TrainResult } from 'attnclust';
const viaDefault: TwoHeadLayer = new attnclust.TwoHeadLayer({ dim: 3, lambda: 2 });
void viaDefault;
${body}`,
    );
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noUncheckedIndexedAccess: true,
          skipLibCheck: false,
          noEmit: true,
          target: 'ES2022',
          lib: ['ES2022'],
          module: 'node16',
          moduleResolution: 'node16',
          types: ['node'],
          typeRoots: [join(root, 'node_modules', '@types')],
        },
        files: ['use-cjs.ts', 'use-esm.mts'],
      }),
    );
    const r = run(join(bin, 'node'), [tsc, '-p', 'tsconfig.json', '--pretty', 'false']);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('runs `npx attnclust --help`', (ctx) => {
    if (skipReason) return ctx.skip(skipReason);
    const out = ok(join(bin, 'npx'), ['--offline', 'attnclust', '--help']);
    expect(out).toMatch(/Usage: attnclust/);
    expect(out).toMatch(/reproduce/);
  });

  it('names the platform and the way out when no binary fits', (ctx) => {
    if (skipReason) return ctx.skip(skipReason);
    const pkgDir = join(app, 'node_modules', 'attnclust-linux-x64-gnu');
    const hidden = join(work, 'hidden-binary-package');
    renameSync(pkgDir, hidden);
    try {
      const r = run(join(bin, 'node'), ['-e', "require('attnclust')"]);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain(`no native binary could be loaded for ${process.platform}-${process.arch}`);
      expect(r.stderr).toContain('npm install attnclust-linux-x64-gnu@');
      expect(r.stderr).toContain('npm run build:native');
    } finally {
      renameSync(hidden, pkgDir);
    }
  });
});
