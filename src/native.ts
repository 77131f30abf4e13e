/**
 * The compiled addon. `npm run build:native` writes it and its napi-rs loader into `native/` at the
 * package root; the loader picks the binary for this platform (a local build or the per-platform
 * package).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type * as Native from '../native/index';

// `src/` when run from sources (vitest), `dist/src/` when compiled.
const candidates = [join(__dirname, '..', 'native', 'index.js'), join(__dirname, '..', '..', 'native', 'index.js')];
const found = candidates.find((p) => existsSync(p));
if (found === undefined) {
  throw new Error(`attnclust: the native addon is missing (looked for ${candidates.join(' and ')}); run \`npm run build:native\``);
}

/** The addon's functions. */
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const native = require(found) as typeof Native;
export type { Native };
