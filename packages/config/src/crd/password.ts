/**
 * Password hashing for mailbox passwords given in plaintext in a Secret. The compiled
 * config only ever holds hashes (argon2id, RFC 9106). A fresh salt per hash makes the
 * output differ each time, so the compiler reuses the previous hash while it still
 * verifies; otherwise every reconcile would publish a "changed" domain.
 */
import { createHash } from 'node:crypto';
import { hash, verify } from '@node-rs/argon2';
import { PASSWORD_HASH_PATTERN } from './schema.js';

export const PASSWORD_HASH = new RegExp(PASSWORD_HASH_PATTERN);

export interface PasswordHasher {
  hash(plaintext: string): Promise<string>;
  /** False (never a throw) for a hash this hasher cannot check. */
  verify(hashed: string, plaintext: string): Promise<boolean>;
}

export interface Argon2Options {
  /** KiB; default 19456 (OWASP's argon2id minimum). */
  readonly memoryCost?: number;
  readonly timeCost?: number;
  readonly parallelism?: number;
  /** Verified (hash, plaintext) pairs remembered, so repeated compiles cost nothing; default 10,000. */
  readonly cacheSize?: number;
}

export function argon2idHasher(opts: Argon2Options = {}): PasswordHasher {
  const options = {
    // Algorithm.Argon2id: a const enum, which isolatedModules cannot read.
    algorithm: 2,
    memoryCost: opts.memoryCost ?? 19_456,
    timeCost: opts.timeCost ?? 2,
    parallelism: opts.parallelism ?? 1,
  };
  const limit = opts.cacheSize ?? 10_000;
  // Keyed by a digest so the cache never holds plaintext.
  const verified = new Set<string>();
  const keyOf = (h: string, p: string): string =>
    createHash('sha256').update(h).update('\0').update(p).digest('base64');
  return {
    hash: (plaintext) => hash(plaintext, options),
    async verify(hashed, plaintext) {
      if (!hashed.startsWith('$argon2id$')) return false;
      const k = keyOf(hashed, plaintext);
      if (verified.has(k)) return true;
      let ok: boolean;
      try {
        ok = await verify(hashed, plaintext);
      } catch {
        return false;
      }
      if (ok) {
        if (verified.size >= limit) verified.clear();
        verified.add(k);
      }
      return ok;
    },
  };
}

let shared: PasswordHasher | undefined;
/** One process-wide hasher with default settings (and one verify cache). */
export function defaultHasher(): PasswordHasher {
  shared ??= argon2idHasher();
  return shared;
}
