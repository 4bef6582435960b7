/**
 * The wiring every Mailmesh service process shares, around `runService`: connect
 * NATS (named `<service>-<instance>`) and S3 from the environment, wait for the
 * first configuration snapshot, create the metrics registry, start the service,
 * then serve /healthz /readyz /metrics. Shutdown runs in reverse: the service
 * stops, then health, config watch, S3 and NATS (drained) close.
 *
 * Environment: the connection variables of env.ts, and
 *   MAILMESH_HEALTH_PORT  /healthz /readyz /metrics (default per service; 0 = any free port)
 */
import type { Registry } from 'prom-client';

import { connectBus, type Bus } from './bus.js';
import { watchConfig, type ConfigBuild } from './config-watcher.js';
import { busOptionsFromEnv, objectStoreOptionsFromEnv } from './env.js';
import { startHealthServer } from './health.js';
import type { Logger } from './logging.js';
import { createRegistry } from './metrics.js';
import { connectObjectStore, type ObjectStore } from './objectstore.js';
import { runService, type RunningService, type ServiceContext, type Shutdown } from './shutdown.js';

export interface PlatformServiceContext<C> extends ServiceContext {
  readonly instance: string;
  readonly bus: Bus;
  readonly store: ObjectStore;
  /** The live configuration snapshot (the first one has arrived). */
  readonly config: () => C;
  readonly registry: Registry;
}

export interface PlatformServiceOptions<C> {
  /** `ingress`, `scanner`, `router`, `delivery`: names the NATS connection and the metrics. */
  readonly name: string;
  /** Pod name, as a NATS token where it is used in subjects. */
  readonly instance: string;
  readonly log: Logger;
  /** Compiles the `mailmesh-config` entries into what the service reads. */
  readonly buildConfig: ConfigBuild<C>;
  /** Health port when MAILMESH_HEALTH_PORT is not set. */
  readonly healthPort: number;
  /** Starts consuming or listening; the handle's `stop()` runs first on shutdown. */
  readonly start: (ctx: PlatformServiceContext<C>) => Promise<RunningService>;
  readonly env?: NodeJS.ProcessEnv;
}

export function runPlatformService<C>(opts: PlatformServiceOptions<C>): Promise<Shutdown> {
  const env = opts.env ?? process.env;
  const { name, instance, log } = opts;
  return runService({
    name,
    log,
    start: async (ctx) => {
      const bus = await connectBus({ ...busOptionsFromEnv(`${name}-${instance}`, env), log });
      ctx.onShutdown(() => bus.drain());
      const store = connectObjectStore(objectStoreOptionsFromEnv(env));
      ctx.onShutdown(() => store.close());
      const config = watchConfig<C>(bus, opts.buildConfig, { log });
      ctx.onShutdown(() => config.stop());
      await config.ready;
      const registry = createRegistry(name, { instance });
      const service = await opts.start({
        ...ctx,
        instance,
        bus,
        store,
        // Frozen (DeepReadonly) at runtime; the services' option types read it as C.
        config: () => config.current().value as C,
        registry,
      });
      const health = await startHealthServer({
        port: Number(env['MAILMESH_HEALTH_PORT'] ?? opts.healthPort),
        ready: () =>
          bus.nc.isClosed() ? { ready: false, reason: 'NATS connection closed' } : true,
        registry,
      });
      log.info({ event: `${name}.health`, url: health.url }, 'health server listening');
      ctx.onShutdown(() => health.close());
      return service;
    },
  });
}
