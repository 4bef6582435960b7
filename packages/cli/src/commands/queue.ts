/**
 * `mailmesh queue ls|show ID|retry ID|delete ID`: mail in flight, from the queue
 * records (`mailmesh-queue` KV) the router and delivery keep.
 */
import { hostname, userInfo } from 'node:os';
import {
  deleteMail,
  isPending,
  retryMail,
  type QueueRecord,
  type QueueStore,
} from '@mailmesh/queue';
import { kvBuckets } from '@mailmesh/proto';
import type { Bus } from '@mailmesh/runtime';

import { MailNotFoundError, NotProvisionedError } from '../errors.js';
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

/** Who asked, for the trace of a deletion: `mailmesh queue delete` by user@host. */
function actor(): string {
  let user: string;
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry for this uid (common in containers).
    user = `uid ${process.getuid?.() ?? '?'}`;
  }
  return `mailmesh queue delete (${user}@${hostname()})`;
}

export async function runQueueRetry(o: QueueCommandOptions & { id: string }): Promise<void> {
  const mailId = checkMailId(o.id);
  const result = await withBus(o.nats, 'mailmesh-queue', async (bus) =>
    retryMail({ bus, queue: await storeOf(bus) }, mailId),
  );
  if (o.json) {
    o.out.line(JSON.stringify({ ok: true, ...result }));
    return;
  }
  for (const j of result.jobs) {
    o.out.line(
      j.result === 'requeued'
        ? `${mailId} ${j.job}: attempt now (${j.destination}; job message ${j.fromSeq} -> ${j.toSeq})`
        : `${mailId} ${j.job}: left as it is (${j.destination}): its deferred job message is not in the stream, so it is being attempted already or waits for its scheduled attempt`,
    );
  }
}

export async function runQueueDelete(o: QueueCommandOptions & { id: string }): Promise<void> {
  const mailId = checkMailId(o.id);
  const result = await withBus(o.nats, 'mailmesh-queue', async (bus) =>
    deleteMail({ bus, queue: await storeOf(bus), actor: actor() }, mailId),
  );
  if (o.json) {
    o.out.line(JSON.stringify({ ok: true, ...result }));
    return;
  }
  const n = result.recipients.length;
  o.out.line(
    `deleted ${mailId}: ${n} recipient${n === 1 ? '' : 's'} will not be delivered (${result.recipients.join(', ')}); no DSN sent`,
  );
}
