// @ts-check
// JavaScript, not TypeScript, so that ESLint's project service (which only
// knows tsconfig.json files, and tsconfig.json holds src only) need not find it.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One Haraka per process: each test file gets its own fork, run one at a time
    // because the machine is small and shared.
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
