import { randomBytes } from 'node:crypto';
import { verify as argon2Verify } from '@node-rs/argon2';
import bcrypt from 'bcryptjs';

/** A bcrypt hash of random bytes, made once: unknown users cost one comparison too, so timing does not tell. */
let dummyHash: string | undefined;
const dummy = (): string => (dummyHash ??= bcrypt.hashSync(randomBytes(16).toString('hex'), 10));

export type PasswordVerifier = (hash: string | undefined, password: string) => Promise<boolean>;

/**
 * Verifies `password` against an argon2id or bcrypt hash. An undefined hash
 * (unknown login) still costs one bcrypt comparison and returns false.
 */
export const verifyPassword: PasswordVerifier = async (hash, password) => {
  if (hash === undefined) {
    await bcrypt.compare(password, dummy());
    return false;
  }
  try {
    if (hash.startsWith('$argon2')) return await argon2Verify(hash, password);
    if (/^\$2[aby]\$/.test(hash)) return await bcrypt.compare(password, hash);
  } catch {
    return false;
  }
  return false;
};
