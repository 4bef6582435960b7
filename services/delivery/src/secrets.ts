/**
 * Secrets named by configuration (`SecretRef {name, key}`): SMTP AUTH credentials
 * of a smart host and DKIM private keys. In Kubernetes a Secret is mounted as a
 * directory with one file per key, so the default source reads `<dir>/<name>/<key>`.
 * Values are never logged.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface SecretSource {
  /** The secret value, or undefined when the Secret or key does not exist. */
  get(name: string, key: string): Promise<string | undefined>;
}

/** Reads `<dir>/<name>/<key>` (a Kubernetes Secret volume). Names with `/` or `..` are refused. */
export function fileSecrets(dir: string): SecretSource {
  const safe = (s: string): boolean => s !== '' && !s.includes('/') && s !== '.' && s !== '..';
  return {
    get: async (name, key) => {
      if (!safe(name) || !safe(key)) return undefined;
      try {
        return await readFile(join(dir, name, key), 'utf8');
      } catch (err) {
        if ((err as { code?: unknown }).code === 'ENOENT') return undefined;
        throw err;
      }
    },
  };
}

/** Secrets from memory: `{ "hq-relay": { "credentials": "user:pass" } }` (dev mode, tests). */
export function staticSecrets(
  table: Readonly<Record<string, Readonly<Record<string, string>>>>,
): SecretSource {
  return { get: (name, key) => Promise.resolve(table[name]?.[key]) };
}

export interface Credentials {
  readonly user: string;
  readonly pass: string;
}

/**
 * SMTP AUTH credentials from a secret value: `user:password` (split at the first
 * colon; the password may contain colons) or JSON `{"user": "...", "pass": "..."}`.
 */
export function parseCredentials(value: string): Credentials | undefined {
  const text = value.trim();
  if (text.startsWith('{')) {
    try {
      const j = JSON.parse(text) as {
        user?: unknown;
        pass?: unknown;
        username?: unknown;
        password?: unknown;
      };
      const user = j.user ?? j.username;
      const pass = j.pass ?? j.password;
      return typeof user === 'string' && typeof pass === 'string' ? { user, pass } : undefined;
    } catch {
      return undefined;
    }
  }
  const colon = text.indexOf(':');
  if (colon <= 0) return undefined;
  return { user: text.slice(0, colon), pass: text.slice(colon + 1) };
}

/** The key of a smart-host Secret when the route names none. */
export const DEFAULT_CREDENTIALS_KEY = 'credentials';
