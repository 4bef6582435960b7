import { hostname } from 'node:os';
import { pino, type DestinationStream, type Level, type Logger } from 'pino';

export type { Logger } from 'pino';

const LEVELS: readonly string[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Field names whose values never reach a log line (DESIGN rule 6), at any of three depths. */
const SECRET_FIELDS = [
  'password',
  'pass',
  'secret',
  'secretKey',
  'token',
  'authorization',
  'Authorization',
  'cookie',
];

export const redactPaths: readonly string[] = SECRET_FIELDS.flatMap((f) => [
  f,
  `*.${f}`,
  `*.*.${f}`,
]);

export interface LoggerOptions {
  /** Default: MAILMESH_LOG_LEVEL, else `info`. */
  readonly level?: Level | 'silent';
  /** Default: MAILMESH_INSTANCE, else the host name (the pod name in Kubernetes). */
  readonly instance?: string;
  /** Where JSON lines go; default stdout. Tests pass a stream to read them back. */
  readonly destination?: DestinationStream;
  /** Environment to read defaults from; default process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/**
 * A pino JSON logger with `{service, instance}` on every line and secret-looking
 * fields replaced by `[Redacted]`. Log object first:
 * `log.info({ event: 'delivery.tempfail', mailId }, 'deferred')`.
 */
export function createLogger(service: string, options: LoggerOptions = {}): Logger {
  const env = options.env ?? process.env;
  const fromEnv = env['MAILMESH_LOG_LEVEL']?.toLowerCase();
  const level = options.level ?? (fromEnv && LEVELS.includes(fromEnv) ? fromEnv : 'info');
  const instance = options.instance ?? env['MAILMESH_INSTANCE'] ?? hostname();
  const opts = {
    level,
    base: { service, instance },
    redact: { paths: [...redactPaths], censor: '[Redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return options.destination ? pino(opts, options.destination) : pino(opts);
}

/** A logger that drops everything; the default where a log is optional. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
