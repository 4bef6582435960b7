import { simpleParser } from 'mailparser';
import { describe, expect, it } from 'vitest';
import { DsnNotify, MAIL_ID_PATTERN, Origin, ulidTime } from '@mailmesh/proto';

import {
  composeDsn,
  derivedMailId,
  isPending,
  jobState,
  mailStage,
  newJob,
  parseDsn,
  recipientsDue,
  resolveMailHosts,
  rfc5322Date,
  staticMailResolver,
  withJob,
  type QueueRecord,
  type RecipientState,
} from '../src/index.js';

const ORIGINAL = '01JGXYZ0000000000000000000';

describe('derivedMailId', () => {
  it('is a valid ULID, stable per (mail, part), different per part, dated like the original', () => {
    const a = derivedMailId(ORIGINAL, 'dsn.failure.router');
    expect(a).toMatch(MAIL_ID_PATTERN);
    expect(derivedMailId(ORIGINAL, 'dsn.failure.router')).toBe(a);
    expect(derivedMailId(ORIGINAL, 'dsn.delay.local:sh')).not.toBe(a);
    expect(ulidTime(a)).toBe(ulidTime(ORIGINAL));
  });
});

describe('composeDsn', () => {
  const input = {
    kind: 'failure' as const,
    reportingMta: 'mx.sh.company.local',
    dsnMailId: derivedMailId(ORIGINAL, 'x'),
    date: new Date('2025-01-02T03:04:05Z'),
    to: 'zhang.san@sh.company.local',
    original: {
      mailId: ORIGINAL,
      receivedAt: new Date('2025-01-02T03:00:00Z'),
      envid: 'ENV-1',
      messageId: '<abc@sh.company.local>',
      subject: '季度报告',
      headers: Buffer.from(
        'From: zhang.san@sh.company.local\r\nSubject: =?utf-8?B?5a2j5bqm5oql5ZGK?=\r\n\r\n',
      ),
    },
    recipients: [
      {
        address: 'x@gmail.com',
        orcpt: 'rfc822;X@gmail.com',
        status: '5.7.1',
        diagnostic: '550 5.7.1 not allowed',
        reason: 'not allowed by MailPolicy internal-only',
      },
      {
        address: 'y@far.example',
        status: '5.1.1',
        remoteMta: 'mx.far.example',
        diagnostic: '550 5.1.1 no such user',
        reason: 'no such user',
        lastAttemptAt: new Date('2025-01-02T03:04:00Z'),
      },
    ],
  };

  it('is an RFC 3464 multipart/report that mailparser and our reader agree on', async () => {
    const dsn = composeDsn(input);
    const parsed = await simpleParser(dsn.bytes);
    expect(parsed.subject).toBe('Undelivered Mail Returned to Sender');
    expect(parsed.from?.value[0]?.address).toBe('MAILER-DAEMON@mx.sh.company.local');
    expect(parsed.headers.get('auto-submitted')).toBe('auto-replied');
    expect(parsed.inReplyTo).toBe('<abc@sh.company.local>');
    // The human part has non-ASCII (the subject): base64 UTF-8.
    expect(parsed.text).toContain('季度报告');

    const d = parseDsn(dsn.bytes);
    expect(d.reportType).toBe('delivery-status');
    expect(d.message).toMatchObject({
      'reporting-mta': 'dns; mx.sh.company.local',
      'original-envelope-id': 'ENV-1',
      'x-mailmesh-mail-id': ORIGINAL,
      'arrival-date': 'Thu, 02 Jan 2025 03:00:00 +0000',
    });
    expect(d.recipients).toEqual([
      {
        'original-recipient': 'rfc822; X@gmail.com',
        'final-recipient': 'rfc822; x@gmail.com',
        action: 'failed',
        status: '5.7.1',
        'diagnostic-code': 'smtp; 550 5.7.1 not allowed',
      },
      {
        'final-recipient': 'rfc822; y@far.example',
        action: 'failed',
        status: '5.1.1',
        'remote-mta': 'dns; mx.far.example',
        'diagnostic-code': 'smtp; 550 5.1.1 no such user',
        'last-attempt-date': 'Thu, 02 Jan 2025 03:04:00 +0000',
      },
    ]);
    expect(d.returned?.contentType).toBe('text/rfc822-headers');
    expect(d.returned?.body).toContain('From: zhang.san@sh.company.local');
  });

  it('a delay DSN says delayed with Will-Retry-Until; RET=FULL returns message/rfc822', () => {
    const full = Buffer.from('From: a@b\r\nSubject: s\r\n\r\nbody\r\n');
    const d = parseDsn(
      composeDsn({
        ...input,
        kind: 'delay',
        willRetryUntil: new Date('2025-01-07T03:00:00Z'),
        original: { ...input.original, full },
        recipients: [{ address: 'y@far.example', status: '4.4.1', reason: 'connection refused' }],
      }).bytes,
    );
    expect(d.recipients[0]).toMatchObject({
      action: 'delayed',
      status: '4.4.1',
      'will-retry-until': 'Tue, 07 Jan 2025 03:00:00 +0000',
    });
    expect(d.returned?.contentType).toBe('message/rfc822');
    expect(d.returned?.body).toContain('body');
  });

  it('formats RFC 5322 dates', () => {
    expect(rfc5322Date(new Date('2024-12-03T22:56:07Z'))).toBe('Tue, 03 Dec 2024 22:56:07 +0000');
  });
});

