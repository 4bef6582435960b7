// @ts-check
// JavaScript, not TypeScript, so that ESLint's project service (which only
// knows tsconfig.json files, and tsconfig.json holds src only) need not find it.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
  },
});
