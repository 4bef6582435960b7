import { BlockList, isIP } from 'node:net';
import { configKeys } from '@mailmesh/proto';
import type {
  CompiledDomain,
  CompiledGroup,
  CompiledMailbox,
  CompiledPolicy,
  PlatformConfig,
} from './compiled.js';
import { ConfigError } from './errors.js';
import { parseDomain, parsePlatform, parsePolicy } from './internal/parse.js';
import { cidr } from './internal/read.js';

/** What an envelope recipient address resolves to. `address` is canonical: `local@primary-domain`. */
export type RecipientMatch =
  | {
      readonly kind: 'mailbox';
      readonly address: string;
      readonly domain: CompiledDomain;
      readonly mailbox: CompiledMailbox;
    }
  | {
      readonly kind: 'group';
      readonly address: string;
      readonly domain: CompiledDomain;
      readonly group: CompiledGroup;
    }
  | {
      readonly kind: 'catchAll';
      readonly address: string;
      readonly domain: CompiledDomain;
      /** The catch-all target of the domain. */
      readonly target: CompiledMailbox | CompiledGroup;
    };

/** The mailbox a login name (a full address, possibly at a domain alias) belongs to. */
export interface LoginMatch {
  readonly domain: CompiledDomain;
  readonly mailbox: CompiledMailbox;
}

interface DomainIndex {
  readonly domain: CompiledDomain;
  readonly mailboxes: ReadonlyMap<string, CompiledMailbox>;
  readonly groups: ReadonlyMap<string, CompiledGroup>;
}

/** Splits `local@domain` at the last `@` and lowercases both; undefined if not that shape. */
export function splitAddress(address: string): { local: string; domain: string } | undefined {
  const at = address.lastIndexOf('@');
  if (at <= 0 || at === address.length - 1) return undefined;
  return { local: address.slice(0, at).toLowerCase(), domain: address.slice(at + 1).toLowerCase() };
}

/** IPv4-mapped IPv6 (`::ffff:10.0.0.1`) is the IPv4 address for every check here. */
function normalizeIp(ip: string): { ip: string; family: 'ipv4' | 'ipv6' } | undefined {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  const plain = mapped?.[1] ?? ip;
  const f = isIP(plain);
  if (f === 0) return undefined;
  return { ip: plain, family: f === 4 ? 'ipv4' : 'ipv6' };
}

/** A matcher for a list of CIDR blocks (already validated). */
export class NetworkList {
  private readonly list = new BlockList();
  readonly size: number;

  constructor(blocks: readonly string[], key = 'networks') {
    for (const b of blocks) {
      const c = cidr(key, '', b);
      this.list.addSubnet(c.network, c.prefix, c.family);
    }
    this.size = blocks.length;
  }

  has(ip: string): boolean {
    const n = normalizeIp(ip);
    return n !== undefined && this.list.check(n.ip, n.family);
  }
}

/**
 * One immutable, validated view of the `mailmesh-config` bucket with indexes for
 * the questions services ask per command. Build it with `buildSnapshot`; swap the
 * whole object when a new revision arrives (DESIGN rule 3).
 */
export class ConfigSnapshot {
  /** Domain name (primary or alias) -> index. */
  private readonly byName = new Map<string, DomainIndex>();
  private readonly relayNetworks: NetworkList;

  constructor(
    /** Undefined when the bucket has no `platform` key yet. */
    readonly platform: PlatformConfig | undefined,
    /** Primary domain name -> compiled domain. */
    readonly domains: ReadonlyMap<string, CompiledDomain>,
    readonly policies: ReadonlyMap<string, CompiledPolicy>,
  ) {
    const relay: string[] = [];
    for (const d of domains.values()) {
      const key = configKeys.domain(d.domain);
      const index: DomainIndex = {
        domain: d,
        mailboxes: new Map(d.mailboxes.map((m) => [m.localPart, m])),
        groups: new Map(d.groups.map((g) => [g.name, g])),
      };
      for (const [i, name] of [d.domain, ...d.aliases].entries()) {
        const prior = this.byName.get(name);
        if (prior !== undefined) {
          throw new ConfigError(
            key,
            i === 0 ? 'domain' : `aliases[${i - 1}]`,
            `${name} is already served by ${configKeys.domain(prior.domain.domain)}`,
          );
        }
        this.byName.set(name, index);
      }
      relay.push(...d.relay.allowedNetworks);
    }
    this.relayNetworks = new NetworkList(relay);
  }

