/**
 * Durable acceptance (DESIGN rule 1): the body goes to the S3 spool while its
 * SHA-256 and size are computed, an optional gate (the inline scan) may refuse it,
 * then the envelope is published to JetStream and the ack awaited. Only then may
 * the edge answer 250. Any failure, a refusal or a passed deadline removes the
 * spool object (nothing half-stored); a failure is typed and the edge answers it
 * with 451 4.3.0, a refusal carries its own reply. A body of at most
 * `inlineBodyMaxBytes` is read whole, travels inline in the envelope, and is
 * stored through the group commit of accept/segments.ts; a larger one is streamed
 * to its own object.
 */
import { createHash } from 'node:crypto';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import type { Envelope } from '@mailmesh/proto';
import {
  inlineBodyMaxBytes,
  msgId,
  objectBuckets,
  schemas,
  spoolKey,
  subjects,
} from '@mailmesh/proto';
import { publish, type Bus, type Logger, type ObjectStore } from '@mailmesh/runtime';

import type { SpoolBatcher, SpoolSlot } from './segments.js';

/**
 * Counts bytes and hashes them on the way through, keeping a copy of a body of at
 * most `keepUpTo` bytes (the envelope's inline copy, `inlineBodyMaxBytes`).
 */
export class HashingCounter extends Transform {
  private readonly hash = createHash('sha256');
  private kept: Buffer[] | undefined = [];
  bytes = 0;

  constructor(private readonly keepUpTo = 0) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    if (this.kept) {
      if (this.bytes <= this.keepUpTo) this.kept.push(chunk);
      else this.kept = undefined;
    }
    cb(null, chunk);
  }

  digest(): string {
    return this.hash.digest('hex');
  }

  /** The whole body when it fitted in `keepUpTo`; call after the stream ended. */
  copy(): Buffer | undefined {
    return this.kept && this.bytes > 0 ? Buffer.concat(this.kept, this.bytes) : undefined;
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
  /**
   * Group commit for small bodies (accept/segments.ts); without it every body is
   * written on its own, streamed.
   */
  readonly spool?: SpoolBatcher | undefined;
  readonly bus: Bus;
  readonly log: Logger;
  readonly clock?: () => number;
}

export interface AcceptRequest {
  readonly mailId: string;
  /**
   * The message as stored (trace header first): a fresh stream, or the whole
   * message when the edge already holds it (a small mail, captured during DATA).
   */
  readonly body: Readable | Buffer;
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
    /** Where the body is in the object (a segment holds several). */
    offset: number;
    length: number;
    /** The body itself when it is small enough to travel inline. */
    copy: Buffer | undefined;
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
  const source = req.body;
  let counter: HashingCounter | undefined;
  if (!Buffer.isBuffer(source)) {
    const c = new HashingCounter(inlineBodyMaxBytes);
    source.on('error', (err) => c.destroy(err));
    source.pipe(c);
    counter = c;
  }

  let slot: SpoolSlot | undefined;
  let stored: { bucket: string; key: string; offset: number; length: number } | undefined;
  let body: { size: number; sha256: string; copy: Buffer | undefined } | undefined;
  try {
    try {
      // `small`: the whole body, when it may travel inline; otherwise `payload` is
      // what goes to its own object (the buffer, or the stream to pass on).
      let small: Buffer | undefined;
      let payload: Readable | Buffer = source;
      if (Buffer.isBuffer(source)) {
        if (source.length <= inlineBodyMaxBytes) small = source;
      } else if (counter) {
        payload = counter;
        if (deps.spool) {
          const read = await readSmall(counter, inlineBodyMaxBytes);
          if ('small' in read) small = read.small;
          else payload = read.rest;
        }
      }
      if (small && deps.spool) {
        slot = await deps.spool.write(req.mailId, small, remaining());
        stored = slot;
      } else {
        const key = spoolKey(req.mailId);
        stored = { bucket: objectBuckets.spool, key, offset: 0, length: 0 };
        const put = await deps.store.put(stored.bucket, key, payload, {
          timeoutMs: remaining(),
          contentType: 'message/rfc822',
        });
        stored = { ...stored, length: put.size };
      }
      body = Buffer.isBuffer(source)
        ? {
            size: source.length,
            sha256: createHash('sha256').update(source).digest('hex'),
            copy: small,
          }
        : { size: counter!.bytes, sha256: counter!.digest(), copy: counter!.copy() };
    } catch (err) {
      throw new AcceptanceError(req.mailId, 'store', { cause: err });
    }
    const envelope = req.envelope({
      size: body.size,
      sha256: body.sha256,
      bucket: stored.bucket,
      key: stored.key,
      offset: stored.offset,
      length: stored.length,
      copy: body.copy,
    });
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
      void slot?.settle(true);
      return {
        mailId: req.mailId,
        size: body.size,
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
    if (!Buffer.isBuffer(source)) {
      source.unpipe(counter);
      if (!source.destroyed) source.destroy();
    }
    if (slot) await slot.settle(false);
    else if (stored || (counter?.bytes ?? 0) > 0) {
      await removeSpool(deps, objectBuckets.spool, spoolKey(req.mailId), req.mailId);
    }
    throw err;
  }
}

/**
 * Reads `stream` to its end if it has at most `limit` bytes; otherwise hands back a
 * stream that yields what was read and then the rest, for the streaming path.
 */
async function readSmall(
  stream: Readable,
  limit: number,
): Promise<{ small: Buffer } | { rest: Readable }> {
  const it = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const head: Buffer[] = [];
  let bytes = 0;
  for (;;) {
    const r = await it.next();
    if (r.done) return { small: Buffer.concat(head, bytes) };
    head.push(r.value);
    bytes += r.value.length;
    if (bytes > limit) break;
  }
  async function* replay(): AsyncGenerator<Buffer> {
    yield* head;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value;
    }
  }
  const rest = Readable.from(replay(), { objectMode: false });
  rest.on('close', () => void it.return?.());
  return { rest };
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
