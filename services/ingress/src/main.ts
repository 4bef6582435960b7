#!/usr/bin/env node
/**
 * `mailmesh-ingress`: the SMTP ingress process. Configuration comes from the
 * `mailmesh-config` KV bucket (listeners, TLS files, limits); connections from
 * the environment:
 *
 *   MAILMESH_NATS_URL        nats://127.0.0.1:4222 (comma-separated list allowed)
 *   MAILMESH_NATS_USER / MAILMESH_NATS_PASS / MAILMESH_NATS_TOKEN
 *   MAILMESH_S3_ENDPOINT     http://127.0.0.1:9000
 *   MAILMESH_S3_ACCESS_KEY / MAILMESH_S3_SECRET_KEY / MAILMESH_S3_REGION
 *   MAILMESH_INSTANCE        pod name (default: host name)
 *   MAILMESH_HEALTH_PORT     /healthz /readyz /metrics (default 8025; 0 = any free port)
 *   MAILMESH_INGRESS_DIR     Haraka config + message spool (default: $TMPDIR/mailmesh-ingress-<instance>)
 *   MAILMESH_DNS_FILE        optional JSON table of DNS answers for SPF instead of the system resolver
 *   MAILMESH_SPOOL_LINGER_MS under load, how long a spool write waits to share its PUT (default 3; 0 = never)
 *   MAILMESH_SPOOL_THREAD    1 (default): spool PUTs run in a worker thread; 0: on the SMTP event loop
 *   MAILMESH_LOG_LEVEL       pino level (default info)
 *   MAILMESH_TRACE_CONSOLE   1 = print finished spans (OpenTelemetry) to stdout
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSnapshot, type ConfigSnapshot } from '@mailmesh/config';
import {
  createLogger,
  initTracing,
  objectStoreOptionsFromEnv,
  objectWriterThread,
  runPlatformService,
} from '@mailmesh/runtime';
import { fileResolver } from './spf.js';
import { instanceToken, startIngress } from './start.js';

const env = process.env;
const instance = instanceToken(env['MAILMESH_INSTANCE'] ?? (await import('node:os')).hostname());
// First, so that every span (and the traceparent of every envelope) comes from it.
const tracing = initTracing('ingress', { instance });
const log = createLogger('ingress', { instance });

await runPlatformService<ConfigSnapshot>({
  name: 'ingress',
  instance,
  log,
  buildConfig: (entries) => buildSnapshot(entries),
  healthPort: 8025,
  start: async (ctx) => {
    ctx.onShutdown(() => tracing.shutdown());
    const dnsFile = env['MAILMESH_DNS_FILE'];
    // Spool PUTs run in a worker thread: their client CPU stays off the SMTP loop.
    const spoolWriter =
      env['MAILMESH_SPOOL_THREAD'] === '0'
        ? undefined
        : objectWriterThread(objectStoreOptionsFromEnv(env), {
            onThreadError: (err) =>
              log.error(
                { event: 'ingress.spool_writer_failed', err },
                'spool writer thread failed',
              ),
          });
    if (spoolWriter) ctx.onShutdown(() => spoolWriter.close());
    const ingress = await startIngress({
      bus: ctx.bus,
      store: ctx.store,
      ...(spoolWriter ? { spoolWriter } : {}),
      snapshot: ctx.config,
      workDir: env['MAILMESH_INGRESS_DIR'] ?? join(tmpdir(), `mailmesh-ingress-${instance}`),
      instance,
      log,
      registry: ctx.registry,
      ...(dnsFile !== undefined ? { resolver: await fileResolver(dnsFile) } : {}),
      ...(env['MAILMESH_SPOOL_LINGER_MS'] !== undefined
        ? { spoolLingerMs: Number(env['MAILMESH_SPOOL_LINGER_MS']) }
        : {}),
    });
    return { stop: () => ingress.stop() };
  },
});
