import type { BusOptions } from './bus.js';
import type { ObjectStoreOptions } from './objectstore.js';

/**
 * Connection settings every service reads from its environment, in one place so
 * the variable names and defaults cannot drift between services:
 *
 *   MAILMESH_NATS_URL        nats://127.0.0.1:4222 (comma-separated list allowed)
 *   MAILMESH_NATS_USER / MAILMESH_NATS_PASS / MAILMESH_NATS_TOKEN
 *   MAILMESH_S3_ENDPOINT     http://127.0.0.1:9000
 *   MAILMESH_S3_ACCESS_KEY / MAILMESH_S3_SECRET_KEY / MAILMESH_S3_REGION
 */
export function busOptionsFromEnv(
  name: string,
  env: NodeJS.ProcessEnv = process.env,
): Omit<BusOptions, 'log'> {
  const servers = (env['MAILMESH_NATS_URL'] ?? 'nats://127.0.0.1:4222')
    .split(',')
    .map((s) => s.trim());
  return {
    servers,
    name,
    ...(env['MAILMESH_NATS_USER'] !== undefined ? { user: env['MAILMESH_NATS_USER'] } : {}),
    ...(env['MAILMESH_NATS_PASS'] !== undefined ? { pass: env['MAILMESH_NATS_PASS'] } : {}),
    ...(env['MAILMESH_NATS_TOKEN'] !== undefined ? { token: env['MAILMESH_NATS_TOKEN'] } : {}),
  };
}

export function objectStoreOptionsFromEnv(
  env: NodeJS.ProcessEnv = process.env,
): ObjectStoreOptions {
  return {
    endpoint: env['MAILMESH_S3_ENDPOINT'] ?? 'http://127.0.0.1:9000',
    accessKey: env['MAILMESH_S3_ACCESS_KEY'] ?? '',
    secretKey: env['MAILMESH_S3_SECRET_KEY'] ?? '',
    ...(env['MAILMESH_S3_REGION'] !== undefined ? { region: env['MAILMESH_S3_REGION'] } : {}),
  };
}
