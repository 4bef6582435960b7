// @ts-check
// JavaScript so that ESLint's project service need not find it in a tsconfig.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // Each file starts its own peers once; one file at a time on the small shared machine.
    fileParallelism: false,
  },
});
