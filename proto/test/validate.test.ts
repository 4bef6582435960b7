import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { describe, expect, it } from 'vitest';
import {
  inlineBodyMaxBytes,
  AuditRecordSchema,
  DeliveryEventSchema,
  DeliveryJobSchema,
  DsnNotify,
  type DsnRet,
  EnvelopeSchema,
  InlineScanReplySchema,
  InlineScanRequestSchema,
  Listener,
  LoadReportSchema,
  Origin,
  Outcome,
  RouteKind,
  ScanResultSchema,
  TlsPolicy,
  Verdict,
  validateAuditRecord,
  validateDeliveryEvent,
  validateDeliveryJob,
  validateEnvelope,
  validateInlineScanReply,
  validateInlineScanRequest,
  validateLoadReport,
  validateScanResult,
  type AuditRecord,
  type DeliveryEvent,
  type DeliveryJob,
  type Envelope,
  type InlineScanReply,
  type InlineScanRequest,
  type LoadReport,
  type Problem,
  type ScanResult,
} from '../src/index.js';
import * as fx from './fixtures.js';

/** A named change to a valid message and the exact problem paths it must produce. */
type Case<T> = [name: string, mutate: (m: T) => void, paths: string[]];

function runCases<T>(make: () => T, validate: (m: T) => Problem[], cases: Case<T>[]): void {
  it('accepts the valid fixture', () => {
    expect(validate(make())).toEqual([]);
  });
  it.each(cases)('%s', (_name, mutate, paths) => {
    const m = make();
    mutate(m);
    const problems = validate(m);
    expect(problems.map((p) => p.path)).toEqual(paths);
    for (const p of problems) expect(p.problem).not.toBe('');
  });
}

const now = () => timestampFromDate(new Date('2016-07-30T23:54:10Z'));
const first = <T>(list: T[]): T => {
  const x = list[0];
  if (x === undefined) throw new Error('empty fixture list');
  return x;
};

