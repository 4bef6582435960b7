/**
 * `mailmesh dns DOMAIN [-f FILE|DIR]`: the DNS records a mail domain needs, in zone-file
 * format — MX, SPF and DMARC for the domain and its aliases, and the DKIM key record
 * when its private key is in the files given (a Secret named by `outbound.dkim.key`).
 */
import type { CompiledDomain } from '@mailmesh/config';
import { dkimPublicKey, dnsRecordsFor, zoneFile, type DnsRecord } from '@mailmesh/config/crd';
import { assertDnsName, InvalidNameError } from '@mailmesh/proto';

import { compileSources } from '../apply/compile.js';
import { readSources } from '../apply/files.js';
import { UsageError } from '../errors.js';
import type { Output } from '../output.js';

export interface DnsCommandOptions {
  readonly domain: string;
  readonly files: readonly string[];
  readonly mx?: string;
  readonly json: boolean;
  readonly out: Output;
}

export interface DnsAnswer {
  readonly domain: string;
  readonly records: readonly DnsRecord[];
  /** What could not be included, and why (no DKIM key known). */
  readonly notes: readonly string[];
}

function bareDomain(name: string): CompiledDomain {
  return {
    domain: name,
    aliases: [],
    mailboxes: [],
    groups: [],
    relay: { allowedNetworks: [] },
    outbound: {},
    inbound: { requireTLS: false },
    policies: [],
  };
}

/** Pure apart from reading the files. */
export async function dnsAnswer(o: Omit<DnsCommandOptions, 'json' | 'out'>): Promise<DnsAnswer> {
  const wanted = o.domain.toLowerCase().replace(/\.$/, '');
  try {
    assertDnsName('domain', wanted);
  } catch (err) {
    if (err instanceof InvalidNameError)
      throw new UsageError(`${o.domain} is not a domain name: ${err.reason}`, { cause: err });
    throw err;
  }
  if (o.mx !== undefined) {
    try {
      assertDnsName('MX host', o.mx.replace(/\.$/, ''));
    } catch (err) {
      throw new UsageError(`--mx ${o.mx} is not a host name`, { cause: err });
    }
  }
  const notes: string[] = [];
  let domain: CompiledDomain;
  let dkimKey: string | undefined;
  if (o.files.length === 0) {
    domain = bareDomain(wanted);
    notes.push(
      'no -f given: no aliases and no DKIM record (pass the MailDomain and its DKIM Secret with -f)',
    );
  } else {
    const compiled = await compileSources(await readSources(o.files), { prune: true });
    const found = compiled.domains.find((d) => d.domain === wanted || d.aliases.includes(wanted));
    if (found === undefined) {
      const known = compiled.domains.map((d) => d.domain).join(', ');
      throw new UsageError(
        `${wanted} is not a domain of ${o.files.join(', ')} (${known === '' ? 'none there' : `there: ${known}`})`,
      );
    }
    domain = found;
    const ref = found.outbound.dkim?.keySecretRef;
    const resource = compiled.resources.find(
      (r) => r.kind === 'MailDomain' && r.key === `domain.${found.domain}`,
    );
    if (found.outbound.dkim === undefined) {
      notes.push(
        `${found.domain} has no outbound.dkim: no DKIM record (the operator generates a key in Kubernetes)`,
      );
    } else if (ref === undefined) {
      notes.push(`${found.domain} names no DKIM key Secret: no DKIM record`);
    } else {
      const pem = compiled.secrets.get(resource?.namespace ?? '')?.get(ref.name)?.[ref.key];
      if (pem === undefined)
        notes.push(
          `DKIM key Secret ${ref.name} (key ${ref.key}) is not in the files: no DKIM record`,
        );
      else {
        try {
          dkimKey = dkimPublicKey(pem);
        } catch (err) {
          throw new UsageError(
            `DKIM key in Secret ${ref.name} key ${ref.key}: ${err instanceof Error ? err.message : String(err)}`,
            {
              cause: err,
            },
          );
        }
      }
    }
  }
  const records = dnsRecordsFor(domain, {
    ...(o.mx !== undefined ? { mxHost: o.mx } : {}),
    ...(dkimKey !== undefined ? { dkimPublicKey: dkimKey } : {}),
  });
  return { domain: domain.domain, records, notes };
}

export async function runDns(o: DnsCommandOptions): Promise<void> {
  const a = await dnsAnswer(o);
  if (o.json) {
    o.out.line(JSON.stringify(a));
    return;
  }
  o.out.line(`; DNS records for ${a.domain} (mailmesh dns)`);
  for (const n of a.notes) o.out.line(`; note: ${n}`);
  o.out.line(zoneFile(a.records));
}
