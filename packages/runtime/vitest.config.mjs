// @ts-check
// JavaScript so that ESLint's project service need not find it in a tsconfig.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Each file starts its own peers (nats-server, MinIO) once; run files one at a
    // time because the machine is small and shared.
    fileParallelism: false,
  },
});
