/**
 * Which NATS `mailmesh apply` talks to: `--nats`, else MAILMESH_NATS_URL, else the
 * `mailmesh dev` running from this directory (`.mailmesh/dev.json`), else the default.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

export function resolveNatsUrl(
  flag: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
): { url: string; source: string } {
  if (flag !== undefined && flag !== '') return { url: flag, source: '--nats' };
  const fromEnv = env['MAILMESH_NATS_URL'];
  if (fromEnv !== undefined && fromEnv !== '') return { url: fromEnv, source: 'MAILMESH_NATS_URL' };
  try {
    const state = JSON.parse(readFileSync(join(cwd, '.mailmesh', 'dev.json'), 'utf8')) as {
      natsUrl?: unknown;
    };
    if (typeof state.natsUrl === 'string')
      return { url: state.natsUrl, source: '.mailmesh/dev.json' };
  } catch {
    // no dev session here
  }
  return { url: DEFAULT_NATS_URL, source: 'default' };
}
