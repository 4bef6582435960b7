/**
 * Runs the built `mailmesh` executable as a child process, the way a user does, and
 * copies the example config into temp dirs for tests to edit.
 */
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';

import { portFree } from '../src/dev/checks.js';
import { allPorts, devPorts } from '../src/dev/ports.js';

export const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const repoRoot = resolve(packageDir, '..', '..');
export const bin = join(packageDir, 'dist', 'bin.js');
export const examples = join(repoRoot, 'examples', 'company');

export interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** `node dist/bin.js ...args`; never rejects (the exit code is in the result). */
export function mailmesh(
  args: readonly string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<Run> {
  return new Promise((resolveRun) => {
    execFile(
      process.execPath,
      [bin, ...args],
      {
        cwd: opts.cwd ?? repoRoot,
        env: { ...process.env, NO_COLOR: '1', MAILMESH_NATS_URL: '', ...opts.env },
        timeout: opts.timeoutMs ?? 60_000,
        maxBuffer: 16 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
        resolveRun({ code, stdout, stderr });
      },
    );
  });
}

/** A Kubernetes object as a test edits it (only the fields tests touch are typed). */
export interface Doc {
  kind?: unknown;
  metadata?: { name?: unknown };
  spec?: Spec;
  stringData?: Record<string, string>;
  [field: string]: unknown;
}

export interface Spec {
  mailboxes?: Record<string, unknown>[];
  policies?: string[];
  domainAliases?: string[];
  outbound?: Record<string, unknown>;
  [field: string]: unknown;
}

/** A temp copy of examples/company; `edit` rewrites one of its files. */
export interface ConfigDir {
  readonly dir: string;
  edit(file: string, change: (text: string) => string): Promise<void>;
  /** Rewrites `file` after changing its documents (parsed YAML) in place. */
  docs(file: string, change: (docs: Doc[]) => void): Promise<void>;

  write(file: string, text: string): Promise<void>;
  remove(): Promise<void>;
}

export async function exampleCopy(): Promise<ConfigDir> {
  const dir = await mkdtemp(join(tmpdir(), 'mailmesh-cli-config-'));
  await cp(examples, dir, { recursive: true });
  return {
    dir,
    edit: async (file, change) => {
      const path = join(dir, file);
      const before = await readFile(path, 'utf8');
      const after = change(before);
      if (after === before) throw new Error(`edit of ${file} changed nothing`);
      await writeFile(path, after);
    },
    docs: async (file, change) => {
      const path = join(dir, file);
      const docs = parseAllDocuments(await readFile(path, 'utf8'), { version: '1.1' });
      const values = [...docs]
        .map((d) => d.toJS() as Doc | null)
        .filter((d): d is Doc => d !== null);
      change(values);
      await writeFile(path, values.map((d) => stringify(d)).join('---\n'));
    },
    write: (file, text) => writeFile(join(dir, file), text),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/** The document of `kind` named `name` (throws if absent). */
export function find(docs: Doc[], kind: string, name: string): Doc {
  const d = docs.find((x) => x.kind === kind && x.metadata?.name === name);
  if (d === undefined) throw new Error(`no ${kind} ${name}`);
  return d;
}

/** The spec of MailDomain `name`. */
export function domainSpec(docs: Doc[], name: string): Spec {
  const spec = find(docs, 'MailDomain', name).spec;
  if (spec === undefined) throw new Error(`MailDomain ${name} has no spec`);
  return spec;
}

/** Mailbox `i` of MailDomain `name`. */
export function mailboxOf(docs: Doc[], name: string, i: number): Record<string, unknown> {
  const m = domainSpec(docs, name).mailboxes?.[i];
  if (m === undefined) throw new Error(`MailDomain ${name} has no mailbox ${i}`);
  return m;
}

/** A `--port-base` whose whole range N..N+999 is free now. */
export async function freeBase(): Promise<number> {
  for (let attempt = 0; attempt < 30; attempt++) {
    const base = 20_000 + 1_000 * Math.floor(Math.random() * 38);
    let free = true;
    for (const p of allPorts(devPorts(base), 10)) if (!(await portFree(p.port))) free = false;
    if (free) return base;
  }
  throw new Error('no free port range found');
}
