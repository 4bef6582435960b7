/**
 * Every name Mailmesh puts on the wire: NATS subjects, JetStream streams and
 * consumers, KV buckets and keys, S3 buckets and object keys, NATS header names
 * and the RFC 5322 header fields Mailmesh adds to mail. DESIGN.md rule 4: no
 * other module spells one of these by hand.
 *
 * Subject grammar (tokens separated by "."):
 *
 *   mail.accepted                       envelope of a mail ingress stored durably
 *   mail.scanned                        envelope + verdict from the scanner
 *   mail.quarantined                    envelope + verdict, body in bucket "quarantine"
 *   mail.deliver.local.<domain>         delivery job for mailboxes of <domain>
 *   mail.deliver.remote.<route>         delivery job for a next hop (smart host or MX)
 *   event.<stage>.<mailId>              lifecycle event of one mail (message trace)
 *   audit.<kind>                        audit record (session, message, admin, ...)
 *   rpc.scan.inline                     request/reply: inline (before-queue) scan,
 *                                       served by queue group `queueGroups.inlineScan`
 *
 * <domain> and <route> are lowercase DNS names whose labels become subject tokens
 * (`mail.deliver.local.sh.company.local`), so a consumer can filter one domain
 * exactly or all of them with `mail.deliver.local.>`.
 */

// ---------------------------------------------------------------------------
// Identifiers

/**
 * A mail id is a ULID: 26 Crockford base32 characters, time-ordered. The first
 * character is 0-7 because the 48-bit timestamp fills only 3 bits of it; larger
 * values overflow (ULID spec: "must reject").
 */
export const MAIL_ID_PATTERN = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;

/** Pipeline stages; each one is the `<stage>` of a msg-id and of an event subject. */
export const stages = [
  'ingress',
  'scanner',
  'router',
  'delivery',
  'mailstore',
  'api',
  'operator',
] as const;
export type Stage = (typeof stages)[number];

/** Thrown by a builder given a value that would produce an invalid or ambiguous name. */
export class InvalidNameError extends Error {
  override readonly name = 'InvalidNameError';
  constructor(
    readonly kind: string,
    readonly value: string,
    readonly reason: string,
  ) {
    super(`invalid ${kind} ${JSON.stringify(value)}: ${reason}`);
  }
}

/** Checks at run time what `Stage` checks at compile time: `stage` becomes a subject token. */
export function assertStage(stage: string): Stage {
  if (!(stages as readonly string[]).includes(stage)) {
    throw new InvalidNameError('stage', stage, `expected one of ${stages.join(', ')}`);
  }
  return stage as Stage;
}

export function assertMailId(mailId: string): string {
  if (!MAIL_ID_PATTERN.test(mailId)) {
    throw new InvalidNameError('mail id', mailId, 'expected a 26-character ULID');
  }
  return mailId;
}

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * A lowercase DNS name usable as subject tokens: 1-253 characters, labels of
 * [a-z0-9-] that neither start nor end with "-". No trailing dot.
 */
export function assertDnsName(kind: string, name: string): string {
  if (name.length === 0 || name.length > 253) {
    throw new InvalidNameError(kind, name, 'must be 1-253 characters');
  }
  for (const label of name.split('.')) {
    if (!LABEL.test(label)) {
      throw new InvalidNameError(
        kind,
        name,
        `label ${JSON.stringify(label)} must be lowercase letters, digits and inner hyphens`,
      );
    }
  }
  return name;
}

const TOKEN = /^[a-z0-9][a-z0-9_-]*$/;

function assertToken(kind: string, token: string): string {
  if (!TOKEN.test(token) || token.length > 64) {
    throw new InvalidNameError(kind, token, 'must be one lowercase token of [a-z0-9_-]');
  }
  return token;
}

// ---------------------------------------------------------------------------
// Subjects