describe('validateEnvelope', () => {
  runCases<Envelope>(fx.envelope, validateEnvelope, [
    ['lowercase mail id', (m) => void (m.mailId = m.mailId.toLowerCase()), ['mailId']],
    ['empty mail id', (m) => void (m.mailId = ''), ['mailId']],
    ['missing receivedAt', (m) => void delete m.receivedAt, ['receivedAt']],
    ['origin unspecified', (m) => void (m.origin = Origin.UNSPECIFIED), ['origin']],
    ['origin unknown', (m) => void (m.origin = 42 as Origin), ['origin']],
    ['listener unspecified', (m) => void (m.listener = Listener.UNSPECIFIED), ['listener']],
    ['client ip not an IP', (m) => void (m.client!.ip = 'pc17'), ['client.ip']],
    ['client port > 65535', (m) => void (m.client!.port = 70_000), ['client.port']],
    ['proxy ip not an IP', (m) => void (m.client!.proxyIp = '10.0.0'), ['client.proxyIp']],
    ['proxy port > 65535', (m) => void (m.client!.proxyPort = 65_536), ['client.proxyPort']],
    ['mail_from without @', (m) => void (m.mailFrom = 'alice'), ['mailFrom']],
    ['mail_from with CRLF', (m) => void (m.mailFrom = 'a@b\r\nRCPT TO:<x@y>'), ['mailFrom']],
    ['mail_from with <>', (m) => void (m.mailFrom = '<alice@x.y>'), ['mailFrom']],
    ['no recipients', (m) => void (m.recipients = []), ['recipients']],
    [
      'inline body shorter than size',
      (m) => void (m.body = new Uint8Array(Number(m.size) - 1)),
      ['body'],
    ],
    [
      'inline body over the inline limit',
      (m) => {
        m.body = new Uint8Array(inlineBodyMaxBytes + 1);
        m.size = BigInt(inlineBodyMaxBytes + 1);
      },
      ['body'],
    ],
    ['spool length not the size', (m) => void (m.spool!.length = m.size + 1n), ['spool.length']],
    ['recipient empty', (m) => void (first(m.recipients).address = ''), ['recipients[0].address']],
    [
      'recipient without domain',
      (m) => void (m.recipients[1]!.address = 'carol@'),
      ['recipients[1].address'],
    ],
    [
      'recipient without local part',
      (m) => void (first(m.recipients).address = '@bj.company.local'),
      ['recipients[0].address'],
    ],
    [
      'recipient with LF',
      (m) => void (first(m.recipients).address = 'bob@bj\n.company.local'),
      ['recipients[0].address'],
    ],
    [
      'recipient with NUL',
      (m) => void (first(m.recipients).address = 'bob\0@bj.company.local'),
      ['recipients[0].address'],
    ],
    [
      'recipient with space in local part',
      (m) => void (first(m.recipients).address = 'bob smith@bj.company.local'),
      ['recipients[0].address'],
    ],
    [
      'recipient with unclosed quote',
      (m) => void (first(m.recipients).address = '"bob@bj.company.local'),
      ['recipients[0].address'],
    ],
    [
      'recipient with empty domain label',
      (m) => void (first(m.recipients).address = 'bob@bj..company.local'),
      ['recipients[0].address'],
    ],
    [
      'recipient local part > 64 octets',
      (m) => void (first(m.recipients).address = `${'b'.repeat(65)}@x.y`),
      ['recipients[0].address'],
    ],
    [
      'recipient domain > 255 octets',
      (m) => void (first(m.recipients).address = `b@${'x'.repeat(256)}`),
      ['recipients[0].address'],
    ],
    [
      'ORCPT with CR',
      (m) => void (first(m.recipients).original = 'rfc822;bob@x.y\r'),
      ['recipients[0].original'],
    ],
    [
      'NOTIFY unspecified value',
      (m) => void first(m.recipients).notify.push(DsnNotify.UNSPECIFIED),
      ['recipients[0].notify[2]'],
    ],
    [
      'NOTIFY=NEVER combined',
      (m) => void m.recipients[1]!.notify.push(DsnNotify.SUCCESS),
      ['recipients[1].notify'],
    ],
    ['size zero', (m) => void (m.size = 0n), ['size']],
    ['sha256 uppercase', (m) => void (m.sha256 = m.sha256.toUpperCase()), ['sha256']],
    ['sha256 short', (m) => void (m.sha256 = m.sha256.slice(1)), ['sha256']],
    ['spool missing', (m) => void delete m.spool, ['spool']],
    ['spool bucket empty', (m) => void (m.spool!.bucket = ''), ['spool.bucket']],
    ['spool key empty', (m) => void (m.spool!.key = ''), ['spool.key']],
    ['dsn_ret unknown', (m) => void (m.dsnRet = 9 as DsnRet), ['dsnRet']],
    [
      'several defects at once, in field order',
      (m) => {
        m.mailId = 'x';
        m.recipients = [];
        m.sha256 = '';
      },
      ['mailId', 'recipients', 'sha256'],
    ],
  ]);

  it('accepts an inline body of exactly size bytes and a segment range', () => {
    const m = fx.envelope();
    m.body = new Uint8Array(Number(m.size)).fill(0x61);
    m.spool = { ...m.spool!, offset: 4096n, length: m.size };
    expect(validateEnvelope(m)).toEqual([]);
  });

  it('accepts the null sender, internal mail and valid address forms', () => {
    const m = fx.envelope();
    m.mailFrom = '';
    delete m.client;
    delete m.tls;
    delete m.auth;
    delete m.spf;
    m.origin = Origin.DSN;
    m.listener = Listener.INTERNAL;
    m.recipients = [
      { address: 'postmaster@localhost' },
      { address: 'user+tag@[10.0.0.1]' },
      { address: 'Mixed.Case@Example.COM' },
      { address: '"quoted \\" local"@example.com' },
      { address: 'пользователь@пример.рф' },
    ].map((r) => create(EnvelopeSchema, { recipients: [r] }).recipients[0]!);
    m.client = create(EnvelopeSchema, { client: { ip: '2001:db8::1', port: 25 } }).client;
    expect(validateEnvelope(m)).toEqual([]);
  });

  it('an empty message reports every required field', () => {
    expect(validateEnvelope(create(EnvelopeSchema)).map((p) => p.path)).toEqual([
      'mailId',
      'receivedAt',
      'origin',
      'listener',
      'recipients',
      'size',
      'sha256',
      'spool',
    ]);
  });
});

