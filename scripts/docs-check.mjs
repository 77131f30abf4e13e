#!/usr/bin/env node
// `npm run docs:check`: fails when the committed API reference (docs/api/, written by `npm run docs`
// from the TypeScript types and their JSDoc) is stale, when a public name has no documentation, or
// when a public function, method or constructor does not say what it throws (an `@throws` tag, or
// "Never throws." in its summary), or when an export of the addon (native/index.d.ts, generated
// by `npm run build:native` from the binding's `///` docs) or one of its members has no JSDoc.
// It regenerates the reference into a temporary directory with the same settings (typedoc.json),
// with typedoc's JSON model beside it, and compares the reference with docs/api/ file by file;
// nothing in the working tree is written.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const committed = join(root, 'docs', 'api');

/** Relative paths of the files under `dir`. */
function files(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath ?? e.path, e.name)))
    .sort();
}

/** Reflection kinds (typedoc's `ReflectionKind`) whose signatures must document their errors. */
const CALLABLE = { 64: 'function', 512: 'constructor', 2048: 'method' };

/**
 * The public functions, methods and constructors of typedoc's JSON model whose documentation does
 * not say what they throw: no `@throws` tag and no "Never throws." in the summary.
 */
function undocumentedThrows(model) {
  const out = [];
  const walk = (r, owner) => {
    const kind = CALLABLE[r.kind];
    if (kind !== undefined) {
      for (const sig of r.signatures ?? []) {
        const c = sig.comment ?? r.comment;
        const tags = (c?.blockTags ?? []).map((t) => t.tag);
        const summary = (c?.summary ?? []).map((p) => p.text).join('');
        if (!tags.includes('@throws') && !/Never throws\./.test(summary)) out.push(`${kind} ${owner ? `${owner}.` : ''}${r.name}`);
      }
    }
    for (const ch of r.children ?? []) walk(ch, r.kind === 1 ? '' : r.name);
  };
  walk(model, '');
  return [...new Set(out)];
}

/**
 * The declarations of the generated native/index.d.ts without a JSDoc block right above them: every
 * `export` line, and every member line (two-space indent) of an exported class, interface or enum.
 */
function undocumentedNative(text) {
  const lines = text.split('\n');
  const out = [];
  let owner = '';
  lines.forEach((line, i) => {
    const top = /^export (?:declare )?(?:const enum|enum|class|interface|function|const|type) (\w+)/.exec(line);
    const member = /^ {2}(?!\/|\*| \*)(?:get |set |readonly |static )?([\w$]+)/.exec(line);
    if (top) owner = top[1];
    if (!top && !member) return;
    let j = i - 1;
    while (j >= 0 && lines[j].trim() === '') j--;
    if (j < 0 || !lines[j].trim().endsWith('*/')) out.push(top ? top[1] : `${owner}.${member[1]}`);
  });
  return out;
}

/** What is wrong with docs/api/, given a fresh copy in `fresh` (empty: up to date). */
function problems(fresh, model) {
  const typedoc = join(root, 'node_modules', 'typedoc', 'bin', 'typedoc');
  try {
    // An undocumented public name is a validation warning; here it fails the check.
    execFileSync(process.execPath, [typedoc, '--out', fresh, '--json', model, '--treatValidationWarningsAsErrors', '--logLevel', 'Warn'], { cwd: root, stdio: 'inherit' });
  } catch {
    return ['typedoc failed (see above): every public name needs JSDoc; then run `npm run docs`'];
  }
  const throwsMissing = undocumentedThrows(JSON.parse(readFileSync(model, 'utf8')));
  if (throwsMissing.length) {
    return throwsMissing.map((n) => `${n} does not say what it throws: add \`@throws {TypeError|RangeError} when …\` lines (or "Never throws." to its summary)`);
  }
  const a = files(committed);
  const b = files(fresh);
  const out = [];
  for (const f of new Set([...a, ...b])) {
    const x = a.includes(f) ? readFileSync(join(committed, f), 'utf8') : undefined;
    const y = b.includes(f) ? readFileSync(join(fresh, f), 'utf8') : undefined;
    if (x === y) continue;
    if (x === undefined) out.push(`docs/api/${f} is missing`);
    else if (y === undefined) out.push(`docs/api/${f} is no longer generated`);
    else {
      const xl = x.split('\n');
      const yl = y.split('\n');
      const i = xl.findIndex((l, k) => l !== yl[k]);
      out.push(`docs/api/${f} differs from line ${i + 1}:\n  committed: ${xl[i] ?? '(end of file)'}\n  generated: ${yl[i] ?? '(end of file)'}`);
    }
  }
  if (out.length) out.push('the API reference is stale: run `npm run docs` and commit docs/api/');
  return out;
}

const nativeDts = join(root, 'native', 'index.d.ts');
const nativeMissing = existsSync(nativeDts) ? undocumentedNative(readFileSync(nativeDts, 'utf8')) : [];
if (!existsSync(nativeDts)) console.log('docs:check: native/index.d.ts not built yet (`npm run build:native`): its JSDoc is not checked');
const fresh = mkdtempSync(join(tmpdir(), 'attnclust-docs-'));
const modelDir = mkdtempSync(join(tmpdir(), 'attnclust-docs-model-'));
let found;
try {
  found = problems(fresh, join(modelDir, 'api.json'));
} finally {
  rmSync(fresh, { recursive: true, force: true });
  rmSync(modelDir, { recursive: true, force: true });
}
for (const n of nativeMissing) found.push(`native/index.d.ts: \`${n}\` has no JSDoc: add a \`///\` doc to its #[napi] item in crates/attnclust-node`);
for (const p of found) console.error(`docs:check: ${p}`);
if (found.length) process.exitCode = 1;
else console.log('docs:check: docs/api/ is up to date');
