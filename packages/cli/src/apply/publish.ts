/**
 * Reading and writing the `mailmesh-config` bucket. Every write is conditional on the
 * revision read before (create = "must not exist", update/delete = "must still be at
 * revision N"), so a concurrent writer is detected instead of overwritten.
 */
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { kvBuckets } from '@mailmesh/proto';
import { provision, type Bus } from '@mailmesh/runtime';

import { ApplyConflictError } from '../errors.js';
import type { Change, LiveEntry } from './plan.js';

/** Opens the config bucket, creating it (only it) when it does not exist yet. */
export async function openConfigBucket(bus: Bus): Promise<{ kv: KV; created: boolean }> {
  const r = await provision(bus, { streams: [], consumers: [], kv: [kvBuckets.config] });
  return { kv: await bus.kv(kvBuckets.config), created: r.created.length > 0 };
}

/** Every live (not deleted) entry of the bucket. */
export async function readLive(kv: KV): Promise<Map<string, LiveEntry>> {
  const live = new Map<string, LiveEntry>();
  const keys: string[] = [];
  for await (const k of await kv.keys()) keys.push(k);
  for (const key of keys.sort()) {
    const e = await kv.get(key);
    if (e !== null && e.operation === 'PUT')
      live.set(key, { value: e.value, revision: e.revision });
  }
  return live;
}

function isWrongSequence(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence ||
      err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

export interface PublishResult {
  /** Keys written or deleted, in order. */
  readonly written: readonly string[];
  /** The bucket revision after the last write (absent when nothing was written). */
  readonly revision?: number;
}

/**
 * Writes the `created` / `updated` / `deleted` changes in their order. Stops at the
 * first key another writer changed since it was read (`ApplyConflictError`).
 */
export async function publishChanges(kv: KV, changes: readonly Change[]): Promise<PublishResult> {
  const written: string[] = [];
  let revision: number | undefined;
  for (const c of changes) {
    try {
      if (c.action === 'created' && c.value !== undefined) {
        revision = await kv.create(c.key, c.value);
      } else if (c.action === 'updated' && c.value !== undefined && c.revision !== undefined) {
        revision = await kv.update(c.key, c.value, c.revision);
      } else if (c.action === 'deleted' && c.revision !== undefined) {
        await kv.delete(c.key, { previousSeq: c.revision });
        const e = await kv.get(c.key);
        if (e !== null) revision = e.revision;
      } else {
        continue;
      }
    } catch (err) {
      if (isWrongSequence(err)) throw new ApplyConflictError(c.key, written, { cause: err });
      throw err;
    }
    written.push(c.key);
  }
  return { written, ...(revision !== undefined ? { revision } : {}) };
}
