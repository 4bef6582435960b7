/**
 * Validators for decoded mailmesh.v1 messages. Protobuf decoding only proves a
 * payload is well-formed; these check what the later stages rely on (ids,
 * addresses, storage references, routes) so a bad message is refused on consume
 * with an exact field path instead of failing somewhere downstream.
 *
 * Observability fields (trace context, subject, reply texts) are not checked:
 * a cosmetic defect there must never stop a mail.
 *
 * Paths use the TypeScript/JSON field names: `recipients[1].address`,
 * `envelope.spool.key`, `session.sessionId` (a oneof case is named by its field).
 */
import { isIP } from 'node:net';
import type { Message } from '@bufbuild/protobuf';
import type { GenMessage } from '@bufbuild/protobuf/codegenv2';
import type { Timestamp } from '@bufbuild/protobuf/wkt';
import { type AuditRecord, AuditRecordSchema } from './gen/mailmesh/v1/audit_pb.js';
import { type HeaderField, Listener } from './gen/mailmesh/v1/common_pb.js';
import {
  type DeliveryEvent,
  DeliveryEventSchema,
  type DeliveryJob,
  DeliveryJobSchema,
  Outcome,
  RouteKind,
  TlsPolicy,
} from './gen/mailmesh/v1/delivery_pb.js';
import {
  DsnNotify,
  DsnRet,
  type Envelope,
  EnvelopeSchema,
  Origin,
  type Recipient,
} from './gen/mailmesh/v1/envelope_pb.js';
import { type LoadReport, LoadReportSchema } from './gen/mailmesh/v1/load_pb.js';
import {
  type InlineScanReply,
  InlineScanReplySchema,
  type InlineScanRequest,
  InlineScanRequestSchema,
  type Reason,
  type ScanResult,
  ScanResultSchema,
  Verdict,
} from './gen/mailmesh/v1/scan_pb.js';
import {
  assertDnsName,
  auditKinds,
  inlineBodyMaxBytes,
  InvalidNameError,
  loadKey,
  MAIL_ID_PATTERN,
  stages,
} from './names.js';

/** One defect of a message: where it is and what is wrong. */
export interface Problem {
  /** Field path, e.g. `recipients[0].address`; `''` for the message as a whole. */
  readonly path: string;
  readonly problem: string;
}

/**
 * A message type that travels on the bus: its schema (for `fromBinary`/`toBinary`),
 * its fully qualified name (the `Mailmesh-Schema` header) and its validator.
 */
export interface WireType<T extends Message> {
  readonly schema: GenMessage<T>;
  readonly typeName: string;
  validate(m: T): Problem[];
}

// ---------------------------------------------------------------------------
// Field checks. Each appends to `out` and takes the path of the field it checks.

type Out = Problem[];

const join = (prefix: string, field: string): string => (prefix ? `${prefix}.${field}` : field);

const SHA256_HEX = /^[0-9a-f]{64}$/;
// RFC 3463 §2: class.subject.detail
const ENHANCED_CODE = /^[245]\.\d{1,3}\.\d{1,3}$/;
// RFC 5322 §3.6.8: ftext is printable US-ASCII except ":"
const FIELD_NAME = /^[!-9;-~]+$/;
// RFC 5322 §3.2.3 specials, plus space, outside a quoted local part
const ADDRESS_SPECIALS = /[\s()<>[\]\\,;:@"]/;

function hasControl(s: string, allowTab = false): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && !(allowTab && c === 0x09)) || c === 0x7f) return true;
  }
  return false;
}

const octets = (s: string): number => Buffer.byteLength(s, 'utf8');

/**
 * Why `address` is not a mailbox `local@domain` (RFC 5321 §4.1.2, with UTF-8
 * allowed per RFC 6531), or undefined if it is one.
 */
function addressProblem(address: string): string | undefined {
  if (hasControl(address)) return 'must not contain control characters such as CR or LF';
  const at = address.lastIndexOf('@');
  if (at <= 0 || at === address.length - 1) return 'must be local@domain';
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  // RFC 5321 §4.5.3.1.1-2
  if (octets(local) > 64) return 'local part is longer than 64 octets';
  if (octets(domain) > 255) return 'domain is longer than 255 octets';
  if (local.startsWith('"')) {
    if (!/^"(?:[^"\\]|\\.)*"$/.test(local)) return 'quoted local part is not closed';
  } else if (ADDRESS_SPECIALS.test(local)) {
    return 'local part contains a space or special character';
  }
  if (domain.startsWith('[')) {
    if (!/^\[[^[\]\\\s]+\]$/.test(domain)) return 'address literal is malformed';
  } else if (domain.split('.').some((l) => l === '' || ADDRESS_SPECIALS.test(l))) {
    return 'domain is not a dot-separated list of labels';
  }
  return undefined;
}

