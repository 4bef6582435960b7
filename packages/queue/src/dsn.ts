/**
 * Delivery status notifications (RFC 3464) as multipart/report (RFC 6522): a
 * human-readable part, a machine-readable message/delivery-status part and the
 * returned headers (text/rfc822-headers) or, with RET=FULL, the whole message.
 * Pure: the caller supplies the time, ids and the original's bytes.
 */
import { createHash } from 'node:crypto';

export type DsnKind = 'failure' | 'delay';

export interface DsnRecipient {
  /** The recipient the report is about (after expansion): Final-Recipient. */
  readonly address: string;
  /** The ORCPT as received (`rfc822;user@example.com`), if any: Original-Recipient. */
  readonly orcpt?: string;
  /** RFC 3463 status, e.g. `5.1.1`; for a delay a 4.x.x code. */
  readonly status: string;
  /** The remote MTA that answered, if any (Remote-MTA: dns; host). */
  readonly remoteMta?: string;
  /** The SMTP reply, e.g. `550 5.1.1 no such user` (Diagnostic-Code: smtp; ...). */
  readonly diagnostic?: string;
  /** One line for humans: why, and what rule or system said so. */
  readonly reason: string;
  readonly lastAttemptAt?: Date;
}

export interface DsnInput {
  readonly kind: DsnKind;
  /** The host name of this platform (Reporting-MTA, the From address's domain). */
  readonly reportingMta: string;
  /** Mail id of the DSN itself (its Message-ID is derived from it). */
  readonly dsnMailId: string;
  readonly date: Date;
  /** The sender to notify: the original reverse-path. */
  readonly to: string;
  readonly original: {
    readonly mailId: string;
    readonly receivedAt: Date;
    readonly envid?: string;
    readonly messageId?: string;
    readonly subject?: string;
    /** The original's header section (bytes up to and including the blank line). */
    readonly headers: Buffer;
    /** The whole original when RET=FULL was asked for; otherwise headers only are returned. */
    readonly full?: Buffer;
  };
  readonly recipients: readonly DsnRecipient[];
  /** For a delay DSN: until when delivery is retried (Will-Retry-Until). */
  readonly willRetryUntil?: Date;
}

