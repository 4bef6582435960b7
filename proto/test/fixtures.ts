/** Valid, fully populated messages of every type; each call returns fresh objects. */
import { clone, create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import {
  AuditRecordSchema,
  type AuditRecord,
  DeliveryEventSchema,
  type DeliveryEvent,
  DeliveryJobSchema,
  type DeliveryJob,
  DsnNotify,
  DsnRet,
  EnvelopeSchema,
  type Envelope,
  InlineScanReplySchema,
  type InlineScanReply,
  InlineScanRequestSchema,
  type InlineScanRequest,
  Listener,
  LoadReportSchema,
  type LoadReport,
  Origin,
  Outcome,
  RecipientSchema,
  RouteKind,
  ScanResultSchema,
  type ScanResult,
  SpfResultCode,
  TlsPolicy,
  Verdict,
  objectBuckets,
  spoolKey,
} from '../src/index.js';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** A ULID whose timestamp is `ms`, with a fixed random part. */
export function ulidAt(ms: number, random = 'SV4RRFFQ69G5FAV0'): string {
  let time = '';
  for (let i = 0, t = ms; i < 10; i++, t = Math.floor(t / 32)) time = CROCKFORD[t % 32] + time;
  return time + random;
}

/** The example ULID of the ULID spec: 2016-07-30T23:54:10.259Z. */
export const MAIL_ID = '01ARZ3NDEKTSV4RRFFQ69G5FAV';
export const OTHER_MAIL_ID = '01ARZ3NDEKTSV4RRFFQ69G5FAW';
const at = (iso: string) => timestampFromDate(new Date(iso));
const SHA = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export function envelope(): Envelope {
  return create(EnvelopeSchema, {
    mailId: MAIL_ID,
    receivedAt: at('2016-07-30T23:54:10.259Z'),
    origin: Origin.SMTP,
    listener: Listener.SUBMISSION,
    client: {
      ip: '10.1.2.3',
      port: 51234,
      helo: 'pc17.sh.company.local',
      reverseName: 'pc17.sh.company.local',
      proxyIp: '10.0.0.1',
      proxyPort: 40000,
    },
    tls: {
      version: 'TLSv1.3',
      cipher: 'TLS_AES_256_GCM_SHA384',
      sni: 'mail.company.local',
      clientCertSubject: '',
    },
    auth: { user: 'alice@sh.company.local', mechanism: 'PLAIN' },
    mailFrom: 'alice@sh.company.local',
    recipients: [
      {
        address: 'bob@bj.company.local',
        original: 'rfc822;bob@bj.company.local',
        notify: [DsnNotify.FAILURE, DsnNotify.DELAY],
      },
      { address: '"carol smith"@example.com', original: '', notify: [DsnNotify.NEVER] },
    ],
    size: 2048n,
    sha256: SHA,
    spool: { bucket: objectBuckets.spool, key: spoolKey(MAIL_ID) },
    spf: { result: SpfResultCode.PASS, domain: 'sh.company.local', explanation: 'ip4 match' },
    trace: {
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      tracestate: 'mm=1',
    },
    messageId: '<abc@pc17.sh.company.local>',
    subject: 'Quarterly report',
    fromHeader: 'alice@sh.company.local',
    dsnRet: DsnRet.HDRS,
    envid: 'QQ314159',
    ingressInstance: 'ingress-7d9f8b6c4-x2k9p',
  });
}

export function scanResult(): ScanResult {
  return create(ScanResultSchema, {
    mailId: MAIL_ID,
    envelope: envelope(),
    verdict: Verdict.TAG,
    reasons: [
      { check: 'spam', rule: 'BAYES_99', action: Verdict.TAG, detail: 'score 6.1' },
      { check: 'dlp', rule: 'keywords', action: Verdict.PASS, detail: 'matched "c***"' },
    ],
    headersToAdd: [
      { name: 'X-Mailmesh-Verdict', value: 'tag' },
      { name: 'X-Mailmesh-Spam-Score', value: '6.1\t(threshold 5)' },
    ],
    junk: true,
    spamScore: 6.1,
    scanIncomplete: false,
    scannedAt: at('2016-07-30T23:54:11Z'),
    scannerInstance: 'scanner-0',
  });
}

export function inlineScanRequest(): InlineScanRequest {
  return create(InlineScanRequestSchema, { envelope: envelope(), deadlineMs: 10_000 });
}

/** A reject verdict, as a DLP hit gives. */
export function inlineScanReply(): InlineScanReply {
  return create(InlineScanReplySchema, {
    mailId: MAIL_ID,
    verdict: Verdict.REJECT,
    reasons: [
      {
        check: 'dlp',
        rule: 'group-dlp/top-secret',
        action: Verdict.REJECT,
        detail: '1 match: 绝*',
      },
      { check: 'spam', rule: 'group-dlp/tag', action: Verdict.TAG, detail: 'score 5.2' },
    ],
    headersToAdd: [{ name: 'X-Mailmesh-Verdict', value: 'reject' }],
    junk: false,
    spamScore: 5.2,
    scanIncomplete: false,
    error: '',
    scannerInstance: 'scanner-0',
  });
}

/** No verdict: the requester applies its fallback. */
export function inlineScanError(): InlineScanReply {
  return create(InlineScanReplySchema, {
    mailId: MAIL_ID,
    error: 'antivirus unavailable: connection refused',
    scannerInstance: 'scanner-0',
  });
}

export function deliveryJob(): DeliveryJob {
  const env = envelope();
  return create(DeliveryJobSchema, {
    mailId: MAIL_ID,
    envelope: env,
    scan: scanResult(),
    recipients: env.recipients.slice(0, 1).map((r) => clone(RecipientSchema, r)),
    route: {
      kind: RouteKind.REMOTE,
      domain: 'bj.company.local',
      nextHop: 'relay.company.local',
      port: 587,
      tls: TlsPolicy.REQUIRED,
      authSecretRef: 'relay-credentials',
      mx: false,
    },
    attempt: 1,
    firstAttemptAt: at('2016-07-30T23:54:12Z'),
    headersToAdd: [{ name: 'X-Mailmesh-Id', value: MAIL_ID }],
    junk: false,
  });
}

export function deliveryEvent(): DeliveryEvent {
  return create(DeliveryEventSchema, {
    mailId: MAIL_ID,
    stage: 'delivery',
    recipient: 'bob@bj.company.local',
    outcome: Outcome.TEMPFAIL,
    smtpCode: 451,
    enhancedCode: '4.4.1',
    message: 'connection refused',
    attempt: 2,
    at: at('2016-07-30T23:55:00Z'),
    nextAttemptAt: at('2016-07-30T23:59:00Z'),
    remoteHost: 'relay.company.local',
    detail: 'ECONNREFUSED 10.0.0.9:587',
  });
}

const HASH_A = 'a'.repeat(64);
const HASH_B = 'b'.repeat(64);

export function sessionAudit(): AuditRecord {
  return create(AuditRecordSchema, {
    seq: 7n,
    prevHash: HASH_A,
    hash: HASH_B,
    kind: 'session',
    at: at('2016-07-30T23:54:20Z'),
    actor: 'ingress-7d9f8b6c4-x2k9p',
    mailId: '',
    body: {
      case: 'session',
      value: {
        sessionId: 'S-42',
        startedAt: at('2016-07-30T23:54:09Z'),
        endedAt: at('2016-07-30T23:54:20Z'),
        listener: Listener.SUBMISSION,
        client: envelope().client,
        tls: envelope().tls,
        helo: 'pc17.sh.company.local',
        authUser: 'alice@sh.company.local',
        transactions: [
          {
            mailFrom: 'alice@sh.company.local',
            rcptTo: ['bob@bj.company.local', 'not an address'],
            replies: [
              { command: 'MAIL', code: 250, enhanced: '2.1.0', text: 'OK' },
              { command: 'RCPT', code: 250, enhanced: '2.1.5', text: 'OK' },
              { command: 'RCPT', code: 501, enhanced: '5.1.3', text: 'bad address' },
              { command: 'DATA', code: 250, enhanced: '2.0.0', text: `queued as ${MAIL_ID}` },
            ],
            mailId: MAIL_ID,
            bytes: 2048n,
            queued: true,
          },
        ],
        replies: [{ command: 'CONNECT', code: 220, enhanced: '', text: 'mail.company.local' }],
        bytesIn: 2300n,
        bytesOut: 640n,
        ingressInstance: 'ingress-7d9f8b6c4-x2k9p',
      },
    },
  });
}

export function messageAudit(): AuditRecord {
  return create(AuditRecordSchema, {
    seq: 1n,
    prevHash: '',
    hash: HASH_A,
    kind: 'message',
    at: at('2016-07-30T23:55:00Z'),
    actor: 'delivery-0',
    mailId: MAIL_ID,
    body: { case: 'message', value: { mailId: MAIL_ID, event: deliveryEvent() } },
  });
}

export function adminAudit(): AuditRecord {
  return create(AuditRecordSchema, {
    seq: 8n,
    prevHash: HASH_B,
    hash: HASH_A,
    kind: 'config',
    at: at('2016-07-30T23:56:00Z'),
    actor: 'system:serviceaccount:mailmesh:operator',
    mailId: '',
    body: {
      case: 'admin',
      value: {
        action: 'config.apply',
        target: 'MailPolicy/default',
        detailJson: '{"generation":3}',
      },
    },
  });
}

export function loadReport(): LoadReport {
  return create(LoadReportSchema, {
    service: 'ingress',
    instance: 'ingress-7d9f8b6c4-x2k9p',
    activeSessions: 37,
    at: at('2016-07-30T23:56:00Z'),
  });
}
