import { describe, expect, it } from 'vitest';
import { configKeys } from '@mailmesh/proto';
import {
  buildSnapshot,
  ConfigError,
  defaultLimits,
  encodeConfigValue,
  NetworkList,
  type CompiledDomain,
  type PlatformConfig,
} from '../src/index.js';

const ARGON =
  '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$3q2+7wpx8sBqQ2fY0u2o2nq3kF1vC7Y2b8e6k3JgqzM';
const BCRYPT = '$2b$10$abcdefghijklmnopqrstuuJ0l0Qo1oQnJm9c2Ue0k7wzq1Zb7eD9C';

const sh: CompiledDomain = {
  domain: 'sh.company.local',
  aliases: ['shanghai.company.local'],
  mailboxes: [
    {
      localPart: 'zhang.san',
      address: 'zhang.san@sh.company.local',
      displayName: '张三',
      passwordHash: ARGON,
      quotaBytes: 10 * 2 ** 30,
      sendAs: ['sales@sh.company.local'],
      forwardTo: [],
    },
    {
      localPart: 'postmaster',
      address: 'postmaster@sh.company.local',
      passwordHash: BCRYPT,
      quotaBytes: 0,
      sendAs: [],
      forwardTo: [],
    },
  ],
  groups: [
    {
      name: 'sales',
      address: 'sales@sh.company.local',
      members: ['zhang.san@sh.company.local', 'li.si@bj.company.local'],
    },
  ],
  relay: { allowedNetworks: ['192.168.1.0/24', 'fd00:1::/64'] },
  outbound: { smartHost: { host: 'mail.hq.company.local', port: 587, tls: 'required' } },
  inbound: { requireTLS: false },
  policies: ['group-dlp'],
};

const bj: CompiledDomain = {
  domain: 'bj.company.local',
  aliases: [],
  mailboxes: [],
  groups: [],
  relay: { allowedNetworks: [] },
  outbound: {},
  inbound: { requireTLS: true },
  policies: [],
};

const platform: PlatformConfig = {
  hostname: 'mx.company.local',
  listeners: [
    {
      name: 'mx',
      kind: 'mx',
      addresses: ['127.0.0.1:2525'],
      allowNetworks: [],
      proxyProtocolFrom: [],
    },
    {
      name: 'submission',
      kind: 'submission',
      addresses: ['127.0.0.1:2587', '[::1]:2587'],
      allowNetworks: ['10.0.0.0/8'],
      proxyProtocolFrom: [],
    },
  ],
  tls: { certFile: '/etc/mailmesh/tls/tls.crt', keyFile: '/etc/mailmesh/tls/tls.key' },
  limits: defaultLimits,
  acceptanceDeadlineMs: 30_000,
  inlineScan: { enabled: false, timeoutMs: 10_000, onTimeout: 'accept', listenerKinds: [] },
};

function entries(docs: Record<string, unknown>): Map<string, Uint8Array> {
  return new Map(Object.entries(docs).map(([k, v]) => [k, encodeConfigValue(v)]));
}

