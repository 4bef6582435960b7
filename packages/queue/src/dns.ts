/**
 * The DNS questions mail routing asks (RFC 5321 §5.1): the MX records of a domain
 * and the addresses of a host. Injectable: tests and `mailmesh dev` answer from a
 * table, production from the system resolver. Answers are classified, never thrown
 * past the caller: a routing decision needs "no such domain" vs "try again later".
 */
import { promises as dns } from 'node:dns';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';

export interface MxRecord {
  readonly exchange: string;
  readonly priority: number;
}

export interface MailResolver {
  /** MX records; rejects with a Node DNS error (`code` ENOTFOUND, ENODATA, ETIMEOUT, ...). */
  resolveMx(domain: string): Promise<readonly MxRecord[]>;
  /** IPv4/IPv6 addresses of a host; rejects like `resolveMx`. */
  resolveHost(host: string): Promise<readonly string[]>;
}

/** What DNS says about where mail for a domain goes. */
export type MxAnswer =
  /** Hosts to try, best first (RFC 5321 §5.1: lowest preference first; implicit MX = the domain itself). */
  | { readonly kind: 'hosts'; readonly hosts: readonly string[]; readonly implicit: boolean }
  /** The domain does not exist: a permanent failure. */
  | { readonly kind: 'nxdomain'; readonly detail: string }
  /** RFC 7505 null MX: the domain accepts no mail. */
  | { readonly kind: 'null-mx' }
  /** DNS could not answer now (timeout, SERVFAIL, refused): try again later. */
  | { readonly kind: 'temp'; readonly detail: string };

function codeOf(err: unknown): string {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : '';
}

const NOT_FOUND = new Set(['ENOTFOUND', 'NXDOMAIN']);
const NO_DATA = new Set(['ENODATA']);

function describe(err: unknown): string {
  const code = codeOf(err);
  const msg = err instanceof Error ? err.message : String(err);
  return code && !msg.includes(code) ? `${code}: ${msg}` : msg;
}

/** Resolves where mail for `domain` goes; never throws. */
export async function resolveMailHosts(resolver: MailResolver, domain: string): Promise<MxAnswer> {
  let records: readonly MxRecord[];
  try {
    records = await resolver.resolveMx(domain);
  } catch (err) {
    const code = codeOf(err);
    if (NOT_FOUND.has(code))
      return { kind: 'nxdomain', detail: `${domain}: no such domain (${code})` };
    if (!NO_DATA.has(code))
      return { kind: 'temp', detail: `MX lookup for ${domain} failed: ${describe(err)}` };
    records = [];
  }
  if (records.length === 1 && records[0]?.exchange.replace(/\.$/, '') === '')
    return { kind: 'null-mx' };
  if (records.length > 0) {
    const hosts = [...records]
      .filter((r) => r.exchange.replace(/\.$/, '') !== '')
      .sort((a, b) => a.priority - b.priority)
      .map((r) => r.exchange.replace(/\.$/, '').toLowerCase());
    return { kind: 'hosts', hosts: [...new Set(hosts)], implicit: false };
  }
  // RFC 5321 §5.1: no MX records -> the domain itself is the host (implicit MX).
  try {
    const addrs = await resolver.resolveHost(domain);
    if (addrs.length === 0)
      return { kind: 'nxdomain', detail: `${domain}: no MX and no address records` };
    return { kind: 'hosts', hosts: [domain], implicit: true };
  } catch (err) {
    const code = codeOf(err);
    if (NOT_FOUND.has(code) || NO_DATA.has(code)) {
      return { kind: 'nxdomain', detail: `${domain}: no MX and no address records (${code})` };
    }
    return { kind: 'temp', detail: `address lookup for ${domain} failed: ${describe(err)}` };
  }
}

/** The system resolver: MX from DNS, host addresses via getaddrinfo (so /etc/hosts works). */
export function systemResolver(): MailResolver {
  return {
    resolveMx: (domain) => dns.resolveMx(domain),
    resolveHost: async (host) => {
      if (isIP(host) !== 0) return [host];
      const all = await dns.lookup(host, { all: true });
      return all.map((a) => a.address);
    },
  };
}

function dnsError(code: string, name: string): Error {
  return Object.assign(new Error(`query ${code} ${name}`), { code });
}

/**
 * A resolver answering from a table, the format `MAILMESH_DNS_FILE` uses:
 * `{ "example.com": { "MX": ["10 mx.example.com"] }, "mx.example.com": { "A": ["127.0.0.1"] } }`.
 * Names absent from the table do not exist (ENOTFOUND); a name without the type asked is ENODATA.
 */
export function staticMailResolver(
  table: Readonly<Record<string, Readonly<Record<string, readonly string[]>>>>,
): MailResolver {
  const lower = new Map(
    Object.entries(table).map(([k, v]) => [k.toLowerCase().replace(/\.$/, ''), v]),
  );
  const lookup = (name: string, type: string): readonly string[] => {
    const entry = lower.get(name.toLowerCase().replace(/\.$/, ''));
    if (entry === undefined) throw dnsError('ENOTFOUND', name);
    const records = entry[type];
    if (records === undefined || records.length === 0) throw dnsError('ENODATA', name);
    return records;
  };
  return {
    resolveMx: (domain) =>
      Promise.resolve().then(() =>
        lookup(domain, 'MX').map((r) => {
          const [pref = '0', exchange = ''] = r.trim().split(/\s+/);
          return { priority: Number(pref), exchange };
        }),
      ),
    resolveHost: (host) =>
      Promise.resolve().then(() => {
        if (isIP(host) !== 0) return [host];
        const out: string[] = [];
        for (const t of ['A', 'AAAA']) {
          try {
            out.push(...lookup(host, t));
          } catch (err) {
            if (codeOf(err) === 'ENOTFOUND') throw err;
          }
        }
        if (out.length === 0) throw dnsError('ENODATA', host);
        return out;
      }),
  };
}

/** Loads `staticMailResolver` from a JSON file. */
export async function fileMailResolver(path: string): Promise<MailResolver> {
  return staticMailResolver(
    JSON.parse(await readFile(path, 'utf8')) as Record<string, Record<string, string[]>>,
  );
}
