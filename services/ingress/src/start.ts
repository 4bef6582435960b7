/**
 * Wires one ingress process: Haraka with the Mailmesh plugins over a live config
 * snapshot, the S3 spool, JetStream, TLS files, session audit, load reports and
 * metrics. main.ts calls it with connections from the environment; tests call it
 * with their own peers (one per test file: Haraka is a per-process singleton).
 */
import { hostname } from 'node:os';
import type { ConfigSnapshot } from '@mailmesh/config';
import { objectBuckets } from '@mailmesh/proto';
import {
  createLogger,
  createRegistry,
  newMailId,
  type Bus,
  type Logger,
  type ObjectStore,
  type ObjectWriter,
  type Registry,
} from '@mailmesh/runtime';
import { SpoolBatcher } from './accept/segments.js';
import { AuditChain } from './audit.js';
import { verifyPassword as defaultVerify, type PasswordVerifier } from './auth/password.js';
import { bootHaraka, type HarakaHandle } from './haraka/boot.js';
import { HOST_KEY, IngressHost, QueuedReply } from './host.js';
import { startLoadReporter, type LoadReporter } from './load.js';
import { ingressMetrics, type IngressMetrics } from './metrics.js';
import { spfChecker, systemResolver, type DnsResolver } from './spf.js';
import { watchKeyPair, type TlsWatcher } from './tls.js';

export class IngressConfigError extends Error {
  override readonly name = 'IngressConfigError';
  constructor(readonly problem: string) {
    super(`ingress cannot start: ${problem}`);
  }
}

export interface IngressOptions {
  readonly bus: Bus;
  readonly store: ObjectStore;
  /** The live configuration snapshot (e.g. `() => watcher.current().value`). */
  readonly snapshot: () => ConfigSnapshot;
  /** Private directory for Haraka's config and its message spool. */
  readonly workDir: string;
  /** Pod name; default MAILMESH_INSTANCE, else the host name. */
  readonly instance?: string;
  readonly log?: Logger;
  readonly registry?: Registry;
  /** DNS for SPF; default the system resolver. */
  readonly resolver?: DnsResolver;
  readonly verifyPassword?: PasswordVerifier;
  readonly clock?: () => number;
  /** Haraka's own log level (its lines go to `log`); default `warn`. */
  readonly harakaLogLevel?: string;
  readonly loadIntervalMs?: number;
  readonly tlsPollMs?: number;
  /** Bytes of a message Haraka keeps in memory before spooling it to workDir. */
  readonly spoolAfterBytes?: number;
  /** Group commit: how long a spool write waits for company under load (SpoolBatcher). */
  readonly spoolLingerMs?: number;
  /**
   * Writes the group commit's objects; default `store`. The bin passes an
   * objectWriterThread so the PUTs' client CPU is off the SMTP event loop.
   */
  readonly spoolWriter?: ObjectWriter;
}

export interface Ingress {
  readonly host: IngressHost;
  readonly haraka: HarakaHandle;
  readonly metrics: IngressMetrics;
  readonly registry: Registry;
  readonly instance: string;
  readonly audit: AuditChain;
  readonly load: LoadReporter;
  /** Stops listening, waits (bounded) for open sessions, flushes audit records. */
  stop(graceMs?: number): Promise<void>;
}

/** An instance name usable as a NATS key token: lowercase [a-z0-9_-]. */
export function instanceToken(name: string): string {
  const t = name
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, 64);
  return t === '' ? 'ingress' : t;
}

const HARAKA_LEVELS: Record<string, 'error' | 'warn' | 'info' | 'debug' | 'fatal'> = {
  EMERG: 'fatal',
  ALERT: 'fatal',
  CRIT: 'fatal',
  ERROR: 'error',
  WARN: 'warn',
  NOTICE: 'info',
  INFO: 'info',
  DEBUG: 'debug',
  PROTOCOL: 'debug',
  DATA: 'debug',
};