export interface ComposedDsn {
  readonly bytes: Buffer;
  readonly messageId: string;
  readonly subject: string;
  readonly from: string;
  readonly sha256: string;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** RFC 5322 §3.3 date-time in UTC: `Tue, 03 Dec 2024 22:56:00 +0000`. */
export function rfc5322Date(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return (
    `${DAYS[d.getUTCDay()]}, ${p(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ` +
    `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`
  );
}

/** Removes line breaks and controls so a value cannot inject fields. */
function oneLine(s: string): string {
  // eslint-disable-next-line no-control-regex -- stripping controls is the point
  return s.replace(/[\x00-\x1f\x7f]+/g, ' ').trim();
}

/** Folds a field at spaces to lines of at most ~76 characters (RFC 5322 §2.2.3). */
function fold(name: string, value: string): string {
  const words = oneLine(value).split(' ');
  const lines: string[] = [];
  let line = `${name}:`;
  for (const w of words) {
    if (line.length + 1 + w.length > 76 && line.length > name.length + 1) {
      lines.push(line);
      line = ` ${w}`;
    } else {
      line += ` ${w}`;
    }
  }
  lines.push(line);
  return lines.join('\r\n');
}

const isAscii = (s: string | Buffer): boolean =>
  typeof s === 'string' ? /^[\x20-\x7e\r\n\t]*$/.test(s) : s.every((b) => b < 0x80);

function humanText(input: DsnInput): string {
  const o = input.original;
  const lines: string[] = [];
  if (input.kind === 'failure') {
    lines.push(
      `This is the mail system at ${input.reportingMta}.`,
      '',
      'Your message could not be delivered to one or more recipients.',
      'It has not been delivered to the recipients listed below and will not be retried.',
    );
  } else {
    lines.push(
      `This is the mail system at ${input.reportingMta}.`,
      '',
      'Delivery of your message to the recipients below is delayed.',
      'Nothing needs to be done: delivery is retried automatically' +
        (input.willRetryUntil ? ` until ${rfc5322Date(input.willRetryUntil)}.` : '.'),
    );
  }
  lines.push('');
  for (const r of input.recipients) {
    lines.push(`<${r.address}>: ${oneLine(r.reason)}`);
    if (r.diagnostic)
      lines.push(`    ${r.remoteMta ? `${r.remoteMta} said: ` : ''}${oneLine(r.diagnostic)}`);
  }
  lines.push('', `Message: ${o.messageId ?? '(no Message-ID)'}`);
  if (o.subject) lines.push(`Subject: ${oneLine(o.subject)}`);
  lines.push(`Mail id: ${o.mailId}`, `Arrived: ${rfc5322Date(o.receivedAt)}`);
  return lines.join('\r\n') + '\r\n';
}

function deliveryStatus(input: DsnInput): string {
  const o = input.original;
  const msg: string[] = [];
  if (o.envid) msg.push(`Original-Envelope-Id: ${oneLine(o.envid)}`);
  msg.push(`Reporting-MTA: dns; ${input.reportingMta}`);
  msg.push(`X-Mailmesh-Mail-Id: ${o.mailId}`);
  msg.push(`Arrival-Date: ${rfc5322Date(o.receivedAt)}`);
  const blocks = [msg.join('\r\n')];
  for (const r of input.recipients) {
    const f: string[] = [];
    if (r.orcpt) {
      // ORCPT is `addr-type;xtext` (RFC 3461 §4.2); Original-Recipient wants `addr-type; addr`.
      const semi = r.orcpt.indexOf(';');
      f.push(
        semi > 0
          ? `Original-Recipient: ${r.orcpt.slice(0, semi)}; ${oneLine(r.orcpt.slice(semi + 1))}`
          : `Original-Recipient: rfc822; ${oneLine(r.orcpt)}`,
      );
    }
    f.push(`Final-Recipient: rfc822; ${oneLine(r.address)}`);
    f.push(`Action: ${input.kind === 'failure' ? 'failed' : 'delayed'}`);
    f.push(`Status: ${r.status}`);
    if (r.remoteMta) f.push(`Remote-MTA: dns; ${oneLine(r.remoteMta)}`);
    if (r.diagnostic) f.push(fold('Diagnostic-Code', `smtp; ${r.diagnostic}`));
    if (r.lastAttemptAt) f.push(`Last-Attempt-Date: ${rfc5322Date(r.lastAttemptAt)}`);
    if (input.kind === 'delay' && input.willRetryUntil) {
      f.push(`Will-Retry-Until: ${rfc5322Date(input.willRetryUntil)}`);
    }
    blocks.push(f.join('\r\n'));
  }
  return blocks.join('\r\n\r\n') + '\r\n';
}

/** From address, Message-ID and Subject of a DSN: fixed by its kind, id and host. */
export function dsnIdentity(
  kind: DsnKind,
  dsnMailId: string,
  reportingMta: string,
): { from: string; messageId: string; subject: string } {
  return {
    from: `MAILER-DAEMON@${reportingMta}`,
    messageId: `<${dsnMailId}.dsn@${reportingMta}>`,
    subject:
      kind === 'failure'
        ? 'Undelivered Mail Returned to Sender'
        : 'Delayed Mail (still being retried)',
  };
}

/** Composes the DSN message. */
export function composeDsn(input: DsnInput): ComposedDsn {
  const boundary = `=_mailmesh_${createHash('sha256').update(input.dsnMailId).digest('hex').slice(0, 24)}`;
  const { from, messageId, subject } = dsnIdentity(input.kind, input.dsnMailId, input.reportingMta);

  const head: string[] = [
    `From: Mail Delivery System <${from}>`,
    `To: <${oneLine(input.to)}>`,
    `Subject: ${subject}`,
    `Date: ${rfc5322Date(input.date)}`,
    `Message-ID: ${messageId}`,
    // RFC 3834 §5: automatic responses must not trigger further automatic responses.
    'Auto-Submitted: auto-replied',
  ];
  if (input.original.messageId) {
    head.push(`In-Reply-To: ${oneLine(input.original.messageId)}`);
    head.push(`References: ${oneLine(input.original.messageId)}`);
  }
  head.push(
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status;\r\n boundary="${boundary}"`,
  );

  const text = humanText(input);
  const textPart = isAscii(text)
    ? `Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n${text}`
    : `Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n${Buffer.from(
        text,
        'utf8',
      )
        .toString('base64')
        .replace(/.{1,76}/g, '$&\r\n')}`;
  const status = deliveryStatus(input);
  const returned = input.original.full ?? input.original.headers;
  const returnedType = input.original.full ? 'message/rfc822' : 'text/rfc822-headers';
  // RFC 6522 §3: the third part is returned as it is; 8bit is declared when needed.
  const returnedCte = isAscii(returned) ? '7bit' : '8bit';

  const chunks: Buffer[] = [
    Buffer.from(
      `${head.join('\r\n')}\r\n\r\n` +
        'This is a MIME-encapsulated message (RFC 3464 delivery status notification).\r\n\r\n' +
        `--${boundary}\r\n${textPart}\r\n` +
        `--${boundary}\r\nContent-Type: message/delivery-status\r\n\r\n${status}\r\n` +
        `--${boundary}\r\nContent-Type: ${returnedType}\r\nContent-Transfer-Encoding: ${returnedCte}\r\n\r\n`,
      'utf8',
    ),
    returned,
    Buffer.from(returned.at(-1) === 0x0a ? '' : '\r\n'),
    Buffer.from(`\r\n--${boundary}--\r\n`, 'utf8'),
  ];
  const bytes = Buffer.concat(chunks);
  return {
    bytes,
    messageId,
    subject,
    from,
    sha256: createHash('sha256').update(bytes).digest('hex'),
  };
}
