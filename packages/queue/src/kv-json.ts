import type { KV } from '@nats-io/kv';

import { KvContentionError, KvDocumentError } from './errors.js';

/** A JSON document read from KV with the revision to compare-and-set against. */
export interface Versioned<T> {
  readonly value: T;
  readonly revision: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/** Reads a JSON document; undefined when the key is absent or deleted. */
export async function getJson<T>(
  kv: KV,
  bucket: string,
  key: string,
): Promise<Versioned<T> | undefined> {
  const e = await kv.get(key);
  if (e === null || e.operation !== 'PUT' || e.length === 0) return undefined;
  try {
    return { value: JSON.parse(decoder.decode(e.value)) as T, revision: e.revision };
  } catch (err) {
    throw new KvDocumentError(bucket, key, 'value is not JSON', { cause: err });
  }
}

/** Creates `key` only if absent; returns false if it already exists. */
export async function createJson(kv: KV, key: string, value: unknown): Promise<number | false> {
  try {
    return await kv.create(key, encodeJson(value));
  } catch (err) {
    if (isWrongRevision(err)) return false;
    throw err;
  }
}

/**
 * nats.js reports a lost compare-and-set as a JetStream API error 10071 ("wrong last
 * sequence", 10164 when the key never existed); anything else (timeouts, connection)
 * must not be retried as a conflict.
 */
export function isWrongRevision(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === 10071 || code === 10164) return true;
    if (/wrong last sequence/i.test(e.message)) return true;
  }
  return false;
}

export interface UpdateOptions<T = unknown> {
  /** Compare-and-set attempts before giving up; default 50. */
  readonly maxAttempts?: number;
  /**
   * What the caller already knows of the key, used for the first compare-and-set
   * instead of a read: a document it read before (with its revision), or `null`
   * when it expects the key to be absent. A stale guess costs only the read it
   * meant to save: the compare-and-set fails and the loop reads as usual.
   */
  readonly known?: Versioned<T> | null;
}

/**
 * Read-modify-write with compare-and-set: `change` gets the current document (or
 * undefined) and returns the new one, or `undefined` to leave the key as it is. On a
 * lost race it runs again on the fresher document, so `change` must be pure.
 * Returns the document as stored (or left).
 */
export async function updateJson<T>(
  kv: KV,
  bucket: string,
  key: string,
  change: (current: T | undefined) => T | undefined,
  opts: UpdateOptions<T> = {},
): Promise<T | undefined> {
  const max = opts.maxAttempts ?? 50;
  for (let attempt = 1; attempt <= max; attempt++) {
    const cur =
      attempt === 1 && opts.known !== undefined
        ? (opts.known ?? undefined)
        : await getJson<T>(kv, bucket, key);
    const next = change(cur?.value);
    if (next === undefined) return cur?.value;
    try {
      if (cur === undefined) await kv.create(key, encodeJson(next));
      else await kv.update(key, encodeJson(next), cur.revision);
      return next;
    } catch (err) {
      if (!isWrongRevision(err)) throw err;
      // Lost the race: back off a little (jittered) so hot keys make progress.
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, attempt * 2)));
    }
  }
  throw new KvContentionError(bucket, key, max);
}
