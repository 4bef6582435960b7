/**
 * The delivery service: two consumers on the MAIL stream, `delivery-local`
 * (mail.deliver.local.>) and `delivery-remote` (mail.deliver.remote.>), sharing the
 * queue bucket, the DSN sender and one SMTP pool.
 */
import type { ConfigSnapshot } from '@mailmesh/config';
import { consumers, schemas } from '@mailmesh/proto';
import {
  type Bus,
  consume,
  type Consumer,
  type Logger,
  type ObjectStore,
  type Registry,
} from '@mailmesh/runtime';
import { type MailResolver, openQueueStore, type QueueStore } from '@mailmesh/queue';

import { processJob } from './job.js';
import { deliverLocal } from './local.js';
import { openMailStore, type MailStore } from './mailstore/store.js';
import { deliverRemote } from './remote/deliver.js';
import { TransportPool } from './remote/pool.js';
import { defaultRetrySchedule, type RetryPolicy } from './schedule.js';
import type { SecretSource } from './secrets.js';

export interface DeliveryOptions {
  readonly bus: Bus;
  readonly store: ObjectStore;
  readonly config: () => ConfigSnapshot;
  readonly resolver: MailResolver;
  readonly secrets: SecretSource;
  /** Host name (EHLO, DSN Reporting-MTA) when the platform document has none. */
  readonly hostname: string;
  readonly log: Logger;
  readonly retry?: RetryPolicy;
  readonly now?: () => Date;
  /** Run the local consumer; default true. */
  readonly local?: boolean;
  /** Run the remote consumer; default true. */
  readonly remote?: boolean;
  /** Jobs handled at once; defaults 32 (local) and 64 (remote). */
  readonly localConcurrency?: number;
  readonly remoteConcurrency?: number;
  /** SMTP connections per destination; default 5. */
  readonly maxConnectionsPerDestination?: number;
  /** Port of MX hosts (tests); default 25. */
  readonly mxPort?: number;
  /** Extra trusted CA certificates (PEM) for TLS to smart hosts and MX hosts. */
  readonly ca?: readonly string[];
  readonly queue?: QueueStore;
  readonly mailstore?: MailStore;
  readonly registry?: Registry;
}

export interface DeliveryService {
  readonly mailstore: MailStore;
  readonly pool: TransportPool;
  /** Stops both consumers (in-flight jobs finish), then closes the SMTP pools. */
  stop(): Promise<void>;
}

export async function startDelivery(opts: DeliveryOptions): Promise<DeliveryService> {
  const now = opts.now ?? (() => new Date());
  const hostname = (): string => opts.config().platform?.hostname ?? opts.hostname;
  const queue = opts.queue ?? (await openQueueStore(opts.bus));
  const mailstore = opts.mailstore ?? (await openMailStore(opts.bus, opts.store, now));
  const pool = new TransportPool({
    ehloName: hostname,
    ...(opts.maxConnectionsPerDestination !== undefined
      ? { maxConnections: opts.maxConnectionsPerDestination }
      : {}),
    ...(opts.ca ? { ca: opts.ca } : {}),
    log: opts.log,
  });
  const retry = opts.retry ?? { default: defaultRetrySchedule };
  const bounce = {
    bus: opts.bus,
    store: opts.store,
    get hostname() {
      return hostname();
    },
    log: opts.log,
    now,
  };
  const running: Consumer[] = [];
  const common = { bus: opts.bus, queue, bounce, retry, now, log: opts.log };
  const consumeOpts = (concurrency: number) => ({
    concurrency,
    log: opts.log,
    ackExtendMs: 15_000,
    ...(opts.registry ? { registry: opts.registry } : {}),
  });
  try {
    if (opts.local ?? true) {
      const deps = {
        ...common,
        deliver: (job: Parameters<typeof deliverLocal>[1], rcpts: readonly string[]) =>
          deliverLocal({ mailstore, snapshot: opts.config }, job, rcpts),
      };
      running.push(
        await consume(
          opts.bus,
          consumers.deliveryLocal,
          schemas.DeliveryJob,
          (d) => processJob(deps, d.data, d.seq),
          consumeOpts(opts.localConcurrency ?? 32),
        ),
      );
    }
    if (opts.remote ?? true) {
      const remoteDeps = {
        store: opts.store,
        pool,
        resolver: opts.resolver,
        secrets: opts.secrets,
        snapshot: opts.config,
        now,
        ...(opts.mxPort !== undefined ? { mxPort: opts.mxPort } : {}),
      };
      const deps = {
        ...common,
        deliver: (job: Parameters<typeof deliverRemote>[1], rcpts: readonly string[]) =>
          deliverRemote(remoteDeps, job, rcpts),
      };
      running.push(
        await consume(
          opts.bus,
          consumers.deliveryRemote,
          schemas.DeliveryJob,
          (d) => processJob(deps, d.data, d.seq),
          consumeOpts(opts.remoteConcurrency ?? 64),
        ),
      );
    }
  } catch (err) {
    await Promise.all(running.map((c) => c.stop()));
    pool.close();
    throw err;
  }
  return {
    mailstore,
    pool,
    stop: async () => {
      await Promise.all(running.map((c) => c.stop()));
      pool.close();
    },
  };
}
