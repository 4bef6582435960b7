#!/usr/bin/env node
/**
 * `mailmesh-router`: consumes `mail.scanned`, publishes delivery jobs. Configuration
 * comes from the `mailmesh-config` KV bucket; connections from the environment:
 *
 *   MAILMESH_NATS_URL        nats://127.0.0.1:4222 (comma-separated list allowed)
 *   MAILMESH_NATS_USER / MAILMESH_NATS_PASS / MAILMESH_NATS_TOKEN
 *   MAILMESH_S3_ENDPOINT     http://127.0.0.1:9000
 *   MAILMESH_S3_ACCESS_KEY / MAILMESH_S3_SECRET_KEY / MAILMESH_S3_REGION
 *   MAILMESH_INSTANCE        pod name (default: host name)
 *   MAILMESH_HOSTNAME        host name in DSNs when the platform document has none (default: host name)
 *   MAILMESH_HEALTH_PORT     /healthz /readyz /metrics (default 8025; 0 = any free port)
 *   MAILMESH_DNS_FILE        optional JSON table of DNS answers (MX, A) instead of the system resolver
 *   MAILMESH_ROUTER_CONCURRENCY  mails routed at once (default 16)
 *   MAILMESH_LOG_LEVEL       pino level (default info)
 */
import { hostname } from 'node:os';
import { createLogger, runPlatformService } from '@mailmesh/runtime';
import { fileMailResolver, openQueueStore, systemResolver } from '@mailmesh/queue';

import { buildRouterConfig, type RouterConfig } from './config.js';
import { startRouter } from './service.js';

const env = process.env;
const instance = env['MAILMESH_INSTANCE'] ?? hostname();
const log = createLogger('router', { instance });

await runPlatformService<RouterConfig>({
  name: 'router',
  instance,
  log,
  buildConfig: (entries) => buildRouterConfig(entries),
  healthPort: 8025,
  start: async ({ bus, store, config, registry }) => {
    const dnsFile = env['MAILMESH_DNS_FILE'];
    return startRouter({
      bus,
      store,
      queue: await openQueueStore(bus),
      config,
      resolver: dnsFile !== undefined ? await fileMailResolver(dnsFile) : systemResolver(),
      log,
      hostname: env['MAILMESH_HOSTNAME'] ?? hostname(),
      concurrency: Number(env['MAILMESH_ROUTER_CONCURRENCY'] ?? 16),
      registry,
    });
  },
});
