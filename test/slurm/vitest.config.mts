import { defineConfig } from 'vitest/config';

// `npm run test:slurm` only (not part of `npm test`): needs root and Debian's slurm-wlm and munge.
export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: ['test/slurm/*.slurm.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 1_800_000,
    hookTimeout: 300_000,
  },
});