  /** The compiled domain served under `name` (its primary name or an alias), any case. */
  domainOf(name: string): CompiledDomain | undefined {
    return this.byName.get(name.toLowerCase())?.domain;
  }

  /** True when `name` is one of our domains or domain aliases (case-insensitive). */
  isLocalDomain(name: string): boolean {
    return this.byName.has(name.toLowerCase());
  }

  /**
   * Resolves a recipient: a mailbox or group of a local domain (aliases map to the
   * primary domain), else the domain's catch-all, else undefined (unknown local
   * recipient, or not a local domain at all: ask `isLocalDomain`).
   */
  findRecipient(address: string): RecipientMatch | undefined {
    const parts = splitAddress(address);
    if (!parts) return undefined;
    const index = this.byName.get(parts.domain);
    if (!index) return undefined;
    const { domain } = index;
    const canonical = `${parts.local}@${domain.domain}`;
    const mailbox = index.mailboxes.get(parts.local);
    if (mailbox) return { kind: 'mailbox', address: canonical, domain, mailbox };
    const group = index.groups.get(parts.local);
    if (group) return { kind: 'group', address: canonical, domain, group };
    if (domain.catchAll !== undefined) {
      const target = index.mailboxes.get(domain.catchAll) ?? index.groups.get(domain.catchAll);
      if (target) return { kind: 'catchAll', address: canonical, domain, target };
    }
    return undefined;
  }

  /** The mailbox a login name belongs to; `user@alias-domain` logs in to `user@domain`. */
  findLogin(login: string): LoginMatch | undefined {
    const parts = splitAddress(login);
    if (!parts) return undefined;
    const index = this.byName.get(parts.domain);
    const mailbox = index?.mailboxes.get(parts.local);
    return index && mailbox ? { domain: index.domain, mailbox } : undefined;
  }

  /** True when `ip` is in some domain's `relay.allowedNetworks`. */
  mayRelay(ip: string): boolean {
    return this.relayNetworks.has(ip);
  }

  /**
   * The sender addresses a login may use, lowercase: its own address at the
   * primary domain and at every alias, plus `sendAs`. Empty for an unknown login.
   */
  addressesOf(login: string): readonly string[] {
    const match = this.findLogin(login);
    if (!match) return [];
    const { domain, mailbox } = match;
    const own = [domain.domain, ...domain.aliases].map((d) => `${mailbox.localPart}@${d}`);
    return [...new Set([...own, ...mailbox.sendAs])];
  }

  /** True when `login` may send as `address` (MAIL FROM or From:), case-insensitive. */
  maySendAs(login: string, address: string): boolean {
    return this.addressesOf(login).includes(address.toLowerCase());
  }
}

const decoder = new TextDecoder('utf-8', { fatal: true });

function parseJson(key: string, bytes: Uint8Array): unknown {
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch (err) {
    throw new ConfigError(key, '', 'is not valid UTF-8', { cause: err });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new ConfigError(key, '', `is not valid JSON: ${why}`, { cause: err });
  }
}

/**
 * Builds a snapshot from the bucket's entries (key -> JSON bytes). Throws
 * `ConfigError` naming the key and path of the first invalid document; keys this
 * version does not know are ignored, so a newer operator can add kinds.
 */
export function buildSnapshot(entries: ReadonlyMap<string, Uint8Array>): ConfigSnapshot {
  let platform: PlatformConfig | undefined;
  const domains = new Map<string, CompiledDomain>();
  const policies = new Map<string, CompiledPolicy>();
  for (const [key, bytes] of [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (key === configKeys.platform) {
      platform = parsePlatform(key, parseJson(key, bytes));
    } else if (key.startsWith(configKeys.domainPrefix)) {
      const fqdn = key.slice(configKeys.domainPrefix.length);
      domains.set(fqdn, parseDomain(key, fqdn, parseJson(key, bytes)));
    } else if (key.startsWith(configKeys.policyPrefix)) {
      const name = key.slice(configKeys.policyPrefix.length);
      policies.set(name, parsePolicy(key, name, parseJson(key, bytes)));
    }
  }
  return new ConfigSnapshot(platform, domains, policies);
}

/** Encodes a document the way the bucket stores it (UTF-8 JSON); for writers and tests. */
export function encodeConfigValue(doc: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(doc));
}
