/**
 * Which files `-f FILE|DIR` means, read as text. A directory means its `*.yaml`,
 * `*.yml` and `*.json` files in name order (not recursive, as `kubectl apply -f DIR`);
 * `-` means standard input.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

import { ConfigInvalidError } from '../errors.js';

export interface SourceFile {
  /** As the user wrote it (relative paths stay relative, for messages). */
  readonly path: string;
  readonly text: string;
}

const CONFIG_FILE = /\.(ya?ml|json)$/i;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads every file the paths name; a missing path or an empty directory is an issue. */
export async function readSources(paths: readonly string[]): Promise<SourceFile[]> {
  const out: SourceFile[] = [];
  for (const p of paths) {
    if (p === '-') {
      out.push({ path: '<stdin>', text: await readStdin() });
      continue;
    }
    let isDir: boolean;
    try {
      isDir = (await stat(p)).isDirectory();
    } catch (err) {
      throw new ConfigInvalidError([{ file: p, path: '', message: 'no such file or directory' }], {
        cause: err,
      });
    }
    if (!isDir) {
      out.push({ path: p, text: await readFile(p, 'utf8') });
      continue;
    }
    const names = (await readdir(p, { withFileTypes: true }))
      .filter((e) => e.isFile() && CONFIG_FILE.test(e.name))
      .map((e) => e.name)
      .sort();
    if (names.length === 0) {
      throw new ConfigInvalidError([
        { file: p, path: '', message: 'directory holds no .yaml, .yml or .json file' },
      ]);
    }
    for (const name of names) {
      const file = join(p, name);
      out.push({ path: file, text: await readFile(file, 'utf8') });
    }
  }
  return out;
}