describe('recipientsDue (RFC 3461 NOTIFY)', () => {
  const rs = [
    { address: 'a', notify: [] },
    { address: 'b', notify: [DsnNotify.NEVER] },
    { address: 'c', notify: [DsnNotify.SUCCESS, DsnNotify.DELAY] },
    { address: 'd', notify: [DsnNotify.FAILURE] },
  ];
  it('honours NOTIFY per kind, and never reports to the null sender or about a DSN', () => {
    const env = { mailFrom: 's@x', origin: Origin.SMTP };
    expect(recipientsDue('failure', env, rs).map((r) => r.address)).toEqual(['a', 'd']);
    expect(recipientsDue('delay', env, rs).map((r) => r.address)).toEqual(['a', 'c']);
    expect(recipientsDue('failure', { mailFrom: '', origin: Origin.SMTP }, rs)).toEqual([]);
    expect(recipientsDue('failure', { mailFrom: 's@x', origin: Origin.DSN }, rs)).toEqual([]);
  });
});

describe('queue record', () => {
  it('derives job and mail stages from recipients and refusals', () => {
    const job = newJob(
      'mail.deliver.local.sh',
      'mailboxes of sh',
      { kind: 'local', domain: 'sh' },
      [{ address: 'a@sh' }, { address: 'b@sh', original: 'list@sh' }],
    );
    expect(job.recipients['b@sh']?.original).toBe('list@sh');
    expect(jobState(job.recipients)).toBe('queued');
    const rec: QueueRecord = {
      v: 1,
      mailId: ORIGINAL,
      from: 's@x',
      receivedAt: '',
      size: 1,
      stage: 'queued',
      updatedAt: '',
      problems: [],
      jobs: {},
    };
    const now = new Date();
    const deferred = withJob(
      rec,
      'local:sh',
      {
        ...job,
        recipients: {
          'a@sh': { state: 'delivered', attempts: 1 },
          'b@sh': { state: 'deferred', attempts: 1 },
        },
      },
      now,
    );
    expect([deferred.stage, deferred.jobs['local:sh']?.state]).toEqual(['deferred', 'deferred']);
    const partial = withJob(
      rec,
      'local:sh',
      {
        ...job,
        recipients: {
          'a@sh': { state: 'delivered', attempts: 1 },
          'b@sh': { state: 'failed', attempts: 2 },
        },
      },
      now,
    );
    expect([partial.stage, partial.jobs['local:sh']?.state]).toEqual(['partial', 'partial']);
    expect(
      mailStage({}, [
        { recipient: 'x', kind: 'transport-rule', code: 550, enhanced: '5.7.1', message: 'no' },
      ]),
    ).toBe('failed');

    // `mailmesh queue delete`: all deleted is its own stage, and final (not pending).
    const with2 = (a: RecipientState, b: RecipientState): QueueRecord =>
      withJob(
        rec,
        'local:sh',
        {
          ...job,
          recipients: { 'a@sh': { state: a, attempts: 1 }, 'b@sh': { state: b, attempts: 1 } },
        },
        now,
      );
    const deleted = with2('deleted', 'deleted');
    expect([deleted.stage, deleted.jobs['local:sh']?.state, isPending(deleted)]).toEqual([
      'deleted',
      'deleted',
      false,
    ]);
    expect(with2('delivered', 'deleted').stage).toBe('partial');
    expect(with2('failed', 'deleted').stage).toBe('failed');
    expect(with2('deferred', 'deleted').stage).toBe('deferred');
    expect(with2('pending', 'deleted').stage).toBe('queued');
  });
});

describe('resolveMailHosts', () => {
  const r = staticMailResolver({
    'a.example': { MX: ['20 mx2.a.example.', '10 mx1.a.example'] },
    'implicit.example': { A: ['192.0.2.1'] },
    'null.example': { MX: ['0 .'] },
    'empty.example': { TXT: ['v=spf1 -all'] },
  });
  it('orders MX by preference, falls back to the domain itself, knows null MX and NXDOMAIN', async () => {
    expect(await resolveMailHosts(r, 'a.example')).toEqual({
      kind: 'hosts',
      hosts: ['mx1.a.example', 'mx2.a.example'],
      implicit: false,
    });
    expect(await resolveMailHosts(r, 'implicit.example')).toEqual({
      kind: 'hosts',
      hosts: ['implicit.example'],
      implicit: true,
    });
    expect(await resolveMailHosts(r, 'null.example')).toEqual({ kind: 'null-mx' });
    expect((await resolveMailHosts(r, 'gone.example')).kind).toBe('nxdomain');
    expect((await resolveMailHosts(r, 'empty.example')).kind).toBe('nxdomain');
    const failing = {
      resolveMx: () => Promise.reject(Object.assign(new Error('timeout'), { code: 'ETIMEOUT' })),
      resolveHost: () => Promise.resolve([]),
    };
    expect(await resolveMailHosts(failing, 'x.example')).toMatchObject({ kind: 'temp' });
  });
});