export const subjects = {
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

  /** `mail.deliver.local.<domain>` */
  deliverLocal(domain: string): string {
    return `mail.deliver.local.${assertDnsName('domain', domain)}`;
  },
  /** `mail.deliver.remote.<route>`; a route is the next hop's DNS name. */
  deliverRemote(route: string): string {
    return `mail.deliver.remote.${assertDnsName('route', route)}`;
  },
  /** `event.<stage>.<mailId>` */
  event(stage: Stage, mailId: string): string {
    return `event.${assertStage(stage)}.${assertMailId(mailId)}`;
  },
  /** `event.*.<mailId>`: every event of one mail, for the message trace. */
  eventsOf(mailId: string): string {
    return `event.*.${assertMailId(mailId)}`;
  },
  /** `audit.<kind>`, kind one token such as `session`, `message`, `admin`. */
  audit(kind: AuditKind): string {
    return `audit.${assertToken('audit kind', kind)}`;
  },
} as const;

/**
 * NATS queue groups of request/reply services: each request goes to one member,
 * so a responder scales by running more processes (core NATS, not JetStream:
 * a request nobody answers in time is simply not answered).
 */
export const queueGroups = {
  /** Scanner processes answering `subjects.inlineScan`. */
  inlineScan: 'scanner-inline',
} as const;

export const auditKinds = ['session', 'message', 'admin', 'config'] as const;
export type AuditKind = (typeof auditKinds)[number];

export type DeliverSubject = { kind: 'local'; domain: string } | { kind: 'remote'; route: string };