function checkAddress(out: Out, path: string, address: string): void {
  const p = addressProblem(address);
  if (p !== undefined) out.push({ path, problem: p });
}

function checkMailId(out: Out, path: string, mailId: string): void {
  if (!MAIL_ID_PATTERN.test(mailId)) {
    out.push({ path, problem: 'must be a 26-character ULID' });
  }
}

/**
 * True if `mailId` is well-formed but `other` differs: a mismatch worth its own
 * problem (a malformed `mailId` is already reported).
 */
function mailIdMismatch(mailId: string, other: string): boolean {
  return MAIL_ID_PATTERN.test(mailId) && other !== mailId;
}

function checkRequired(out: Out, path: string, value: string): void {
  if (value === '') out.push({ path, problem: 'is required' });
}

function checkTime(out: Out, path: string, t: Timestamp | undefined): void {
  if (t === undefined) out.push({ path, problem: 'is required' });
}

function checkDnsName(out: Out, path: string, name: string): void {
  try {
    assertDnsName(path, name);
  } catch (err) {
    if (!(err instanceof InvalidNameError)) throw err;
    out.push({ path, problem: `must be a lowercase DNS name: ${err.reason}` });
  }
}

/** A closed enum field: a known value, and not the zero value unless `allowUnset`. */
function checkEnum(
  out: Out,
  path: string,
  e: Record<number, string>,
  value: number,
  allowUnset = false,
): void {
  if (typeof e[value] !== 'string') {
    out.push({ path, problem: `unknown value ${value}` });
  } else if (value === 0 && !allowUnset) {
    out.push({ path, problem: 'must be set' });
  }
}

function checkStage(out: Out, path: string, stage: string): void {
  if (!(stages as readonly string[]).includes(stage)) {
    out.push({ path, problem: `must be one of ${stages.join(', ')}` });
  }
}

function checkPort(out: Out, path: string, port: number): void {
  if (port > 65_535) out.push({ path, problem: 'must be at most 65535' });
}

function checkIp(out: Out, path: string, ip: string): void {
  if (isIP(ip) === 0) out.push({ path, problem: 'must be an IPv4 or IPv6 address' });
}

function checkRecipients(out: Out, path: string, recipients: readonly Recipient[]): void {
  if (recipients.length === 0) out.push({ path, problem: 'at least one recipient is required' });
  recipients.forEach((r, i) => {
    const rp = `${path}[${i}]`;
    checkAddress(out, `${rp}.address`, r.address);
    if (hasControl(r.original)) {
      out.push({ path: `${rp}.original`, problem: 'must not contain control characters' });
    }
    r.notify.forEach((n, j) => checkEnum(out, `${rp}.notify[${j}]`, DsnNotify, n));
    // RFC 3461 §4.1: NEVER must not be combined with other conditions.
    if (r.notify.includes(DsnNotify.NEVER) && r.notify.length > 1) {
      out.push({ path: `${rp}.notify`, problem: 'NEVER must not be combined with other values' });
    }
  });
}

function checkHeaders(out: Out, path: string, headers: readonly HeaderField[]): void {
  headers.forEach((h, i) => {
    if (!FIELD_NAME.test(h.name)) {
      out.push({
        path: `${path}[${i}].name`,
        problem: 'must be printable US-ASCII without ":" or space',
      });
    }
    // A CR or LF here would inject header fields (or a body) into the mail.
    if (hasControl(h.value, true)) {
      out.push({ path: `${path}[${i}].value`, problem: 'must not contain CR, LF or controls' });
    }
  });
}

// ---------------------------------------------------------------------------
// Message validators