const good = (): Record<string, unknown> => ({
  [configKeys.platform]: platform,
  [configKeys.domain(sh.domain)]: sh,
  [configKeys.domain(bj.domain)]: bj,
  [configKeys.policy('group-dlp')]: { name: 'group-dlp', direction: 'any', spec: { dlp: [] } },
});

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('buildSnapshot', () => {
  it('round-trips valid documents', () => {
    const s = buildSnapshot(entries(good()));
    expect(s.platform).toEqual(platform);
    expect(s.domains.get('sh.company.local')).toEqual(sh);
    expect(s.policies.get('group-dlp')).toEqual({
      name: 'group-dlp',
      direction: 'any',
      spec: { dlp: [] },
    });
  });

  it('fills omitted limits with defaults and tolerates an absent platform key', () => {
    const { limits: _l, acceptanceDeadlineMs: _a, inlineScan: _i, ...bare } = platform;
    const s = buildSnapshot(entries({ platform: { ...bare, limits: { maxRecipients: 5 } } }));
    expect(s.platform?.limits).toEqual({ ...defaultLimits, maxRecipients: 5 });
    expect(s.platform?.acceptanceDeadlineMs).toBe(30_000);
    expect(s.platform?.inlineScan).toEqual({
      enabled: false,
      timeoutMs: 10_000,
      onTimeout: 'accept',
      listenerKinds: [],
    });
    expect(buildSnapshot(entries({ [configKeys.domain(bj.domain)]: bj })).platform).toBeUndefined();
  });

  it('ignores keys of unknown kinds', () => {
    const s = buildSnapshot(entries({ ...good(), 'future.thing': { x: 1 } }));
    expect(s.domains.size).toBe(2);
  });

  it.each([
    ['not JSON', 'domain.sh.company.local', '{', '', /not valid JSON/],
    [
      'wrong domain',
      'domain.sh.company.local',
      { ...sh, domain: 'bj.company.local' },
      'domain',
      /must equal/,
    ],
    [
      'bad hash',
      'domain.sh.company.local',
      { ...sh, mailboxes: [{ ...sh.mailboxes[0], passwordHash: 'plain' }] },
      'mailboxes[0].passwordHash',
      /argon2id/,
    ],
    [
      'bad sendAs',
      'domain.sh.company.local',
      { ...sh, mailboxes: [{ ...sh.mailboxes[0], sendAs: ['nope'] }] },
      'mailboxes[0].sendAs[0]',
      /local@domain/,
    ],
    [
      'bad cidr',
      'domain.sh.company.local',
      { ...sh, relay: { allowedNetworks: ['192.168.1.0/33'] } },
      'relay.allowedNetworks[0]',
      /prefix length/,
    ],
    [
      'duplicate local part',
      'domain.sh.company.local',
      {
        ...sh,
        groups: [{ name: 'zhang.san', address: 'zhang.san@sh.company.local', members: [] }],
      },
      'groups[0].name',
      /already used/,
    ],
    [
      'catch-all to nowhere',
      'domain.sh.company.local',
      { ...sh, catchAll: 'nobody' },
      'catchAll',
      /must name a mailbox/,
    ],
    ['unknown field', 'domain.sh.company.local', { ...sh, extra: 1 }, 'extra', /unknown field/],
    [
      'uppercase address',
      'domain.sh.company.local',
      { ...sh, mailboxes: [{ ...sh.mailboxes[0], address: 'Zhang.San@sh.company.local' }] },
      'mailboxes[0].address',
      /lowercase/,
    ],
    [
      'bad listener kind',
      'platform',
      { ...platform, listeners: [{ ...platform.listeners[0], kind: 'lmtp' }] },
      'listeners[0].kind',
      /one of mx, submission, smtps/,
    ],
    [
      'bad listen address',
      'platform',
      { ...platform, listeners: [{ ...platform.listeners[0], addresses: ['localhost:25'] }] },
      'listeners[0].addresses[0]',
      /IP:PORT/,
    ],
    [
      'address bound twice',
      'platform',
      {
        ...platform,
        listeners: [
          platform.listeners[0],
          { ...platform.listeners[1], addresses: ['127.0.0.1:2525'] },
        ],
      },
      'listeners[1].addresses[0]',
      /already bound/,
    ],
    [
      'zero limit',
      'platform',
      { ...platform, limits: { ...defaultLimits, maxRecipients: 0 } },
      'limits.maxRecipients',
      /at least 1/,
    ],
    [
      'unknown inline-scan fallback',
      'platform',
      { ...platform, inlineScan: { enabled: true, timeoutMs: 5_000, onTimeout: 'reject' } },
      'inlineScan.onTimeout',
      /one of accept, tempfail/,
    ],
    [
      'unknown inline-scan listener kind',
      'platform',
      { ...platform, inlineScan: { enabled: true, timeoutMs: 5_000, listenerKinds: ['lmtp'] } },
      'inlineScan.listenerKinds[0]',
      /one of mx, submission, smtps/,
    ],
    ['policy name mismatch', 'policy.group-dlp', { name: 'other' }, 'name', /must equal/],
  ])('rejects %s with the key and path', (_what, key, doc, path, problem) => {
    const docs = good();
    const err = configError(() =>
      buildSnapshot(
        typeof doc === 'string'
          ? new Map(
              [...entries(docs)].map(([k, v]) => [
                k,
                k === key ? new TextEncoder().encode(doc) : v,
              ]),
            )
          : entries({ ...docs, [key]: doc }),
      ),
    );
    expect(err.name).toBe('ConfigError');
    expect(err.key).toBe(key);
    expect(err.path).toBe(path);
    expect(err.problem).toMatch(problem);
  });

  it('rejects an alias served by two domains', () => {
    const err = configError(() =>
      buildSnapshot(
        entries({
          ...good(),
          [configKeys.domain(bj.domain)]: { ...bj, aliases: ['shanghai.company.local'] },
        }),
      ),
    );
    expect(err.key).toBe('domain.sh.company.local');
    expect(err.path).toBe('aliases[0]');
    expect(err.problem).toBe('shanghai.company.local is already served by domain.bj.company.local');
  });
});

