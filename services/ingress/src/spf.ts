/**
 * SPF (RFC 7208) of the MAIL FROM identity on the MX listener, via mailauth. The
 * DNS resolver is a parameter: production uses node's, tests and air-gapped dev
 * setups pass a static one. Never throws for a verdict (STYLE: result words).
 */
import { createRequire } from 'node:module';
import { promises as dnsPromises } from 'node:dns';
import { readFile } from 'node:fs/promises';
import { create } from '@bufbuild/protobuf';
import { type SpfResult, SpfResultCode, SpfResultSchema } from '@mailmesh/proto';

/** mailauth's resolver contract: `dns.promises.resolve` semantics (TXT -> string[][]). */
export type DnsResolver = (name: string, rrtype: string) => Promise<unknown[]>;

export type SpfWord = 'pass' | 'fail' | 'softfail' | 'neutral' | 'none' | 'temperror' | 'permerror';

interface MailauthSpf {
  spf: (opts: {
    sender: string;
    ip: string;
    helo: string;
    mta: string;
    resolver: DnsResolver;
  }) => Promise<{ domain?: string; status: { result: string; comment?: string | false } }>;
}

const require = createRequire(import.meta.url);

const CODES: Record<SpfWord, SpfResultCode> = {
  pass: SpfResultCode.PASS,
  fail: SpfResultCode.FAIL,
  softfail: SpfResultCode.SOFTFAIL,
  neutral: SpfResultCode.NEUTRAL,
  none: SpfResultCode.NONE,
  temperror: SpfResultCode.TEMPERROR,
  permerror: SpfResultCode.PERMERROR,
};

export type SpfChecker = (facts: {
  sender: string;
  ip: string;
  helo: string;
}) => Promise<SpfResult>;

export interface SpfCacheOptions {
  /**
   * How long a verdict for one (client IP, sender, HELO) is reused; default 30 s, 0
   * turns the cache off. An MX takes most of its mail from a few relays and sender
   * domains, and an SPF evaluation costs more CPU than the rest of the SMTP session;
   * 30 s is far below the TTL of SPF records, so a changed record is seen as soon as
   * a resolver would. Temporary errors are never reused.
   */
  readonly ttlMs?: number;
  /** Most verdicts kept (oldest dropped first); default 10,000. */
  readonly maxEntries?: number;
  readonly now?: () => number;
}

export function spfChecker(
  resolver: DnsResolver,
  mta: string,
  cache: SpfCacheOptions = {},
): SpfChecker {
  const { spf } = require('mailauth/lib/spf') as MailauthSpf;
  const ttlMs = cache.ttlMs ?? 30_000;
  const maxEntries = cache.maxEntries ?? 10_000;
  const now = cache.now ?? Date.now;
  const verdicts = new Map<string, { at: number; result: SpfResult }>();
  return async ({ sender, ip, helo }) => {
    const key = `${ip}|${sender.toLowerCase()}|${helo.toLowerCase()}`;
    const hit = ttlMs > 0 ? verdicts.get(key) : undefined;
    if (hit && now() - hit.at < ttlMs) return hit.result;
    try {
      const r = await spf({ sender, ip, helo, mta, resolver });
      const word = (r.status.result in CODES ? r.status.result : 'temperror') as SpfWord;
      const result = create(SpfResultSchema, {
        result: CODES[word],
        domain: r.domain ?? '',
        explanation: r.status.comment || '',
      });
      if (ttlMs > 0 && word !== 'temperror') {
        verdicts.delete(key);
        verdicts.set(key, { at: now(), result });
        if (verdicts.size > maxEntries) verdicts.delete(verdicts.keys().next().value!);
      }
      return result;
    } catch (err) {
      return create(SpfResultSchema, {
        result: SpfResultCode.TEMPERROR,
        domain: sender.slice(sender.lastIndexOf('@') + 1),
        explanation: err instanceof Error ? err.message : String(err),
      });
    }
  };
}

export const systemResolver: DnsResolver = (name, rrtype) =>
  dnsPromises.resolve(name, rrtype) as Promise<unknown[]>;

function notFound(name: string, rrtype: string): Error {
  return Object.assign(new Error(`queryNotFound ${rrtype} ${name}`), {
    code: 'ENOTFOUND',
    hostname: name,
  });
}

/**
 * A resolver answering from a fixed table `{ "example.com": { "TXT": ["v=spf1 -all"] } }`;
 * names absent from it do not exist (ENOTFOUND). TXT strings are returned as
 * one-chunk records the way `dns.resolveTxt` does.
 */
export function staticResolver(
  table: Readonly<Record<string, Readonly<Record<string, readonly string[]>>>>,
): DnsResolver {
  const lower = new Map(
    Object.entries(table).map(([k, v]) => [k.toLowerCase().replace(/\.$/, ''), v]),
  );
  return (name, rrtype) => {
    const records = lower.get(name.toLowerCase().replace(/\.$/, ''))?.[rrtype.toUpperCase()];
    if (records === undefined) return Promise.reject(notFound(name, rrtype));
    return Promise.resolve(rrtype.toUpperCase() === 'TXT' ? records.map((r) => [r]) : [...records]);
  };
}

/** Loads a static resolver table from a JSON file (MAILMESH_DNS_FILE). */
export async function fileResolver(path: string): Promise<DnsResolver> {
  const table = JSON.parse(await readFile(path, 'utf8')) as Record<
    string,
    Record<string, string[]>
  >;
  return staticResolver(table);
}
