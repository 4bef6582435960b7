/**
 * The stored message of a mail, read the cheap way: a small body travels inline in
 * its envelope (`Envelope.body`, at most `inlineBodyMaxBytes`), so scanner, router
 * and delivery read no object for it; a larger one is read from the spool.
 */
import { type Envelope, inlineBodyMaxBytes, objectBuckets, spoolKey } from '@mailmesh/proto';
import type { ObjectStore } from '@mailmesh/runtime';

import { headerEnd, readHeaderSection } from './headers.js';

export interface StoredRef {
  readonly bucket: string;
  readonly key: string;
  /** Set when the body is one range of a spool segment. */
  readonly range?: { readonly offset: number; readonly length: number };
}

/** Where the mail's body is stored (the envelope's spool reference, or the default key). */
export function spoolRefOf(env: Envelope): StoredRef {
  const s = env.spool;
  const ref = { bucket: s?.bucket ?? objectBuckets.spool, key: s?.key ?? spoolKey(env.mailId) };
  if (!s || (s.offset === 0n && s.length === 0n)) return ref;
  return { ...ref, range: { offset: Number(s.offset), length: Number(s.length) } };
}

/** The inline copy as a Buffer over the same memory, or undefined when the mail has none. */
export function inlineBody(env: Envelope): Buffer | undefined {
  const b = env.body;
  return b.length > 0 ? Buffer.from(b.buffer, b.byteOffset, b.byteLength) : undefined;
}

export interface ReadMessageOptions {
  /** Refuse a spool object larger than this. */
  readonly maxBytes?: number;
  readonly timeoutMs?: number;
}

/** The whole stored message: the inline copy, or the spool object (its errors as they are). */
export async function readMessage(
  store: ObjectStore,
  env: Envelope,
  opts: ReadMessageOptions = {},
): Promise<Buffer> {
  const inline = inlineBody(env);
  if (inline) return inline;
  const { bucket, key, range } = spoolRefOf(env);
  return store.getBuffer(bucket, key, range ? { ...opts, range } : opts);
}

/** The message's header section including the blank line (readHeaderSection's contract). */
export async function readMessageHeaders(
  store: ObjectStore,
  env: Envelope,
  maxBytes = 256 * 1024,
): Promise<Buffer> {
  const ref = spoolRefOf(env);
  let whole = inlineBody(env);
  // Only small mails share a segment: their whole body is one range read away.
  if (!whole && ref.range) whole = await store.getBuffer(ref.bucket, ref.key, { range: ref.range });
  if (!whole) return readHeaderSection(store, ref.bucket, ref.key, maxBytes);
  const end = headerEnd(whole);
  return whole.subarray(0, end >= 0 ? end : Math.min(whole.length, maxBytes));
}

/**
 * `Envelope` fields for a body the caller just stored: the inline copy when it is
 * small enough to travel with the envelope (`inlineBodyMaxBytes`), else none.
 */
export function inlineCopy(body: Buffer): { body?: Buffer } {
  return body.length <= inlineBodyMaxBytes ? { body } : {};
}
