/**
 * Delivery settings from the environment. The retry schedule belongs in the
 * platform document (PlatformConfig) eventually; until then these variables set it.
 */
import {
  defaultRetrySchedule,
  parseDelays,
  type RetryPolicy,
  type RetrySchedule,
} from './schedule.js';

export interface DeliverySettings {
  readonly retry: RetryPolicy;
  readonly local: boolean;
  readonly remote: boolean;
  readonly localConcurrency: number;
  readonly remoteConcurrency: number;
  readonly maxConnectionsPerDestination: number;
  readonly mxPort: number;
  readonly secretsDir: string;
  readonly caFile?: string;
  readonly dnsFile?: string;
}

/** Thrown at start for a variable that does not parse; the process exits 1 with this message. */
export class SettingsError extends Error {
  override readonly name = 'SettingsError';
  constructor(
    readonly variable: string,
    readonly value: string,
    readonly problem: string,
  ) {
    super(`${variable}=${JSON.stringify(value)}: ${problem}`);
  }
}

function int(
  env: Readonly<Record<string, string | undefined>>,
  name: string,
  fallback: number,
  min = 1,
): number {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min)
    throw new SettingsError(name, v, `must be an integer >= ${min}`);
  return n;
}

/**
 *   MAILMESH_RETRY_SCHEDULE_MS       delays between attempts, e.g. `60000,300000` (last repeats)
 *   MAILMESH_RETRY_MAX_AGE_MS        queue lifetime (default 5 days)
 *   MAILMESH_DELAY_DSN_AFTER_MS      delay DSN after (default 4 h; 0 = never)
 *   MAILMESH_DELIVERY_ROLES          `local,remote` (default both)
 *   MAILMESH_DELIVERY_LOCAL_CONCURRENCY / MAILMESH_DELIVERY_REMOTE_CONCURRENCY
 *   MAILMESH_SMTP_MAX_CONNECTIONS    connections per destination (default 5)
 *   MAILMESH_MX_PORT                 port of MX hosts (default 25)
 *   MAILMESH_SECRETS_DIR             Secret volumes `<dir>/<name>/<key>` (default /var/run/secrets/mailmesh)
 *   MAILMESH_SMTP_CA_FILE            extra trusted CA certificates (PEM)
 *   MAILMESH_DNS_FILE                JSON table of DNS answers instead of the system resolver
 */
export function settingsFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): DeliverySettings {
  const schedule: RetrySchedule = {
    delaysMs: env['MAILMESH_RETRY_SCHEDULE_MS']
      ? (() => {
          try {
            return parseDelays(env['MAILMESH_RETRY_SCHEDULE_MS']);
          } catch (err) {
            throw new SettingsError(
              'MAILMESH_RETRY_SCHEDULE_MS',
              env['MAILMESH_RETRY_SCHEDULE_MS'],
              (err as Error).message,
            );
          }
        })()
      : defaultRetrySchedule.delaysMs,
    maxAgeMs: int(env, 'MAILMESH_RETRY_MAX_AGE_MS', defaultRetrySchedule.maxAgeMs),
    delayDsnAfterMs: int(
      env,
      'MAILMESH_DELAY_DSN_AFTER_MS',
      defaultRetrySchedule.delayDsnAfterMs,
      0,
    ),
  };
  const rolesText = env['MAILMESH_DELIVERY_ROLES'] ?? 'local,remote';
  const roles = rolesText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const unknown = roles.filter((r) => r !== 'local' && r !== 'remote');
  if (roles.length === 0 || unknown.length > 0) {
    throw new SettingsError('MAILMESH_DELIVERY_ROLES', rolesText, 'must list local and/or remote');
  }
  return {
    retry: { default: schedule },
    local: roles.includes('local'),
    remote: roles.includes('remote'),
    localConcurrency: int(env, 'MAILMESH_DELIVERY_LOCAL_CONCURRENCY', 32),
    remoteConcurrency: int(env, 'MAILMESH_DELIVERY_REMOTE_CONCURRENCY', 64),
    maxConnectionsPerDestination: int(env, 'MAILMESH_SMTP_MAX_CONNECTIONS', 5),
    mxPort: int(env, 'MAILMESH_MX_PORT', 25),
    secretsDir: env['MAILMESH_SECRETS_DIR'] ?? '/var/run/secrets/mailmesh',
    ...(env['MAILMESH_SMTP_CA_FILE'] ? { caFile: env['MAILMESH_SMTP_CA_FILE'] } : {}),
    ...(env['MAILMESH_DNS_FILE'] ? { dnsFile: env['MAILMESH_DNS_FILE'] } : {}),
  };
}
