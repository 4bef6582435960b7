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
    // --no-concurrent-array-buffer-sweeping: otherwise V8 frees the backing stores of
    // dead Buffers on a background thread after gc() returns, and arrayBuffers then
    // counts whatever it has not reached yet (measured: 7 to 42 MiB for the same
    // 40 MiB message; with it, 11 to 15 MiB in 16 runs, 6 of them with the CPUs busy).
    poolOptions: { forks: { execArgv: ['--expose-gc', '--no-concurrent-array-buffer-sweeping'] } },
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
