// @ts-check
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    // Peers start once per file in beforeAll; kube-apiserver alone can take half a minute.
    hookTimeout: 180_000,
    testTimeout: 60_000,
  },
});
