/**
 * Resolvers for mailauth (`(name, rrtype) => records`): the system's, or a fixed
 * table (the JSON file `MAILMESH_DNS_FILE` that `mailmesh dev` writes), so no test
 * or dev run queries the internet.
 */
import { readFile } from 'node:fs/promises';
import { promises as dns } from 'node:dns';
import type { DNSResolver } from 'mailauth';

export type DnsTable = Readonly<Record<string, Readonly<Record<string, readonly string[]>>>>;

function dnsError(code: string, name: string): Error {
  return Object.assign(new Error(`query ${code} ${name}`), { code });
}

/** TXT answers come back as lists of character-strings (string[][]), as node's resolver gives them. */
export function tableResolver(table: DnsTable): DNSResolver {
  const lower = new Map(
    Object.entries(table).map(([k, v]) => [k.toLowerCase().replace(/\.$/, ''), v]),
  );
  return (name, rrtype) =>
    Promise.resolve().then(() => {
      const entry = lower.get(name.toLowerCase().replace(/\.$/, ''));
      if (entry === undefined) throw dnsError('ENOTFOUND', name);
      const records = entry[rrtype];
      if (records === undefined || records.length === 0) throw dnsError('ENODATA', name);
      if (rrtype === 'TXT') return records.map((r) => r.match(/.{1,255}/gs) ?? ['']);
      return [...records];
    });
}

export async function fileResolver(path: string): Promise<DNSResolver> {
  return tableResolver(JSON.parse(await readFile(path, 'utf8')) as DnsTable);
}

export function systemResolver(): DNSResolver {
  return (name, rrtype) => dns.resolve(name, rrtype) as Promise<string[][] | string[]>;
}
