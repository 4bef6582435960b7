import {
  jetstream,
  jetstreamManager,
  JetStreamError,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import {
  AuthorizationError,
  ConnectionError,
  TimeoutError,
  UserAuthenticationExpiredError,
  type NatsConnection,
} from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import type { KvSpec } from '@mailmesh/proto';

import { JetStreamUnavailableError, NatsAuthError, NatsUnavailableError } from './errors.js';
import type { Logger } from './logging.js';

export interface BusOptions {
  /** `nats://host:port` (or `host:port`), one or many. */
  readonly servers: string | readonly string[];
  /** Connection name shown by the server (`connz`); use the service and instance. */
  readonly name: string;
  readonly user?: string;
  readonly pass?: string;
  readonly token?: string;
  /** Time allowed for the first connection and for JetStream API calls; default 5000 ms. */
  readonly timeoutMs?: number;
  /** Logs disconnects and reconnects. */
  readonly log?: Logger;
}

/** A NATS connection with JetStream; reconnects forever once connected. */
export interface Bus {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  /** The first server, as written in messages (`nats://127.0.0.1:4222`). */
  readonly server: string;
  /** Opens an existing KV bucket (create it with `provision`). */
  kv(spec: KvSpec): Promise<KV>;
  /** Lets subscriptions finish and pending publishes flush, then closes. */
  drain(): Promise<void>;
  close(): Promise<void>;
}

function normalizeServer(s: string): string {
  return /^[a-z]+:\/\//i.test(s) ? s : `nats://${s}`;
}

function reasonOf(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause as { code?: unknown } | undefined;
    if (cause && typeof cause.code === 'string' && cause.code === 'ECONNREFUSED') {
      return 'connection refused';
    }
    return err.message;
  }
  return String(err);
}

function isAuthFailure(err: unknown): boolean {
  return (
    err instanceof AuthorizationError ||
    err instanceof UserAuthenticationExpiredError ||
    (err instanceof Error && /authorization violation/i.test(err.message))
  );
}

/**
 * Connects to NATS and checks that JetStream is there, so a service fails at start
 * with a message that says what to fix instead of timing out on its first publish.
 */
export async function connectBus(opts: BusOptions): Promise<Bus> {
  const servers = (typeof opts.servers === 'string' ? opts.servers.split(',') : opts.servers)
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(normalizeServer);
  const server = servers[0] ?? 'nats://127.0.0.1:4222';
  const timeout = opts.timeoutMs ?? 5_000;
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers,
      name: opts.name,
      timeout,
      waitOnFirstConnect: false,
      maxReconnectAttempts: -1,
      // nats.js otherwise builds an Error (a stack capture) for every request, ~2% of
      // ingress CPU per mail (bench/results/ingress-*.md); our errors carry their own context.
      noAsyncTraces: true,
      reconnect: true,
      ...(opts.user === undefined ? {} : { user: opts.user }),
      ...(opts.pass === undefined ? {} : { pass: opts.pass }),
      ...(opts.token === undefined ? {} : { token: opts.token }),
    });
  } catch (err) {
    if (isAuthFailure(err)) throw new NatsAuthError(server, { cause: err });
    if (err instanceof TimeoutError) {
      throw new NatsUnavailableError(server, `no answer within ${timeout} ms`, { cause: err });
    }
    throw new NatsUnavailableError(server, reasonOf(err), { cause: err });
  }

  if (nc.info && nc.info.jetstream !== true) {
    await nc.close();
    throw new JetStreamUnavailableError(server);
  }
  let jsm: JetStreamManager;
  try {
    // checkAPI asks the account info: fails when JetStream is off for this account.
    jsm = await jetstreamManager(nc, { timeout, checkAPI: true });
  } catch (err) {
    await nc.close();
    if (err instanceof JetStreamError || (err instanceof Error && /jetstream/i.test(err.message))) {
      throw new JetStreamUnavailableError(server, { cause: err });
    }
    if (err instanceof ConnectionError) {
      throw new NatsUnavailableError(server, reasonOf(err), { cause: err });
    }
    throw err;
  }
  const js = jetstream(nc, { timeout });
  coalesceWrites(nc);

  if (opts.log) {
    const log = opts.log;
    void (async () => {
      for await (const s of nc.status()) {
        switch (s.type) {
          case 'disconnect':
            log.warn({ event: 'nats.disconnect', server: s.server }, 'NATS connection lost');
            break;
          case 'reconnect':
            log.info({ event: 'nats.reconnect', server: s.server }, 'NATS reconnected');
            break;
          case 'error':
            log.error({ event: 'nats.error', err: s.error }, 'NATS connection error');
            break;
          default:
            break;
        }
      }
    })();
  }

  const kvm = new Kvm(js);
  return {
    nc,
    js,
    jsm,
    server,
    // provision() creates every bucket with allow_direct: reads then take the direct
    // get path (no JetStream API request, no API advisory per read).
    kv: (spec) => kvm.open(spec.bucket, { allow_direct: true }),
    drain: async () => {
      if (!nc.isClosed() && !nc.isDraining()) await nc.drain();
      await nc.closed();
    },
    close: async () => {
      if (!nc.isClosed()) await nc.close();
    },
  };
}

/**
 * nats.js writes its outbound buffer to the socket at the end of every microtask
 * checkpoint that added to it. A service handling many mails at once produces its
 * publishes, acks and pulls from separate I/O callbacks, so each became its own
 * write system call and woke nats-server once each: the largest CPU cost of every
 * stage in the bench profiles. Deferring that flush to `setImmediate` sends
 * everything one event-loop turn produced in one write, at the cost of the rest of
 * that turn in latency. (nats.js has no option for this; the hook is its
 * protocol's `flushPending`, checked so that a different version falls back to
 * stock behaviour.)
 */
function coalesceWrites(nc: NatsConnection): void {
  const protocol = (
    nc as unknown as {
      protocol?: {
        flushPending?: () => void;
        outbound?: { size?: () => number };
        pendingLimit?: number;
      };
    }
  ).protocol;
  const flush = protocol?.flushPending;
  if (!protocol || typeof flush !== 'function') return;
  let scheduled = false;
  protocol.flushPending = () => {
    // A full buffer goes out at once, as nats.js itself does.
    const size = protocol.outbound?.size?.() ?? 0;
    if (protocol.pendingLimit !== undefined && size >= protocol.pendingLimit) {
      flush.call(protocol);
      return;
    }
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      flush.call(protocol);
    });
  };
}