/** Inverse of `subjects.deliverLocal` / `subjects.deliverRemote`; undefined if not one. */
export function parseDeliverSubject(subject: string): DeliverSubject | undefined {
  const m = /^mail\.deliver\.(local|remote)\.(.+)$/.exec(subject);
  if (!m?.[2]) return undefined;
  try {
    if (m[1] === 'local') return { kind: 'local', domain: assertDnsName('domain', m[2]) };
    return { kind: 'remote', route: assertDnsName('route', m[2]) };
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------
// JetStream streams and consumers

export type RetentionKind = 'workqueue' | 'limits';

export interface StreamSpec {
  readonly name: string;
  readonly subjects: readonly string[];
  readonly retention: RetentionKind;
  /** Maximum age in milliseconds; 0 = unlimited. */
  readonly maxAgeMs: number;
  /** Window in which a repeated Nats-Msg-Id is dropped as a duplicate. */
  readonly duplicateWindowMs: number;
  readonly description: string;
}

const DAY = 86_400_000;

export const streams = {
  /** The mail pipeline. Work-queue: a message leaves once its stage acks it. */
  mail: {
    name: 'MAIL',
    subjects: [subjects.mailAll],
    retention: 'workqueue',
    maxAgeMs: 14 * DAY,
    duplicateWindowMs: 2 * 60_000,
    description: 'Mail pipeline: accepted, scanned, quarantined, delivery jobs',
  },
  /** Lifecycle events per mail, read by message trace and notifiers. */
  events: {
    name: 'EVENTS',
    subjects: [subjects.eventAll],
    retention: 'limits',
    maxAgeMs: 30 * DAY,
    duplicateWindowMs: 2 * 60_000,
    description: 'Per-mail lifecycle events for message trace',
  },
  /** Hash-chained audit records, archived to S3. */
  audit: {
    name: 'AUDIT',
    subjects: [subjects.auditAll],
    retention: 'limits',
    maxAgeMs: 90 * DAY,
    duplicateWindowMs: 2 * 60_000,
    description: 'Tamper-evident audit trail of sessions, messages and admin actions',
  },
} as const satisfies Record<string, StreamSpec>;

export interface ConsumerSpec {
  readonly stream: string;
  readonly durable: string;
  readonly filterSubject: string;
  /** Time a delivered message may stay unacked before it is redelivered. */
  readonly ackWaitMs: number;
  readonly maxAckPending: number;
  /** -1 = redeliver until acked or termed (mail is never dropped silently). */
  readonly maxDeliver: number;
  readonly description: string;
}

export const consumers = {
  scanner: {
    stream: streams.mail.name,
    durable: 'scanner',
    filterSubject: subjects.accepted,
    ackWaitMs: 60_000,
    maxAckPending: 1_000,
    maxDeliver: -1,
    description: 'Scanner: accepted -> scanned | quarantined',
  },
  router: {
    stream: streams.mail.name,
    durable: 'router',
    filterSubject: subjects.scanned,
    ackWaitMs: 30_000,
    maxAckPending: 1_000,
    maxDeliver: -1,
    description: 'Router: scanned -> delivery jobs',
  },
  deliveryLocal: {
    stream: streams.mail.name,
    durable: 'delivery-local',
    filterSubject: subjects.deliverLocalAll,
    ackWaitMs: 60_000,
    maxAckPending: 1_000,
    maxDeliver: -1,
    description: 'Delivery to local mailboxes',
  },
  deliveryRemote: {
    stream: streams.mail.name,
    durable: 'delivery-remote',
    filterSubject: subjects.deliverRemoteAll,
    ackWaitMs: 120_000,
    maxAckPending: 1_000,
    maxDeliver: -1,
    description: 'Delivery to smart hosts and MX hosts',
  },
  quarantine: {
    stream: streams.mail.name,
    durable: 'quarantine',
    filterSubject: subjects.quarantined,
    ackWaitMs: 30_000,
    maxAckPending: 1_000,
    maxDeliver: -1,
    description: 'Quarantine index and notifications',
  },
  auditArchiver: {
    stream: streams.audit.name,
    durable: 'audit-archiver',
    filterSubject: subjects.auditAll,
    ackWaitMs: 60_000,
    maxAckPending: 10_000,
    maxDeliver: -1,
    description: 'Archives audit records to S3',
  },
} as const satisfies Record<string, ConsumerSpec>;

// ---------------------------------------------------------------------------
// KV buckets and keys

export interface KvSpec {
  readonly bucket: string;
  readonly history: number;
  /** Per-entry time to live in milliseconds; 0 = forever. */
  readonly ttlMs: number;
  readonly description: string;
}

export const kvBuckets = {
  /** Compiled configuration, written by the operator or `mailmesh apply`. */
  config: {
    bucket: 'mailmesh-config',
    history: 10,
    ttlMs: 0,
    description: 'Compiled MailDomain/MailPolicy configuration',
  },
  /** Load reports (e.g. active SMTP sessions) that the autoscaler reads. */
  load: {
    bucket: 'mailmesh-load',
    history: 1,
    ttlMs: 30_000,
    description: 'Per-instance load reports for the autoscaler',
  },
  /** Queue visibility: stage, destination, attempts, next attempt, last error per mail. */
  queue: {
    bucket: 'mailmesh-queue',
    history: 1,
    ttlMs: 14 * DAY,
    description: 'Per-mail queue state for `mailmesh queue`',
  },
  /** Mailbox index (UIDs, flags, modseq); bodies live in the mailbox S3 bucket. */
  mailbox: {
    bucket: 'mailmesh-mailbox',
    history: 1,
    ttlMs: 0,
    description: 'Mailbox store index',
  },
} as const satisfies Record<string, KvSpec>;

/** Keys of the `mailmesh-config` bucket. */
export const configKeys = {
  /** Platform-wide settings (listeners, limits, retry schedule). */
  platform: 'platform',
  domainPrefix: 'domain.',
  policyPrefix: 'policy.',
  /** `domain.<fqdn>`: one compiled MailDomain. */
  domain(fqdn: string): string {
    return `domain.${assertDnsName('domain', fqdn)}`;
  },
  /** `policy.<name>`: one compiled MailPolicy; a Kubernetes object name (DNS subdomain). */
  policy(name: string): string {
    return `policy.${assertDnsName('policy name', name)}`;
  },
} as const;

/** Keys of the `mailmesh-load` bucket: `<service>.<instance>`. */
export function loadKey(service: Stage, instance: string): string {
  return `${assertStage(service)}.${assertDnsName('instance', instance)}`;
}

/** Keys of the `mailmesh-queue` bucket: the mail id. */
export function queueKey(mailId: string): string {
  return assertMailId(mailId);
}

// ---------------------------------------------------------------------------
// S3 buckets and object keys

export const objectBuckets = {
  spool: 'spool',
  quarantine: 'quarantine',
  mailbox: 'mailbox',
  auditArchive: 'audit-archive',
} as const;
export type ObjectBucket = (typeof objectBuckets)[keyof typeof objectBuckets];

/**
 * The largest body that travels inline in the envelope (`Envelope.body`) as well as
 * in the spool. 64 KiB keeps every MAIL stream message far below nats-server's
 * default 1 MiB `max_payload` while covering the bulk of intranet mail, so the
 * scanner, router and delivery read no object for it.
 */
export const inlineBodyMaxBytes = 64 * 1024;

/**
 * Spool object of one mail: `<yyyy>/<mm>/<dd>/<mailId>.eml`, dated by the mail id's
 * timestamp so lifecycle rules and listings can work per day.
 */
export function spoolKey(mailId: string): string {
  assertMailId(mailId);
  const d = new Date(ulidTime(mailId));
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}/${p(d.getUTCMonth() + 1)}/${p(d.getUTCDate())}/${mailId}.eml`;
}

/**
 * Spool segment: the bodies of several small mails that one ingress stored with
 * one PUT, back to back (`SpoolRef.offset`/`length` locate each). Named after the
 * first mail in it and dated like spoolKey: `<yyyy>/<mm>/<dd>/<mailId>.segment`.
 */
export function spoolSegmentKey(firstMailId: string): string {
  return spoolKey(firstMailId).replace(/\.eml$/, '.segment');
}

/** Quarantine object of one mail: `<mailId>.eml`. */
export function quarantineKey(mailId: string): string {
  return `${assertMailId(mailId)}.eml`;
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** Milliseconds since the epoch encoded in a ULID's first 10 characters. */
export function ulidTime(mailId: string): number {
  assertMailId(mailId);
  let t = 0;
  for (const ch of mailId.slice(0, 10)) t = t * 32 + CROCKFORD.indexOf(ch);
  return t;
}

// ---------------------------------------------------------------------------
// Message ids and header names

/** DESIGN rule 1: `Nats-Msg-Id: <mailId>.<stage>[.<part>]` makes a redelivered input idempotent. */
export function msgId(mailId: string, stage: Stage, part?: string): string {
  assertMailId(mailId);
  assertStage(stage);
  if (part === undefined) return `${mailId}.${stage}`;
  if (!/^[A-Za-z0-9_.@=+-]{1,200}$/.test(part)) {
    throw new InvalidNameError('msg-id part', part, 'must be 1-200 of [A-Za-z0-9_.@=+-]');
  }
  return `${mailId}.${stage}.${part}`;
}

/** NATS message headers. */
export const natsHeaders = {
  msgId: 'Nats-Msg-Id',
  traceparent: 'traceparent',
  tracestate: 'tracestate',
  mailId: 'Mailmesh-Mail-Id',
  /** Fully qualified protobuf type of the payload, e.g. `mailmesh.v1.Envelope`. */
  schema: 'Mailmesh-Schema',
} as const;

/** Header fields Mailmesh adds to mail (RFC 5322). */
export const mailHeaders = {
  mailId: 'X-Mailmesh-Id',
  scan: 'X-Mailmesh-Scan',
  verdict: 'X-Mailmesh-Verdict',
  spamScore: 'X-Mailmesh-Spam-Score',
  watermark: 'X-Mailmesh-Watermark',
  authenticationResults: 'Authentication-Results',
  received: 'Received',
  returnPath: 'Return-Path',
  deliveredTo: 'Delivered-To',
} as const;
