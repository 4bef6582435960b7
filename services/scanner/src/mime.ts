/**
 * Streaming MIME parsing with mailparser (itself on @zone-eu/mailsplit, iconv-lite
 * and libmime): text and HTML bodies decoded to Unicode from any charset iconv-lite
 * knows (GB2312/GBK/GB18030/Big5/UTF-8/...), RFC 2047 encoded words and RFC 2231
 * parameters decoded, every attachment collected. Attached messages
 * (message/rfc822) are parsed in turn up to `maxDepth`. Broken or truncated input
 * never throws: what could be read is returned and the defect is listed in
 * `problems`.
 */
import { Readable } from 'node:stream';
import { MailParser, type AttachmentStream, type HeaderValue, type MessageText } from 'mailparser';

export interface MailPart {
  /** Decoded file name (RFC 2047 / RFC 2231), `''` if the part has none. */
  readonly filename: string;
  /** Lowercase media type, e.g. `application/zip`. */
  readonly contentType: string;
  /** Lowercase charset parameter of Content-Type, `''` if none. */
  readonly charset: string;
  /** Decoded content, at most `maxPartBytes` of it (see `truncated`). */
  readonly content: Buffer;
  /** Full decoded size in bytes. */
  readonly size: number;
  readonly truncated: boolean;
  /** 0 for the top message's parts, 1 inside an attached message, and so on. */
  readonly depth: number;
}

export interface ParsedMail {
  /** Decoded Subject of the top message. */
  readonly subject: string;
  /** Subjects of attached messages, decoded. */
  readonly innerSubjects: readonly string[];
  /** Plain-text bodies of the message and attached messages, decoded. */
  readonly text: string;
  /** HTML bodies of the message and attached messages, decoded. */
  readonly html: string;
  readonly attachments: readonly MailPart[];
  /** Defects met while parsing (truncated input, nesting too deep, parser errors). */
  readonly problems: readonly string[];
}

export interface ParseOptions {
  /** Bytes of one attachment kept in memory; the rest is counted only. Default 64 MiB. */
  readonly maxPartBytes?: number;
  /** Attached messages parsed this deep; default 3. */
  readonly maxDepth?: number;
}

const MIB = 1024 * 1024;

function headerParams(value: HeaderValue | undefined): Record<string, string> {
  if (value && typeof value === 'object' && 'params' in value) {
    const params = (value as { params?: unknown }).params;
    if (params && typeof params === 'object') return params as Record<string, string>;
  }
  return {};
}

interface Collected {
  subject: string;
  text: string[];
  html: string[];
  attachments: Array<MailPart & { nested: boolean }>;
  problems: string[];
}

function collectPart(
  a: AttachmentStream,
  depth: number,
  maxBytes: number,
): Promise<MailPart & { nested: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let kept = 0;
    let size = 0;
    const content = a.content;
    const done = (): void => {
      a.release?.();
      const charset = headerParams(a.headers.get('content-type'))['charset'] ?? '';
      resolve({
        filename: a.filename ?? '',
        contentType: (a.contentType || 'application/octet-stream').toLowerCase(),
        charset: charset.toLowerCase(),
        content: Buffer.concat(chunks),
        size,
        truncated: size > kept,
        depth,
        nested: (a.contentType || '').toLowerCase() === 'message/rfc822',
      });
    };
    content.on('data', (c: Buffer) => {
      size += c.length;
      if (kept < maxBytes) {
        const take = c.subarray(0, maxBytes - kept);
        chunks.push(take);
        kept += take.length;
      }
    });
    content.once('end', done);
    content.once('error', done);
  });
}

async function parseOne(
  input: Readable | Buffer,
  depth: number,
  maxBytes: number,
): Promise<Collected> {
  const out: Collected = { subject: '', text: [], html: [], attachments: [], problems: [] };
  const parser = new MailParser({
    skipImageLinks: true,
    skipTextToHtml: true,
    skipTextLinks: true,
    // HTML is kept as HTML; dlp turns it into text itself (html-to-text).
    skipHtmlToText: true,
  });
  const pending: Promise<void>[] = [];
  await new Promise<void>((resolve) => {
    let settled = false;
    const finish = (): void => {
      if (!settled) {
        settled = true;
        resolve();
      }
    };
    parser.on('headers', (h: Map<string, HeaderValue>) => {
      const s = h.get('subject');
      out.subject = typeof s === 'string' ? s : '';
    });
    parser.on('data', (d: AttachmentStream | MessageText) => {
      if (d.type === 'attachment') {
        pending.push(
          collectPart(d, depth, maxBytes).then((p) => {
            out.attachments.push(p);
          }),
        );
      } else {
        if (typeof d.text === 'string' && d.text !== '') out.text.push(d.text);
        if (typeof d.html === 'string' && d.html !== '') out.html.push(d.html);
      }
    });
    parser.once('end', finish);
    parser.once('error', (err: unknown) => {
      out.problems.push(`parser error: ${err instanceof Error ? err.message : String(err)}`);
      finish();
    });
    const source = Buffer.isBuffer(input) ? Readable.from([input]) : input;
    source.once('error', (err: unknown) => {
      out.problems.push(`input error: ${err instanceof Error ? err.message : String(err)}`);
      parser.end();
    });
    source.pipe(parser);
  });
  await Promise.all(pending);
  return out;
}

/** Parses a message; never throws for malformed input. */
export async function parseMail(
  input: Readable | Buffer,
  opts: ParseOptions = {},
): Promise<ParsedMail> {
  const maxBytes = opts.maxPartBytes ?? 64 * MIB;
  const maxDepth = opts.maxDepth ?? 3;
  const top = await parseOne(input, 0, maxBytes);
  const text = [...top.text];
  const html = [...top.html];
  const problems = [...top.problems];
  const innerSubjects: string[] = [];
  const attachments: MailPart[] = [];
  const queue = [...top.attachments];
  for (let p = queue.shift(); p !== undefined; p = queue.shift()) {
    const { nested, ...part } = p;
    attachments.push(part);
    if (!nested) continue;
    if (part.depth + 1 > maxDepth) {
      problems.push(`attached message nested deeper than ${maxDepth} not parsed`);
      continue;
    }
    const inner = await parseOne(part.content, part.depth + 1, maxBytes);
    if (inner.subject !== '') innerSubjects.push(inner.subject);
    text.push(...inner.text);
    html.push(...inner.html);
    problems.push(...inner.problems);
    queue.push(...inner.attachments);
  }
  return {
    subject: top.subject,
    innerSubjects,
    text: text.join('\n'),
    html: html.join('\n'),
    attachments,
    problems,
  };
}