function envelopeProblems(out: Out, p: string, m: Envelope): void {
  checkMailId(out, join(p, 'mailId'), m.mailId);
  checkTime(out, join(p, 'receivedAt'), m.receivedAt);
  checkEnum(out, join(p, 'origin'), Origin, m.origin);
  checkEnum(out, join(p, 'listener'), Listener, m.listener);
  if (m.client) {
    checkIp(out, join(p, 'client.ip'), m.client.ip);
    checkPort(out, join(p, 'client.port'), m.client.port);
    if (m.client.proxyIp !== '') checkIp(out, join(p, 'client.proxyIp'), m.client.proxyIp);
    checkPort(out, join(p, 'client.proxyPort'), m.client.proxyPort);
  }
  if (m.mailFrom !== '') checkAddress(out, join(p, 'mailFrom'), m.mailFrom);
  checkRecipients(out, join(p, 'recipients'), m.recipients);
  if (m.size <= 0n) out.push({ path: join(p, 'size'), problem: 'must be greater than 0' });
  if (!SHA256_HEX.test(m.sha256)) {
    out.push({ path: join(p, 'sha256'), problem: 'must be 64 lowercase hex digits' });
  }
  if (m.body.length > 0) {
    if (BigInt(m.body.length) !== m.size) {
      out.push({
        path: join(p, 'body'),
        problem: `has ${m.body.length} bytes, size says ${m.size}`,
      });
    }
    if (m.body.length > inlineBodyMaxBytes) {
      out.push({ path: join(p, 'body'), problem: `must be at most ${inlineBodyMaxBytes} bytes` });
    }
  }
  if (m.spool === undefined) {
    out.push({ path: join(p, 'spool'), problem: 'is required' });
  } else {
    checkRequired(out, join(p, 'spool.bucket'), m.spool.bucket);
    checkRequired(out, join(p, 'spool.key'), m.spool.key);
    if (m.spool.length !== 0n && m.spool.length !== m.size) {
      out.push({
        path: join(p, 'spool.length'),
        problem: `is ${m.spool.length}, size says ${m.size}`,
      });
    }
  }
  checkEnum(out, join(p, 'dsnRet'), DsnRet, m.dsnRet, true);
}

function scanResultProblems(out: Out, p: string, m: ScanResult): void {
  checkMailId(out, join(p, 'mailId'), m.mailId);
  if (m.envelope === undefined) {
    out.push({ path: join(p, 'envelope'), problem: 'is required' });
  } else {
    if (mailIdMismatch(m.mailId, m.envelope.mailId)) {
      out.push({ path: join(p, 'mailId'), problem: 'must equal envelope.mailId' });
    }
    envelopeProblems(out, join(p, 'envelope'), m.envelope);
  }
  checkEnum(out, join(p, 'verdict'), Verdict, m.verdict);
  checkReasons(out, join(p, 'reasons'), m.reasons);
  checkHeaders(out, join(p, 'headersToAdd'), m.headersToAdd);
  checkFinite(out, join(p, 'spamScore'), m.spamScore);
  checkTime(out, join(p, 'scannedAt'), m.scannedAt);
}

function checkReasons(out: Out, path: string, reasons: readonly Reason[]): void {
  reasons.forEach((r, i) => {
    checkRequired(out, `${path}[${i}].check`, r.check);
    checkEnum(out, `${path}[${i}].action`, Verdict, r.action);
  });
}

function checkFinite(out: Out, path: string, n: number): void {
  if (!Number.isFinite(n)) out.push({ path, problem: 'must be a finite number' });
}

function inlineScanRequestProblems(out: Out, p: string, m: InlineScanRequest): void {
  if (m.envelope === undefined) {
    out.push({ path: join(p, 'envelope'), problem: 'is required' });
  } else {
    envelopeProblems(out, join(p, 'envelope'), m.envelope);
  }
  if (m.deadlineMs === 0) {
    out.push({ path: join(p, 'deadlineMs'), problem: 'must be greater than 0' });
  }
}

function inlineScanReplyProblems(out: Out, p: string, m: InlineScanReply): void {
  checkMailId(out, join(p, 'mailId'), m.mailId);
  if (m.error === '') {
    checkEnum(out, join(p, 'verdict'), Verdict, m.verdict);
  } else if (m.verdict !== Verdict.UNSPECIFIED) {
    // Either a verdict or an error: a requester must never act on half of each.
    out.push({ path: join(p, 'verdict'), problem: 'must be unspecified when error is set' });
  }
  checkReasons(out, join(p, 'reasons'), m.reasons);
  checkHeaders(out, join(p, 'headersToAdd'), m.headersToAdd);
  checkFinite(out, join(p, 'spamScore'), m.spamScore);
}