describe('validateScanResult', () => {
  runCases<ScanResult>(fx.scanResult, validateScanResult, [
    ['bad mail id', (m) => void (m.mailId = 'x'), ['mailId']],
    ['mail id differs from envelope', (m) => void (m.mailId = fx.OTHER_MAIL_ID), ['mailId']],
    ['envelope missing', (m) => void delete m.envelope, ['envelope']],
    [
      'envelope invalid: paths are prefixed',
      (m) => void (m.envelope!.recipients[0]!.address = 'nobody'),
      ['envelope.recipients[0].address'],
    ],
    ['envelope spool missing', (m) => void delete m.envelope!.spool, ['envelope.spool']],
    ['verdict unspecified', (m) => void (m.verdict = Verdict.UNSPECIFIED), ['verdict']],
    ['verdict unknown', (m) => void (m.verdict = 7 as Verdict), ['verdict']],
    ['reason without check', (m) => void (m.reasons[1]!.check = ''), ['reasons[1].check']],
    [
      'reason action unspecified',
      (m) => void (m.reasons[0]!.action = Verdict.UNSPECIFIED),
      ['reasons[0].action'],
    ],
    [
      'header name with colon',
      (m) => void (m.headersToAdd[0]!.name = 'X-A:'),
      ['headersToAdd[0].name'],
    ],
    ['header name empty', (m) => void (m.headersToAdd[1]!.name = ''), ['headersToAdd[1].name']],
    [
      'header value injects a field',
      (m) => void (m.headersToAdd[0]!.value = 'tag\r\nBcc: evil@x.y'),
      ['headersToAdd[0].value'],
    ],
    ['spam score NaN', (m) => void (m.spamScore = Number.NaN), ['spamScore']],
    ['scannedAt missing', (m) => void delete m.scannedAt, ['scannedAt']],
  ]);

  it('an empty message reports every required field', () => {
    expect(validateScanResult(create(ScanResultSchema)).map((p) => p.path)).toEqual([
      'mailId',
      'envelope',
      'verdict',
      'scannedAt',
    ]);
  });
});

describe('validateDeliveryJob', () => {
  runCases<DeliveryJob>(fx.deliveryJob, validateDeliveryJob, [
    ['bad mail id', (m) => void (m.mailId = ''), ['mailId']],
    ['envelope missing', (m) => void delete m.envelope, ['envelope']],
    ['envelope of another mail', (m) => void (m.envelope!.mailId = fx.OTHER_MAIL_ID), ['mailId']],
    ['envelope invalid', (m) => void (m.envelope!.size = 0n), ['envelope.size']],
    [
      'scan of another mail',
      (m) => void (m.scan!.mailId = fx.OTHER_MAIL_ID),
      ['scan.mailId', 'scan.mailId'],
    ],
    ['scan invalid', (m) => void (m.scan!.verdict = Verdict.UNSPECIFIED), ['scan.verdict']],
    ['no recipients', (m) => void (m.recipients = []), ['recipients']],
    [
      'recipient not an address',
      (m) => void (m.recipients[0]!.address = 'bob'),
      ['recipients[0].address'],
    ],
    ['route missing', (m) => void delete m.route, ['route']],
    ['route kind unspecified', (m) => void (m.route!.kind = RouteKind.UNSPECIFIED), ['route.kind']],
    ['route domain empty', (m) => void (m.route!.domain = ''), ['route.domain']],
    [
      'route domain uppercase',
      (m) => void (m.route!.domain = 'BJ.company.local'),
      ['route.domain'],
    ],
    ['route domain wildcard', (m) => void (m.route!.domain = '*'), ['route.domain']],
    ['remote next hop empty', (m) => void (m.route!.nextHop = ''), ['route.nextHop']],
    ['remote next hop with >', (m) => void (m.route!.nextHop = 'relay.>'), ['route.nextHop']],
    ['remote tls unspecified', (m) => void (m.route!.tls = TlsPolicy.UNSPECIFIED), ['route.tls']],
    ['port > 65535', (m) => void (m.route!.port = 65_536), ['route.port']],
    [
      'local next hop, if given, must be a DNS name',
      (m) => {
        m.route!.kind = RouteKind.LOCAL;
        m.route!.nextHop = 'Mailstore';
      },
      ['route.nextHop'],
    ],
    [
      'header value with LF',
      (m) => void (m.headersToAdd[0]!.value = 'a\nb'),
      ['headersToAdd[0].value'],
    ],
  ]);

  it('accepts a local route without next hop or TLS policy, and no scan', () => {
    const m = fx.deliveryJob();
    m.route = create(DeliveryJobSchema, {
      route: { kind: RouteKind.LOCAL, domain: 'bj.company.local' },
    }).route;
    delete m.scan;
    delete m.firstAttemptAt;
    expect(validateDeliveryJob(m)).toEqual([]);
  });

  it('accepts an MX route to the recipient domain', () => {
    const m = fx.deliveryJob();
    m.route!.nextHop = 'example.com';
    m.route!.mx = true;
    m.route!.port = 0;
    m.route!.tls = TlsPolicy.OPPORTUNISTIC;
    expect(validateDeliveryJob(m)).toEqual([]);
  });

  it('an empty message reports every required field', () => {
    expect(validateDeliveryJob(create(DeliveryJobSchema)).map((p) => p.path)).toEqual([
      'mailId',
      'envelope',
      'recipients',
      'route',
    ]);
  });
});

