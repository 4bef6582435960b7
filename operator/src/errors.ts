/** Failure kinds of the operator (STYLE.md: one class per kind, typed fields, `cause`). */

export abstract class OperatorError extends Error {
  abstract override readonly name: string;
  /** Whether the work queue should retry the key with backoff. */
  abstract readonly retryable: boolean;
}

/** NATS (or the config bucket) could not be reached; the key is retried with backoff. */
export class NatsUnavailableError extends OperatorError {
  override readonly name = 'NatsUnavailableError';
  readonly retryable = true;
  constructor(
    readonly operation: string,
    options?: ErrorOptions,
  ) {
    super(`NATS unavailable during ${operation}${causeText(options)}`, options);
  }
}

/** Another writer changed the KV key between our read and our compare-and-set, repeatedly. */
export class ConfigWriteConflictError extends OperatorError {
  override readonly name = 'ConfigWriteConflictError';
  readonly retryable = true;
  constructor(
    readonly key: string,
    readonly attempts: number,
  ) {
    super(`KV key ${key} changed under us ${attempts} times; retrying later`);
  }
}

/** A Kubernetes API call failed. */
export class KubeApiError extends OperatorError {
  override readonly name = 'KubeApiError';
  readonly retryable = true;
  constructor(
    readonly operation: string,
    readonly status: number | undefined,
    options?: ErrorOptions,
  ) {
    super(
      `Kubernetes ${operation} failed${status !== undefined ? ` (HTTP ${status})` : ''}${causeText(options)}`,
      options,
    );
  }
}

/** Autoscaling annotations of a Deployment are missing or contradictory. */
export class AutoscaleConfigError extends OperatorError {
  override readonly name = 'AutoscaleConfigError';
  readonly retryable = false;
  constructor(
    readonly annotation: string,
    readonly problem: string,
  ) {
    super(`annotation ${annotation}: ${problem}`);
  }
}

function causeText(options?: ErrorOptions): string {
  const c = options?.cause;
  if (c === undefined) return '';
  return `: ${c instanceof Error ? (c.message.split('\n')[0] ?? '') : JSON.stringify(c)}`;
}
