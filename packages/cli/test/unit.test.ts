/** The pure parts: port plan, change planning, dev DNS table, issue formatting. */
import { describe, expect, it } from 'vitest';
import type { CompiledDomain } from '@mailmesh/config';

import { DEV_SPF, devDnsTable } from '../src/dev/dns-table.js';
import { allPorts } from '../src/dev/ports.js';
import {
  canonicalJson,
  devPorts,
  formatIssue,
  planChanges,
  summarize,
  UsageError,
} from '../src/index.js';

const enc = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));

describe('devPorts', () => {
  it('defaults to the contract ports', () => {
    expect(devPorts().public).toEqual({
      smtp: 2525,
      submission: 2587,
      smtps: 2465,
      imap: 2143,
      imaps: 2993,
      pop3: 2110,
      api: 8025,
    });
  });

  it('with a base N: N+25, N+587, N+465, N+143, N+993, N+110, N+80, and every port distinct within N..N+999', () => {
    const p = devPorts(30000);
    expect(p.public).toEqual({
      smtp: 30025,
      submission: 30587,
      smtps: 30465,
      imap: 30143,
      imaps: 30993,
      pop3: 30110,
      api: 30080,
    });
    const all = allPorts(p, 10).map((x) => x.port);
    expect(new Set(all).size).toBe(all.length);
    for (const port of all) expect(port >= 30000 && port <= 30999).toBe(true);
  });

  it('refuses a base whose range does not fit', () => {
    expect(() => devPorts(65000)).toThrow(UsageError);
    expect(() => devPorts(0)).toThrow(UsageError);
  });
});

describe('planChanges', () => {
  const live = new Map([
    [
      'policy.a',
      { value: new TextEncoder().encode('{"name":"a","spec":{},"direction":"any"}'), revision: 3 },
    ],
    ['domain.x.local', { value: enc({ domain: 'x.local' }), revision: 4 }],
    ['domain.gone.local', { value: enc({ domain: 'gone.local' }), revision: 5 }],
    ['platform', { value: enc({ hostname: 'h' }), revision: 6 }],
  ]);
  const desired = new Map<string, unknown>([
    // Same value, other key order: unchanged.
    ['policy.a', { direction: 'any', name: 'a', spec: {} }],
    ['domain.x.local', { domain: 'x.local', aliases: ['y.local'] }],
    ['domain.new.local', { domain: 'new.local' }],
  ]);

  it('compares JSON values, keeps unmanaged keys, and orders policies before domains', () => {
    const plan = planChanges(desired, live, { prune: false });
    expect(plan.map((c) => [c.key, c.action, c.revision])).toEqual([
      ['policy.a', 'unchanged', 3],
      ['domain.new.local', 'created', undefined],
      ['domain.x.local', 'updated', 4],
      ['domain.gone.local', 'kept', 5],
    ]);
    expect(summarize(plan)).toBe('1 created, 1 updated, 1 unchanged, 1 kept');
  });

  it('with prune, deletes managed keys not desired (never `platform` unless managed)', () => {
    const plan = planChanges(desired, live, { prune: true });
    expect(plan.filter((c) => c.action === 'deleted').map((c) => c.key)).toEqual([
      'domain.gone.local',
    ]);
  });

  it('canonicalJson sorts keys at every depth', () => {
    expect(canonicalJson({ b: 1, a: { d: [{ z: 1, y: 2 }], c: 0 } })).toBe(
      '{"a":{"c":0,"d":[{"y":2,"z":1}]},"b":1}',
    );
  });
});

describe('devDnsTable', () => {
  const domain: CompiledDomain = {
    domain: 'sh.company.local',
    aliases: ['shanghai.company.local'],
    mailboxes: [],
    groups: [],
    relay: { allowedNetworks: [] },
    outbound: {},
    inbound: { requireTLS: false },
    policies: [],
  };

  it('answers MX as "<priority> <host>", puts MX hosts on loopback, and authorizes loopback in SPF', () => {
    const t = devDnsTable([domain]);
    expect(t['sh.company.local']?.['MX']).toEqual(['10 mx.sh.company.local']);
    expect(t['shanghai.company.local']?.['MX']).toEqual(['10 mx.sh.company.local']);
    expect(t['mx.sh.company.local']?.['A']).toEqual(['127.0.0.1']);
    expect(t['sh.company.local']?.['TXT']).toEqual([DEV_SPF]);
    expect(t['_dmarc.sh.company.local']?.['TXT']?.[0]).toMatch(/^v=DMARC1; p=quarantine/);
  });
});

describe('formatIssue', () => {
  it('reads file:line:col: resource path: message', () => {
    expect(
      formatIssue({
        file: 'domains.yaml',
        line: 14,
        col: 9,
        resource: 'MailDomain mail/sh',
        path: 'spec.mailboxes[1].name',
        message: 'Duplicate value "zhang.san"',
      }),
    ).toBe(
      'domains.yaml:14:9: MailDomain mail/sh spec.mailboxes[1].name: Duplicate value "zhang.san"',
    );
    expect(formatIssue({ path: '', message: 'bad' })).toBe('bad');
  });
});
