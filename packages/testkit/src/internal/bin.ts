import { accessSync, constants } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';

import { BinaryNotFoundError } from './errors.js';

/** `$MAILMESH_BIN`, else `${XDG_CACHE_HOME:-~/.cache}/mailmesh/bin` (where `npm run setup` links binaries). */
export function binDir(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env['MAILMESH_BIN'];
  if (explicit !== undefined && explicit !== '') return explicit;
  const cache = env['XDG_CACHE_HOME'];
  return join(
    cache !== undefined && cache !== '' ? cache : join(homedir(), '.cache'),
    'mailmesh',
    'bin',
  );
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Absolute path of a peer binary: `$MAILMESH_BIN/name`, else the first `name` on PATH, else
 * `/usr/sbin/name` (Debian's clamd and spamd live there and /usr/sbin is often not on PATH).
 */
export function binPath(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const dir = binDir(env);
  const pathDirs = (env['PATH'] ?? '').split(delimiter).filter((d) => d !== '');
  const candidates = [
    join(dir, name),
    ...pathDirs.map((d) => join(d, name)),
    join('/usr/sbin', name),
  ];
  for (const candidate of candidates) {
    if (isExecutable(candidate)) return candidate;
  }
  throw new BinaryNotFoundError(name, dir, candidates);
}
