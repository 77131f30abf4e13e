#!/usr/bin/env node
// `npm run pack:local [-- --no-build | --build] [-- --out <dir>]`: packs the root package (the
// library), the lab (packages/lab) and each per-platform package (npm/<platform>/, made by `napi create-npm-dirs`) into pack/ as npm would
// publish them, without publishing anything and without changing a file of the working tree.
//
//   1. Build if needed: `npm run build:native` when the .node is missing or older than the Rust
//      sources, and `npm run build:ts` (`--no-build`: never build, warn if stale, exit 2 if
//      nothing is built; `--build`: always build both).
//   2. Per-platform packages: each npm/<platform>/ whose binary (the `main` of its package.json,
//      native/<binaryName>.<platform>.node as `napi build --platform` names it; a binary built
//      elsewhere, e.g. a CI artifact, can be dropped into native/ first) exists is copied with that
//      binary into a staging directory and packed. Its version must be the root package's.
//   3. Root package: the files `npm pack` would take (package.json `files`) are copied into a
//      staging directory whose package.json gets `optionalDependencies` on the exact version of
//      each per-platform package packed (the napi-rs scheme: they are added at pack/publish time,
//      so a fresh clone's `npm ci` never looks for unpublished packages) and loses its `prepare`
//      script (it builds from sources the tarball does not hold); the staged
//      dist/src/native.d.ts gets its import of the addon's types pointed at the package root
//      (scripts/fix-native-dts.mjs); then it is packed. The working tree is never modified, so
//      there is nothing to restore.
//   4. The lab (packages/lab, the npm workspace with the experiments, reports and the CLI): its
//      `npm pack` files are staged with its dependency on the library (`file:../..` in the
//      repository, so the workspace links the root) set to the library's exact version, and packed.
//   5. Checks: no binary, sources or tests in the root tarball, every entry point present in both;
//      a summary, also written to <out>/pack.json.
//
// Lifecycle scripts do not run while packing (`--ignore-scripts`): step 1 is the build. Publishing
// (not done here) would be `npm publish <tgz>` of the per-platform tarballs, then the root one.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fixNativeDts } from './fix-native-dts.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const mode = args.includes('--no-build') ? 'never' : args.includes('--build') ? 'always' : 'if-needed';
const outArg = args.indexOf('--out');
const out = resolve(process.cwd(), outArg >= 0 ? (args[outArg + 1] ?? 'pack') : join(root, 'pack'));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const labDir = join(root, 'packages', 'lab');
const labPkg = JSON.parse(readFileSync(join(labDir, 'package.json'), 'utf8'));
const binaryName = pkg.napi?.binaryName ?? pkg.name;

const log = (m) => process.stderr.write(`pack:local: ${m}\n`);
class PackError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}
/** Stops packing (the staging directory is still removed); exit code 2 means "nothing built". */
function fail(message, code = 1) {
  throw new PackError(message, code);
}
const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
const mtime = (p) => (existsSync(p) ? statSync(p).mtimeMs : 0);

/** Latest modification time of the files under `dir` whose name passes `test`. */
function newest(dir, test) {
  let t = 0;
  if (!existsSync(dir)) return t;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'target' && e.name !== 'node_modules') t = Math.max(t, newest(p, test));
    } else if (test(e.name)) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

