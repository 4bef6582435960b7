import { encodeConfigValue } from '@mailmesh/config';
import { configKeys } from '@mailmesh/proto';

/** A bcrypt-shaped hash: the config parser checks the shape only. */
export const HASH = `$2b$10$${'a'.repeat(53)}`;

export interface DomainDoc {
  domain: string;
  aliases?: string[];
  mailboxes?: { localPart: string; quotaBytes?: number; forwardTo?: string[] }[];
  groups?: { name: string; members: string[] }[];
  catchAll?: string;
  smartHost?: {
    host: string;
    port: number;
    tls: 'required' | 'opportunistic' | 'none';
    authSecretRef?: { name: string; key: string };
  };
  dkim?: { selector: string; keySecretRef?: { name: string; key: string } };
  policies?: string[];
}

export function domainDoc(d: DomainDoc): unknown {
  return {
    domain: d.domain,
    aliases: d.aliases ?? [],
    mailboxes: (d.mailboxes ?? []).map((m) => ({
      localPart: m.localPart,
      address: `${m.localPart}@${d.domain}`,
      passwordHash: HASH,
      quotaBytes: m.quotaBytes ?? 0,
      sendAs: [],
      forwardTo: m.forwardTo ?? [],
    })),
    groups: (d.groups ?? []).map((g) => ({
      name: g.name,
      address: `${g.name}@${d.domain}`,
      members: g.members,
    })),
    ...(d.catchAll ? { catchAll: d.catchAll } : {}),
    relay: { allowedNetworks: [] },
    outbound: {
      ...(d.smartHost ? { smartHost: d.smartHost } : {}),
      ...(d.dkim ? { dkim: d.dkim } : {}),
    },
    inbound: { requireTLS: false },
    policies: d.policies ?? [],
  };
}

export function policyDoc(name: string, allowDomains: string[], direction = 'any'): unknown {
  return { name, direction, spec: { recipients: { allowDomains } } };
}

/** KV entries of a configuration: domains and policies. */
export function entries(
  domains: DomainDoc[],
  policies: { name: string; allow: string[]; direction?: string }[] = [],
): Map<string, Uint8Array> {
  const m = new Map<string, Uint8Array>();
  for (const d of domains) m.set(configKeys.domain(d.domain), encodeConfigValue(domainDoc(d)));
  for (const p of policies)
    m.set(configKeys.policy(p.name), encodeConfigValue(policyDoc(p.name, p.allow, p.direction)));
  return m;
}

/** The branch platform of the seed: sh and bj on one platform, sh relays through HQ. */
export const branch: DomainDoc[] = [
  {
    domain: 'sh.company.local',
    aliases: ['shanghai.company.local'],
    mailboxes: [
      { localPart: 'zhang.san' },
      { localPart: 'wang.wu', forwardTo: ['wang.wu@partner.example'] },
      { localPart: 'postmaster' },
    ],
    groups: [
      {
        name: 'sales',
        members: ['zhang.san@sh.company.local', 'li.si@bj.company.local', 'all@sh.company.local'],
      },
      { name: 'all', members: ['sales@sh.company.local', 'zhang.san@sh.company.local'] },
    ],
    smartHost: {
      host: 'mail.hq.company.local',
      port: 587,
      tls: 'required',
      authSecretRef: { name: 'hq-relay', key: 'credentials' },
    },
    policies: ['internal-only'],
  },
  {
    domain: 'bj.company.local',
    mailboxes: [{ localPart: 'li.si' }, { localPart: 'admin' }],
    catchAll: 'admin',
  },
];
export const internalOnly = { name: 'internal-only', allow: ['*.company.local', 'sgcc.com.cn'] };
