/**
 * `mailmesh trace MAILID [--nats URL] [--json]`: every lifecycle event of one mail
 * (the EVENTS stream, subjects `event.*.<mailId>`) in order, then its queue record.
 */
import { fromBinary } from '@bufbuild/protobuf';
import { DeliveryEventSchema, MAIL_ID_PATTERN, streams, subjects } from '@mailmesh/proto';
import type { QueueRecord } from '@mailmesh/queue';
import type { Bus } from '@mailmesh/runtime';

import {
  InvalidMailIdError,
  MailNotFoundError,
  NotProvisionedError,
  NotSupportedError,
} from '../errors.js';
import type { Output } from '../output.js';
import { eventLine, showLines, sortEvents, traceEvent, type TraceEvent } from '../queue/format.js';
import { queueStoreIfAny, streamExists, withBus } from './connect.js';

export interface TraceCommandOptions {
  readonly id: string;
  readonly nats?: string;
  readonly json: boolean;
  readonly out: Output;
}

/** What `trace` found for one mail. */
export interface TraceResult {
  readonly mailId: string;
  readonly events: readonly TraceEvent[];
  /** Events stored in the stream that could not be decoded (sequence and reason). */
  readonly undecodable: readonly { seq: number; reason: string }[];
  readonly queue?: QueueRecord;
}

/** Throws unless `id` is a mail id; a Message-ID gets an honest "not yet". */
export function checkMailId(id: string): string {
  if (id.includes('@') || id.includes('<')) {
    throw new NotSupportedError(
      'lookup by Message-ID',
      'lookup by Message-ID needs the API service (not built yet); give the mail id (26-character ULID) instead',
    );
  }
  if (!MAIL_ID_PATTERN.test(id)) throw new InvalidMailIdError(id);
  return id;
}

/** Reads every event of `mailId` from the start of the EVENTS stream, and its queue record. */
export async function traceMail(bus: Bus, mailId: string): Promise<TraceResult> {
  const stream = streams.events.name;
  if (!(await streamExists(bus, stream)))
    throw new NotProvisionedError('stream', stream, bus.server);
  const subject = subjects.eventsOf(mailId);
  const info = await bus.jsm.streams.info(stream, { subjects_filter: subject });
  const total = Object.values(info.state.subjects ?? {}).reduce((n, c) => n + c, 0);
  const events: TraceEvent[] = [];
  const undecodable: { seq: number; reason: string }[] = [];
  if (total > 0) {
    const consumer = await bus.js.consumers.get(stream, {
      filter_subjects: [subject],
      deliver_policy: 'all',
    } as const);
    let seen = 0;
    // Bounded: at most `total` messages, and a fetch that returns nothing ends it.
    while (seen < total) {
      const batch = await consumer.fetch({ max_messages: total - seen, expires: 2_000 });
      let got = 0;
      for await (const m of batch) {
        got++;
        try {
          events.push(traceEvent(fromBinary(DeliveryEventSchema, m.data), m.seq));
        } catch (err) {
          undecodable.push({
            seq: m.seq,
            reason: err instanceof Error ? err.message : String(err),
          });
        }
      }
      if (got === 0) break;
      seen += got;
    }
    await consumer.delete().catch(() => undefined);
  }
  const store = await queueStoreIfAny(bus);
  const queue = await store?.get(mailId);
  return {
    mailId,
    events: sortEvents(events),
    undecodable,
    ...(queue !== undefined ? { queue } : {}),
  };
}

export async function runTrace(o: TraceCommandOptions): Promise<void> {
  const mailId = checkMailId(o.id);
  const r = await withBus(o.nats, 'mailmesh-trace', (bus) => traceMail(bus, mailId));
  if (r.events.length === 0 && r.undecodable.length === 0 && r.queue === undefined)
    throw new MailNotFoundError(mailId, 'events');
  if (o.json) {
    o.out.line(
      JSON.stringify({
        ok: true,
        mailId,
        events: r.events,
        ...(r.undecodable.length > 0 ? { undecodable: r.undecodable } : {}),
        queue: r.queue ?? null,
      }),
    );
    return;
  }
  for (const u of r.undecodable) o.out.warn(`event at stream sequence ${u.seq}: ${u.reason}`);
  if (r.events.length === 0) o.out.line(`no events for ${mailId}`);
  for (const e of r.events) o.out.line(eventLine(e));
  if (r.queue !== undefined) {
    o.out.line('queue:');
    for (const l of showLines(r.queue, '  ')) o.out.line(l);
  }
}
