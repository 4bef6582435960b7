import type { KV } from '@nats-io/kv';
import { kvBuckets, queueKey } from '@mailmesh/proto';
import type { Bus } from '@mailmesh/runtime';

import { getJson, updateJson, type UpdateOptions, type Versioned } from './kv-json.js';
import type { QueueRecord } from './record.js';

/** Reads and updates queue records in the `mailmesh-queue` KV bucket. */
export interface QueueStore {
  get(mailId: string): Promise<QueueRecord | undefined>;
  /** The record with its revision, to hand to `update` as `known`. */
  read(mailId: string): Promise<Versioned<QueueRecord> | undefined>;
  /**
   * Compare-and-set update; `change` gets the current record (or undefined) and
   * returns the new one, or undefined to leave it. Runs again on a lost race.
   */
  update(
    mailId: string,
    change: (current: QueueRecord | undefined) => QueueRecord | undefined,
    opts?: UpdateOptions<QueueRecord>,
  ): Promise<QueueRecord | undefined>;
  /** Every record (pending or finished); for `mailmesh queue ls`. */
  list(): AsyncIterable<QueueRecord>;
}

export function queueStoreOf(kv: KV): QueueStore {
  const bucket = kvBuckets.queue.bucket;
  return {
    get: async (mailId) => (await getJson<QueueRecord>(kv, bucket, queueKey(mailId)))?.value,
    read: (mailId) => getJson<QueueRecord>(kv, bucket, queueKey(mailId)),
    update: (mailId, change, opts) =>
      updateJson<QueueRecord>(kv, bucket, queueKey(mailId), change, opts),
    list: () => ({
      async *[Symbol.asyncIterator]() {
        const keys: string[] = [];
        for await (const k of await kv.keys()) keys.push(k);
        for (const k of keys) {
          const r = await getJson<QueueRecord>(kv, bucket, k);
          if (r) yield r.value;
        }
      },
    }),
  };
}

/** Opens the queue bucket (created by `provision`). */
export async function openQueueStore(bus: Bus): Promise<QueueStore> {
  return queueStoreOf(await bus.kv(kvBuckets.queue));
}
