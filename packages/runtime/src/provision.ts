import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  ReplayPolicy,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type StreamConfig,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import {
  consumers as allConsumers,
  kvBuckets as allKvBuckets,
  streams as allStreams,
  type ConsumerSpec,
  type KvSpec,
  type StreamSpec,
} from '@mailmesh/proto';

import type { Bus } from './bus.js';
import { ProvisionConflictError, ProvisionError, type ProvisionResourceKind } from './errors.js';

export interface ProvisionOptions {
  /** Default: every stream in `@mailmesh/proto`. */
  readonly streams?: readonly StreamSpec[];
  /** Default: every consumer in `@mailmesh/proto`. */
  readonly consumers?: readonly ConsumerSpec[];
  /** Default: every KV bucket in `@mailmesh/proto`. */
  readonly kv?: readonly KvSpec[];
  /** Replicas of streams, KV buckets and consumers; default 1. */
  readonly replicas?: number;
}

/** Resource names: `stream:MAIL`, `consumer:MAIL/scanner`, `kv:mailmesh-config`. */
export interface ProvisionResult {
  readonly created: string[];
  readonly updated: string[];
  readonly unchanged: string[];
}

type Desired<T> = { readonly [K in keyof T]?: T[K] };

// ---------------------------------------------------------------------------
// Pure mapping from the wire contract to JetStream configuration.

/** The JetStream configuration a StreamSpec stands for. */
export function streamConfigOf(
  spec: StreamSpec,
  replicas = 1,
): Desired<StreamConfig> & {
  name: string;
} {
  return {
    name: spec.name,
    subjects: [...spec.subjects],
    retention: spec.retention === 'workqueue' ? RetentionPolicy.Workqueue : RetentionPolicy.Limits,
    storage: StorageType.File,
    max_age: nanos(spec.maxAgeMs),
    duplicate_window: nanos(spec.duplicateWindowMs),
    description: spec.description,
    num_replicas: replicas,
    discard: DiscardPolicy.Old,
  };
}

/** The stream backing a KV bucket, the same shape `@nats-io/kv` creates. */
export function kvStreamConfigOf(
  spec: KvSpec,
  replicas = 1,
): Desired<StreamConfig> & {
  name: string;
} {
  return {
    name: `KV_${spec.bucket}`,
    subjects: [`$KV.${spec.bucket}.>`],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_msgs_per_subject: spec.history,
    max_age: nanos(spec.ttlMs),
    max_msg_size: -1,
    discard: DiscardPolicy.New,
    allow_rollup_hdrs: true,
    allow_direct: true,
    description: spec.description,
    num_replicas: replicas,
  };
}

/** A durable pull consumer: explicit acks, from the start of the stream. */
export function consumerConfigOf(
  spec: ConsumerSpec,
  replicas = 1,
): Desired<ConsumerConfig> & { durable_name: string } {
  return {
    durable_name: spec.durable,
    description: spec.description,
    filter_subject: spec.filterSubject,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    replay_policy: ReplayPolicy.Instant,
    ack_wait: nanos(spec.ackWaitMs),
    max_ack_pending: spec.maxAckPending,
    max_deliver: spec.maxDeliver,
    num_replicas: replicas,
  };
}

/** Fields JetStream cannot change on a live resource. */
export const immutableStreamFields: readonly string[] = ['retention', 'storage'];
export const immutableConsumerFields: readonly string[] = [
  'ack_policy',
  'deliver_policy',
  'replay_policy',
  'durable_name',
];

function sameValue(live: unknown, want: unknown): boolean {
  if (Array.isArray(want)) {
    return (
      Array.isArray(live) &&
      live.length === want.length &&
      want.every((v, i) => sameValue(live[i], v))
    );
  }
  // The server omits empty descriptions and zero values.
  if (want === '' || want === 0 || want === false) {
    return live === undefined || live === want;
  }
  return live === want;
}

export interface ConfigDiff {
  /** Fields whose live value differs from the wanted one. */
  readonly changed: string[];
  /** The subset of `changed` that cannot be changed in place. */
  readonly conflicts: string[];
}

/** Compares only the fields the definition sets; server defaults elsewhere are ignored. */
export function diffConfig(
  live: object,
  desired: object,
  immutable: readonly string[],
): ConfigDiff {
  const liveRec = live as Record<string, unknown>;
  const changed = Object.entries(desired)
    .filter(([k, v]) => v !== undefined && !sameValue(liveRec[k], v))
    .map(([k]) => k);
  return { changed, conflicts: changed.filter((k) => immutable.includes(k)) };
}

// ---------------------------------------------------------------------------
// I/O

