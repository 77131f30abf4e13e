/**
 * The compiled addon. `npm run build:native` writes its napi-rs loader (`native/index.js`) into
 * `native/` at the package root, next to a locally built binary; in an installed package the loader
 * finds the binary in the per-platform package (`attnclust-linux-x64-gnu`, an optional dependency).
 * When no binary fits, loading fails with an error naming the platform and what to do.
 *
 * @internal
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as Native from '../native/index';
// The string options of the public API are the addon's enums (their generated union types, with
// the documentation written on the Rust enums): re-exported by types.ts under their public names.
export type { Covariance, Dtype, Mask, MixtureKind, OptimizerKind, Scores } from '../native/index';

// The package root: `src/..` when run from sources (vitest), `dist/src/../..` when compiled.
const roots = [join(__dirname, '..'), join(__dirname, '..', '..')];

/** The napi-rs name of this platform: `linux-x64-gnu`, `linux-x64-musl`, `darwin-arm64`, `win32-x64-msvc`… */
export function platformName(): string {
  const { platform, arch } = process;
  if (platform === 'win32') return `${platform}-${arch}-msvc`;
  if (platform !== 'linux') return `${platform}-${arch}`;
  // Skip the report's network section (slow where DNS is slow), as the napi-rs loader does.
  if (process.report) (process.report as { excludeNetwork?: boolean }).excludeNetwork = true;
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  const libc = header?.glibcVersionRuntime ? 'gnu' : 'musl';
  return `${platform}-${arch}-${arch === 'arm' ? `${libc}eabihf` : libc}`;
}

function packageJson(root: string): { name?: string; version?: string; optionalDependencies?: Record<string, string> } {
  try {
    return JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  } catch {
    return {};
  }
}

/** The error thrown when no binary fits this platform (or the loader is missing). */
function noBinary(root: string | undefined, cause: unknown): Error {
  const pkg = root === undefined ? {} : packageJson(root);
  const name = pkg.name ?? 'attnclust';
  const version = pkg.version ?? '';
  const here = platformName();
  const wanted = `${name}-${here}`;
  // An installed package lists its per-platform packages as optional dependencies (added when it
  // is packed); a source checkout lists none and builds the binary itself.
  const prebuilt = Object.keys(pkg.optionalDependencies ?? {})
    .filter((p) => p.startsWith(`${name}-`))
    .map((p) => p.slice(name.length + 1));
  const lines = [
    `${name}: no native binary could be loaded for ${process.platform}-${process.arch} (${here}, Node ${process.version}).`,
  ];
  if (prebuilt.includes(here)) {
    lines.push(
      `The prebuilt binary for this platform is the package \`${wanted}\`, an optional dependency of ${name}: it was not installed ` +
        `(installed with --omit=optional / --no-optional, or a lockfile made on another platform). ` +
        `Install it with \`npm install ${wanted}@${version}\`, or reinstall ${name} with optional dependencies.`,
    );
  } else if (prebuilt.length > 0) {
    lines.push(`Prebuilt binaries exist only for ${prebuilt.join(', ')}; there is no package \`${wanted}\`.`);
  }
  lines.push(
    `To build from source (needs Rust, https://rustup.rs): in a clone of the repository run \`npm ci\`, or \`npm run build:native\` after changing the Rust code.`,
  );
  const why = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
  lines.push(`Loader error: ${why}`);
  return new Error(lines.join('\n'), { cause });
}

function load(): typeof Native {
  const root = roots.find((r) => existsSync(join(r, 'native', 'index.js')));
  if (root === undefined) {
    throw noBinary(roots.find((r) => existsSync(join(r, 'package.json'))), new Error(`the loader native/index.js is missing (looked in ${roots.join(' and ')})`));
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(join(root, 'native', 'index.js')) as typeof Native;
  } catch (e) {
    throw noBinary(root, e);
  }
}

/** The addon's functions. */
export const native: typeof Native = load();

/** The addon's string enums (`#[napi(string_enum)]` in crates/attnclust-node/src/enums.rs), by name. */
interface NativeEnums {
  Dtype: Native.Dtype;
  Scores: Native.Scores;
  Mask: Native.Mask;
  OptimizerKind: Native.OptimizerKind;
  ScheduleKind: Native.ScheduleKind;
  InitKind: Native.InitKind;
  MixtureKind: Native.MixtureKind;
  PriorKind: Native.PriorKind;
  Covariance: Native.Covariance;
}

/** The values of each enum `choices` has read. */
const choiceCache: Partial<Record<keyof NativeEnums, readonly string[]>> = {};

/**
 * The valid values of the addon's string enum `name`, in declaration order: the addon exports
 * each enum as an object `{ Variant: 'value' }` (its generated declarations give only the union
 * type). Option checks name them from here, so that no list of values is copied into TypeScript.
 */
export function choices<K extends keyof NativeEnums>(name: K): readonly NativeEnums[K][] {
  // read once per enum (the options of every call check against it), frozen: callers share it
  const known = choiceCache[name] as readonly NativeEnums[K][] | undefined;
  if (known !== undefined) return known;
  const e = (native as unknown as Record<string, Record<string, NativeEnums[K]> | undefined>)[name];
  if (e === undefined) throw new Error(`attnclust: the native addon has no enum ${name} (rebuild it: npm run build:native)`);
  const values = Object.freeze(Object.values(e));
  choiceCache[name] = values;
  return values;
}

// `process.exit()` waits for every running libuv task: stop this thread's calls in flight first
// (a worker's teardown is handled by the addon's environment cleanup hook).
process.once('exit', () => native.cancelInFlight());
export type { Native };

/**
 * Results of at most this many bytes (the addon's `RESULT_COPY_BYTES`) are arrays allocated in
 * TypeScript and filled by a synchronous call (`sampleIntoSync`, `samplePromptsIntoSync`,
 * `identityAttentionIntoSync`): a typed array made in JS costs tens of ns, one made by the addon
 * about a µs. Larger results are made by the addon (handed over without a copy).
 */
export const SMALL_RESULT_BYTES: number = native.RESULT_COPY_BYTES;

/** A zeroed result array of `n` values of `dtype` (see `SMALL_RESULT_BYTES`). */
export function resultArray(dtype: Native.Dtype, n: number): Float32Array | Float64Array {
  return dtype === 'f32' ? new Float32Array(n) : new Float64Array(n);
}
