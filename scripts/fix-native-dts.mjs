#!/usr/bin/env node
// After `tsc`: src/native.ts imports the addon's types from '../native/index' (the napi-rs
// declarations at the package root), and tsc copies that path as is into dist/src/native.d.ts,
// where it points at a dist/native/ that does not exist: the published types would not resolve (a
// consumer without skipLibCheck fails, one with it gets `any`). This points it at the package
// root's native/index.d.ts. `npm run build:ts` runs it on dist/; scripts/pack-local.mjs runs it on
// the staged copy too, so a tarball is right even when dist/ was compiled by a bare `tsc`.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Rewrites the import in `file` (a compiled dist/src/native.d.ts); idempotent. */
export function fixNativeDts(file) {
  const text = readFileSync(file, 'utf8');
  const fixed = text.replace(/(from\s+['"])\.\.\/native\/index(['"])/g, '$1../../native/index$2');
  if (!/from\s+['"]\.\.\/\.\.\/native\/index['"]/.test(fixed)) {
    throw new Error(`fix-native-dts: ${file} does not import '../native/index'; update scripts/fix-native-dts.mjs`);
  }
  if (fixed !== text) writeFileSync(file, fixed);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  fixNativeDts(process.argv[2] ?? fileURLToPath(new URL('../dist/src/native.d.ts', import.meta.url)));
}
