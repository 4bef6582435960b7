/**
 * Operator control of mail in flight: `mailmesh queue retry|delete` (and later the
 * API's `POST /v1/queue/{id}/retry`, `DELETE /v1/queue/{id}`).
 *
 * A deferred job is its DeliveryJob message in the MAIL stream, which delivery
 * nak'ed with a delay (no timer in any process). JetStream cannot shorten that
 * delay, so:
 *
 * - **retry** publishes a copy of the job message now (same payload and trace,
 *   `Nats-Msg-Id <mailId>.delivery.retry.<job>.a<attempts>`, so two operators
 *   retrying at once make one copy), then deletes the deferred original from the
 *   stream. The copy is stored before the original goes (DESIGN rule 1). If the
 *   delete is lost, the original still comes back later and finds its recipients
 *   done in the queue record: delivery skips them.
 * - **delete** marks every recipient still to be delivered `deleted` in the queue
 *   record first (delivery skips final recipients, so that alone stops delivery),
 *   then deletes the job messages it knows of, so nothing wakes up for them. No DSN
 *   is sent; a `DELETED` event records who-did-what in the mail's trace.
 *
 * The spooled body is left alone: the spool's lifecycle rule expires it, and a
 * segment may hold other mail.
 */
import { fromBinary } from '@bufbuild/protobuf';
import { Outcome, schemas, streams, msgId } from '@mailmesh/proto';
import { extractTrace, publish, withSpan, type Bus } from '@mailmesh/runtime';
import type { StoredMsg } from '@nats-io/jetstream';

import { deliveryEvent, publishEvents } from './events.js';
import { shortHash } from './ids.js';
import {
  finalRecipientStates,
  isPending,
  withJob,
  type QueueJob,
  type QueueRecipient,
  type QueueRecord,
} from './record.js';
import type { QueueStore } from './store.js';

export type QueueControlRefusal = 'not-found' | 'not-deferred' | 'finished';

/** The mail cannot be retried or deleted as asked; nothing was changed. */
export class QueueControlError extends Error {
  override readonly name = 'QueueControlError';
  readonly retryable = false;
  constructor(
    readonly mailId: string,
    readonly reason: QueueControlRefusal,
    message: string,
  ) {
    super(message);
  }
}

export interface ControlDeps {
  readonly bus: Bus;
  readonly queue: QueueStore;
  readonly now?: () => Date;
  /** Who asked, for the trace event of a deletion (e.g. `cli root@host`). */
  readonly actor?: string;
}

/** What became of one deferred job on `retry`. */
export interface RetriedJob {
  readonly job: string;
  readonly destination: string;
  /** `requeued`: a copy is in the stream now; `due`: its deferred message could not be found (being attempted already, or from before jobs recorded their sequence): it stays as it is. */
  readonly result: 'requeued' | 'due';
  readonly fromSeq?: number;
  readonly toSeq?: number;
}

export interface RetryResult {
  readonly mailId: string;
  readonly jobs: readonly RetriedJob[];
}

export interface DeleteResult {
  readonly mailId: string;
  /** The recipients that will not be delivered now. */
  readonly recipients: readonly string[];
  /** Job messages removed from the MAIL stream. */
  readonly removedMessages: number;
}

const noSuchMail = (mailId: string): QueueControlError =>
  new QueueControlError(
    mailId,
    'not-found',
    `no queue record for ${mailId} (never routed, or already expired from the queue bucket)`,
  );

const finished = (r: QueueRecord): QueueControlError =>
  new QueueControlError(
    r.mailId,
    'finished',
    `mail ${r.mailId} is ${r.stage}: nothing is left to deliver`,
  );

/** The job message at `seq`; null when it is gone (acked meanwhile). Bus errors throw. */
function jobMessage(bus: Bus, seq: number): Promise<StoredMsg | null> {
  return bus.jsm.streams.getMessage(streams.mail.name, { seq });
}

/** Deletes a job message; false when it is gone already (acked meanwhile). */
async function removeJobMessage(bus: Bus, seq: number): Promise<boolean> {
  try {
    return await bus.jsm.streams.deleteMessage(streams.mail.name, seq, false);
  } catch (err) {
    if (/no message found|not found/i.test(err instanceof Error ? err.message : '')) return false;
    throw err;
  }
}

