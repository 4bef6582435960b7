import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const viteNode = join(
  dirname(createRequire(import.meta.url).resolve('vite-node/package.json')),
  'vite-node.mjs',
);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Runs the fixture in its own process and resolves with the peer it started. */
function startOrphanParent(): Promise<{ parent: number; pid: number; dir: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [viteNode, join(here, 'orphan.fixture.ts')], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line !== undefined && child.pid !== undefined) {
        const { pid, dir } = JSON.parse(line) as { pid: number; dir: string };
        resolve({ parent: child.pid, pid, dir });
      }
    });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`fixture exited early (${code}): ${out}`)));
  });
}

describe('peers do not outlive the test process', () => {
  it.each(['SIGTERM', 'SIGKILL'] as const)('when it gets %s', async (signal) => {
    const { parent, pid, dir } = await startOrphanParent();
    try {
      expect(alive(pid)).toBe(true);
      process.kill(parent, signal);
      await vi.waitFor(() => expect(alive(pid)).toBe(false), { timeout: 10_000, interval: 100 });
    } finally {
      if (alive(pid)) process.kill(pid, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
