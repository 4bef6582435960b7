import { randomFillSync } from 'node:crypto';

import { MailIdError } from './errors.js';

/*
 * ULID (https://github.com/ulid/spec): 48-bit millisecond time + 80 random bits,
 * Crockford base32, 26 characters. Hand-written rather than a dependency because
 * the clock and the random source must be injectable per call and the monotonic
 * state per factory; the whole algorithm is a few lines.
 */

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const MAX_TIME = 2 ** 48 - 1;
const RANDOM_BYTES = 10;

export type RandomSource = (bytes: number) => Uint8Array;

/** Random bytes from a pool refilled 4 KiB at a time: one system call per ~400 ids. */
const POOL_BYTES = 4096;
const pool = new Uint8Array(POOL_BYTES);
let poolOffset = POOL_BYTES;
const cryptoRandom: RandomSource = (n) => {
  if (n > POOL_BYTES) return randomFillSync(new Uint8Array(n));
  if (poolOffset + n > POOL_BYTES) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const out = pool.slice(poolOffset, poolOffset + n);
  poolOffset += n;
  return out;
};

function encodeTime(t: number): string {
  let out = '';
  for (let i = 0; i < 10; i++) {
    out = CROCKFORD.charAt(t % 32) + out;
    t = Math.floor(t / 32);
  }
  return out;
}

function encodeRandom(bytes: Uint8Array): string {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  let out = '';
  for (let i = 0; i < 16; i++) {
    out = CROCKFORD.charAt(Number(n & 31n)) + out;
    n >>= 5n;
  }
  return out;
}

/** Adds one to a big-endian byte string in place; false on overflow. */
function increment(bytes: Uint8Array): boolean {
  for (let i = bytes.length - 1; i >= 0; i--) {
    const b = bytes[i] ?? 0;
    if (b < 255) {
      bytes[i] = b + 1;
      return true;
    }
    bytes[i] = 0;
  }
  return false;
}

export type MailIdFactory = (now?: number, random?: RandomSource) => string;

/**
 * A generator with its own monotonic state: ids made in the same millisecond (or
 * while the clock steps back) increment the random part, so they sort in the order
 * they were made.
 */
export function mailIdFactory(): MailIdFactory {
  let lastTime = -1;
  let lastRandom = new Uint8Array(RANDOM_BYTES);
  return (now = Date.now(), random = cryptoRandom) => {
    if (!Number.isInteger(now) || now < 0 || now > MAX_TIME) {
      throw new MailIdError(`time ${now} is outside the ULID range`);
    }
    if (now <= lastTime) {
      if (!increment(lastRandom)) {
        throw new MailIdError(`more than 2^80 mail ids in millisecond ${lastTime}`);
      }
      return encodeTime(lastTime) + encodeRandom(lastRandom);
    }
    const r = random(RANDOM_BYTES);
    if (r.length < RANDOM_BYTES) {
      throw new MailIdError(`random source returned ${r.length} of ${RANDOM_BYTES} bytes`);
    }
    lastTime = now;
    lastRandom = Uint8Array.from(r.subarray(0, RANDOM_BYTES));
    return encodeTime(now) + encodeRandom(lastRandom);
  };
}

/** A new mail id (ULID, matches `MAIL_ID_PATTERN`), monotonic within this process. */
export const newMailId: MailIdFactory = mailIdFactory();
