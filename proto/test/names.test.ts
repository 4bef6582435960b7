import { describe, expect, it } from 'vitest';
import {
  InvalidNameError,
  MAIL_ID_PATTERN,
  assertDnsName,
  assertMailId,
  assertStage,
  auditKinds,
  configKeys,
  consumers,
  kvBuckets,
  loadKey,
  mailHeaders,
  msgId,
  natsHeaders,
  objectBuckets,
  parseDeliverSubject,
  quarantineKey,
  queueGroups,
  queueKey,
  spoolKey,
  spoolSegmentKey,
  stages,
  streams,
  subjects,
  ulidTime,
  type Stage,
} from '../src/index.js';
import { MAIL_ID, ulidAt } from './fixtures.js';

/** Runs `fn`, expecting an InvalidNameError of `kind`; returns it. */
function invalid(kind: string, fn: () => unknown): InvalidNameError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidNameError);
    const e = err as InvalidNameError;
    expect(e.kind).toBe(kind);
    return e;
  }
  throw new Error(`expected InvalidNameError(${kind})`);
}

const label63 = 'a'.repeat(63);
const name253 = [label63, label63, label63, 'a'.repeat(61)].join('.');

describe('identifiers', () => {
  it('MAIL_ID_PATTERN accepts canonical ULIDs only', () => {
    expect(MAIL_ID_PATTERN.test(MAIL_ID)).toBe(true);
    expect(MAIL_ID_PATTERN.test('7ZZZZZZZZZZZZZZZZZZZZZZZZZ')).toBe(true);
    expect(MAIL_ID_PATTERN.test('00000000000000000000000000')).toBe(true);
    for (const bad of [
      MAIL_ID.toLowerCase(),
      MAIL_ID.slice(1),
      `${MAIL_ID}0`,
      '01ARZ3NDEKTSV4RRFFQ69G5FAI', // I, L, O, U are not Crockford digits
      '01ARZ3NDEKTSV4RRFFQ69G5FAL',
      '01ARZ3NDEKTSV4RRFFQ69G5FAO',
      '01ARZ3NDEKTSV4RRFFQ69G5FAU',
      '80000000000000000000000000', // timestamp overflows 48 bits
      '',
    ]) {
      expect(MAIL_ID_PATTERN.test(bad), bad).toBe(false);
    }
  });

  it('stages lists every pipeline stage in order', () => {
    expect(stages).toEqual([
      'ingress',
      'scanner',
      'router',
      'delivery',
      'mailstore',
      'api',
      'operator',
    ]);
  });

  it('InvalidNameError carries kind, value and reason', () => {
    const e = new InvalidNameError('domain', 'A', 'bad');
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('InvalidNameError');
    expect(e.kind).toBe('domain');
    expect(e.value).toBe('A');
    expect(e.reason).toBe('bad');
    expect(e.message).toBe('invalid domain "A": bad');
  });

  it('assertMailId returns a valid id and rejects others', () => {
    expect(assertMailId(MAIL_ID)).toBe(MAIL_ID);
    const e = invalid('mail id', () => assertMailId('nope'));
    expect(e.value).toBe('nope');
  });

  it('assertStage accepts every stage and rejects anything else', () => {
    for (const s of stages) expect(assertStage(s)).toBe(s);
    for (const bad of ['', 'Ingress', 'ingress.x', '*', '>', 'smtp']) {
      invalid('stage', () => assertStage(bad));
    }
  });

  it('assertDnsName accepts lowercase DNS names up to the limits', () => {
    for (const ok of ['sh.company.local', 'a', 'localhost', 'x-1.y2', '10.0.0.5', name253]) {
      expect(assertDnsName('domain', ok)).toBe(ok);
    }
    expect(`${label63}.com`).toBe(assertDnsName('route', `${label63}.com`));
  });

  it('assertDnsName rejects anything that is not one subject-safe DNS name', () => {
    for (const bad of [
      '',
      `${name253}a`,
      `${'a'.repeat(64)}.com`,
      'Sh.Company.local',
      'sh.company.local.',
      '.sh.company.local',
      'a..b',
      '-a.com',
      'a-.com',
      'a_b.com',
      'a b.com',
      '*',
      'mail.>',
      'a.*.com',
      'ü.com',
      'a\r\n.com',
    ]) {
      const e = invalid('route', () => assertDnsName('route', bad));
      expect(e.value).toBe(bad);
    }
  });
});

