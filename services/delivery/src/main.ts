#!/usr/bin/env node
/**
 * `mailmesh-delivery`: delivers jobs from `mail.deliver.>` to local mailboxes and
 * remote SMTP servers. Configuration comes from the `mailmesh-config` KV bucket;
 * connections and delivery settings from the environment:
 *
 *   MAILMESH_NATS_URL        nats://127.0.0.1:4222 (comma-separated list allowed)
 *   MAILMESH_NATS_USER / MAILMESH_NATS_PASS / MAILMESH_NATS_TOKEN
 *   MAILMESH_S3_ENDPOINT     http://127.0.0.1:9000
 *   MAILMESH_S3_ACCESS_KEY / MAILMESH_S3_SECRET_KEY / MAILMESH_S3_REGION
 *   MAILMESH_INSTANCE        pod name (default: host name)
 *   MAILMESH_HOSTNAME        EHLO name and DSN Reporting-MTA when the platform document has none
 *   MAILMESH_HEALTH_PORT     /healthz /readyz /metrics (default 8025; 0 = any free port)
 *   MAILMESH_LOG_LEVEL       pino level (default info)
 *   and the delivery settings of settings.ts (retry schedule, roles, concurrency, secrets, CA, DNS).
 */
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { buildSnapshot, type ConfigSnapshot } from '@mailmesh/config';
import {
  busOptionsFromEnv,
  connectBus,
  connectObjectStore,
  objectStoreOptionsFromEnv,
  createLogger,
  createRegistry,
  runService,
  startHealthServer,
  watchConfig,
} from '@mailmesh/runtime';
import { fileMailResolver, systemResolver } from '@mailmesh/queue';

import { deliveryEvents } from './events.js';
import { fileSecrets } from './secrets.js';
import { startDelivery } from './service.js';
import { settingsFromEnv } from './settings.js';

const env = process.env;
const instance = env['MAILMESH_INSTANCE'] ?? hostname();
const log = createLogger('delivery', { instance });

await runService({
  name: 'delivery',
  log,
  start: async (ctx) => {
    const settings = settingsFromEnv(env);
    const bus = await connectBus({ ...busOptionsFromEnv(`delivery-${instance}`), log });
    ctx.onShutdown(() => bus.drain());
    const store = connectObjectStore(objectStoreOptionsFromEnv());
    ctx.onShutdown(() => store.close());
    const config = watchConfig<ConfigSnapshot>(bus, (entries) => buildSnapshot(entries), { log });
    ctx.onShutdown(() => config.stop());
    await config.ready;
    const registry = createRegistry('delivery', { instance });
    const service = await startDelivery({
      bus,
      store,
      config: () => config.current().value as ConfigSnapshot,
      resolver:
        settings.dnsFile !== undefined
          ? await fileMailResolver(settings.dnsFile)
          : systemResolver(),
      secrets: fileSecrets(settings.secretsDir),
      hostname: env['MAILMESH_HOSTNAME'] ?? hostname(),
      log,
      retry: settings.retry,
      local: settings.local,
      remote: settings.remote,
      localConcurrency: settings.localConcurrency,
      remoteConcurrency: settings.remoteConcurrency,
      maxConnectionsPerDestination: settings.maxConnectionsPerDestination,
      mxPort: settings.mxPort,
      ...(settings.caFile !== undefined ? { ca: [await readFile(settings.caFile, 'utf8')] } : {}),
      registry,
    });
    const health = await startHealthServer({
      port: Number(env['MAILMESH_HEALTH_PORT'] ?? 8025),
      ready: () => (bus.nc.isClosed() ? { ready: false, reason: 'NATS connection closed' } : true),
      registry,
    });
    log.info({ event: deliveryEvents.health, url: health.url }, 'health server listening');
    ctx.onShutdown(() => health.close());
    return { stop: () => service.stop() };
  },
});
