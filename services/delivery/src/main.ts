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
import { createLogger, runPlatformService } from '@mailmesh/runtime';
import { fileMailResolver, systemResolver } from '@mailmesh/queue';

import { fileSecrets } from './secrets.js';
import { startDelivery } from './service.js';
import { settingsFromEnv } from './settings.js';

const env = process.env;
const instance = env['MAILMESH_INSTANCE'] ?? hostname();
const log = createLogger('delivery', { instance });

await runPlatformService<ConfigSnapshot>({
  name: 'delivery',
  instance,
  log,
  buildConfig: (entries) => buildSnapshot(entries),
  healthPort: 8025,
  start: async ({ bus, store, config, registry }) => {
    const settings = settingsFromEnv(env);
    return startDelivery({
      bus,
      store,
      config,
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
  },
});