describe('subjects', () => {
  it('has the documented constant subjects', () => {
    expect({
      accepted: subjects.accepted,
      scanned: subjects.scanned,
      quarantined: subjects.quarantined,
      deliverLocalAll: subjects.deliverLocalAll,
      deliverRemoteAll: subjects.deliverRemoteAll,
      deliverAll: subjects.deliverAll,
      mailAll: subjects.mailAll,
      eventAll: subjects.eventAll,
      auditAll: subjects.auditAll,
      inlineScan: subjects.inlineScan,
    }).toEqual({
      accepted: 'mail.accepted',
      scanned: 'mail.scanned',
      quarantined: 'mail.quarantined',
      deliverLocalAll: 'mail.deliver.local.>',
      deliverRemoteAll: 'mail.deliver.remote.>',
      deliverAll: 'mail.deliver.>',
      mailAll: 'mail.>',
      eventAll: 'event.>',
      auditAll: 'audit.>',
      inlineScan: 'rpc.scan.inline',
    });
  });

  it('the inline scan is served by one queue group, a single subject token', () => {
    expect(queueGroups).toEqual({ inlineScan: 'scanner-inline' });
    // NATS queue names follow subject-token rules: no spaces, dots or wildcards.
    for (const q of Object.values(queueGroups)) expect(q).toMatch(/^[a-z0-9-]+$/);
  });

  it('deliverLocal / deliverRemote build per-domain and per-route subjects', () => {
    expect(subjects.deliverLocal('sh.company.local')).toBe('mail.deliver.local.sh.company.local');
    expect(subjects.deliverRemote('relay.company.local')).toBe(
      'mail.deliver.remote.relay.company.local',
    );
    expect(subjects.deliverLocal('localhost')).toBe('mail.deliver.local.localhost');
    invalid('domain', () => subjects.deliverLocal('SH.company.local'));
    invalid('domain', () => subjects.deliverLocal('>'));
    invalid('route', () => subjects.deliverRemote('relay.company.local.'));
    invalid('route', () => subjects.deliverRemote(''));
  });

  it('event / eventsOf build per-mail event subjects', () => {
    expect(subjects.event('delivery', MAIL_ID)).toBe(`event.delivery.${MAIL_ID}`);
    for (const s of stages) expect(subjects.event(s, MAIL_ID)).toBe(`event.${s}.${MAIL_ID}`);
    expect(subjects.eventsOf(MAIL_ID)).toBe(`event.*.${MAIL_ID}`);
    invalid('mail id', () => subjects.event('delivery', 'x'));
    invalid('mail id', () => subjects.eventsOf('>'));
    invalid('stage', () => subjects.event('deli.very' as Stage, MAIL_ID));
  });

  it('audit builds audit.<kind> for every audit kind', () => {
    expect(auditKinds).toEqual(['session', 'message', 'admin', 'config']);
    for (const k of auditKinds) expect(subjects.audit(k)).toBe(`audit.${k}`);
    invalid('audit kind', () => subjects.audit('a.b' as 'admin'));
    invalid('audit kind', () => subjects.audit('' as 'admin'));
  });

  it('parseDeliverSubject inverts the deliver builders', () => {
    for (const domain of ['sh.company.local', 'a', name253]) {
      expect(parseDeliverSubject(subjects.deliverLocal(domain))).toEqual({ kind: 'local', domain });
      expect(parseDeliverSubject(subjects.deliverRemote(domain))).toEqual({
        kind: 'remote',
        route: domain,
      });
    }
  });

  it('parseDeliverSubject rejects every other subject', () => {
    for (const s of [
      subjects.accepted,
      subjects.deliverLocalAll,
      subjects.deliverRemoteAll,
      subjects.deliverAll,
      'mail.deliver.local.',
      'mail.deliver.local',
      'mail.deliver.other.sh.company.local',
      'mail.deliver.local.SH.company.local',
      'mail.deliver.local.a..b',
      'mail.deliver.remote.*',
      'xmail.deliver.local.a',
      '',
    ]) {
      expect(parseDeliverSubject(s), s).toBeUndefined();
    }
  });
});

