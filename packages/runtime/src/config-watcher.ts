import type { KvWatchEntry } from '@nats-io/kv';
import type { QueuedIterator } from '@nats-io/nats-core';
import { kvBuckets, type KvSpec } from '@mailmesh/proto';

import type { Bus } from './bus.js';
import { ConfigBuildError, ConfigNotReadyError } from './errors.js';
import { deepFreeze, type DeepReadonly } from './internal/freeze.js';
import type { Logger } from './logging.js';

/** One immutable configuration: the value `build` made and the KV revision it reflects. */
export interface Snapshot<T> {
  readonly value: DeepReadonly<T>;
  /** Revision (stream sequence) of the last KV entry applied; 0 for an empty bucket. */
  readonly revision: number;
}

export type ConfigBuild<T> = (entries: ReadonlyMap<string, Uint8Array>, revision: number) => T;

export interface WatchConfigOptions<T> {
  /** Called after each swap, with the new and the previous snapshot. */
  readonly onChange?: (next: Snapshot<T>, prev: Snapshot<T> | undefined) => void;
  readonly log?: Logger;
  /** Default `kvBuckets.config` (`mailmesh-config`). */
  readonly bucket?: KvSpec;
  /** Rebuild at least every this many entries while updates keep coming; default 256. */
  readonly maxBatch?: number;
}

export interface ConfigWatcher<T> {
  /** The live snapshot; one reference, swapped whole. Throws ConfigNotReadyError before `ready`. */
  current(): Snapshot<T>;
  /** Resolves once the first snapshot is built; rejects if the bucket cannot be watched. */
  readonly ready: Promise<void>;
  /** The last rejected revision's error, cleared by the next good one. */
  readonly lastError: ConfigBuildError | undefined;
  stop(): Promise<void>;
}

/**
 * Watches every key of the configuration bucket (initial values, then updates and
 * deletes), rebuilds the whole configuration from the full key map with `build`, and
 * swaps one deeply frozen snapshot in. If `build` throws, the previous snapshot stays
 * live (DESIGN rule 3: bad configuration changes nothing).
 */
export function watchConfig<T>(
  bus: Bus,
  build: ConfigBuild<T>,
  options: WatchConfigOptions<T> = {},
): ConfigWatcher<T> {
  const spec = options.bucket ?? kvBuckets.config;
  const maxBatch = options.maxBatch ?? 256;
  const log = options.log;
  const entries = new Map<string, Uint8Array>();
  let snapshot: Snapshot<T> | undefined;
  let lastError: ConfigBuildError | undefined;
  let revision = 0;
  let pending = 0;
  let stopped = false;
  let watch: QueuedIterator<KvWatchEntry> | undefined;

  let markReady!: () => void;
  let failReady!: (err: unknown) => void;
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    failReady = reject;
  });
  ready.catch(() => undefined);

  const rebuild = (): void => {
    pending = 0;
    let value: T;
    try {
      // Callers get a copy so a build that keeps the map cannot see later edits.
      value = build(new Map(entries), revision);
    } catch (err) {
      lastError = new ConfigBuildError(revision, { cause: err });
      log?.error(
        { event: 'config.rejected', bucket: spec.bucket, revision, err },
        `configuration revision ${revision} rejected; keeping revision ${snapshot?.revision ?? 'none'}`,
      );
      return;
    }
    const prev = snapshot;
    const next: Snapshot<T> = Object.freeze({
      value: deepFreeze(value) as DeepReadonly<T>,
      revision,
    });
    snapshot = next;
    lastError = undefined;
    log?.info({ event: 'config.applied', bucket: spec.bucket, revision }, 'configuration applied');
    if (prev === undefined) markReady();
    try {
      options.onChange?.(next, prev);
    } catch (err) {
      log?.error({ event: 'config.on_change_failed', err }, 'onChange listener threw');
    }
  };

  const apply = (e: KvWatchEntry): void => {
    if (e.operation === 'PUT') entries.set(e.key, Uint8Array.from(e.value));
    else entries.delete(e.key);
    revision = Math.max(revision, e.revision);
    pending++;
    // `delta` is the number of entries still queued for this watcher: rebuild once
    // caught up, so a burst of writes is applied as one swap.
    if ((e.delta ?? 0) === 0 || pending >= maxBatch) rebuild();
  };

  const run = async (): Promise<void> => {
    const kv = await bus.kv(spec);
    const info = await bus.jsm.streams.info(`KV_${spec.bucket}`);
    if (stopped) return;
    watch = await kv.watch({ key: '>' });
    if (info.state.messages === 0 && snapshot === undefined) {
      revision = info.state.last_seq;
      rebuild();
    }
    for await (const e of watch) {
      if (stopped) break;
      apply(e);
    }
  };

  const loop = run().catch((err: unknown) => {
    log?.error({ event: 'config.watch_failed', bucket: spec.bucket, err }, 'config watch failed');
    failReady(err);
  });

  return {
    current: () => {
      if (snapshot === undefined) throw new ConfigNotReadyError(spec.bucket);
      return snapshot;
    },
    ready,
    get lastError() {
      return lastError;
    },
    stop: async () => {
      stopped = true;
      watch?.stop();
      await loop;
    },
  };
}