describe('validateDeliveryEvent', () => {
  runCases<DeliveryEvent>(fx.deliveryEvent, validateDeliveryEvent, [
    ['bad mail id', (m) => void (m.mailId = 'x'), ['mailId']],
    ['unknown stage', (m) => void (m.stage = 'smtp'), ['stage']],
    ['empty stage', (m) => void (m.stage = ''), ['stage']],
    ['recipient not an address', (m) => void (m.recipient = 'bob'), ['recipient']],
    ['outcome unspecified', (m) => void (m.outcome = Outcome.UNSPECIFIED), ['outcome']],
    ['outcome unknown', (m) => void (m.outcome = 99 as Outcome), ['outcome']],
    ['smtp code 199', (m) => void (m.smtpCode = 199), ['smtpCode']],
    ['smtp code 600', (m) => void (m.smtpCode = 600), ['smtpCode']],
    ['enhanced code class 3', (m) => void (m.enhancedCode = '3.0.0'), ['enhancedCode']],
    ['enhanced code malformed', (m) => void (m.enhancedCode = '4.4'), ['enhancedCode']],
    ['at missing', (m) => void delete m.at, ['at']],
  ]);

  it('accepts a whole-mail event without codes or recipient', () => {
    const m = create(DeliveryEventSchema, {
      mailId: fx.MAIL_ID,
      stage: 'ingress',
      outcome: Outcome.ACCEPTED,
      at: now(),
    });
    expect(validateDeliveryEvent(m)).toEqual([]);
  });
});

describe('validateAuditRecord', () => {
  const session = (m: AuditRecord) => {
    if (m.body.case !== 'session') throw new Error('fixture is not a session');
    return m.body.value;
  };
  const message = (m: AuditRecord) => {
    if (m.body.case !== 'message') throw new Error('fixture is not a message');
    return m.body.value;
  };
  const admin = (m: AuditRecord) => {
    if (m.body.case !== 'admin') throw new Error('fixture is not admin');
    return m.body.value;
  };

  describe('session records', () => {
    runCases<AuditRecord>(fx.sessionAudit, validateAuditRecord, [
      ['seq 0', (m) => void (m.seq = 0n), ['seq']],
      ['prev hash missing after seq 1', (m) => void (m.prevHash = ''), ['prevHash']],
      ['prev hash uppercase', (m) => void (m.prevHash = 'A'.repeat(64)), ['prevHash']],
      ['hash missing', (m) => void (m.hash = ''), ['hash']],
      ['at missing', (m) => void delete m.at, ['at']],
      ['mail id malformed', (m) => void (m.mailId = 'x'), ['mailId']],
      ['unknown kind', (m) => void (m.kind = 'smtp'), ['kind']],
      ['kind does not match body', (m) => void (m.kind = 'admin'), ['session']],
      ['body missing', (m) => void (m.body = { case: undefined }), ['body']],
      ['session id empty', (m) => void (session(m).sessionId = ''), ['session.sessionId']],
      ['startedAt missing', (m) => void delete session(m).startedAt, ['session.startedAt']],
      [
        'listener unspecified',
        (m) => void (session(m).listener = Listener.UNSPECIFIED),
        ['session.listener'],
      ],
      [
        'transaction mail id malformed',
        (m) => void (session(m).transactions[0]!.mailId = 'x'),
        ['session.transactions[0].mailId'],
      ],
    ]);

    it('records what the client sent, even invalid addresses', () => {
      const m = fx.sessionAudit();
      session(m).transactions[0]!.mailFrom = 'garbage\r\n';
      session(m).transactions[0]!.mailId = '';
      expect(validateAuditRecord(m)).toEqual([]);
    });
  });

  describe('message records', () => {
    runCases<AuditRecord>(fx.messageAudit, validateAuditRecord, [
      ['prev hash set at seq 1', (m) => void (m.prevHash = 'a'.repeat(64)), ['prevHash']],
      ['record mail id differs', (m) => void (m.mailId = fx.OTHER_MAIL_ID), ['mailId']],
      ['body mail id malformed', (m) => void (message(m).mailId = ''), ['message.mailId']],
      ['event missing', (m) => void delete message(m).event, ['message.event']],
      [
        'event of another mail',
        (m) => void (message(m).event!.mailId = fx.OTHER_MAIL_ID),
        ['message.event.mailId'],
      ],
      [
        'event invalid: paths are prefixed',
        (m) => void (message(m).event!.stage = 'x'),
        ['message.event.stage'],
      ],
    ]);
  });

  describe('admin and config records', () => {
    runCases<AuditRecord>(fx.adminAudit, validateAuditRecord, [
      ['action empty', (m) => void (admin(m).action = ''), ['admin.action']],
      [
        'detail not JSON',
        (m) => void (admin(m).detailJson = '{generation:3}'),
        ['admin.detailJson'],
      ],
      ['kind message with admin body', (m) => void (m.kind = 'message'), ['admin']],
    ]);

    it('accepts kind admin with an admin body and no detail', () => {
      const m = fx.adminAudit();
      m.kind = 'admin';
      admin(m).detailJson = '';
      expect(validateAuditRecord(m)).toEqual([]);
    });
  });

  it('an empty record reports every required field', () => {
    expect(validateAuditRecord(create(AuditRecordSchema)).map((p) => p.path)).toEqual([
      'seq',
      'prevHash',
      'hash',
      'at',
      'kind',
      'body',
    ]);
  });
});

