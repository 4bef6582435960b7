/**
 * Reads a delivery status notification (RFC 3464 inside RFC 6522 multipart/report):
 * ours, or a bounce a remote MTA sent back. Tolerant: what it cannot find is absent.
 */
import { headerEnd, parseHeaders, type HeaderLine } from './headers.js';

export interface ParsedDsn {
  /** `report-type` of the top-level multipart/report; undefined if not a report. */
  readonly reportType?: string;
  /** Per-message fields (Reporting-MTA, Arrival-Date, ...). */
  readonly message: Readonly<Record<string, string>>;
  /** One field map per recipient block (Final-Recipient, Action, Status, ...). */
  readonly recipients: readonly Readonly<Record<string, string>>[];
  /** The human-readable first part. */
  readonly text: string;
  /** Content-Type and body of the third part (returned headers or message). */
  readonly returned?: { readonly contentType: string; readonly body: string };
}

function param(contentType: string, name: string): string | undefined {
  const m = new RegExp(`;\\s*${name}\\s*=\\s*(?:"([^"]*)"|([^;\\s]+))`, 'i').exec(contentType);
  return m?.[1] ?? m?.[2];
}

function fieldsOf(headers: readonly HeaderLine[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of headers) out[h.name.toLowerCase()] = h.value;
  return out;
}

interface Part {
  readonly headers: Record<string, string>;
  readonly body: string;
}

function splitPart(raw: string): Part {
  const buf = Buffer.from(raw, 'utf8');
  const end = headerEnd(buf);
  if (end < 0) return { headers: fieldsOf(parseHeaders(raw)), body: '' };
  return {
    headers: fieldsOf(parseHeaders(buf.subarray(0, end))),
    body: buf.subarray(end).toString('utf8'),
  };
}

export function parseDsn(bytes: Buffer | string): ParsedDsn {
  const top = splitPart(typeof bytes === 'string' ? bytes : bytes.toString('utf8'));
  const ct = top.headers['content-type'] ?? '';
  const boundary = param(ct, 'boundary');
  const reportType = /^multipart\/report/i.test(ct) ? param(ct, 'report-type') : undefined;
  if (!boundary)
    return { ...(reportType ? { reportType } : {}), message: {}, recipients: [], text: top.body };
  const parts = top.body
    .split(
      new RegExp(
        `\\r?\\n?--${boundary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?:--)?[ \\t]*\\r?\\n`,
      ),
    )
    .slice(1)
    .filter((p) => p.trim() !== '')
    .map(splitPart);
  const text = parts.find((p) => /^text\/plain/i.test(p.headers['content-type'] ?? 'text/plain'));
  const status = parts.find((p) =>
    /^message\/(global-)?delivery-status/i.test(p.headers['content-type'] ?? ''),
  );
  const returned = parts.find((p) =>
    /^(text\/rfc822-headers|message\/rfc822|message\/global)/i.test(
      p.headers['content-type'] ?? '',
    ),
  );
  const blocks = (status?.body ?? '').split(/\r?\n[ \t]*\r?\n/).filter((b) => b.trim() !== '');
  const [first, ...rest] = blocks.map((b) => fieldsOf(parseHeaders(b)));
  const decode = (p: Part | undefined): string => {
    if (!p) return '';
    return /base64/i.test(p.headers['content-transfer-encoding'] ?? '')
      ? Buffer.from(p.body, 'base64').toString('utf8')
      : p.body;
  };
  return {
    ...(reportType ? { reportType } : {}),
    message: first ?? {},
    recipients: rest,
    text: decode(text),
    ...(returned
      ? { returned: { contentType: returned.headers['content-type'] ?? '', body: returned.body } }
      : {}),
  };
}
