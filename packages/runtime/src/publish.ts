import { SpanKind } from '@opentelemetry/api';
import { toBinary, type Message } from '@bufbuild/protobuf';
import {
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamPublishOptions,
} from '@nats-io/jetstream';
import {
  headers as newHeaders,
  NoRespondersError,
  RequestError,
  TimeoutError,
  type MsgHdrs,
} from '@nats-io/nats-core';
import { natsHeaders, type WireType } from '@mailmesh/proto';

import type { Bus } from './bus.js';
import { InvalidMessageError, PublishError, PublishTimeoutError } from './errors.js';
import { injectTrace, withSpan } from './tracing.js';

export interface PublishOptions {
  /** `Nats-Msg-Id`: build it with `msgId(mailId, stage, part?)` from `@mailmesh/proto`. */
  readonly msgId: string;
  /** Extra headers; the runtime's own headers win over these. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Time to wait for the JetStream ack; default the bus timeout. */
  readonly timeoutMs?: number;
  /** Optimistic concurrency: store only if the stream's last sequence is this. */
  readonly expectLastSeq?: number;
}

export interface PublishAck {
  readonly stream: string;
  readonly seq: number;
  /** True when the stream already had this msg-id within its duplicate window. */
  readonly duplicate: boolean;
}

/** The `mailId` field of a message, if it has a non-empty one. */
export function mailIdOf(message: object): string | undefined {
  const id = (message as { mailId?: unknown }).mailId;
  return typeof id === 'string' && id !== '' ? id : undefined;
}

function buildHeaders(
  wire: { typeName: string },
  message: object,
  extra: Readonly<Record<string, string>> | undefined,
): MsgHdrs {
  const h = newHeaders();
  for (const [k, v] of Object.entries(extra ?? {})) h.set(k, v);
  h.set(natsHeaders.schema, wire.typeName);
  const mailId = mailIdOf(message);
  if (mailId !== undefined) h.set(natsHeaders.mailId, mailId);
  return h;
}

/** nats.js wraps "no responders" differently per path; look down the cause chain. */
function isNoResponders(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof NoRespondersError) return true;
    if (e instanceof RequestError && e.isNoResponders()) return true;
  }
  return false;
}

function mapPublishError(
  err: unknown,
  subject: string,
  msgId: string,
  timeoutMs: number | undefined,
): Error {
  if (err instanceof TimeoutError || (err instanceof Error && err.cause instanceof TimeoutError)) {
    return new PublishTimeoutError(subject, msgId, timeoutMs, { cause: err });
  }
  if (isNoResponders(err)) {
    return new PublishError(
      subject,
      msgId,
      'no-stream',
      'no JetStream stream captures this subject',
      {
        cause: err,
      },
    );
  }
  if (err instanceof JetStreamApiError) {
    const wrongSeq =
      err.code === JetStreamApiCodes.StreamWrongLastSequence ||
      err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown;
    return new PublishError(
      subject,
      msgId,
      wrongSeq ? 'wrong-last-sequence' : 'rejected',
      err.message,
      {
        cause: err,
      },
    );
  }
  const detail = err instanceof Error ? err.message : String(err);
  return new PublishError(subject, msgId, 'connection', detail, { cause: err });
}

/**
 * Validates, encodes (binary protobuf) and publishes one message to JetStream, with
 * `Nats-Msg-Id`, `Mailmesh-Schema`, `Mailmesh-Mail-Id` and the active trace context.
 * An invalid message throws InvalidMessageError and nothing is sent.
 */
export async function publish<T extends Message>(
  bus: Bus,
  subject: string,
  wire: WireType<T>,
  message: T,
  opts: PublishOptions,
): Promise<PublishAck> {
  const problems = wire.validate(message);
  if (problems.length > 0) throw new InvalidMessageError(wire.typeName, problems);
  const payload = toBinary(wire.schema, message);
  const mailId = mailIdOf(message);
  const attrs: Record<string, string> = {
    'messaging.system': 'nats',
    'messaging.operation.type': 'send',
    'messaging.destination.name': subject,
    'messaging.message.id': opts.msgId,
  };
  if (mailId !== undefined) attrs['mailmesh.mail_id'] = mailId;

  return withSpan(
    `send ${subject}`,
    attrs,
    async (span) => {
      const headers = injectTrace(buildHeaders(wire, message, opts.headers));
      const po: Partial<JetStreamPublishOptions> = { msgID: opts.msgId, headers };
      if (opts.timeoutMs !== undefined) po.timeout = opts.timeoutMs;
      if (opts.expectLastSeq !== undefined) po.expect = { lastSequence: opts.expectLastSeq };
      try {
        const ack = await bus.js.publish(subject, payload, po);
        span.setAttribute('messaging.nats.sequence', ack.seq);
        span.setAttribute('mailmesh.duplicate', ack.duplicate);
        return { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate };
      } catch (err) {
        throw mapPublishError(err, subject, opts.msgId, opts.timeoutMs);
      }
    },
    { kind: SpanKind.PRODUCER },
  );
}