describe('validateLoadReport', () => {
  runCases<LoadReport>(fx.loadReport, validateLoadReport, [
    ['unknown service', (m) => void (m.service = 'haraka'), ['service']],
    ['instance empty', (m) => void (m.instance = ''), ['instance']],
    ['instance with a space', (m) => void (m.instance = 'pod ns'), ['instance']],
    ['at missing', (m) => void delete m.at, ['at']],
  ]);

  it('an empty report reports every required field', () => {
    expect(validateLoadReport(create(LoadReportSchema)).map((p) => p.path)).toEqual([
      'service',
      'instance',
      'at',
    ]);
  });
});

describe('validateInlineScanRequest', () => {
  runCases<InlineScanRequest>(fx.inlineScanRequest, validateInlineScanRequest, [
    ['envelope missing', (m) => void delete m.envelope, ['envelope']],
    [
      'envelope invalid: paths are prefixed',
      (m) => void (m.envelope!.sha256 = 'abc'),
      ['envelope.sha256'],
    ],
    ['envelope without spool', (m) => void delete m.envelope!.spool, ['envelope.spool']],
    ['no deadline', (m) => void (m.deadlineMs = 0), ['deadlineMs']],
  ]);

  it('an empty request reports every required field', () => {
    expect(validateInlineScanRequest(create(InlineScanRequestSchema)).map((p) => p.path)).toEqual([
      'envelope',
      'deadlineMs',
    ]);
  });
});

describe('validateInlineScanReply', () => {
  runCases<InlineScanReply>(fx.inlineScanReply, validateInlineScanReply, [
    ['bad mail id', (m) => void (m.mailId = 'nope'), ['mailId']],
    [
      'verdict unspecified without error',
      (m) => void (m.verdict = Verdict.UNSPECIFIED),
      ['verdict'],
    ],
    ['verdict unknown', (m) => void (m.verdict = 9 as Verdict), ['verdict']],
    ['verdict and error at once', (m) => void (m.error = 'clamd down'), ['verdict']],
    ['reason without check', (m) => void (m.reasons[0]!.check = ''), ['reasons[0].check']],
    [
      'reason action unknown',
      (m) => void (m.reasons[1]!.action = 12 as Verdict),
      ['reasons[1].action'],
    ],
    [
      'header value injects a field',
      (m) => void (m.headersToAdd[0]!.value = 'x\nBcc: evil@x.y'),
      ['headersToAdd[0].value'],
    ],
    ['spam score infinite', (m) => void (m.spamScore = Number.POSITIVE_INFINITY), ['spamScore']],
  ]);

  it('accepts an error reply without a verdict', () => {
    expect(validateInlineScanReply(fx.inlineScanError())).toEqual([]);
  });

  it('an empty reply reports every required field', () => {
    expect(validateInlineScanReply(create(InlineScanReplySchema)).map((p) => p.path)).toEqual([
      'mailId',
      'verdict',
    ]);
  });
});