describe('KV buckets and keys', () => {
  it('has the documented buckets', () => {
    expect(kvBuckets).toEqual({
      config: {
        bucket: 'mailmesh-config',
        history: 10,
        ttlMs: 0,
        description: 'Compiled MailDomain/MailPolicy configuration',
      },
      load: {
        bucket: 'mailmesh-load',
        history: 1,
        ttlMs: 30_000,
        description: 'Per-instance load reports for the autoscaler',
      },
      queue: {
        bucket: 'mailmesh-queue',
        history: 1,
        ttlMs: 14 * 86_400_000,
        description: 'Per-mail queue state for `mailmesh queue`',
      },
      mailbox: {
        bucket: 'mailmesh-mailbox',
        history: 1,
        ttlMs: 0,
        description: 'Mailbox store index',
      },
    });
  });

  it('bucket names are valid, distinct NATS KV bucket names', () => {
    const names = Object.values(kvBuckets).map((b) => b.bucket);
    expect(new Set(names).size).toBe(names.length);
    for (const n of names) expect(n).toMatch(/^[a-zA-Z0-9_-]+$/);
    // JetStream keeps at most 64 history entries per key.
    for (const b of Object.values(kvBuckets)) {
      expect(b.history).toBeGreaterThanOrEqual(1);
      expect(b.history).toBeLessThanOrEqual(64);
    }
  });

  it('configKeys builds domain and policy keys', () => {
    expect(configKeys.platform).toBe('platform');
    expect(configKeys.domainPrefix).toBe('domain.');
    expect(configKeys.policyPrefix).toBe('policy.');
    expect(configKeys.domain('sh.company.local')).toBe('domain.sh.company.local');
    expect(configKeys.policy('default')).toBe('policy.default');
    // Kubernetes object names are DNS subdomains: dots allowed, underscores not.
    expect(configKeys.policy('group-dlp.v2')).toBe('policy.group-dlp.v2');
    expect(configKeys.domain('x').startsWith(configKeys.domainPrefix)).toBe(true);
    expect(configKeys.policy('x').startsWith(configKeys.policyPrefix)).toBe(true);
    invalid('domain', () => configKeys.domain('Sh.company.local'));
    for (const bad of ['', 'Default', 'block_exe', '-x', 'a b', 'x'.repeat(64), '*', 'a..b']) {
      invalid('policy name', () => configKeys.policy(bad));
    }
    expect(configKeys.policy('x'.repeat(63))).toBe(`policy.${'x'.repeat(63)}`);
  });

  it('loadKey is <service>.<instance>', () => {
    expect(loadKey('ingress', 'ingress-7d9f8b6c4-x2k9p')).toBe('ingress.ingress-7d9f8b6c4-x2k9p');
    expect(loadKey('mailstore', '0')).toBe('mailstore.0');
    expect(loadKey('ingress', 'mail-1.example.local')).toBe('ingress.mail-1.example.local');
    for (const bad of ['', 'Pod-1', '>', '_x', 'a..b']) {
      invalid('instance', () => loadKey('ingress', bad));
    }
    invalid('stage', () => loadKey('nope' as Stage, 'x'));
  });

  it('queueKey is the mail id', () => {
    expect(queueKey(MAIL_ID)).toBe(MAIL_ID);
    invalid('mail id', () => queueKey('x'));
  });
});

describe('S3 buckets and keys', () => {
  it('has the documented buckets, all valid S3 bucket names', () => {
    expect(objectBuckets).toEqual({
      spool: 'spool',
      quarantine: 'quarantine',
      mailbox: 'mailbox',
      auditArchive: 'audit-archive',
    });
    for (const b of Object.values(objectBuckets)) {
      expect(b).toMatch(/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/);
    }
  });

  it('ulidTime decodes the 48-bit timestamp', () => {
    expect(ulidTime(MAIL_ID)).toBe(Date.parse('2016-07-30T23:54:10.259Z'));
    expect(ulidTime('00000000000000000000000000')).toBe(0);
    expect(ulidTime('7ZZZZZZZZZZZZZZZZZZZZZZZZZ')).toBe(2 ** 48 - 1);
    for (const ms of [1, 1_700_000_000_000, Date.parse('2099-12-31T23:59:59.999Z')]) {
      expect(ulidTime(ulidAt(ms))).toBe(ms);
    }
    invalid('mail id', () => ulidTime('x'));
  });

  it('spoolKey dates the object by the ULID time, in UTC', () => {
    expect(spoolKey(MAIL_ID)).toBe(`2016/07/30/${MAIL_ID}.eml`);
    const leap = ulidAt(Date.parse('2024-02-29T23:59:59.999Z'));
    expect(spoolKey(leap)).toBe(`2024/02/29/${leap}.eml`);
    const next = ulidAt(Date.parse('2024-03-01T00:00:00.000Z'));
    expect(spoolKey(next)).toBe(`2024/03/01/${next}.eml`);
    expect(spoolKey('00000000000000000000000000')).toBe(
      '1970/01/01/00000000000000000000000000.eml',
    );
    invalid('mail id', () => spoolKey('../../etc/passwd'));
  });

  it('spoolSegmentKey is dated like spoolKey and never collides with a mail object', () => {
    expect(spoolSegmentKey(MAIL_ID)).toBe(`2016/07/30/${MAIL_ID}.segment`);
    expect(spoolSegmentKey(MAIL_ID)).not.toBe(spoolKey(MAIL_ID));
    invalid('mail id', () => spoolSegmentKey('x/../y'));
  });

  it('quarantineKey is <mailId>.eml', () => {
    expect(quarantineKey(MAIL_ID)).toBe(`${MAIL_ID}.eml`);
    invalid('mail id', () => quarantineKey(''));
  });
});

