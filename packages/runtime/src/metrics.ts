import { hostname } from 'node:os';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

export { Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface RegistryOptions {
  /** Default: MAILMESH_INSTANCE, else the host name. */
  readonly instance?: string;
  /** Process metrics (CPU, memory, event loop lag, GC); default true. */
  readonly defaultMetrics?: boolean;
}

/**
 * A prom-client registry for one service: every series carries `service` and
 * `instance` labels, and the process metrics are registered unless turned off.
 * Each service owns its registry (no global state), so tests can make many.
 */
export function createRegistry(service: string, options: RegistryOptions = {}): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({
    service,
    instance: options.instance ?? process.env['MAILMESH_INSTANCE'] ?? hostname(),
  });
  if (options.defaultMetrics !== false) {
    collectDefaultMetrics({ register: registry, prefix: 'mailmesh_' });
  }
  return registry;
}

/** The metrics `consume()` keeps when given a registry. */
export interface ConsumerMetrics {
  readonly messages: Counter<'consumer' | 'outcome'>;
  readonly duration: Histogram<'consumer'>;
}

const consumerMetricsByRegistry = new WeakMap<Registry, ConsumerMetrics>();

/** Registered once per registry, shared by all consumers of a service. */
export function consumerMetrics(registry: Registry): ConsumerMetrics {
  const have = consumerMetricsByRegistry.get(registry);
  if (have) return have;
  const m: ConsumerMetrics = {
    messages: new Counter({
      name: 'mailmesh_consumer_messages_total',
      help: 'Messages handled by a JetStream consumer, by final action',
      labelNames: ['consumer', 'outcome'] as const,
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'mailmesh_consumer_handler_seconds',
      help: 'Time from delivery to the final action of a message',
      labelNames: ['consumer'] as const,
      buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
  };
  consumerMetricsByRegistry.set(registry, m);
  return m;
}
