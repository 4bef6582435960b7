import { describe, expect, it } from 'vitest';
import type { NodemailerError } from 'nodemailer';
import { create } from '@bufbuild/protobuf';
import { DeliveryJobSchema, RouteKind } from '@mailmesh/proto';
import { newJob, withJob, type QueueRecord } from '@mailmesh/queue';

import {
  classifyError,
  decideRetry,
  decodeKeyToken,
  defaultRetrySchedule,
  enhancedFromReply,
  headerLine,
  keyToken,
  mailboxKeys,
  parseCredentials,
  retryDelayMs,
  settingsFromEnv,
  SettingsError,
  updateRecord,
} from '../src/index.js';

const err = (fields: Partial<NodemailerError> & { message?: string }): NodemailerError =>
  Object.assign<Error, Partial<NodemailerError>>(new Error(fields.message ?? 'x'), fields);

describe('retry schedule', () => {
  it('follows 1m, 5m, 15m, 30m, 1h, 2h, 4h and then every 4h, giving up after 5 days', () => {
    const s = defaultRetrySchedule;
    expect([1, 2, 3, 4, 5, 6, 7, 8, 20].map((n) => retryDelayMs(s, n) / 60_000)).toEqual([
      1, 5, 15, 30, 60, 120, 240, 240, 240,
    ]);
    const t0 = new Date('2025-01-01T00:00:00Z');
    const at = (ms: number) => new Date(t0.getTime() + ms);
    expect(decideRetry(s, t0, at(0), 1, false)).toMatchObject({
      kind: 'retry',
      delayMs: 60_000,
      sendDelayDsn: false,
    });
    expect(decideRetry(s, t0, at(60_000), 2, false)).toMatchObject({
      kind: 'retry',
      delayMs: 300_000,
      sendDelayDsn: false,
    });
    expect(decideRetry(s, t0, at(4 * 3600_000), 7, false)).toMatchObject({
      kind: 'retry',
      sendDelayDsn: true,
    });
    expect(decideRetry(s, t0, at(4 * 3600_000), 7, true)).toMatchObject({
      kind: 'retry',
      sendDelayDsn: false,
    });
    // Never schedules past the lifetime; at the lifetime it expires.
    const near = decideRetry(s, t0, at(s.maxAgeMs - 1_000), 30, true);
    expect(near).toMatchObject({ kind: 'retry', delayMs: 1_000 });
    expect(decideRetry(s, t0, at(s.maxAgeMs), 31, true)).toEqual({ kind: 'expire' });
  });

  it('reads a millisecond schedule from the environment and refuses nonsense', () => {
    const st = settingsFromEnv({
      MAILMESH_RETRY_SCHEDULE_MS: '50, 100,200',
      MAILMESH_RETRY_MAX_AGE_MS: '5000',
      MAILMESH_DELIVERY_ROLES: 'remote',
    });
    expect(st.retry.default).toEqual({
      delaysMs: [50, 100, 200],
      maxAgeMs: 5000,
      delayDsnAfterMs: defaultRetrySchedule.delayDsnAfterMs,
    });
    expect([st.local, st.remote]).toEqual([false, true]);
    expect(() => settingsFromEnv({ MAILMESH_RETRY_SCHEDULE_MS: '50,soon' })).toThrow(SettingsError);
    expect(() => settingsFromEnv({ MAILMESH_DELIVERY_ROLES: 'imap' })).toThrow(
      /MAILMESH_DELIVERY_ROLES/,
    );
  });
});

describe('SMTP error classification', () => {
  const rcpts = ['a@x.example', 'b@x.example'];
  it('per-recipient RCPT replies: 5xx fails, 4xx defers', () => {
    const c = classifyError(
      err({
        code: 'EENVELOPE',
        command: 'RCPT TO',
        responseCode: 550,
        rejectedErrors: [
          err({
            recipient: 'a@x.example',
            responseCode: 550,
            response: '550 5.1.1 <a@x.example>: no such user',
          }),
          err({ recipient: 'b@x.example', responseCode: 452, response: '452 4.2.2 mailbox full' }),
        ],
      }),
      rcpts,
      'mx.x.example',
    );
    expect(c.kind).toBe('final');
    if (c.kind !== 'final') return;
    expect(
      c.outcomes.map((o) => [o.recipient, o.kind, o.kind === 'delivered' ? '' : o.error.enhanced]),
    ).toEqual([
      ['a@x.example', 'permfail', '5.1.1'],
      ['b@x.example', 'tempfail', '4.2.2'],
    ]);
  });

  it('connection-level problems move to the next host; AUTH and DATA replies end the attempt', () => {
    expect(
      classifyError(
        err({ code: 'ESOCKET', originalCode: 'ECONNREFUSED', message: 'connect ECONNREFUSED' }),
        rcpts,
        'h',
      ),
    ).toMatchObject({ kind: 'next', error: { kind: 'connect' } });
    expect(classifyError(err({ code: 'ETIMEDOUT' }), rcpts, 'h')).toMatchObject({
      kind: 'next',
      error: { kind: 'timeout' },
    });
    expect(
      classifyError(
        err({ code: 'ESOCKET', originalCode: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }),
        rcpts,
        'h',
      ),
    ).toMatchObject({ kind: 'next', error: { kind: 'tls-cert' } });
    expect(
      classifyError(
        err({ code: 'ECONNECTION', command: 'CONN', responseCode: 421, response: '421 busy' }),
        rcpts,
        'h',
      ),
    ).toMatchObject({ kind: 'next', error: { kind: 'greeting', code: 421 } });
    const auth = classifyError(
      err({ code: 'EAUTH', responseCode: 535, response: '535 5.7.8 bad credentials' }),
      rcpts,
      'h',
    );
    expect(auth.kind === 'final' && auth.outcomes.every((o) => o.kind === 'tempfail')).toBe(true);
    const data = classifyError(
      err({ code: 'EMESSAGE', command: 'DATA', responseCode: 554, response: '554 5.6.0 refused' }),
      rcpts,
      'h',
    );
    expect(data.kind === 'final' && data.outcomes.map((o) => o.kind)).toEqual([
      'permfail',
      'permfail',
    ]);
  });

  it('reads enhanced codes from replies', () => {
    expect(enhancedFromReply('550 5.1.1 no such user')).toBe('5.1.1');
    expect(enhancedFromReply('451-4.7.1 greylisted')).toBe('4.7.1');
    expect(enhancedFromReply('250 ok')).toBeUndefined();
  });
});