describe('message ids and headers', () => {
  it('msgId is <mailId>.<stage>[.<part>]', () => {
    expect(msgId(MAIL_ID, 'ingress')).toBe(`${MAIL_ID}.ingress`);
    expect(msgId(MAIL_ID, 'router', 'local.sh.company.local')).toBe(
      `${MAIL_ID}.router.local.sh.company.local`,
    );
    expect(msgId(MAIL_ID, 'delivery', 'bob@bj.company.local')).toBe(
      `${MAIL_ID}.delivery.bob@bj.company.local`,
    );
    expect(msgId(MAIL_ID, 'scanner', 'A-z_0.9@=+')).toBe(`${MAIL_ID}.scanner.A-z_0.9@=+`);
    expect(msgId(MAIL_ID, 'api', 'x'.repeat(200))).toBe(`${MAIL_ID}.api.${'x'.repeat(200)}`);
  });

  it('msgId rejects bad parts, mail ids and stages', () => {
    for (const bad of ['', 'a b', 'a/b', 'a\nb', 'ü', 'x'.repeat(201), '"q"']) {
      const e = invalid('msg-id part', () => msgId(MAIL_ID, 'router', bad));
      expect(e.value).toBe(bad);
    }
    invalid('mail id', () => msgId('x', 'router'));
    invalid('stage', () => msgId(MAIL_ID, 'route' as Stage));
  });

  it('has the documented NATS and mail header names', () => {
    expect(natsHeaders).toEqual({
      msgId: 'Nats-Msg-Id',
      traceparent: 'traceparent',
      tracestate: 'tracestate',
      mailId: 'Mailmesh-Mail-Id',
      schema: 'Mailmesh-Schema',
    });
    expect(mailHeaders).toEqual({
      mailId: 'X-Mailmesh-Id',
      scan: 'X-Mailmesh-Scan',
      verdict: 'X-Mailmesh-Verdict',
      spamScore: 'X-Mailmesh-Spam-Score',
      watermark: 'X-Mailmesh-Watermark',
      authenticationResults: 'Authentication-Results',
      received: 'Received',
      returnPath: 'Return-Path',
      deliveredTo: 'Delivered-To',
    });
    // RFC 5322 §3.6.8 field names; NATS header names are the same token set.
    for (const h of [...Object.values(natsHeaders), ...Object.values(mailHeaders)]) {
      expect(h).toMatch(/^[!-9;-~]+$/);
    }
  });
});

describe('streams', () => {
  it('has the documented stream specs', () => {
    expect(streams).toEqual({
      mail: {
        name: 'MAIL',
        subjects: ['mail.>'],
        retention: 'workqueue',
        maxAgeMs: 14 * 86_400_000,
        duplicateWindowMs: 120_000,
        description: 'Mail pipeline: accepted, scanned, quarantined, delivery jobs',
      },
      events: {
        name: 'EVENTS',
        subjects: ['event.>'],
        retention: 'limits',
        maxAgeMs: 30 * 86_400_000,
        duplicateWindowMs: 120_000,
        description: 'Per-mail lifecycle events for message trace',
      },
      audit: {
        name: 'AUDIT',
        subjects: ['audit.>'],
        retention: 'limits',
        maxAgeMs: 90 * 86_400_000,
        duplicateWindowMs: 120_000,
        description: 'Tamper-evident audit trail of sessions, messages and admin actions',
      },
    });
  });

  it('has the documented consumer specs', () => {
    const summary = Object.fromEntries(
      Object.entries(consumers).map(([k, c]) => [k, [c.stream, c.durable, c.filterSubject]]),
    );
    expect(summary).toEqual({
      scanner: ['MAIL', 'scanner', 'mail.accepted'],
      router: ['MAIL', 'router', 'mail.scanned'],
      deliveryLocal: ['MAIL', 'delivery-local', 'mail.deliver.local.>'],
      deliveryRemote: ['MAIL', 'delivery-remote', 'mail.deliver.remote.>'],
      quarantine: ['MAIL', 'quarantine', 'mail.quarantined'],
      auditArchiver: ['AUDIT', 'audit-archiver', 'audit.>'],
    });
    for (const c of Object.values(consumers)) {
      // Mail is never dropped silently: redeliver until acked or termed.
      expect(c.maxDeliver).toBe(-1);
      expect(c.ackWaitMs).toBeGreaterThanOrEqual(30_000);
      expect(c.maxAckPending).toBeGreaterThan(0);
      expect(c.description).not.toBe('');
    }
  });

  it('stream and durable names are valid, distinct JetStream names', () => {
    const names = [
      ...Object.values(streams).map((s) => s.name),
      ...Object.values(consumers).map((c) => c.durable),
    ];
    expect(new Set(names).size).toBe(names.length);
    // JetStream names must not contain whitespace, ".", "*", ">", path separators.
    for (const n of names) expect(n).toMatch(/^[A-Za-z0-9_-]{1,32}$/);
  });
});