function deliveryJobProblems(out: Out, p: string, m: DeliveryJob): void {
  checkMailId(out, join(p, 'mailId'), m.mailId);
  if (m.envelope === undefined) {
    out.push({ path: join(p, 'envelope'), problem: 'is required' });
  } else {
    if (mailIdMismatch(m.mailId, m.envelope.mailId)) {
      out.push({ path: join(p, 'mailId'), problem: 'must equal envelope.mailId' });
    }
    envelopeProblems(out, join(p, 'envelope'), m.envelope);
  }
  if (m.scan !== undefined) {
    if (mailIdMismatch(m.mailId, m.scan.mailId)) {
      out.push({ path: join(p, 'scan.mailId'), problem: 'must equal mailId' });
    }
    scanResultProblems(out, join(p, 'scan'), m.scan);
  }
  checkRecipients(out, join(p, 'recipients'), m.recipients);
  const route = m.route;
  if (route === undefined) {
    out.push({ path: join(p, 'route'), problem: 'is required' });
  } else {
    checkEnum(out, join(p, 'route.kind'), RouteKind, route.kind);
    checkDnsName(out, join(p, 'route.domain'), route.domain);
    if (route.kind === RouteKind.REMOTE) {
      checkDnsName(out, join(p, 'route.nextHop'), route.nextHop);
      checkEnum(out, join(p, 'route.tls'), TlsPolicy, route.tls);
    } else {
      if (route.nextHop !== '') checkDnsName(out, join(p, 'route.nextHop'), route.nextHop);
      checkEnum(out, join(p, 'route.tls'), TlsPolicy, route.tls, true);
    }
    checkPort(out, join(p, 'route.port'), route.port);
  }
  checkHeaders(out, join(p, 'headersToAdd'), m.headersToAdd);
}

function deliveryEventProblems(out: Out, p: string, m: DeliveryEvent): void {
  checkMailId(out, join(p, 'mailId'), m.mailId);
  checkStage(out, join(p, 'stage'), m.stage);
  if (m.recipient !== '') checkAddress(out, join(p, 'recipient'), m.recipient);
  checkEnum(out, join(p, 'outcome'), Outcome, m.outcome);
  if (m.smtpCode !== 0 && (m.smtpCode < 200 || m.smtpCode > 599)) {
    out.push({ path: join(p, 'smtpCode'), problem: 'must be 0 or a reply code 200-599' });
  }
  if (m.enhancedCode !== '' && !ENHANCED_CODE.test(m.enhancedCode)) {
    out.push({ path: join(p, 'enhancedCode'), problem: 'must be class.subject.detail (RFC 3463)' });
  }
  checkTime(out, join(p, 'at'), m.at);
}

/** Which oneof case each audit kind carries. */
const AUDIT_BODY: Record<(typeof auditKinds)[number], NonNullable<AuditRecord['body']['case']>> = {
  session: 'session',
  message: 'message',
  admin: 'admin',
  config: 'admin',
};

function auditRecordProblems(out: Out, m: AuditRecord): void {
  if (m.seq < 1n) out.push({ path: 'seq', problem: 'must be at least 1' });
  if (m.seq === 1n) {
    if (m.prevHash !== '') out.push({ path: 'prevHash', problem: 'must be empty for seq 1' });
  } else if (!SHA256_HEX.test(m.prevHash)) {
    out.push({ path: 'prevHash', problem: 'must be 64 lowercase hex digits' });
  }
  if (!SHA256_HEX.test(m.hash)) {
    out.push({ path: 'hash', problem: 'must be 64 lowercase hex digits' });
  }
  checkTime(out, 'at', m.at);
  if (m.mailId !== '') checkMailId(out, 'mailId', m.mailId);

  const expected = (AUDIT_BODY as Record<string, string | undefined>)[m.kind];
  if (expected === undefined) {
    out.push({ path: 'kind', problem: `must be one of ${auditKinds.join(', ')}` });
  }
  const body = m.body;
  if (body.case === undefined) {
    out.push({ path: 'body', problem: 'is required' });
    return;
  }
  if (expected !== undefined && body.case !== expected) {
    out.push({ path: body.case, problem: `does not match kind ${m.kind} (expected ${expected})` });
  }
  switch (body.case) {
    case 'session': {
      const s = body.value;
      checkRequired(out, 'session.sessionId', s.sessionId);
      checkTime(out, 'session.startedAt', s.startedAt);
      checkEnum(out, 'session.listener', Listener, s.listener);
      s.transactions.forEach((t, i) => {
        if (t.mailId !== '') checkMailId(out, `session.transactions[${i}].mailId`, t.mailId);
      });
      break;
    }
    case 'message': {
      const a = body.value;
      checkMailId(out, 'message.mailId', a.mailId);
      if (mailIdMismatch(a.mailId, m.mailId)) {
        out.push({ path: 'mailId', problem: 'must equal message.mailId' });
      }
      if (a.event === undefined) {
        out.push({ path: 'message.event', problem: 'is required' });
      } else {
        if (mailIdMismatch(a.mailId, a.event.mailId)) {
          out.push({ path: 'message.event.mailId', problem: 'must equal message.mailId' });
        }
        deliveryEventProblems(out, 'message.event', a.event);
      }
      break;
    }
    case 'admin': {
      const a = body.value;
      checkRequired(out, 'admin.action', a.action);
      if (a.detailJson !== '') {
        try {
          JSON.parse(a.detailJson);
        } catch {
          out.push({ path: 'admin.detailJson', problem: 'must be a JSON document' });
        }
      }
      break;
    }
  }
}