describe('secrets and headers', () => {
  it('parses user:password (colons allowed in the password) and JSON credentials', () => {
    expect(parseCredentials('relay:pa:ss\n')).toEqual({ user: 'relay', pass: 'pa:ss' });
    expect(parseCredentials('{"username":"u","password":"p"}')).toEqual({ user: 'u', pass: 'p' });
    expect(parseCredentials('no-colon')).toBeUndefined();
  });

  it('folds long header values and strips CR/LF so nothing can be injected', () => {
    const line = headerLine('X-Long', `${'word '.repeat(30)}end\r\nBcc: victim@x`);
    expect(line.split('\r\n').every((l) => l.length <= 78)).toBe(true);
    expect(line).not.toMatch(/\r\nBcc:/);
    expect(line.endsWith('\r\n')).toBe(true);
  });
});

describe('mailbox key grammar', () => {
  it('encodes addresses and folders as one reversible token', () => {
    expect(keyToken('zhang.san@sh.company.local')).toBe('zhang=2Esan=40sh=2Ecompany=2Elocal');
    expect(decodeKeyToken(keyToken('Sent Items/张三=x'))).toBe('Sent Items/张三=x');
    expect(mailboxKeys.message('Zhang.San@SH.company.local', 'INBOX', 7)).toBe(
      'msg.zhang=2Esan=40sh=2Ecompany=2Elocal.INBOX.7',
    );
    expect(mailboxKeys.folderMessages('a@b.c', 'Junk')).toBe('msg.a=40b=2Ec.Junk.>');
  });
});

describe('queue record after an attempt', () => {
  it('a recipient deleted while the attempt ran stays deleted unless it was delivered', () => {
    const mailId = '01KBQ0000000000000000000AA';
    const route = { kind: 'remote', domain: 'x.example', nextHop: 'x.example', port: 25 } as const;
    const key = 'remote:x.example:25';
    const base = newJob('mail.deliver.remote.x.example', 'MX of x.example', route, [
      { address: 'a@x.example' },
      { address: 'b@x.example' },
    ]);
    const now = new Date('2026-12-04T10:00:00Z');
    const empty: QueueRecord = {
      v: 1,
      mailId,
      from: 's@sh.company.local',
      receivedAt: now.toISOString(),
      size: 1,
      stage: 'queued',
      updatedAt: now.toISOString(),
      problems: [],
      jobs: {},
    };
    const deleted = { state: 'deleted', attempts: 0, doneAt: now.toISOString() } as const;
    const cur = withJob(
      empty,
      key,
      { ...base, recipients: { 'a@x.example': deleted, 'b@x.example': deleted } },
      now,
    );
    const job = create(DeliveryJobSchema, {
      mailId,
      recipients: [{ address: 'a@x.example' }, { address: 'b@x.example' }],
      route: { kind: RouteKind.REMOTE, domain: 'x.example', nextHop: 'x.example', port: 25 },
    });
    const error = { kind: 'recipient-refused', code: 451, message: 'try later' } as const;
    const next = updateRecord(
      cur,
      job,
      key,
      route,
      [
        { kind: 'retry', recipient: 'a@x.example', error },
        { kind: 'delivered', recipient: 'b@x.example' },
      ],
      {
        now,
        attempt: 1,
        nextAttemptAt: new Date('2026-12-04T10:05:00Z'),
        failureDsn: false,
        delayDsn: false,
        seq: 42,
      },
    );
    const after = next.jobs[key]!;
    expect(after.recipients['a@x.example']).toEqual(deleted);
    expect(after.recipients['b@x.example']).toMatchObject({ state: 'delivered', attempts: 1 });
    expect(after).toMatchObject({ state: 'partial', seq: 42 });
    expect(after.nextAttemptAt).toBeUndefined();
    expect(next.stage).toBe('partial');
  });
});
