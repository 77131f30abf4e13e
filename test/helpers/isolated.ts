/**
 * Runs a snippet of JavaScript against the library in a separate Node process, with a time limit.
 *
 * Some failures cannot be observed from inside the test process: a synchronous native call that
 * never returns blocks the vitest worker for good (no timeout can fire), and a crash would take
 * the worker down. The snippet gets the public API as `api` (src/index.ts) and the addon as
 * `native`; the sources are transpiled once per test file into a temporary directory (TypeScript's
 * `transpileModule`, no type checking) next to a link to the built addon.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import ts from 'typescript';

const ROOT = join(__dirname, '..', '..');

let built: string | undefined;

function transpileTree(srcDir: string, outDir: string): void {
  for (const entry of readdirSync(srcDir, { withFileTypes: true })) {
    const from = join(srcDir, entry.name);
    if (entry.isDirectory()) {
      transpileTree(from, join(outDir, entry.name));
    } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) {
      const out = ts.transpileModule(readFileSync(from, 'utf8'), {
        compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
        fileName: from,
      });
      const to = join(outDir, relative(srcDir, from)).replace(/\.ts$/, '.js');
      mkdirSync(dirname(to), { recursive: true });
      writeFileSync(to, out.outputText);
    } else if (entry.name.endsWith('.json')) {
      mkdirSync(outDir, { recursive: true });
      writeFileSync(join(outDir, entry.name), readFileSync(from));
    }
  }
}

/** The temporary copy of the library (built on first use, removed with `cleanupIsolated`). */
function library(): string {
  if (built === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'attnclust-isolated-'));
    transpileTree(join(ROOT, 'src'), join(dir, 'src'));
    symlinkSync(join(ROOT, 'native'), join(dir, 'native'), 'dir');
    built = dir;
  }
  return built;
}

export function cleanupIsolated(): void {
  if (built !== undefined) rmSync(built, { recursive: true, force: true });
  built = undefined;
}

export interface IsolatedResult {
  /** The process was killed at the time limit. */
  timedOut: boolean;
  /** Exit code (null when killed by a signal). */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `body` (the statements of an async function with `api` and `native` in scope) in a fresh
 * Node process; kills it after `timeoutMs`.
 */
export function runIsolated(body: string, timeoutMs: number): Promise<IsolatedResult> {
  const dir = library();
  const script = `
const api = require(${JSON.stringify(join(dir, 'src', 'index.js'))});
const { native } = require(${JSON.stringify(join(dir, 'src', 'native.js'))});
(async () => {
${body}
})().then(() => process.exit(0), (e) => { console.error('UNCAUGHT', e && e.stack || e); process.exit(3); });
`;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['-e', script],
      {
        timeout: timeoutMs,
        killSignal: 'SIGKILL',
        env: { ...process.env, NODE_PATH: join(ROOT, 'node_modules'), RUST_BACKTRACE: '0' },
        maxBuffer: 16 << 20,
      },
      (error, stdout, stderr) => {
        const e = error as (Error & { killed?: boolean; code?: number | string; signal?: NodeJS.Signals }) | null;
        resolve({
          timedOut: Boolean(e?.killed),
          code: e === null ? 0 : typeof e.code === 'number' ? e.code : null,
          signal: e?.signal ?? null,
          stdout: String(stdout),
          stderr: String(stderr),
        });
      },
    );
  });
}
