/**
 * The operator's view of the `mailmesh-config` bucket: read a key, write it with
 * compare-and-set on the revision it read (a deposed leader that still thinks it leads
 * cannot overwrite what the new leader wrote from newer state), remove it. Every NATS
 * failure becomes NatsUnavailableError, which the reconcilers turn into
 * `Ready=False, reason=NatsUnavailable` and a retry with backoff.
 */
import type { KV } from '@nats-io/kv';
import type { Bus } from '@mailmesh/runtime';
import { kvBuckets } from '@mailmesh/proto';
import { ConfigWriteConflictError, NatsUnavailableError } from './errors.js';

export interface StoredValue {
  readonly value: Uint8Array;
  readonly revision: number;
}

export interface ConfigStore {
  /** Undefined when the key is absent or deleted. */
  get(key: string): Promise<StoredValue | undefined>;
  /** Writes unless the stored bytes are equal already; returns the revision now holding `value`. */
  put(key: string, value: Uint8Array): Promise<{ revision: number; changed: boolean }>;
  /** True when a live value was deleted. */
  remove(key: string): Promise<boolean>;
}

const isWrongLastSequence = (err: unknown): boolean =>
  err instanceof Error && /wrong last sequence|key exists/i.test(err.message);

const equalBytes = (a: Uint8Array, b: Uint8Array): boolean =>
  a.length === b.length && a.every((x, i) => x === b[i]);

export function busConfigStore(getBus: () => Bus | undefined): ConfigStore {
  let kv: { bus: Bus; kv: KV } | undefined;
  const bucket = async (op: string): Promise<KV> => {
    const bus = getBus();
    if (bus === undefined)
      throw new NatsUnavailableError(op, { cause: new Error('not connected') });
    if (kv?.bus !== bus) {
      try {
        kv = { bus, kv: await bus.kv(kvBuckets.config) };
      } catch (err) {
        throw new NatsUnavailableError(op, { cause: err });
      }
    }
    return kv.kv;
  };
  const entry = async (b: KV, key: string, op: string) => {
    try {
      return await b.get(key);
    } catch (err) {
      throw new NatsUnavailableError(op, { cause: err });
    }
  };

  return {
    async get(key) {
      const e = await entry(await bucket(`read ${key}`), key, `read ${key}`);
      if (!e || e.operation !== 'PUT') return undefined;
      return { value: e.value, revision: e.revision };
    },
    async put(key, value) {
      const op = `write ${key}`;
      const b = await bucket(op);
      const attempts = 3;
      for (let i = 0; i < attempts; i++) {
        const e = await entry(b, key, op);
        if (e && e.operation === 'PUT' && equalBytes(e.value, value))
          return { revision: e.revision, changed: false };
        try {
          const revision = e ? await b.update(key, value, e.revision) : await b.create(key, value);
          return { revision, changed: true };
        } catch (err) {
          if (isWrongLastSequence(err)) continue;
          throw new NatsUnavailableError(op, { cause: err });
        }
      }
      throw new ConfigWriteConflictError(key, attempts);
    },
    async remove(key) {
      const op = `delete ${key}`;
      const b = await bucket(op);
      const e = await entry(b, key, op);
      if (!e || e.operation !== 'PUT') return false;
      try {
        await b.delete(key, { previousSeq: e.revision });
        return true;
      } catch (err) {
        if (isWrongLastSequence(err)) throw new ConfigWriteConflictError(key, 1);
        throw new NatsUnavailableError(op, { cause: err });
      }
    },
  };
}
