#!/usr/bin/env node
// `npm run reproduce` runs this before the experiments: it rebuilds the addon (`npm run
// build:native`) only when a Rust source or manifest is newer than the built addon, and the
// TypeScript (`npm run build:ts`) only when a TypeScript source is newer than its compiled file (or
// the addon was rebuilt: the TypeScript is checked against its declarations). Right after `npm ci`,
// whose `prepare` script built both, it does nothing, so `npm ci && npm run reproduce` builds once.
// Freshness is by modification time, as in make; a missing output is stale.
//
//   node scripts/build-if-stale.mjs           build what is stale, say what was up to date
//   node scripts/build-if-stale.mjs --check   only report; exit code 1 when something is stale
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Files under `dir` (recursively, skipping `target/` and `node_modules/`) whose name passes `keep`. */
function walk(dir, keep, out = []) {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'target' && e.name !== 'node_modules' && !e.name.startsWith('.')) walk(p, keep, out);
    } else if (keep(e.name)) out.push(p);
  }
  return out;
}

const mtime = (f) => statSync(f).mtimeMs;

/** The newest of `files` (path and time), or undefined when there are none. */
function newest(files) {
  let best;
  for (const f of files) {
    const t = mtime(f);
    if (!best || t > best.t) best = { f, t };
  }
  return best;
}

/**
 * Why the addon under `root` must be rebuilt, or null when it is up to date. Inputs: the `.rs`
 * files, `Cargo.toml`s and `build.rs` under `crates/`, the root `Cargo.toml` and `Cargo.lock`.
 * Outputs: `native/*.node` (its time decides), with `native/index.js` and `native/index.d.ts`
 * present.
 */
export function nativeStale(root) {
  const dir = join(root, 'native');
  const addons = existsSync(dir) ? readdirSync(dir).filter((n) => n.endsWith('.node')).map((n) => join(dir, n)) : [];
  if (addons.length === 0) return 'no native/*.node (the addon was never built)';
  const missing = [join(dir, 'index.js'), join(dir, 'index.d.ts')].find((f) => !existsSync(f));
  if (missing) return `${relative(root, missing)} is missing`;
  // Only the .node file's time counts: napi may leave index.js / index.d.ts untouched when their
  // content did not change, and they would then look stale forever.
  const oldest = Math.min(...addons.map(mtime));
  const inputs = [
    ...walk(join(root, 'crates'), (n) => n.endsWith('.rs') || n === 'Cargo.toml'),
    ...['Cargo.toml', 'Cargo.lock'].map((n) => join(root, n)).filter((f) => existsSync(f)),
  ];
  const n = newest(inputs);
  return n && n.t > oldest ? `${relative(root, n.f)} is newer than the built addon` : null;
}

/**
 * Why the TypeScript under `root` must be recompiled, or null when it is up to date: a `.ts` file
 * (not `.d.ts`) of the library (`src/`, `bench/`, compiled to `dist/`) or of the lab
 * (`packages/lab/src/`, compiled to `packages/lab/dist/`) whose compiled `.js` is missing or older,
 * or a `tsconfig.json` newer than the oldest compiled file of its package.
 */
export function tsStale(root) {
  const packages = [
    { base: root, dirs: ['src', 'bench'] },
    { base: join(root, 'packages', 'lab'), dirs: ['src'] },
  ];
  for (const { base, dirs } of packages) {
    const sources = dirs.flatMap((d) => walk(join(base, d), (n) => n.endsWith('.ts') && !n.endsWith('.d.ts')));
    if (sources.length === 0) continue;
    let oldest = Infinity;
    for (const src of sources) {
      const out = join(base, 'dist', relative(base, src)).replace(/\.ts$/, '.js');
      if (!existsSync(out)) return `${relative(root, out)} is missing`;
      const t = mtime(out);
      if (mtime(src) > t) return `${relative(root, src)} is newer than ${relative(root, out)}`;
      oldest = Math.min(oldest, t);
    }
    const config = join(base, 'tsconfig.json');
    if (existsSync(config) && mtime(config) > oldest) return `${relative(root, config)} is newer than the compiled files`;
  }
  return null;
}

function npmRun(script, root) {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const r = spawnSync(npm, ['run', script], { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const check = process.argv.includes('--check');
  const native = nativeStale(root);
  // A rebuilt addon means new declarations: the TypeScript is compiled again against them.
  const ts = native ? 'the addon is rebuilt' : tsStale(root);
  process.stderr.write(`build: addon ${native ? `stale (${native})` : 'up to date'}; TypeScript ${ts ? `stale (${ts})` : 'up to date'}\n`);
  if (check) process.exit(native || ts ? 1 : 0);
  if (native) npmRun('build:native', root);
  if (ts) npmRun('build:ts', root);
}
