// @ts-check
// JavaScript, not TypeScript, so that ESLint's project service (which only
// knows tsconfig.json files, and tsconfig.json holds src only) need not find it.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    // One kube-apiserver (+ etcd, + nats-server) per file; the machine is shared.
    poolOptions: { forks: { maxForks: 2 } },
    globalSetup: ['./test/global-setup.mjs'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
