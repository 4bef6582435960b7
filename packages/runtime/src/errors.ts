import type { Problem } from '@mailmesh/proto';

/**
 * One class per failure kind of the shared runtime. Every class sets `name`, chains
 * `cause` and says whether retrying the same operation later can succeed
 * (`retryable`), so an edge service can map it to a protocol reply (451 vs 554)
 * without parsing messages.
 */

/** Base of every runtime error: `retryable` tells whether the same call may succeed later. */
export abstract class RuntimeError extends Error {
  abstract readonly retryable: boolean;
}

// ---------------------------------------------------------------------------
// NATS

/** No server of the list could be reached (refused, unresolvable, timed out). */
export class NatsUnavailableError extends RuntimeError {
  override readonly name = 'NatsUnavailableError';
  readonly retryable = true;
  constructor(
    readonly server: string,
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(
      `cannot reach NATS at ${server}: ${reason} — is nats-server running? (set MAILMESH_NATS_URL)`,
      options,
    );
  }
}

/** The server refused the credentials (user/pass or token). */
export class NatsAuthError extends RuntimeError {
  override readonly name = 'NatsAuthError';
  readonly retryable = false;
  constructor(
    readonly server: string,
    options?: ErrorOptions,
  ) {
    super(
      `NATS at ${server} rejected the credentials — check MAILMESH_NATS_USER / MAILMESH_NATS_PASS / MAILMESH_NATS_TOKEN`,
      options,
    );
  }
}

/** The server (or the account) has no JetStream. */
export class JetStreamUnavailableError extends RuntimeError {
  override readonly name = 'JetStreamUnavailableError';
  readonly retryable = false;
  constructor(
    readonly server: string,
    options?: ErrorOptions,
  ) {
    super(`NATS at ${server} has JetStream disabled — start nats-server with -js`, options);
  }
}

export type ProvisionResourceKind = 'stream' | 'consumer' | 'kv';

/**
 * A definition differs from the live resource in a field that cannot be changed in
 * place (e.g. a stream's retention). Nothing was changed.
 */
export class ProvisionConflictError extends RuntimeError {
  override readonly name = 'ProvisionConflictError';
  readonly retryable = false;
  constructor(
    readonly kind: ProvisionResourceKind,
    readonly resource: string,
    readonly field: string,
    readonly current: unknown,
    readonly desired: unknown,
  ) {
    super(
      `${kind} ${resource}: field ${field} cannot be changed in place ` +
        `(live ${JSON.stringify(current)}, wanted ${JSON.stringify(desired)}); ` +
        `delete and recreate the ${kind} deliberately if this change is intended`,
    );
  }
}

/** The server rejected creating or updating a resource. */
export class ProvisionError extends RuntimeError {
  override readonly name = 'ProvisionError';
  readonly retryable = false;
  constructor(
    readonly kind: ProvisionResourceKind,
    readonly resource: string,
    readonly action: 'create' | 'update' | 'inspect',
    detail: string,
    options?: ErrorOptions,
  ) {
    super(`cannot ${action} ${kind} ${resource}: ${detail}`, options);
  }
}

// ---------------------------------------------------------------------------
// Messages

/** A message failed validation or does not decode as its schema; nothing was sent / it was termed. */
export class InvalidMessageError extends RuntimeError {
  override readonly name = 'InvalidMessageError';
  readonly retryable = false;
  constructor(
    readonly typeName: string,
    readonly problems: readonly Problem[],
    options?: ErrorOptions,
  ) {
    super(
      `invalid ${typeName}: ${problems.map((p) => (p.path ? `${p.path}: ${p.problem}` : p.problem)).join('; ')}`,
      options,
    );
  }
}

/** No publish ack arrived in time. The message may or may not be stored: retry with the same msg-id. */
export class PublishTimeoutError extends RuntimeError {
  override readonly name = 'PublishTimeoutError';
  readonly retryable = true;
  constructor(
    readonly subject: string,
    readonly msgId: string,
    readonly timeoutMs: number | undefined,
    options?: ErrorOptions,
  ) {
    super(
      `no JetStream ack for ${subject} (msg-id ${msgId})` +
        (timeoutMs === undefined ? '' : ` within ${timeoutMs} ms`),
      options,
    );
  }
}

export type PublishFailure = 'no-stream' | 'wrong-last-sequence' | 'rejected' | 'connection';

/** The publish failed for a reason other than a timeout. */
export class PublishError extends RuntimeError {
  override readonly name = 'PublishError';
  readonly retryable: boolean;
  constructor(
    readonly subject: string,
    readonly msgId: string,
    readonly failure: PublishFailure,
    detail: string,
    options?: ErrorOptions,
  ) {
    super(`publish to ${subject} (msg-id ${msgId}) failed: ${detail}`, options);
    this.retryable = failure === 'no-stream' || failure === 'connection';
  }
}