function isNotFound(err: unknown, code: number): boolean {
  return err instanceof JetStreamApiError && err.code === code;
}

function detailOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

type Outcome = 'created' | 'updated' | 'unchanged';

async function ensureStream(
  bus: Bus,
  kind: ProvisionResourceKind,
  label: string,
  desired: Desired<StreamConfig> & { name: string },
): Promise<Outcome> {
  let live: StreamConfig;
  try {
    live = (await bus.jsm.streams.info(desired.name)).config;
  } catch (err) {
    if (!isNotFound(err, JetStreamApiCodes.StreamNotFound)) {
      throw new ProvisionError(kind, label, 'inspect', detailOf(err), { cause: err });
    }
    try {
      await bus.jsm.streams.add(desired);
    } catch (addErr) {
      throw new ProvisionError(kind, label, 'create', detailOf(addErr), { cause: addErr });
    }
    return 'created';
  }
  const diff = diffConfig(live, desired, immutableStreamFields);
  const conflict = diff.conflicts[0];
  if (conflict !== undefined) {
    throw new ProvisionConflictError(
      kind,
      label,
      conflict,
      (live as unknown as Record<string, unknown>)[conflict],
      (desired as Record<string, unknown>)[conflict],
    );
  }
  if (diff.changed.length === 0) return 'unchanged';
  const { name: _name, retention: _r, storage: _s, ...mutable } = desired;
  try {
    await bus.jsm.streams.update(desired.name, mutable);
  } catch (err) {
    throw new ProvisionError(
      kind,
      label,
      'update',
      `${detailOf(err)} (changing ${diff.changed.join(', ')})`,
      { cause: err },
    );
  }
  return 'updated';
}

async function ensureConsumer(
  bus: Bus,
  stream: string,
  desired: Desired<ConsumerConfig> & { durable_name: string },
): Promise<Outcome> {
  const label = `${stream}/${desired.durable_name}`;
  let live: ConsumerConfig;
  try {
    live = (await bus.jsm.consumers.info(stream, desired.durable_name)).config;
  } catch (err) {
    if (!isNotFound(err, JetStreamApiCodes.ConsumerNotFound)) {
      throw new ProvisionError('consumer', label, 'inspect', detailOf(err), { cause: err });
    }
    try {
      await bus.jsm.consumers.add(stream, desired);
    } catch (addErr) {
      throw new ProvisionError('consumer', label, 'create', detailOf(addErr), { cause: addErr });
    }
    return 'created';
  }
  const diff = diffConfig(live, desired, immutableConsumerFields);
  const conflict = diff.conflicts[0];
  if (conflict !== undefined) {
    throw new ProvisionConflictError(
      'consumer',
      label,
      conflict,
      (live as unknown as Record<string, unknown>)[conflict],
      (desired as Record<string, unknown>)[conflict],
    );
  }
  if (diff.changed.length === 0) return 'unchanged';
  const {
    durable_name: _d,
    ack_policy: _a,
    deliver_policy: _p,
    replay_policy: _rp,
    ...mutable
  } = desired;
  try {
    await bus.jsm.consumers.update(stream, desired.durable_name, mutable);
  } catch (err) {
    throw new ProvisionError(
      'consumer',
      label,
      'update',
      `${detailOf(err)} (changing ${diff.changed.join(', ')})`,
      { cause: err },
    );
  }
  return 'updated';
}

/**
 * Makes the live JetStream streams, KV buckets and consumers match the wire
 * contract. Idempotent: a second run reports everything unchanged. A changed
 * mutable field is updated in place; an immutable one is refused with
 * ProvisionConflictError before anything is changed on that resource.
 */
export async function provision(
  bus: Bus,
  options: ProvisionOptions = {},
): Promise<ProvisionResult> {
  const replicas = options.replicas ?? 1;
  const result: ProvisionResult = { created: [], updated: [], unchanged: [] };
  const record = (name: string, outcome: Outcome): void => {
    result[outcome].push(name);
  };

  for (const spec of options.streams ?? Object.values(allStreams)) {
    const label = spec.name;
    record(
      `stream:${label}`,
      await ensureStream(bus, 'stream', label, streamConfigOf(spec, replicas)),
    );
  }
  for (const spec of options.kv ?? Object.values(allKvBuckets)) {
    const outcome = await ensureStream(bus, 'kv', spec.bucket, kvStreamConfigOf(spec, replicas));
    record(`kv:${spec.bucket}`, outcome);
  }
  for (const spec of options.consumers ?? Object.values(allConsumers)) {
    const outcome = await ensureConsumer(bus, spec.stream, consumerConfigOf(spec, replicas));
    record(`consumer:${spec.stream}/${spec.durable}`, outcome);
  }
  return result;
}
