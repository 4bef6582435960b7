/**
 * The DNS answers services get in dev mode (MAILMESH_DNS_FILE), so no query leaves the
 * machine: for each dev domain (and alias) the MX and DMARC records `mailmesh dns`
 * prints, every MX host at 127.0.0.1, and an SPF record that authorizes loopback.
 *
 * The file format is the one services share: `{ name: { TYPE: [answer, ...] } }` with
 * MX answers as `"<priority> <host>"` text. SPF names loopback addresses instead of
 * `mx`, so checking it needs no MX lookup (whose answer shape differs between
 * resolvers); names not in the table do not exist.
 */
import type { CompiledDomain } from '@mailmesh/config';
import { dnsRecordsFor } from '@mailmesh/config/crd';

export type DnsTable = Record<string, Record<string, string[]>>;

const bare = (name: string): string => name.replace(/\.$/, '');

/** RFC 7208 record of a dev domain: mail from this machine passes, anything else fails. */
export const DEV_SPF = 'v=spf1 ip4:127.0.0.0/8 ip6:::1 -all';

export function devDnsTable(domains: readonly CompiledDomain[]): DnsTable {
  const table: DnsTable = {};
  const add = (name: string, type: string, answer: string): void => {
    const entry = (table[bare(name)] ??= {});
    const list = (entry[type] ??= []);
    if (!list.includes(answer)) list.push(answer);
  };
  for (const d of domains) {
    for (const r of dnsRecordsFor(d)) {
      if (r.type === 'MX') {
        const [priority = '10', exchange = ''] = r.value.split(/\s+/);
        add(r.name, 'MX', `${priority} ${bare(exchange)}`);
        add(exchange, 'A', '127.0.0.1');
      } else if (r.type === 'TXT' && r.value.startsWith('v=spf1')) {
        add(r.name, 'TXT', DEV_SPF);
      } else {
        add(r.name, r.type, r.value);
      }
    }
  }
  return table;
}
