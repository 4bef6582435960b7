/**
 * `mailmesh queue ls|show ID|retry ID|delete ID`: mail in flight, from the queue
 * records (`mailmesh-queue` KV) the router and delivery keep.
 */
import { isPending, type QueueRecord, type QueueStore } from '@mailmesh/queue';
import { kvBuckets } from '@mailmesh/proto';
import type { Bus } from '@mailmesh/runtime';

import { MailNotFoundError, NotProvisionedError, NotSupportedError } from '../errors.js';
import type { Output } from '../output.js';
import { listLines, showLines } from '../queue/format.js';
import { queueStoreIfAny, withBus } from './connect.js';
import { checkMailId } from './trace.js';

export interface QueueCommandOptions {
  readonly nats?: string;
  readonly json: boolean;
  readonly out: Output;
}

async function storeOf(bus: Bus): Promise<QueueStore> {
  const store = await queueStoreIfAny(bus);
  if (store === undefined)
    throw new NotProvisionedError('KV bucket', kvBuckets.queue.bucket, bus.server);
  return store;
}

/** Pending records (all of them with `all`), oldest first (mail ids sort by time). */
export async function listQueue(store: QueueStore, all = false): Promise<QueueRecord[]> {
  const records: QueueRecord[] = [];
  for await (const r of store.list()) if (all || isPending(r)) records.push(r);
  return records.sort((a, b) => (a.mailId < b.mailId ? -1 : a.mailId > b.mailId ? 1 : 0));
}

export async function runQueueLs(o: QueueCommandOptions & { all: boolean }): Promise<void> {
  const records = await withBus(o.nats, 'mailmesh-queue', async (bus) =>
    listQueue(await storeOf(bus), o.all),
  );
  if (o.json) {
    o.out.line(JSON.stringify({ ok: true, mails: records }));
    return;
  }
  if (records.length === 0) {
    o.out.line(o.all ? 'the queue is empty' : 'no pending mail');
    return;
  }
  for (const l of listLines(records)) o.out.line(l);
}

export async function runQueueShow(o: QueueCommandOptions & { id: string }): Promise<void> {
  const mailId = checkMailId(o.id);
  const record = await withBus(o.nats, 'mailmesh-queue', async (bus) =>
    (await storeOf(bus)).get(mailId),
  );
  if (record === undefined) throw new MailNotFoundError(mailId, 'queue record');
  if (o.json) {
    o.out.line(JSON.stringify({ ok: true, mail: record }));
    return;
  }
  for (const l of showLines(record)) o.out.line(l);
}

/**
 * Why `retry` and `delete` refuse: the queue record is visibility only (nothing
 * reads it to decide what to deliver); a deferred job is a JetStream message the
 * delivery service naks with a delay, and neither delivery nor @mailmesh/queue
 * offers a control to redeliver it now or to cancel it (and its spooled body and
 * DSNs) safely.
 */
export const QUEUE_CONTROL_MISSING =
  'the delivery service has no control to re-schedule or cancel a job yet (the queue record is read-only visibility; changing it would not change delivery)';

export async function runQueueUnsupported(action: 'retry' | 'delete', id: string): Promise<never> {
  checkMailId(id);
  return Promise.reject(
    new NotSupportedError(`queue ${action}`, `not supported yet: ${QUEUE_CONTROL_MISSING}`),
  );
}
