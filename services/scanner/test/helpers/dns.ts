/**
 * DNS for authentication tests: a resolver serving fixed TXT records, so DKIM keys
 * and DMARC policies are the test's own and no query leaves the process.
 */
import { generateKeyPairSync } from 'node:crypto';
import type { DNSResolver } from 'mailauth';

export function staticResolver(
  txt: Record<string, string>,
  fail: Record<string, string> = {},
): DNSResolver {
  return (name: string, rrtype: string) => {
    const key = name.toLowerCase();
    const code = fail[key];
    if (code) return Promise.reject(Object.assign(new Error(`${code} ${name}`), { code }));
    const value = rrtype === 'TXT' ? txt[key] : undefined;
    if (value === undefined)
      return Promise.reject(Object.assign(new Error(`ENOTFOUND ${name}`), { code: 'ENOTFOUND' }));
    // TXT answers are lists of character-strings of at most 255 octets each.
    return Promise.resolve([value.match(/.{1,255}/g) ?? ['']]);
  };
}

export function dkimKey(): { privateKey: string; record: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pub = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
  return {
    privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    record: `v=DKIM1; k=rsa; p=${pub}`,
  };
}