/** `npm pack` of `dir` into `out`: npm's JSON report of the tarball, plus its path. */
function npmPack(dir) {
  const json = execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', out], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const report = JSON.parse(json.slice(json.indexOf('[')))[0];
  return { ...report, path: join(out, report.filename) };
}

// ---- 1. build if needed ------------------------------------------------------------------------
function build() {
  const binaries = existsSync(join(root, 'native')) ? readdirSync(join(root, 'native')).filter((f) => f.startsWith(`${binaryName}.`) && f.endsWith('.node')) : [];
  const nativeOut = binaries.length === 0 ? 0 : Math.min(mtime(join(root, 'native', 'index.js')), ...binaries.map((f) => mtime(join(root, 'native', f))));
  const nativeSrc = Math.max(
    newest(join(root, 'crates'), (f) => f.endsWith('.rs') || f === 'Cargo.toml'),
    mtime(join(root, 'Cargo.toml')),
    mtime(join(root, 'Cargo.lock')),
  );
  const tsOut = Math.min(mtime(join(root, 'dist', 'src', 'index.js')), mtime(join(root, 'dist', 'src', 'index.d.ts')), mtime(join(labDir, 'dist', 'src', 'cli', 'main.js')));
  const tsSrc = Math.max(newest(join(root, 'src'), (f) => f.endsWith('.ts')), newest(join(labDir, 'src'), (f) => f.endsWith('.ts')), mtime(join(root, 'tsconfig.json')), mtime(join(labDir, 'tsconfig.json')));
  if (mode === 'never') {
    if (nativeOut === 0 || tsOut === 0) fail('nothing to pack: the addon or dist/ is not built (run `npm run build`)', 2);
    if (nativeSrc > nativeOut) log('warning: native/ is older than the Rust sources (packed anyway: --no-build)');
    if (tsSrc > tsOut) log('warning: dist/ is older than src/ (packed anyway: --no-build)');
    log('step 1: no build (--no-build)');
    return;
  }
  const steps = [];
  if (mode === 'always' || nativeOut === 0 || nativeSrc > nativeOut) steps.push('build:native');
  else log('step 1: native/ is up to date with the Rust sources');
  // Always compile the TypeScript (a few seconds): tsc writes dist/ even when it reports errors,
  // so dist/ being newer than src/ does not mean it compiled.
  steps.push('build:ts');
  for (const s of steps) {
    log(`step 1: npm run ${s}`);
    try {
      execFileSync('npm', ['run', s], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
    } catch {
      fail(`\`npm run ${s}\` failed (see above); nothing was packed`);
    }
  }
}

// ---- 2. per-platform packages ------------------------------------------------------------------
function packPlatforms(staging) {
  const npmDir = join(root, 'npm');
  const dirs = existsSync(npmDir) ? readdirSync(npmDir).filter((d) => existsSync(join(npmDir, d, 'package.json'))) : [];
  if (dirs.length === 0) fail('no per-platform package in npm/ (run `npx napi create-npm-dirs`)');
  const packed = [];
  for (const d of dirs) {
    const ppkg = JSON.parse(readFileSync(join(npmDir, d, 'package.json'), 'utf8'));
    if (ppkg.version !== pkg.version) fail(`npm/${d} has version ${ppkg.version}, the root package ${pkg.version} (run \`npx napi version\`)`);
    const binary = join(root, 'native', ppkg.main);
    if (!existsSync(binary)) {
      log(`step 2: skipping ${ppkg.name}: no ${relative(root, binary)} (built on another platform?)`);
      continue;
    }
    const stage = join(staging, d);
    mkdirSync(stage);
    for (const f of readdirSync(join(npmDir, d))) if (!f.endsWith('.node')) copyFileSync(join(npmDir, d, f), join(stage, f));
    copyFileSync(binary, join(stage, ppkg.main));
    const r = npmPack(stage);
    if (!r.files.some((f) => f.path === ppkg.main)) fail(`${r.filename} lacks ${ppkg.main}`);
    log(`step 2: ${ppkg.name}@${ppkg.version} -> ${relative(root, r.path)} (${kib(r.size)}, unpacked ${kib(r.unpackedSize)})`);
    packed.push({ name: ppkg.name, version: ppkg.version, file: r.path, size: r.size, unpackedSize: r.unpackedSize });
  }
  if (packed.length === 0) fail('no per-platform binary to pack (run `npm run build:native`)', 2);
  return packed;
}

// ---- 3. root package ---------------------------------------------------------------------------
function packRoot(staging, platforms) {
  const listing = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const files = JSON.parse(listing.slice(listing.indexOf('[')))[0].files.map((f) => f.path);
  const stage = join(staging, 'root');
  for (const f of files) {
    mkdirSync(dirname(join(stage, f)), { recursive: true });
    copyFileSync(join(root, f), join(stage, f));
  }
  // The compiled types must point at native/index.d.ts at the package root (a bare `tsc` leaves
  // dist/src/native.d.ts pointing at dist/native/).
  fixNativeDts(join(stage, 'dist', 'src', 'native.d.ts'));
  const published = { ...pkg, optionalDependencies: { ...pkg.optionalDependencies } };
  for (const p of platforms) published.optionalDependencies[p.name] = p.version;
  // `prepare` builds from sources, which the tarball does not hold: it must never run for a user.
  published.scripts = Object.fromEntries(Object.entries(pkg.scripts ?? {}).filter(([k]) => !['prepare', 'preinstall', 'install', 'postinstall'].includes(k)));
  writeFileSync(join(stage, 'package.json'), `${JSON.stringify(published, null, 2)}\n`);
  const r = npmPack(stage);
  const deps = Object.entries(published.optionalDependencies).map(([n, v]) => `${n}@${v}`);
  log(`step 3: ${pkg.name}@${pkg.version} (optionalDependencies ${deps.join(', ')}) -> ${relative(root, r.path)} (${kib(r.size)}, unpacked ${kib(r.unpackedSize)}, ${r.entryCount} files)`);
  return { name: pkg.name, version: pkg.version, file: r.path, size: r.size, unpackedSize: r.unpackedSize, files: r.files.map((f) => f.path) };
}

// ---- 4. the lab --------------------------------------------------------------------------------
function packLab(staging) {
  const listing = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: labDir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const files = JSON.parse(listing.slice(listing.indexOf('[')))[0].files.map((f) => f.path);
  const stage = join(staging, 'lab');
  for (const f of files) {
    mkdirSync(dirname(join(stage, f)), { recursive: true });
    copyFileSync(join(labDir, f), join(stage, f));
  }
  if (labPkg.version !== pkg.version) fail(`packages/lab has version ${labPkg.version}, the library ${pkg.version}`);
  const published = { ...labPkg, dependencies: { ...labPkg.dependencies, [pkg.name]: pkg.version } };
  delete published.devDependencies;
  delete published.scripts;
  writeFileSync(join(stage, 'package.json'), `${JSON.stringify(published, null, 2)}\n`);
  const r = npmPack(stage);
  log(`step 4: ${labPkg.name}@${labPkg.version} (${pkg.name}@${pkg.version}) -> ${relative(root, r.path)} (${kib(r.size)}, unpacked ${kib(r.unpackedSize)}, ${r.entryCount} files)`);
  return { name: labPkg.name, version: labPkg.version, file: r.path, size: r.size, unpackedSize: r.unpackedSize, files: r.files.map((f) => f.path) };
}

// ---- 5. checks ---------------------------------------------------------------------------------
function check(rootPack) {
  const stray = rootPack.files.filter((f) => f.endsWith('.node') || /^(src|test|crates|bench|dist\/bench|dist\/test|npm|packages|tools|dist\/src\/(cli|experiments|report|sweep))\//.test(f));
  if (stray.length) fail(`the root tarball holds files users do not need: ${stray.join(', ')}`);
  const collect = (e) => (typeof e === 'string' ? [e] : Object.values(e ?? {}).flatMap(collect));
  const entries = [pkg.main, pkg.types, ...collect(pkg.bin), ...collect(pkg.exports), 'native/index.js', 'native/index.d.ts', 'dist/src/index.js', 'dist/src/index.d.ts', 'LICENSE', 'README.md'];
  const have = new Set(rootPack.files);
  const missing = [...new Set(entries.map((e) => e.replace(/^\.\//, '')))].filter((e) => !have.has(e));
  if (missing.length) fail(`the root tarball lacks ${missing.join(', ')}`);
  log('step 5: checked: no binary, sources or tests in the root tarball; every entry point present');
}

function checkLab(labPack) {
  const stray = labPack.files.filter((f) => f.endsWith('.node') || /^(src|test)\//.test(f) || (f.endsWith('.ts') && !f.endsWith('.d.ts')));
  if (stray.length) fail(`the lab tarball holds files users do not need: ${stray.join(', ')}`);
  const collect = (e) => (typeof e === 'string' ? [e] : Object.values(e ?? {}).flatMap(collect));
  const have = new Set(labPack.files);
  const missing = [...collect(labPkg.bin), 'dist/src/cli/main.js', 'LICENSE'].map((e) => e.replace(/^\.\//, '')).filter((e) => !have.has(e));
  if (missing.length) fail(`the lab tarball lacks ${missing.join(', ')}`);
  log('step 5: checked: the lab tarball has its command and no sources');
}

function main() {
  build();
  mkdirSync(out, { recursive: true });
  const staging = mkdtempSync(join(tmpdir(), 'attnclust-pack-'));
  try {
    const platforms = packPlatforms(staging);
    const rootPack = packRoot(staging, platforms);
    check(rootPack);
    const lab = packLab(staging);
    checkLab(lab);
    writeFileSync(join(out, 'pack.json'), `${JSON.stringify({ root: rootPack, platforms, lab }, null, 2)}\n`);
    for (const p of [rootPack, ...platforms, lab]) console.log(`${p.file}\t${p.size}`);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

try {
  main();
} catch (e) {
  if (!(e instanceof PackError)) throw e;
  log(`error: ${e.message}`);
  process.exitCode = e.code;
}
