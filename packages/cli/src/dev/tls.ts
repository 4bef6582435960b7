/**
 * The dev TLS certificate: self-signed, generated once into `<data>/tls` and kept, so
 * a client that trusted it once keeps trusting it (STYLE: no randomness at each start).
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { generate } from 'selfsigned';

export interface DevTls {
  readonly certFile: string;
  readonly keyFile: string;
  /** True when this call created the pair. */
  readonly created: boolean;
}

const DAY_MS = 86_400_000;

/** Names the certificate is valid for: loopback, this host, and the dev domains' MX names. */
export function certificateNames(domains: readonly string[]): { dns: string[]; ips: string[] } {
  const dns = new Set(['localhost', hostname().toLowerCase()]);
  for (const d of domains) {
    dns.add(d);
    dns.add(`mx.${d}`);
    dns.add(`mail.${d}`);
  }
  return { dns: [...dns].filter((n) => /^[a-z0-9.-]+$/.test(n)), ips: ['127.0.0.1', '::1'] };
}

/** Ensures `<dir>/cert.pem` + `<dir>/key.pem`; an existing pair is kept as it is. */
export async function ensureDevCertificate(
  dir: string,
  domains: readonly string[],
  now: () => number = Date.now,
): Promise<DevTls> {
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  if (existsSync(certFile) && existsSync(keyFile)) return { certFile, keyFile, created: false };
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const names = certificateNames(domains);
  const pems = await generate([{ name: 'commonName', value: 'mailmesh dev' }], {
    // RSA: every client takes it (and selfsigned's EC path trips over a duplicated ASN.1
    // schema package in this workspace's tree).
    keyType: 'rsa',
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate: new Date(now() - DAY_MS),
    notAfterDate: new Date(now() + 825 * DAY_MS),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          ...names.dns.map((value) => ({ type: 2 as const, value })),
          ...names.ips.map((ip) => ({ type: 7 as const, ip })),
        ],
      },
    ],
  });
  await writeFile(keyFile, pems.private, { mode: 0o600 });
  await writeFile(certFile, pems.cert, { mode: 0o644 });
  return { certFile, keyFile, created: true };
}
