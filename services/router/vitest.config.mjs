// @ts-check
// JavaScript so that ESLint's project service need not find it in a tsconfig.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Files that start peers (nats-server, MinIO) run one at a time: the machine is small and shared.
    fileParallelism: false,
  },
});
