import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import {
  DsnNotify,
  DsnRet,
  EnvelopeSchema,
  Listener,
  MAIL_ID_PATTERN,
  Origin,
} from '@mailmesh/proto';
import { deepFreeze } from '@mailmesh/runtime';
import { encodeConfigValue } from '@mailmesh/config';
import { simpleParser } from 'mailparser';
import { describe, expect, it } from 'vitest';

import { buildScannerConfig } from '../src/config.js';
import { tableResolver } from '../src/dns.js';
import { buildDsn, dsnMailId, wantsDsn } from '../src/dsn.js';
import { PolicyError } from '../src/errors.js';
import { scanMessage } from '../src/scan.js';
import { corpusFile } from './helpers/corpus.js';
import { groupPolicySpec } from './group-policy.js';

const mailId = '01JDQ7Z8X9ABCDEFGHJKMNPQRS';
const envelope = create(EnvelopeSchema, {
  mailId,
  receivedAt: timestampFromDate(new Date('2026-12-03T02:00:00Z')),
  origin: Origin.SMTP,
  listener: Listener.MX,
  mailFrom: 'li.si@partner.example',
  recipients: [
    { address: 'zhang.san@sh.company.local', original: 'rfc822;zhang.san@sh.company.local' },
  ],
  size: 1n,
  sha256: '0'.repeat(64),
  spool: { bucket: 'spool', key: 'k' },
  messageId: '<m1@partner.example>',
  subject: '季度报告',
  envid: 'QQ314159',
});
const findings = [
  {
    check: 'dlp' as const,
    rule: 'group-dlp/contract-terms',
    action: 'reject' as const,
    detail: '1 match: body: 机密** (keyword)',
  },
  { check: 'dkim' as const, rule: 'group-dlp/dkim', action: 'pass' as const, detail: 'reported' },
];

describe('DSN', () => {
  it('has a deterministic, valid mail id dated like the original', () => {
    const id = dsnMailId(mailId);
    expect(id).toMatch(MAIL_ID_PATTERN);
    expect(id.slice(0, 10)).toBe(mailId.slice(0, 10));
    expect(dsnMailId(mailId)).toBe(id);
    expect(dsnMailId('01JDQ7Z8X9ABCDEFGHJKMNPQRT')).not.toBe(id);
  });

  it('is an RFC 3464 report naming the policy and rule', async () => {
    const { message, messageId } = buildDsn({
      original: envelope,
      raw: corpusFile('dlp-utf8-hit.eml'),
      findings,
      hostname: 'mx.sh.company.local',
      now: new Date('2026-12-03T02:00:05Z'),
    });
    const text = message.toString('utf8');
    expect(text).toContain('Content-Type: multipart/report; report-type=delivery-status;');
    expect(text).toContain('Auto-Submitted: auto-replied');
    expect(text).toContain(
      [
        'Reporting-MTA: dns; mx.sh.company.local',
        'Original-Envelope-Id: QQ314159',
        `X-Mailmesh-Id: ${mailId}`,
        'Arrival-Date: Thu, 03 Dec 2026 02:00:00 +0000',
        '',
        'Original-Recipient: rfc822;zhang.san@sh.company.local',
        'Final-Recipient: rfc822; zhang.san@sh.company.local',
        'Action: failed',
        'Status: 5.7.1',
        'Diagnostic-Code: smtp; 550 5.7.1 rejected by policy group-dlp rule contract-terms',
      ].join('\r\n'),
    );
    const parsed = await simpleParser(message);
    expect(parsed.messageId).toBe(messageId);
    expect(parsed.to && 'text' in parsed.to ? parsed.to.text : '').toBe('li.si@partner.example');
    expect(parsed.text).toContain(
      'policy group-dlp, rule contract-terms (dlp): 1 match: body: 机密** (keyword)',
    );
    expect(parsed.text).not.toContain('dkim');
    const headers = parsed.attachments.find((a) => a.contentType === 'text/rfc822-headers');
    expect(headers?.content.toString()).toContain('Message-ID: <utf8-hit@partner.example>');
    expect(headers?.content.toString()).not.toContain('合同金额');
  });

  it('returns the full message for RET=FULL', () => {
    const { message } = buildDsn({
      original: { ...envelope, dsnRet: DsnRet.FULL },
      raw: corpusFile('clean.eml'),
      findings,
      hostname: 'mx',
      now: new Date(0),
    });
    expect(message.toString()).toContain('Content-Type: message/rfc822\r\n\r\nFrom: Li Si');
  });

  it('goes to no null sender, about no DSN, and respects NOTIFY', () => {
    expect(wantsDsn(envelope, false)).toBe(true);
    expect(wantsDsn({ ...envelope, mailFrom: '' }, false)).toBe(false);
    expect(wantsDsn(envelope, true)).toBe(false);
    const never = {
      ...envelope,
      recipients: [{ ...envelope.recipients[0]!, notify: [DsnNotify.NEVER] }],
    };
    expect(wantsDsn(never, false)).toBe(false);
    const success = {
      ...envelope,
      recipients: [{ ...envelope.recipients[0]!, notify: [DsnNotify.SUCCESS] }],
    };
    expect(wantsDsn(success, false)).toBe(false);
  });
});

describe('configuration', () => {
  const entries = (spec: Record<string, unknown>) =>
    new Map([
      ['policy.group-dlp', encodeConfigValue({ name: 'group-dlp', direction: 'any', spec })],
      [
        'domain.sh.company.local',
        encodeConfigValue({
          domain: 'sh.company.local',
          aliases: ['shanghai.company.local'],
          policies: ['group-dlp'],
        }),
      ],
    ]);

  it('compiles policies and scans with a deep-frozen snapshot', async () => {
    const cfg = deepFreeze(buildScannerConfig(entries(groupPolicySpec())));
    expect(cfg.view.policiesOfDomain('SHANGHAI.company.local')).toEqual(['group-dlp']);
    const policy = cfg.policies.get('group-dlp')!;
    const out = await scanMessage(
      { raw: corpusFile('dlp-utf8-hit.eml'), envelope, policies: [policy], localSender: false },
      { resolver: tableResolver({}), authservId: 'mx' },
    );
    expect(out.kind === 'verdict' && out.action).toBe('quarantine');
  });

  it('rejects a revision with a bad policy', () => {
    expect(() => buildScannerConfig(entries({ dlp: [{ name: 'x', patterns: ['['] }] }))).toThrow(
      PolicyError,
    );
  });
});

describe('tableResolver', () => {
  it('answers TXT as character-strings and fails the rest like DNS', async () => {
    const r = tableResolver({ 'a.example': { TXT: ['v=spf1 -all', 'x'.repeat(300)] } });
    expect(await r('A.example.', 'TXT')).toEqual([
      ['v=spf1 -all'],
      ['x'.repeat(255), 'x'.repeat(45)],
    ]);
    await expect(r('a.example', 'MX')).rejects.toMatchObject({ code: 'ENODATA' });
    await expect(r('b.example', 'TXT')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });
});