/** The pull loop of a consumer ended without `stop()` being called. */
export class ConsumerFailedError extends RuntimeError {
  override readonly name = 'ConsumerFailedError';
  readonly retryable = true;
  constructor(
    readonly stream: string,
    readonly durable: string,
    options?: ErrorOptions,
  ) {
    super(`consumer ${stream}/${durable} stopped unexpectedly`, options);
  }
}

// ---------------------------------------------------------------------------
// Configuration

/** `build()` threw for a configuration revision; the previous snapshot stays live. */
export class ConfigBuildError extends RuntimeError {
  override readonly name = 'ConfigBuildError';
  readonly retryable = false;
  constructor(
    readonly revision: number,
    options?: ErrorOptions,
  ) {
    const why = options?.cause instanceof Error ? options.cause.message : String(options?.cause);
    super(`configuration revision ${revision} rejected: ${why}`, options);
  }
}

/** `current()` was called before the first configuration snapshot was built. */
export class ConfigNotReadyError extends RuntimeError {
  override readonly name = 'ConfigNotReadyError';
  readonly retryable = true;
  constructor(readonly bucket: string) {
    super(`no configuration snapshot yet from KV bucket ${bucket}`);
  }
}

// ---------------------------------------------------------------------------
// Object store

/** The S3 endpoint rejected the credentials. */
export class ObjectStoreAuthError extends RuntimeError {
  override readonly name = 'ObjectStoreAuthError';
  readonly retryable = false;
  constructor(
    readonly endpoint: string,
    readonly code: string,
    options?: ErrorOptions,
  ) {
    const what =
      code === 'SignatureDoesNotMatch'
        ? 'secret key rejected'
        : code === 'AccessDenied'
          ? 'access denied'
          : 'access key rejected';
    const env =
      code === 'SignatureDoesNotMatch' ? 'MAILMESH_S3_SECRET_KEY' : 'MAILMESH_S3_ACCESS_KEY';
    super(`S3 at ${endpoint}: ${what} (${code}) — check ${env}`, options);
  }
}

/** The S3 endpoint cannot be reached or answered with a server error. */
export class ObjectStoreUnavailableError extends RuntimeError {
  override readonly name = 'ObjectStoreUnavailableError';
  readonly retryable = true;
  constructor(
    readonly endpoint: string,
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(
      `S3 at ${endpoint} is unavailable: ${reason} — is MinIO running? (set MAILMESH_S3_ENDPOINT)`,
      options,
    );
  }
}

/** The object (or its bucket) does not exist. */
export class ObjectNotFoundError extends RuntimeError {
  override readonly name = 'ObjectNotFoundError';
  readonly retryable = false;
  constructor(
    readonly bucket: string,
    readonly key: string,
    options?: ErrorOptions,
  ) {
    super(`object ${bucket}/${key} not found`, options);
  }
}

/** The call's deadline passed (timeoutMs) or its AbortSignal fired. */
export class ObjectStoreTimeoutError extends RuntimeError {
  override readonly name = 'ObjectStoreTimeoutError';
  readonly retryable = true;
  constructor(
    readonly endpoint: string,
    readonly operation: string,
    readonly reason: 'timeout' | 'aborted',
    options?: ErrorOptions,
  ) {
    super(
      `S3 ${operation} at ${endpoint} ${reason === 'timeout' ? 'timed out' : 'was aborted'}`,
      options,
    );
  }
}

/** Any other S3 failure (carries the S3 error code when there is one). */
export class ObjectStoreError extends RuntimeError {
  override readonly name = 'ObjectStoreError';
  readonly retryable: boolean;
  constructor(
    readonly endpoint: string,
    readonly operation: string,
    readonly code: string,
    detail: string,
    options?: ErrorOptions & { retryable?: boolean },
  ) {
    super(`S3 ${operation} at ${endpoint} failed (${code}): ${detail}`, options);
    this.retryable = options?.retryable ?? false;
  }
}

// ---------------------------------------------------------------------------
// Identifiers

/** The clock is outside the ULID range, or 2^80 ids were made in one millisecond. */
export class MailIdError extends RuntimeError {
  override readonly name = 'MailIdError';
  readonly retryable = false;
}

// ---------------------------------------------------------------------------
// Process lifecycle

/** Shutdown did not finish within its deadline; the process exits with status 1. */
export class ShutdownTimeoutError extends RuntimeError {
  override readonly name = 'ShutdownTimeoutError';
  readonly retryable = false;
  constructor(readonly timeoutMs: number) {
    super(`graceful shutdown did not finish within ${timeoutMs} ms`);
  }
}