function loadReportProblems(out: Out, m: LoadReport): void {
  checkStage(out, 'service', m.service);
  try {
    // loadKey owns the instance grammar; a fixed service keeps a bad service
    // (reported above) from masking the instance check.
    loadKey('ingress', m.instance);
  } catch (err) {
    if (!(err instanceof InvalidNameError)) throw err;
    out.push({ path: 'instance', problem: err.reason });
  }
  checkTime(out, 'at', m.at);
}

const run =
  <T>(check: (out: Out, p: string, m: T) => void) =>
  (m: T): Problem[] => {
    const out: Out = [];
    check(out, '', m);
    return out;
  };

export const validateEnvelope: (m: Envelope) => Problem[] = run(envelopeProblems);
export const validateScanResult: (m: ScanResult) => Problem[] = run(scanResultProblems);
export const validateInlineScanRequest: (m: InlineScanRequest) => Problem[] =
  run(inlineScanRequestProblems);
export const validateInlineScanReply: (m: InlineScanReply) => Problem[] =
  run(inlineScanReplyProblems);
export const validateDeliveryJob: (m: DeliveryJob) => Problem[] = run(deliveryJobProblems);
export const validateDeliveryEvent: (m: DeliveryEvent) => Problem[] = run(deliveryEventProblems);
export const validateAuditRecord = (m: AuditRecord): Problem[] => {
  const out: Out = [];
  auditRecordProblems(out, m);
  return out;
};
export const validateLoadReport = (m: LoadReport): Problem[] => {
  const out: Out = [];
  loadReportProblems(out, m);
  return out;
};

// ---------------------------------------------------------------------------
// Registry

function wire<T extends Message>(
  schema: GenMessage<T>,
  validate: (m: T) => Problem[],
): WireType<T> {
  return { schema, typeName: schema.typeName, validate };
}

/** Every message type Mailmesh puts on the bus (published or request/reply), by short name. */
export const schemas = {
  Envelope: wire(EnvelopeSchema, validateEnvelope),
  ScanResult: wire(ScanResultSchema, validateScanResult),
  DeliveryJob: wire(DeliveryJobSchema, validateDeliveryJob),
  DeliveryEvent: wire(DeliveryEventSchema, validateDeliveryEvent),
  AuditRecord: wire(AuditRecordSchema, validateAuditRecord),
  LoadReport: wire(LoadReportSchema, validateLoadReport),
  InlineScanRequest: wire(InlineScanRequestSchema, validateInlineScanRequest),
  InlineScanReply: wire(InlineScanReplySchema, validateInlineScanReply),
} as const;

export type AnyWireType = (typeof schemas)[keyof typeof schemas];

const byTypeName: ReadonlyMap<string, AnyWireType> = new Map(
  Object.values(schemas).map((w) => [w.typeName, w]),
);

/**
 * The wire type named by a `Mailmesh-Schema` header (e.g. `mailmesh.v1.Envelope`),
 * or undefined for a name this version does not know.
 */
export function schemaByTypeName(typeName: string): AnyWireType | undefined {
  return byTypeName.get(typeName);
}
