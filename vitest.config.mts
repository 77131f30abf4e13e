import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Native addons run in the default `forks` pool (never `threads`).
export default defineConfig({
  test: {
    pool: 'forks',
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
  resolve: {
    // The lab (packages/lab) imports the library as 'attnclust'; in the tests that is the library's
    // TypeScript source, the same module instance as the tests' own '../src/…' imports (the
    // compiled dist/ would be a second instance, and stale after a TypeScript edit).
    alias: [{ find: /^attnclust$/, replacement: fileURLToPath(new URL('./src/index.ts', import.meta.url)) }],
  },
});
