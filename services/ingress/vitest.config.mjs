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
    // --expose-gc: the large-message test measures live memory (after a GC), not
    // RSS, which also counts Buffers that are garbage but not yet collected.
    poolOptions: { forks: { execArgv: ['--expose-gc'] } },
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
