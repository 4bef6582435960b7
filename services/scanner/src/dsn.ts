/**
 * Delivery status notifications for mail the scanner rejects after it was accepted
 * (RFC 3464 multipart/report, RFC 3462 report-type=delivery-status). Built by hand:
 * the structure is fixed and small, and every byte must be the same when a
 * redelivered message builds it again.
 */
import { createHash } from 'node:crypto';
import { DsnNotify, DsnRet, type Envelope } from '@mailmesh/proto';

import type { Finding } from './verdict.js';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * The mail id of the DSN about `mailId`: the same timestamp, and 80 bits from a hash
 * of the original id instead of randomness, so a redelivery builds the same DSN id.
 */
export function dsnMailId(mailId: string): string {
  const h = createHash('sha256').update(`${mailId}:scanner:dsn`).digest();
  let out = mailId.slice(0, 10);
  for (let i = 0; i < 16; i++) out += CROCKFORD[(h[i] ?? 0) & 31];
  return out;
}

export const DSN_SUBJECT = 'Undelivered Mail Returned to Sender';

export function dsnMessageId(dsnId: string, hostname: string): string {
  return `<${dsnId}.dsn@${hostname}>`;
}

/** The recipients a failure DSN reports on (RFC 3461 §4.1: NOTIFY=NEVER or without FAILURE: none). */
export function dsnRecipients(env: Envelope): Envelope['recipients'] {
  return env.recipients.filter(
    (r) =>
      r.notify.length === 0 ||
      (r.notify.includes(DsnNotify.FAILURE) && !r.notify.includes(DsnNotify.NEVER)),
  );
}

/** True when a rejected mail gets a DSN: a non-null sender, not itself a DSN, someone to report. */
export function wantsDsn(env: Envelope, isDsn: boolean): boolean {
  return env.mailFrom !== '' && !isDsn && dsnRecipients(env).length > 0;
}

function rfc5322Date(d: Date): string {
  return d.toUTCString().replace('GMT', '+0000');
}

function headerBlock(raw: Buffer): string {
  const end = raw.indexOf('\r\n\r\n');
  const alt = raw.indexOf('\n\n');
  const cut = end >= 0 ? end : alt >= 0 ? alt : Math.min(raw.length, 64 * 1024);
  return raw
    .subarray(0, Math.min(cut, 64 * 1024))
    .toString('utf8')
    .replace(/\r?\n/g, '\r\n');
}

function base64Lines(s: string): string {
  return (
    Buffer.from(s, 'utf8')
      .toString('base64')
      .match(/.{1,76}/g) ?? []
  ).join('\r\n');
}

export interface DsnInput {
  readonly original: Envelope;
  readonly raw: Buffer;
  /** The findings that rejected the mail. */
  readonly findings: readonly Finding[];
  /** Reporting MTA host name. */
  readonly hostname: string;
  /** When the DSN is written; a redelivery that rebuilds it reuses the stored object. */
  readonly now: Date;
}

/** The DSN message and its Message-ID. */
export function buildDsn(input: DsnInput): {
  readonly message: Buffer;
  readonly messageId: string;
  readonly subject: string;
} {
  const { original: env, findings, hostname } = input;
  const id = dsnMailId(env.mailId);
  const boundary = `mailmesh-dsn-${id}`;
  const messageId = dsnMessageId(id, hostname);
  const subject = DSN_SUBJECT;
  const rejecting = findings.filter((f) => f.action === 'reject');
  const first = rejecting[0];
  const [policy, rule] = first ? splitRule(first.rule) : ['', ''];
  const recipients = dsnRecipients(env);
  const arrival = env.receivedAt ? new Date(Number(env.receivedAt.seconds) * 1000) : input.now;

  const human = [
    `This is the mail system at ${hostname}.`,
    '',
    'Your message could not be delivered: it was rejected by a mail policy after it',
    'was accepted. It was not delivered to:',
    '',
    ...recipients.map((r) => `  <${r.address}>`),
    '',
    env.messageId !== '' ? `Message-ID: ${env.messageId}` : '',
    env.subject !== '' ? `Subject: ${env.subject}` : '',
    '',
    'Reasons:',
    ...rejecting.map((f) => {
      const [p, r] = splitRule(f.rule);
      return `  - policy ${p}, rule ${r} (${f.check}): ${f.detail}`;
    }),
    '',
  ].join('\r\n');

  const status = [
    `Reporting-MTA: dns; ${hostname}`,
    ...(env.envid !== '' ? [`Original-Envelope-Id: ${env.envid}`] : []),
    `X-Mailmesh-Id: ${env.mailId}`,
    `Arrival-Date: ${rfc5322Date(arrival)}`,
    '',
    ...recipients.flatMap((r) => [
      ...(r.original !== '' ? [`Original-Recipient: ${r.original}`] : []),
      `Final-Recipient: rfc822; ${r.address}`,
      'Action: failed',
      'Status: 5.7.1',
      `Diagnostic-Code: smtp; 550 5.7.1 rejected by policy ${policy} rule ${rule}`,
      '',
    ]),
  ].join('\r\n');

  const returned =
    env.dsnRet === DsnRet.FULL
      ? ['Content-Type: message/rfc822', '', input.raw.toString('utf8').replace(/\r?\n/g, '\r\n')]
      : ['Content-Type: text/rfc822-headers', '', headerBlock(input.raw)];

  const message = [
    `From: Mail Delivery System <MAILER-DAEMON@${hostname}>`,
    `To: <${env.mailFrom}>`,
    `Subject: ${subject}`,
    `Date: ${rfc5322Date(input.now)}`,
    `Message-ID: ${messageId}`,
    // RFC 3834 §5: automatic responses are marked so that they are not answered in turn.
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
    '',
    'This is a MIME-encapsulated delivery status notification.',
    `--${boundary}`,
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: base64',
    '',
    base64Lines(human),
    `--${boundary}`,
    'Content-Type: message/delivery-status',
    '',
    status,
    `--${boundary}`,
    ...returned,
    `--${boundary}--`,
    '',
  ].join('\r\n');
  return { message: Buffer.from(message, 'utf8'), messageId, subject };
}

/** `group-dlp/contract-terms` -> [`group-dlp`, `contract-terms`]. */
export function splitRule(rule: string): [string, string] {
  const slash = rule.indexOf('/');
  return slash < 0 ? ['', rule] : [rule.slice(0, slash), rule.slice(slash + 1)];
}
