/**
 * @mailmesh/runtime: what every Mailmesh service shares — the NATS bus and its
 * provisioning, typed protobuf publish/consume, the S3 object store, the config
 * watcher, logs, traces, health/metrics and graceful shutdown.
 */
export * from './errors.js';

export { connectBus, type Bus, type BusOptions } from './bus.js';
export { busOptionsFromEnv, objectStoreOptionsFromEnv } from './env.js';
export {
  provision,
  streamConfigOf,
  kvStreamConfigOf,
  consumerConfigOf,
  diffConfig,
  type ConfigDiff,
  type ProvisionOptions,
  type ProvisionResult,
} from './provision.js';
export { publish, mailIdOf, type PublishAck, type PublishOptions } from './publish.js';
export {
  consume,
  decodeMessage,
  defaultRetryDelayMs,
  outcome,
  type Consumer,
  type ConsumeOptions,
  type Delivery,
  type Handler,
  type HandlerOutcome,
} from './consume.js';
export {
  watchConfig,
  type ConfigBuild,
  type ConfigWatcher,
  type Snapshot,
  type WatchConfigOptions,
} from './config-watcher.js';
export { deepFreeze, type DeepReadonly } from './internal/freeze.js';

export {
  connectObjectStore,
  type CallOptions,
  type GetBufferOptions,
  type ObjectEntry,
  type ObjectStat,
  type ObjectStore,
  type ObjectStoreOptions,
  type PutOptions,
  type PutResult,
} from './objectstore.js';
export {
  objectWriterThread,
  type ObjectWriter,
  type ObjectWriterThreadOptions,
  type ThreadedObjectWriter,
} from './object-writer.js';

export {
  createLogger,
  silentLogger,
  redactPaths,
  type Logger,
  type LoggerOptions,
} from './logging.js';
export {
  initTracing,
  injectTrace,
  extractTrace,
  withSpan,
  activeTraceId,
  natsHeaderGetter,
  natsHeaderSetter,
  type SpanOptions,
  type Tracing,
  type TracingOptions,
} from './tracing.js';
export {
  startHealthServer,
  type HealthServer,
  type HealthServerOptions,
  type Readiness,
} from './health.js';
export {
  createRegistry,
  consumerMetrics,
  Counter,
  Gauge,
  Histogram,
  Registry,
  type ConsumerMetrics,
  type RegistryOptions,
} from './metrics.js';
export {
  createShutdown,
  runService,
  type RunningService,
  type RunServiceOptions,
  type ServiceContext,
  type Shutdown,
  type ShutdownHook,
  type ShutdownOptions,
} from './shutdown.js';
export {
  runPlatformService,
  type PlatformServiceContext,
  type PlatformServiceOptions,
} from './platform-service.js';
export { newMailId, mailIdFactory, type MailIdFactory, type RandomSource } from './mail-id.js';