describe('lookups', () => {
  const s = buildSnapshot(entries(good()));

  it('isLocalDomain knows domains and aliases in any case', () => {
    expect(s.isLocalDomain('sh.company.local')).toBe(true);
    expect(s.isLocalDomain('SHANGHAI.Company.Local')).toBe(true);
    expect(s.isLocalDomain('bj.company.local')).toBe(true);
    expect(s.isLocalDomain('example.com')).toBe(false);
    expect(s.domainOf('shanghai.company.local')?.domain).toBe('sh.company.local');
  });

  it('findRecipient resolves mailboxes, groups, aliases and the catch-all', () => {
    expect(s.findRecipient('Zhang.San@SH.company.local')).toMatchObject({
      kind: 'mailbox',
      address: 'zhang.san@sh.company.local',
    });
    expect(s.findRecipient('zhang.san@shanghai.company.local')).toMatchObject({
      kind: 'mailbox',
      address: 'zhang.san@sh.company.local',
    });
    expect(s.findRecipient('sales@sh.company.local')).toMatchObject({
      kind: 'group',
      group: { name: 'sales' },
    });
    expect(s.findRecipient('nobody@sh.company.local')).toBeUndefined();
    expect(s.findRecipient('someone@example.com')).toBeUndefined();
    expect(s.findRecipient('no-at-sign')).toBeUndefined();

    const withCatchAll = buildSnapshot(
      entries({ ...good(), [configKeys.domain(sh.domain)]: { ...sh, catchAll: 'postmaster' } }),
    );
    expect(withCatchAll.findRecipient('nobody@shanghai.company.local')).toMatchObject({
      kind: 'catchAll',
      address: 'nobody@sh.company.local',
      target: { address: 'postmaster@sh.company.local' },
    });
  });

  it('findLogin accepts the alias domain and only mailboxes', () => {
    expect(s.findLogin('zhang.san@shanghai.company.local')?.mailbox.address).toBe(
      'zhang.san@sh.company.local',
    );
    expect(s.findLogin('ZHANG.SAN@sh.company.local')?.mailbox.passwordHash).toBe(ARGON);
    expect(s.findLogin('sales@sh.company.local')).toBeUndefined();
    expect(s.findLogin('zhang.san')).toBeUndefined();
  });

  it('mayRelay matches IPv4, IPv4-mapped IPv6 and IPv6 networks', () => {
    expect(s.mayRelay('192.168.1.77')).toBe(true);
    expect(s.mayRelay('::ffff:192.168.1.77')).toBe(true);
    expect(s.mayRelay('192.168.2.1')).toBe(false);
    expect(s.mayRelay('fd00:1::5')).toBe(true);
    expect(s.mayRelay('fd00:2::5')).toBe(false);
    expect(s.mayRelay('not-an-ip')).toBe(false);
  });

  it('addressesOf lists own addresses at every domain name plus sendAs', () => {
    expect(s.addressesOf('zhang.san@sh.company.local')).toEqual([
      'zhang.san@sh.company.local',
      'zhang.san@shanghai.company.local',
      'sales@sh.company.local',
    ]);
    expect(s.addressesOf('unknown@sh.company.local')).toEqual([]);
    expect(s.maySendAs('zhang.san@shanghai.company.local', 'Sales@SH.company.local')).toBe(true);
    expect(s.maySendAs('postmaster@sh.company.local', 'sales@sh.company.local')).toBe(false);
  });
});

describe('NetworkList', () => {
  it('matches single addresses and blocks', () => {
    const n = new NetworkList(['127.0.0.1', '10.1.0.0/16']);
    expect(n.has('127.0.0.1')).toBe(true);
    expect(n.has('127.0.0.2')).toBe(false);
    expect(n.has('10.1.200.3')).toBe(true);
    expect(new NetworkList([]).has('127.0.0.1')).toBe(false);
  });
});
