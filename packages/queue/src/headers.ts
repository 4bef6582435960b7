import type { Readable } from 'node:stream';
import type { ObjectStore } from '@mailmesh/runtime';

import { MessageReadError } from './errors.js';

/** One header field of a message (RFC 5322 §2.2), unfolded. */
export interface HeaderLine {
  /** Field name as written. */
  readonly name: string;
  /** Unfolded body, leading whitespace trimmed. */
  readonly value: string;
}

/** Index just past the blank line ending the header section, or -1 if not within `buf`. */
export function headerEnd(buf: Buffer): number {
  const crlf = buf.indexOf('\r\n\r\n');
  const lf = buf.indexOf('\n\n');
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return crlf + 4;
  return lf >= 0 ? lf + 2 : -1;
}

/** Parses a header section (RFC 5322 §2.2.3 unfolding); lines that are not fields are skipped. */
export function parseHeaders(section: Buffer | string): HeaderLine[] {
  const text = typeof section === 'string' ? section : section.toString('utf8');
  const out: { name: string; value: string }[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (line === '') break;
    if (/^[ \t]/.test(line)) {
      const last = out[out.length - 1];
      if (last) last.value += ` ${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    out.push({ name: line.slice(0, colon).trim(), value: line.slice(colon + 1).trim() });
  }
  return out;
}

/** Values of every field named `name` (case-insensitive). */
export function headerValues(headers: readonly HeaderLine[], name: string): string[] {
  const n = name.toLowerCase();
  return headers.filter((h) => h.name.toLowerCase() === n).map((h) => h.value);
}

/**
 * Reads only the header section of a stored message: stops at the blank line (or
 * after `maxBytes`), so checking the headers of a 25 MB mail reads a few KB.
 * Returns the raw section including the blank line.
 */
export async function readHeaderSection(
  store: ObjectStore,
  bucket: string,
  key: string,
  maxBytes = 256 * 1024,
): Promise<Buffer> {
  let stream: Readable;
  try {
    stream = await store.get(bucket, key);
  } catch (err) {
    throw new MessageReadError(bucket, key, { cause: err });
  }
  const parts: Buffer[] = [];
  let n = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      parts.push(chunk);
      n += chunk.length;
      const buf = Buffer.concat(parts, n);
      const end = headerEnd(buf);
      if (end >= 0) return buf.subarray(0, end);
      if (n >= maxBytes) return buf.subarray(0, maxBytes);
    }
  } catch (err) {
    throw new MessageReadError(bucket, key, { cause: err });
  } finally {
    stream.destroy();
  }
  // A message without a body: the whole object is its header section.
  return Buffer.concat(parts, n);
}
