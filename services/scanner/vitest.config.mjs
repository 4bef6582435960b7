// @ts-check
// JavaScript so that ESLint's project service need not find it in a tsconfig.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    // clamd loads its database and spamd parses its rules once per file.
    hookTimeout: 180_000,
    // Integration files start their own peers; one file at a time on a small shared machine.
    fileParallelism: false,
  },
});