/** Attempts every deferred job of the mail now. */
export async function retryMail(deps: ControlDeps, mailId: string): Promise<RetryResult> {
  const now = deps.now ?? (() => new Date());
  const record = await deps.queue.get(mailId);
  if (!record) throw noSuchMail(mailId);
  if (!isPending(record)) throw finished(record);
  const deferred = Object.entries(record.jobs).filter(([, j]) => j.state === 'deferred');
  if (deferred.length === 0) {
    throw new QueueControlError(
      mailId,
      'not-deferred',
      `mail ${mailId} is queued, not deferred: its attempt is already due`,
    );
  }
  const jobs: RetriedJob[] = [];
  for (const [key, job] of deferred) {
    const held = job.seq !== undefined ? await jobMessage(deps.bus, job.seq) : null;
    const data = held ? fromBinary(schemas.DeliveryJob.schema, held.data) : undefined;
    if (!held || data?.mailId !== mailId) {
      jobs.push({ job: key, destination: job.destination, result: 'due' });
      continue;
    }
    const copy = await withSpan(
      'queue retry',
      { 'mailmesh.mail_id': mailId, 'mailmesh.job': key },
      () =>
        publish(deps.bus, held.subject, schemas.DeliveryJob, data, {
          msgId: msgId(mailId, 'delivery', `retry.${shortHash(key)}.a${job.attempts}`),
        }),
      { context: extractTrace(held.header) },
    );
    const from = held.seq;
    if (copy.seq !== from) await removeJobMessage(deps.bus, from);
    await deps.queue.update(mailId, (cur) => {
      const j = cur?.jobs[key];
      if (!cur || !j || j.seq !== from) return undefined; // delivery has moved on already
      const at = now().toISOString();
      return withJob(
        cur,
        key,
        { ...j, seq: copy.seq, nextAttemptAt: at, retryRequestedAt: at },
        now(),
      );
    });
    jobs.push({
      job: key,
      destination: job.destination,
      result: 'requeued',
      fromSeq: from,
      toSeq: copy.seq,
    });
  }
  return { mailId, jobs };
}

/** Removes the mail from the queue: no further attempt, no DSN. */
export async function deleteMail(deps: ControlDeps, mailId: string): Promise<DeleteResult> {
  const now = deps.now ?? (() => new Date());
  const at = now();
  let deleted: string[] = [];
  let seqs: number[] = [];
  let found: QueueRecord | undefined;
  await deps.queue.update(mailId, (cur) => {
    found = cur;
    deleted = [];
    seqs = [];
    if (!cur || !isPending(cur)) return undefined;
    let next = cur;
    for (const [key, job] of Object.entries(cur.jobs)) {
      const open = Object.entries(job.recipients).filter(
        ([, r]) => !finalRecipientStates.has(r.state),
      );
      if (open.length === 0) continue;
      const recipients: Record<string, QueueRecipient> = { ...job.recipients };
      for (const [address, r] of open) {
        recipients[address] = { ...r, state: 'deleted', doneAt: at.toISOString() };
        deleted.push(address);
      }
      const { nextAttemptAt: _next, ...rest } = job;
      const changed: QueueJob = { ...rest, recipients };
      next = withJob(next, key, changed, at);
      if (job.seq !== undefined) seqs.push(job.seq);
    }
    return next;
  });
  if (!found) throw noSuchMail(mailId);
  if (deleted.length === 0) throw finished(found);
  let removed = 0;
  for (const seq of seqs) if (await removeJobMessage(deps.bus, seq)) removed++;
  await publishEvents(
    deps.bus,
    deleted.map((recipient) =>
      deliveryEvent({
        mailId,
        stage: 'delivery',
        outcome: Outcome.DELETED,
        at,
        recipient,
        message: `deleted from the queue${deps.actor ? ` by ${deps.actor}` : ''}; no DSN sent`,
      }),
    ),
    'queue-delete',
  );
  return { mailId, recipients: deleted, removedMessages: removed };
}
