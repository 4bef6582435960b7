/**
 * Durable acceptance (DESIGN rule 1): the body goes to the S3 spool while its
 * SHA-256 and size are computed, an optional gate (the inline scan) may refuse it,
 * then the envelope is published to JetStream and the ack awaited. Only then may
 * the edge answer 250. Any failure, a refusal or a passed deadline removes the
 * spool object (nothing half-stored); a failure is typed and the edge answers it
 * with 451 4.3.0, a refusal carries its own reply.
 */
import { createHash } from 'node:crypto';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import type { Envelope } from '@mailmesh/proto';
import { msgId, objectBuckets, schemas, spoolKey, subjects } from '@mailmesh/proto';
import { publish, type Bus, type Logger, type ObjectStore } from '@mailmesh/runtime';

/** Counts bytes and hashes them on the way through. */
export class HashingCounter extends Transform {
  private readonly hash = createHash('sha256');
  bytes = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

export type AcceptFailure = 'store' | 'publish' | 'deadline' | 'invalid';

/** Why a mail could not be accepted durably; nothing of it is left in S3. */
export class AcceptanceError extends Error {
  override readonly name = 'AcceptanceError';
  readonly retryable: boolean;
  constructor(
    readonly mailId: string,
    readonly stage: AcceptFailure,
    options?: ErrorOptions,
  ) {
    const why = options?.cause instanceof Error ? options.cause.message : 'see cause';
    super(`mail ${mailId} not accepted (${stage}): ${why}`, options);
    this.retryable = stage !== 'invalid';
  }
}

export interface AcceptDeps {
  readonly store: ObjectStore;
  readonly bus: Bus;
  readonly log: Logger;
  readonly clock?: () => number;
}

export interface AcceptRequest {
  readonly mailId: string;
  /** The message as stored (trace header first), as a fresh stream. */
  readonly body: Readable;
  /** Total time allowed for store + publish (the gate's time is not counted). */
  readonly deadlineMs: number;
  /**
   * Runs once the body is stored, before the envelope is published (the inline
   * scan, accept/inline.ts). Whatever it throws refuses the mail: the spool object
   * is removed and the error rethrown as it is.
   */
  readonly gate?: ((envelope: Envelope) => Promise<void>) | undefined;
  /** Completes the envelope once size and hash are known. */
  readonly envelope: (stored: {
    size: number;
    sha256: string;
    bucket: string;
    key: string;
  }) => Envelope;
}

export interface Accepted {
  readonly mailId: string;
  readonly size: number;
  readonly sha256: string;
  readonly seq: number;
  readonly duplicate: boolean;
  readonly envelope: Envelope;
}

export async function acceptDurably(deps: AcceptDeps, req: AcceptRequest): Promise<Accepted> {
  const clock = deps.clock ?? Date.now;
  const start = clock();
  let gateMs = 0;
  const remaining = (): number => Math.max(1, req.deadlineMs - (clock() - start - gateMs));
  const bucket = objectBuckets.spool;
  const key = spoolKey(req.mailId);
  const counter = new HashingCounter();
  req.body.on('error', (err) => counter.destroy(err));
  req.body.pipe(counter);

  let stored = false;
  try {
    try {
      await deps.store.put(bucket, key, counter, {
        timeoutMs: remaining(),
        contentType: 'message/rfc822',
      });
      stored = true;
    } catch (err) {
      throw new AcceptanceError(req.mailId, 'store', { cause: err });
    }
    const envelope = req.envelope({ size: counter.bytes, sha256: counter.digest(), bucket, key });
    if (req.gate) {
      const gateStart = clock();
      try {
        await req.gate(envelope);
      } finally {
        gateMs = clock() - gateStart;
      }
    }
    try {
      const ack = await publish(deps.bus, subjects.accepted, schemas.Envelope, envelope, {
        msgId: msgId(req.mailId, 'ingress'),
        timeoutMs: remaining(),
      });
      return {
        mailId: req.mailId,
        size: counter.bytes,
        sha256: envelope.sha256,
        seq: ack.seq,
        duplicate: ack.duplicate,
        envelope,
      };
    } catch (err) {
      const invalid = err instanceof Error && err.name === 'InvalidMessageError';
      throw new AcceptanceError(req.mailId, invalid ? 'invalid' : 'publish', { cause: err });
    }
  } catch (err) {
    req.body.unpipe(counter);
    if (!req.body.destroyed) req.body.destroy();
    if (stored || counter.bytes > 0) await removeSpool(deps, bucket, key, req.mailId);
    throw err;
  }
}

/**
 * Removes a spool object whose mail was refused. A publish that timed out may
 * still have stored the envelope; a consumer then finds no body and drops it: the
 * client got 451 and sends the mail again, so nothing is lost either way.
 */
async function removeSpool(
  deps: AcceptDeps,
  bucket: string,
  key: string,
  mailId: string,
): Promise<void> {
  try {
    await deps.store.delete(bucket, key, { timeoutMs: 5_000 });
    deps.log.info(
      { event: 'ingress.spool_removed', mailId, key },
      'removed spool object of refused mail',
    );
  } catch (err) {
    deps.log.warn(
      { event: 'ingress.spool_remove_failed', mailId, key, err },
      'could not remove spool object',
    );
  }
}
