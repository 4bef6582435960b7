/**
 * DNS records a mail domain needs (MX, SPF, DMARC, DKIM), for `status.dnsRecords`,
 * DNSEndpoint objects and `mailmesh dns DOMAIN`. Pure; the DKIM key comes in as PEM.
 */
import { createPrivateKey, createPublicKey } from 'node:crypto';
import type { CompiledDomain } from '../compiled.js';
import type { DnsRecord } from './types.js';

export interface DnsRecordOptions {
  /** MX target host; default `mx.<domain>`. */
  readonly mxHost?: string;
  /** Default 10. */
  readonly mxPriority?: number;
  /** Base64 DER SubjectPublicKeyInfo of the DKIM key (see `dkimPublicKey`). */
  readonly dkimPublicKey?: string;
  /** DMARC policy; default `quarantine`. */
  readonly dmarcPolicy?: 'none' | 'quarantine' | 'reject';
}

const abs = (name: string): string => (name.endsWith('.') ? name : `${name}.`);

/**
 * The records of a domain and its aliases: MX and SPF (`v=spf1 mx -all`, RFC 7208) for
 * each name, DMARC (RFC 7489) for each name, and the DKIM key record (RFC 6376 §3.6.1)
 * of the primary domain's selector.
 */
export function dnsRecordsFor(domain: CompiledDomain, opts: DnsRecordOptions = {}): DnsRecord[] {
  const out: DnsRecord[] = [];
  const names = [domain.domain, ...domain.aliases];
  const mx = abs(opts.mxHost ?? `mx.${domain.domain}`);
  for (const name of names) {
    out.push({ type: 'MX', name: abs(name), value: `${opts.mxPriority ?? 10} ${mx}` });
    out.push({ type: 'TXT', name: abs(name), value: 'v=spf1 mx -all' });
    out.push({
      type: 'TXT',
      name: abs(`_dmarc.${name}`),
      value: `v=DMARC1; p=${opts.dmarcPolicy ?? 'quarantine'}; rua=mailto:postmaster@${domain.domain}`,
    });
  }
  const dkim = domain.outbound.dkim;
  if (dkim !== undefined && opts.dkimPublicKey !== undefined) {
    out.push({
      type: 'TXT',
      name: abs(`${dkim.selector}._domainkey.${domain.domain}`),
      value: `v=DKIM1; k=rsa; p=${opts.dkimPublicKey}`,
    });
  }
  return out;
}

/** Base64 DER SubjectPublicKeyInfo of an RSA private key in PEM (the DKIM `p=` tag). Throws on a bad key. */
export function dkimPublicKey(privateKeyPem: string): string {
  const key = createPrivateKey({ key: privateKeyPem, format: 'pem' });
  if (key.asymmetricKeyType !== 'rsa')
    throw new TypeError(`DKIM key must be RSA, got ${key.asymmetricKeyType ?? 'unknown'}`);
  return createPublicKey(key).export({ type: 'spki', format: 'der' }).toString('base64');
}

/** Zone-file lines for records (TXT data split into 255-byte strings, RFC 1035 §3.3.14). */
export function zoneFile(records: readonly DnsRecord[]): string {
  return records
    .map((r) => {
      if (r.type !== 'TXT') return `${r.name}\tIN\t${r.type}\t${r.value}`;
      const parts = r.value.match(/.{1,255}/g) ?? [''];
      return `${r.name}\tIN\tTXT\t${parts.map((p) => `"${p.replace(/["\\]/g, '\\$&')}"`).join(' ')}`;
    })
    .join('\n');
}
