/**
 * Parses one KV document into its compiled type, checking every field. The
 * result is a fresh, frozen-by-convention object holding only known fields.
 */
import { ConfigError } from '../errors.js';
import {
  type CompiledDomain,
  type CompiledGroup,
  type CompiledMailbox,
  type CompiledPolicy,
  defaultAcceptanceDeadlineMs,
  defaultLimits,
  inlineScanFallbacks,
  type Limits,
  type ListenerKind,
  type ListenerConfig,
  listenerKinds,
  type PlatformConfig,
  type PolicyDirection,
  type SecretRef,
  type SmartHostTls,
} from '../compiled.js';
import { address, child, cidr, dnsName, hostPort, localPart, type Reader } from './read.js';

const PASSWORD_HASH =
  /^(?:\$argon2id\$v=\d+\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+|\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53})$/;
const TOKEN = /^[a-z0-9][a-z0-9_-]{0,62}$/;

function secretRef(r: Reader): SecretRef {
  return { name: r.nonEmpty('name'), key: r.nonEmpty('key') };
}

function mailbox(key: string, path: string, value: unknown, domain: string): CompiledMailbox {
  const r = child(key, path, value, [
    'localPart',
    'address',
    'displayName',
    'passwordHash',
    'quotaBytes',
    'sendAs',
    'forwardTo',
  ]);
  const lp = localPart(key, `${path}.localPart`, r.string('localPart'));
  const addr = address(key, `${path}.address`, r.string('address'));
  if (addr !== `${lp}@${domain}`) r.fail('address', `must be ${lp}@${domain}`);
  const hash = r.string('passwordHash');
  if (!PASSWORD_HASH.test(hash))
    r.fail('passwordHash', 'must be an argon2id ($argon2id$...) or bcrypt ($2b$...) hash');
  const displayName = r.optString('displayName');
  return {
    localPart: lp,
    address: addr,
    ...(displayName !== undefined ? { displayName } : {}),
    passwordHash: hash,
    quotaBytes: r.int('quotaBytes', { fallback: 0 }),
    sendAs: r.strings('sendAs', (s, p) => address(key, p, s)),
    forwardTo: r.strings('forwardTo', (s, p) => address(key, p, s)),
  };
}

function group(key: string, path: string, value: unknown, domain: string): CompiledGroup {
  const r = child(key, path, value, ['name', 'address', 'members']);
  const name = localPart(key, `${path}.name`, r.string('name'));
  const addr = address(key, `${path}.address`, r.string('address'));
  if (addr !== `${name}@${domain}`) r.fail('address', `must be ${name}@${domain}`);
  return { name, address: addr, members: r.strings('members', (s, p) => address(key, p, s)) };
}

export function parseDomain(key: string, fqdn: string, value: unknown): CompiledDomain {
  const r = child(key, '', value, [
    'domain',
    'aliases',
    'mailboxes',
    'groups',
    'catchAll',
    'relay',
    'outbound',
    'inbound',
    'policies',
  ]);
  const domain = dnsName(key, 'domain', r.string('domain'));
  if (domain !== fqdn) r.fail('domain', `must equal the key's domain ${fqdn}`);
  const aliases = r.strings('aliases', (s, p) => dnsName(key, p, s));
  const mailboxes = r.array('mailboxes', (v, p) => mailbox(key, p, v, domain));
  const groups = r.array('groups', (v, p) => group(key, p, v, domain));

  const seen = new Map<string, string>();
  const claim = (lp: string, path: string): void => {
    const prior = seen.get(lp);
    if (prior !== undefined)
      throw new ConfigError(key, path, `local part ${lp} is already used at ${prior}`);
    seen.set(lp, path);
  };
  mailboxes.forEach((m, i) => claim(m.localPart, `mailboxes[${i}].localPart`));
  groups.forEach((g, i) => claim(g.name, `groups[${i}].name`));

  const catchAll = r.optString('catchAll');
  if (catchAll !== undefined) {
    localPart(key, 'catchAll', catchAll);
    if (!seen.has(catchAll)) r.fail('catchAll', `must name a mailbox or group of ${domain}`);
  }

  const relay = r.optObject('relay', ['allowedNetworks']);
  const allowedNetworks = relay?.strings('allowedNetworks', (s, p) => (cidr(key, p, s), s)) ?? [];

  const out = r.optObject('outbound', ['smartHost', 'dkim']);
  const sh = out?.optObject('smartHost', ['host', 'port', 'tls', 'authSecretRef']);
  const dk = out?.optObject('dkim', ['selector', 'keySecretRef']);
  const shAuth = sh?.optObject('authSecretRef', ['name', 'key']);
  const dkKey = dk?.optObject('keySecretRef', ['name', 'key']);
  const inbound = r.optObject('inbound', ['requireTLS']);

  return {
    domain,
    aliases,
    mailboxes,
    groups,
    ...(catchAll !== undefined ? { catchAll } : {}),
    relay: { allowedNetworks },
    outbound: {
      ...(sh !== undefined
        ? {
            smartHost: {
              host: dnsName(key, `${sh.path}.host`, sh.string('host')),
              port: sh.int('port', { min: 1, max: 65_535 }),
              tls: sh.oneOf<SmartHostTls>('tls', ['required', 'opportunistic', 'none'], 'required'),
              ...(shAuth !== undefined ? { authSecretRef: secretRef(shAuth) } : {}),
            },
          }
        : {}),
      ...(dk !== undefined
        ? {
            dkim: {
              selector: dnsName(key, `${dk.path}.selector`, dk.string('selector')),
              ...(dkKey !== undefined ? { keySecretRef: secretRef(dkKey) } : {}),
            },
          }
        : {}),
    },
    inbound: { requireTLS: inbound?.boolean('requireTLS', false) ?? false },
    policies: r.strings('policies', (s, p) => {
      if (!TOKEN.test(s)) throw new ConfigError(key, p, 'must be a policy name token');
      return s;
    }),
  };
}

