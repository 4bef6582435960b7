// @ts-check
// The leader-election test runs the operator as child processes (`node dist/main.js`),
// so dist must be current: build this package and its references first.
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export default function setup() {
  const dir = join(dirname(fileURLToPath(import.meta.url)), '..');
  execFileSync(join(dir, '..', 'node_modules', '.bin', 'tsc'), ['-b', dir], { stdio: 'inherit' });
}
