#!/usr/bin/env node
/**
 * `mailmesh-operator`: the operator process. Configuration from the environment:
 *
 *   MAILMESH_NATS_URL              NATS servers (default nats://127.0.0.1:4222)
 *   KUBECONFIG                     kubeconfig file; else in-cluster service account
 *   MAILMESH_NAMESPACE             namespace to watch; unset or "" = all namespaces
 *   POD_NAMESPACE                  namespace of the leader Lease (default MAILMESH_NAMESPACE or "default")
 *   POD_NAME / MAILMESH_INSTANCE   leader identity prefix (default host name)
 *   MAILMESH_LEASE_DURATION_MS     default 15000; MAILMESH_RENEW_DEADLINE_MS 10000; MAILMESH_RETRY_PERIOD_MS 2000
 *   MAILMESH_AUTOSCALE             "off" disables the autoscaler
 *   MAILMESH_AUTOSCALE_INTERVAL_MS default 15000
 *   MAILMESH_AUTOSCALE_SELECTOR    default app.kubernetes.io/part-of=mailmesh
 *   MAILMESH_SCALE_DOWN_WINDOW_MS  default 300000
 *   MAILMESH_MX_HOST               MX target for every domain (default mx.<domain>)
 *   MAILMESH_HEALTH_PORT           /healthz /readyz /metrics (default 8080)
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { createLogger, createShutdown, startHealthServer } from '@mailmesh/runtime';
import { startOperator } from './operator.js';

function intEnv(name: string, fallback?: number): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  if (!/^\d+$/.test(v)) throw new Error(`${name} must be a non-negative integer, got "${v}"`);
  return Number(v);
}

async function main(): Promise<void> {
  const log = createLogger('operator');
  const env = process.env;
  const namespace = env['MAILMESH_NAMESPACE'] || undefined;
  const mx = env['MAILMESH_MX_HOST'];
  const interval = intEnv('MAILMESH_AUTOSCALE_INTERVAL_MS');
  const window = intEnv('MAILMESH_SCALE_DOWN_WINDOW_MS');
  const leaseDurationMs = intEnv('MAILMESH_LEASE_DURATION_MS');
  const renewDeadlineMs = intEnv('MAILMESH_RENEW_DEADLINE_MS');
  const retryPeriodMs = intEnv('MAILMESH_RETRY_PERIOD_MS');
  const operator = await startOperator({
    natsServers: env['MAILMESH_NATS_URL'] ?? 'nats://127.0.0.1:4222',
    ...(env['KUBECONFIG'] ? { kubeconfigPath: env['KUBECONFIG'] } : {}),
    ...(namespace !== undefined ? { namespace } : {}),
    leaseNamespace: env['POD_NAMESPACE'] || namespace || 'default',
    identity: `${env['POD_NAME'] ?? env['MAILMESH_INSTANCE'] ?? hostname()}-${randomBytes(3).toString('hex')}`,
    ...(leaseDurationMs !== undefined ? { leaseDurationMs } : {}),
    ...(renewDeadlineMs !== undefined ? { renewDeadlineMs } : {}),
    ...(retryPeriodMs !== undefined ? { retryPeriodMs } : {}),
    autoscale:
      env['MAILMESH_AUTOSCALE'] === 'off'
        ? false
        : {
            ...(interval !== undefined ? { intervalMs: interval } : {}),
            ...(env['MAILMESH_AUTOSCALE_SELECTOR']
              ? { labelSelector: env['MAILMESH_AUTOSCALE_SELECTOR'] }
              : {}),
            ...(window !== undefined ? { policy: { scaleDownStabilizationMs: window } } : {}),
          },
    ...(mx ? { mxHost: () => mx } : {}),
    log,
  });
  const health = await startHealthServer({
    port: intEnv('MAILMESH_HEALTH_PORT', 8080) ?? 8080,
    registry: operator.registry,
    ready: () => (operator.natsConnected() ? true : { ready: false, reason: 'NATS not connected' }),
  });
  log.info(
    {
      event: 'operator.started',
      identity: operator.identity,
      health: health.url,
      namespace: namespace ?? '*',
    },
    'operator started',
  );
  const shutdown = createShutdown({ log });
  shutdown.onShutdown(() => operator.stop());
  shutdown.onShutdown(() => health.close());
  shutdown.installSignalHandlers();
}

main().catch((err: unknown) => {
  process.stderr.write(`mailmesh-operator: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