export function parsePolicy(key: string, name: string, value: unknown): CompiledPolicy {
  const r = child(key, '', value, ['name', 'direction', 'spec']);
  const n = r.string('name');
  if (n !== name) r.fail('name', `must equal the key's policy name ${name}`);
  return {
    name: n,
    direction: r.oneOf<PolicyDirection>(
      'direction',
      ['any', 'inbound', 'outbound', 'internal'],
      'any',
    ),
    spec: r.record('spec'),
  };
}

function listenerKind(key: string, path: string, value: unknown): ListenerKind {
  if (typeof value !== 'string' || !(listenerKinds as readonly string[]).includes(value))
    throw new ConfigError(key, path, `must be one of ${listenerKinds.join(', ')}`);
  return value as ListenerKind;
}

function listener(key: string, path: string, value: unknown): ListenerConfig {
  const r = child(key, path, value, [
    'name',
    'kind',
    'addresses',
    'allowNetworks',
    'proxyProtocolFrom',
  ]);
  const name = r.string('name');
  if (!TOKEN.test(name)) r.fail('name', 'must be one lowercase token of [a-z0-9_-]');
  const addresses = r.strings('addresses', (s, p) => hostPort(key, p, s));
  if (addresses.length === 0) r.fail('addresses', 'at least one address is required');
  return {
    name,
    kind: r.oneOf('kind', listenerKinds),
    addresses,
    allowNetworks: r.strings('allowNetworks', (s, p) => (cidr(key, p, s), s)),
    proxyProtocolFrom: r.strings('proxyProtocolFrom', (s, p) => (cidr(key, p, s), s)),
  };
}

function limits(r: Reader | undefined): Limits {
  if (r === undefined) return defaultLimits;
  const d = defaultLimits;
  const pos = (field: keyof Limits): number => r.int(field, { min: 1, fallback: d[field] });
  return {
    maxMessageBytes: pos('maxMessageBytes'),
    maxRecipients: pos('maxRecipients'),
    maxConnections: pos('maxConnections'),
    perIpConnections: pos('perIpConnections'),
    perIpRatePerMinute: pos('perIpRatePerMinute'),
    commandTimeoutMs: pos('commandTimeoutMs'),
    dataTimeoutMs: pos('dataTimeoutMs'),
    authFailuresPerIp: pos('authFailuresPerIp'),
    authFailuresPerAccount: pos('authFailuresPerAccount'),
    authCooldownMs: pos('authCooldownMs'),
  };
}

export function parsePlatform(key: string, value: unknown): PlatformConfig {
  const r = child(key, '', value, [
    'hostname',
    'listeners',
    'tls',
    'limits',
    'acceptanceDeadlineMs',
    'inlineScan',
  ]);
  const hostname = dnsName(key, 'hostname', r.string('hostname'));
  const listeners = r.array('listeners', (v, p) => listener(key, p, v), true);
  const names = new Set<string>();
  const bound = new Map<string, string>();
  listeners.forEach((l, i) => {
    if (names.has(l.name)) r.fail(`listeners[${i}].name`, `duplicate listener name ${l.name}`);
    names.add(l.name);
    l.addresses.forEach((a, j) => {
      const prior = bound.get(a);
      if (prior !== undefined)
        r.fail(`listeners[${i}].addresses[${j}]`, `${a} is already bound by listener ${prior}`);
      bound.set(a, l.name);
    });
  });
  const tls = r.object('tls', ['certFile', 'keyFile']);
  const scan = r.optObject('inlineScan', ['enabled', 'timeoutMs', 'onTimeout', 'listenerKinds']);
  return {
    hostname,
    listeners,
    tls: { certFile: tls.nonEmpty('certFile'), keyFile: tls.nonEmpty('keyFile') },
    limits: limits(r.optObject('limits', Object.keys(defaultLimits))),
    acceptanceDeadlineMs: r.int('acceptanceDeadlineMs', {
      min: 1,
      fallback: defaultAcceptanceDeadlineMs,
    }),
    inlineScan: {
      enabled: scan?.boolean('enabled', false) ?? false,
      timeoutMs: scan?.int('timeoutMs', { min: 1, fallback: 10_000 }) ?? 10_000,
      onTimeout: scan?.oneOf('onTimeout', inlineScanFallbacks, 'accept') ?? 'accept',
      listenerKinds: scan?.array('listenerKinds', (v, p) => listenerKind(key, p, v)) ?? [],
    },
  };
}
