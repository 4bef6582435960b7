import { createHash } from 'node:crypto';
import { assertMailId, ulidTime } from '@mailmesh/proto';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * The mail id of a mail Mailmesh generates from another one (a DSN), derived from
 * the original's id and a `part` naming the report (`dsn.failure.local:sh.company.local`).
 * Derived, not random, so a redelivered job that builds the same report again
 * produces the same id, the same spool key and the same `Nats-Msg-Id`, and the
 * sender gets it once. It carries the original's timestamp, so it sorts beside it.
 */
export function derivedMailId(original: string, part: string): string {
  assertMailId(original);
  let t = ulidTime(original);
  let time = '';
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD.charAt(t % 32) + time;
    t = Math.floor(t / 32);
  }
  const digest = createHash('sha256').update(`${original}/${part}`).digest();
  // 80 random bits = 16 base32 characters, five bits at a time.
  let bits = 0;
  let value = 0;
  let rand = '';
  for (let i = 0; rand.length < 16; i++) {
    value = (value << 8) | (digest[i] ?? 0);
    bits += 8;
    while (bits >= 5 && rand.length < 16) {
      rand += CROCKFORD.charAt((value >> (bits - 5)) & 31);
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  return time + rand;
}

/** A short stable token for a string in a `Nats-Msg-Id` part (which allows few characters). */
export function shortHash(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 12);
}
