import { defineConfig } from 'vitest/config';

// Native addons run in the default `forks` pool (never `threads`).
export default defineConfig({
  test: {
    pool: 'forks',
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
