import { create } from '@bufbuild/protobuf';
import { timestampNow } from '@bufbuild/protobuf/wkt';
import {
  AuthSchema,
  ClientSchema,
  EnvelopeSchema,
  Listener,
  Origin,
  type Envelope,
} from '@mailmesh/proto';
import { describe, expect, it } from 'vitest';

import { PolicyError } from '../src/errors.js';
import {
  mailDirections,
  parseByteQuantity,
  parseScanPolicy,
  selectPolicies,
  type PolicyView,
  type ScanPolicy,
} from '../src/policy.js';
import { groupPolicy } from './group-policy.js';

function envelope(from: string, to: string[], extra: Partial<Envelope> = {}): Envelope {
  const e = create(EnvelopeSchema, {
    mailId: '01JDQ7Z8X9ABCDEFGHJKMNPQRS',
    receivedAt: timestampNow(),
    origin: Origin.SMTP,
    listener: Listener.MX,
    client: create(ClientSchema, { ip: '203.0.113.9', port: 40000, helo: 'mx.partner.example' }),
    mailFrom: from,
    recipients: to.map((address) => ({ address })),
    size: 10n,
    sha256: '0'.repeat(64),
    spool: { bucket: 'spool', key: 'k' },
  });
  return Object.assign(e, extra);
}

const domains: Record<string, string[]> = {
  'sh.company.local': ['group-dlp', 'inbound-only', 'outbound-only'],
  'bj.company.local': ['group-dlp', 'internal-only'],
};
const view: PolicyView = {
  policiesOfDomain: (d) => domains[d],
  isTrustedClient: (ip) => ip.startsWith('192.168.1.'),
};

function named(name: string, direction: ScanPolicy['direction']): ScanPolicy {
  return parseScanPolicy({ name, direction, spec: {} });
}
const policies = new Map<string, ScanPolicy>(
  [
    named('group-dlp', 'any'),
    named('inbound-only', 'inbound'),
    named('outbound-only', 'outbound'),
    named('internal-only', 'internal'),
  ].map((p) => [p.name, p]),
);

describe('parseScanPolicy', () => {
  it('compiles the INTERFACES.md example with defaults filled in', () => {
    const p = parseScanPolicy({
      name: 'group-dlp',
      direction: 'any',
      spec: {
        direction: 'any',
        dlp: [
          {
            name: 'contract-terms',
            keywords: ['机密合同', '技术专利'],
            patterns: ['合同金额[:：]\\s*[¥￥]?\\d[\\d,]*'],
            detectors: ['cn-id-card', 'bank-card', 'cn-mobile'],
            minMatches: 1,
            scope: ['subject', 'body', 'attachments'],
            action: 'quarantine',
          },
        ],
        attachments: {
          blockExtensions: ['exe', '.BAT'],
          inspectArchives: true,
          blockExecutableContent: true,
          maxSize: '25Mi',
          action: 'reject',
        },
        recipients: { allowDomains: ['*.company.local'] },
        antivirus: { action: 'reject', onError: 'tempfail' },
        spam: { tagScore: 5, junkScore: 8, quarantineScore: 12, rejectScore: 20 },
        authentication: { spf: 'report', dkim: 'report', dmarc: 'enforce' },
        anomaly: { enabled: true, action: 'hold', sensitivity: 3.0 },
        watermark: { enabled: true, text: false },
        notify: [],
      },
    });
    expect(p.dlp[0]?.patterns).toEqual(['合同金额[:：]\\s*[¥￥]?\\d[\\d,]*']);
    expect(p.attachments).toEqual({
      blockExtensions: ['exe', 'bat'],
      inspectArchives: true,
      blockExecutableContent: true,
      maxSizeBytes: 25 * 1024 * 1024,
      action: 'reject',
      encryptedArchives: 'block',
      maxArchiveDepth: 3,
      maxExpansionRatio: 200,
      maxExpandedBytes: 256 * 1024 * 1024,
    });
    expect(p.antivirus).toEqual({ action: 'reject', onError: 'tempfail' });
    expect(p.spam).toEqual({
      tagScore: 5,
      junkScore: 8,
      quarantineScore: 12,
      rejectScore: 20,
      onError: 'accept',
    });
    expect(p.authentication).toEqual({ spf: 'report', dkim: 'report', dmarc: 'enforce' });
  });

  it.each([
    [{ dlp: [{ name: 'x', patterns: ['('] }] }, 'dlp[0].patterns[0]'],
    [{ dlp: [{ name: 'x', detectors: ['ssn'] }] }, 'dlp[0].detectors[0]'],
    [{ dlp: [{ name: 'x' }] }, 'dlp[0]'],
    [
      {
        dlp: [
          { name: 'x', keywords: ['a'] },
          { name: 'x', keywords: ['b'] },
        ],
      },
      'dlp[1].name',
    ],
    [{ attachments: { maxSize: 'lots' } }, 'attachments.maxSize'],
    [{ spam: { tagScore: 9, junkScore: 8 } }, 'spam'],
    [{ antivirus: { onError: 'ignore' } }, 'antivirus.onError'],
    [{ bogus: true }, 'bogus'],
  ])('rejects %j at %s', (spec, path) => {
    try {
      parseScanPolicy({ name: 'p', direction: 'any', spec });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(PolicyError);
      expect((err as PolicyError).path).toBe(path);
    }
  });

  it('parses byte quantities', () => {
    expect(parseByteQuantity('25Mi')).toBe(26_214_400);
    expect(parseByteQuantity('10M')).toBe(10_000_000);
    expect(parseByteQuantity(4096)).toBe(4096);
    expect(parseByteQuantity('1.5Ki')).toBe(1536);
    expect(parseByteQuantity('-1')).toBeUndefined();
  });

  it('compiles thousands of keywords into the test policy', () => {
    expect(groupPolicy().dlp[0]?.keywords.length).toBe(3003);
  });
});

describe('selectPolicies', () => {
  const names = (e: Envelope) => selectPolicies(e, view, policies).map((p) => p.name);

  it('inbound: a remote sender to a local mailbox', () => {
    const e = envelope('li.si@partner.example', ['zhang.san@sh.company.local']);
    expect([...mailDirections(e, view)]).toEqual(['inbound']);
    expect(names(e)).toEqual(['group-dlp', 'inbound-only']);
  });

  it('a local MAIL FROM on MX from an untrusted client is still inbound', () => {
    const e = envelope('boss@sh.company.local', ['zhang.san@sh.company.local']);
    expect([...mailDirections(e, view)]).toEqual(['inbound']);
  });

  it('outbound and internal at once for an authenticated sender', () => {
    const e = envelope('zhang.san@sh.company.local', ['x@sgcc.com.cn', 'wang@bj.company.local'], {
      listener: Listener.SUBMISSION,
      auth: create(AuthSchema, { user: 'zhang.san@sh.company.local', mechanism: 'PLAIN' }),
    });
    expect([...mailDirections(e, view)].sort()).toEqual(['internal', 'outbound']);
    expect(names(e)).toEqual(['group-dlp', 'internal-only', 'outbound-only']);
  });

  it('a branch MTA in relay networks counts as a local sender', () => {
    const e = envelope('wang@bj.company.local', ['zhang.san@sh.company.local'], {
      client: create(ClientSchema, { ip: '192.168.1.20', port: 1, helo: 'bj' }),
    });
    expect([...mailDirections(e, view)]).toEqual(['internal']);
    expect(names(e)).toEqual(['group-dlp', 'internal-only']);
  });

  it('nothing applies to mail between two remote domains', () => {
    expect(names(envelope('a@x.example', ['b@y.example']))).toEqual([]);
  });
});