export async function startIngress(opts: IngressOptions): Promise<Ingress> {
  const instance = instanceToken(opts.instance ?? process.env['MAILMESH_INSTANCE'] ?? hostname());
  const log = opts.log ?? createLogger('ingress', { instance });
  const registry = opts.registry ?? createRegistry('ingress', { instance });
  const clock = opts.clock ?? Date.now;
  const snapshot = opts.snapshot();
  const platform = snapshot.platform;
  if (!platform)
    throw new IngressConfigError('the configuration has no platform document (key "platform")');

  const metrics = ingressMetrics(registry);
  const audit = new AuditChain(opts.bus, log, () => metrics.auditDropped.inc());

  try {
    await opts.store.ensureBuckets([objectBuckets.spool], { timeoutMs: 10_000 });
  } catch (err) {
    // Not fatal: acceptance answers 451 until the object store is back.
    log.warn({ event: 'ingress.spool_bucket_unchecked', err }, 'could not ensure the spool bucket');
  }

  const harakaRef: { current?: HarakaHandle } = {};
  const tls: TlsWatcher = await watchKeyPair(
    platform.tls.certFile,
    platform.tls.keyFile,
    (pair) => harakaRef.current?.applyKeyPair(pair),
    log,
    opts.tlsPollMs,
  );

  let host: IngressHost | undefined;
  const haraka = await bootHaraka({
    dir: opts.workDir,
    platform,
    logLevel: opts.harakaLogLevel ?? 'warn',
    keyPair: tls.current(),
    queuedReply: QueuedReply,
    ...(opts.spoolAfterBytes !== undefined ? { spoolAfterBytes: opts.spoolAfterBytes } : {}),
    onProxyRefused: (ip, reason) => {
      metrics.rejected.inc({ stage: 'connect', code: '421', reason: '4.7.0' });
      log.warn({ event: 'ingress.proxy_refused', ip, reason }, 'PROXY v2 header refused');
    },
    onProxyHeader: (ip, header) =>
      log.debug({ event: 'ingress.proxy_v2', ip, header }, 'PROXY v2 header from a load balancer'),
    install: (constants) => {
      host = new IngressHost({
        snapshot: () => {
          try {
            return opts.snapshot();
          } catch {
            return undefined;
          }
        },
        store: opts.store,
        spool: new SpoolBatcher({
          store: opts.spoolWriter ?? opts.store,
          log,
          ...(opts.spoolLingerMs !== undefined ? { lingerMs: opts.spoolLingerMs } : {}),
          onStored: (mails) => {
            metrics.spoolObjects.inc();
            metrics.spoolMails.inc(mails);
          },
        }),
        bus: opts.bus,
        log,
        metrics,
        audit,
        constants,
        verifyPassword: opts.verifyPassword ?? defaultVerify,
        spf: spfChecker(opts.resolver ?? systemResolver, platform.hostname),
        newId: () => newMailId(clock()),
        instance,
        clock,
      });
      const harakaLog = (level: string, data: string): void => {
        const l = HARAKA_LEVELS[level.toUpperCase()] ?? 'info';
        log[l]({ event: 'haraka.log' }, data);
      };
      (globalThis as Record<symbol, unknown>)[HOST_KEY] = Object.assign(host, { harakaLog });
    },
  });
  harakaRef.current = haraka;
  if (!host) throw new IngressConfigError('Haraka did not install the host');
  const liveHost = host;

  const load = startLoadReporter(
    opts.bus,
    log,
    instance,
    () => liveHost.activeSessions,
    opts.loadIntervalMs ?? 5_000,
    clock,
  );
  log.info(
    {
      event: 'ingress.listening',
      listeners: platform.listeners.map((l) => `${l.name}=${l.addresses.join(',')}`),
    },
    'ingress listening',
  );

  return {
    host: liveHost,
    haraka,
    metrics,
    registry,
    instance,
    audit,
    load,
    stop: async (graceMs = 10_000) => {
      haraka.stopListening();
      tls.stop();
      load.stop();
      const until = clock() + graceMs;
      while (liveHost.activeSessions > 0 && clock() < until)
        await new Promise((r) => setTimeout(r, 50));
      await audit.flush();
      await load.report();
    },
  };
}
