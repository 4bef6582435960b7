/**
 * `mailmesh queue retry|delete` (queue/control.ts) against a running delivery
 * service: real NATS + MinIO, the remote host a real smtp-server on loopback. A
 * deferred job waits 30 s here, far beyond each test, so whatever happens sooner
 * is the control's doing; afterwards no job message is left for the consumer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSnapshot } from '@mailmesh/config';
import { consumers, Outcome, schemas, streams, subjects } from '@mailmesh/proto';
import { fromBinary } from '@bufbuild/protobuf';
import {
  deleteMail,
  newJob,
  openQueueStore,
  QueueControlError,
  retryMail,
  staticMailResolver,
  withJob,
  type QueueRecipient,
  type QueueRecord,
  type QueueStore,
} from '@mailmesh/queue';
import { entries } from '@mailmesh/rig';
import { silentLogger } from '@mailmesh/runtime';

import { startDelivery, staticSecrets, type DeliveryService } from '../src/index.js';
import {
  acceptedEnvelopes,
  jobFor,
  publishJob,
  scannedMail,
  startPlatform,
  waitFor,
  type Platform,
} from './peers.js';
import { startSmtp, type TestSmtp } from './smtp.js';

let p: Platform;
let svc: DeliveryService;
let queue: QueueStore;
let mx: TestSmtp;
/** Recipients @hold.example are refused 451 while this holds. */
let holding = true;

const HOLD_MS = 30_000;

beforeAll(async () => {
  [p, mx] = await Promise.all([
    startPlatform(),
    startSmtp({
      rcpt: (a) =>
        (a.endsWith('@hold.example') && holding) || a.endsWith('@stuck.example') ? 451 : undefined,
    }),
  ]);
  queue = await openQueueStore(p.bus);
  svc = await startDelivery({
    bus: p.bus,
    store: p.store,
    config: () =>
      buildSnapshot(entries([{ domain: 'sh.company.local', mailboxes: [{ localPart: 'a' }] }])),
    resolver: staticMailResolver({
      'hold.example': { MX: ['10 mx.test.example'] },
      'stuck.example': { MX: ['10 mx.test.example'] },
      'mx.test.example': { A: ['127.0.0.1'] },
    }),
    secrets: staticSecrets({}),
    hostname: 'mx.sh.company.local',
    log: silentLogger(),
    local: false,
    mxPort: mx.port,
    retry: {
      default: { delaysMs: [HOLD_MS], maxAgeMs: 3_600_000, delayDsnAfterMs: 3_600_000 },
    },
  });
});
afterAll(async () => {
  await svc?.stop();
  await mx?.stop();
  await p?.stop();
});

async function deferredMail(domain: string): Promise<{ mailId: string; record: QueueRecord }> {
  const { scan } = await scannedMail(p.store, { from: 'a@sh.company.local', to: [`x@${domain}`] });
  await publishJob(
    p.bus,
    jobFor(scan, { kind: 'remote', domain, nextHop: domain, port: 25, mx: true }, [`x@${domain}`]),
  );
  const record = await waitFor('the first attempt to defer the job', async () => {
    const r = await queue.get(scan.mailId);
    return r?.stage === 'deferred' ? r : undefined;
  });
  return { mailId: scan.mailId, record };
}

const stored = (seq: number) =>
  p.bus.jsm.streams.getMessage(streams.mail.name, { seq }).catch(() => null);

/** Job messages the remote consumer still holds (waiting, or delivered and not acked). */
async function heldJobs(): Promise<number> {
  const info = await p.bus.jsm.consumers.info(streams.mail.name, consumers.deliveryRemote.durable);
  return info.num_pending + info.num_ack_pending;
}

const copiesAt = (mailId: string): number =>
  mx.received.filter((m) => m.data.toString().includes(mailId)).length;

/** A queue record as the router writes it: one remote MX job for `address`, nothing tried yet. */
function routedRecord(
  mailId: string,
  address: string,
  state: QueueRecipient['state'] = 'pending',
): QueueRecord {
  const domain = address.slice(address.indexOf('@') + 1);
  const now = new Date();
  const job = newJob(
    subjects.deliverRemote(domain),
    `MX of ${domain}`,
    { kind: 'remote', domain, nextHop: domain, mx: true },
    [{ address }],
  );
  const empty: QueueRecord = {
    v: 1,
    mailId,
    from: 'a@sh.company.local',
    receivedAt: now.toISOString(),
    size: 10,
    stage: 'queued',
    updatedAt: now.toISOString(),
    problems: [],
    jobs: {},
  };
  const recipients = {
    [address]: {
      state,
      attempts: 0,
      ...(state === 'deleted' ? { doneAt: now.toISOString() } : {}),
    },
  };
  return withJob(empty, `remote:${domain}:25`, { ...job, recipients }, now);
}

describe('queue retry', () => {
  it('attempts a deferred job now: delivered once, the deferred original gone from the stream', async () => {
    holding = true;
    const { mailId, record } = await deferredMail('hold.example');
    const job = record.jobs['remote:hold.example:25']!;
    expect(job).toMatchObject({ state: 'deferred', attempts: 1 });
    expect(job.seq).toBeGreaterThan(0);
    const scheduled = Date.parse(job.nextAttemptAt!);
    expect(scheduled - Date.parse(job.lastAttemptAt!)).toBe(HOLD_MS);

    holding = false;
    const result = await retryMail({ bus: p.bus, queue }, mailId);
    expect(result.jobs).toEqual([
      expect.objectContaining({
        job: 'remote:hold.example:25',
        result: 'requeued',
        fromSeq: job.seq,
      }),
    ]);
    const copy = result.jobs[0]!.toSeq!;
    expect(copy).toBeGreaterThan(job.seq!);
    expect(await stored(job.seq!)).toBeNull();

    const done = await waitFor('delivery after the retry', async () => {
      const r = await queue.get(mailId);
      return r?.stage === 'delivered' ? r : undefined;
    });
    const after = done.jobs['remote:hold.example:25']!;
    expect(after).toMatchObject({ state: 'delivered', attempts: 2, seq: copy });
    expect(after.recipients['x@hold.example']).toMatchObject({ state: 'delivered', attempts: 2 });
    expect(Date.parse(after.lastAttemptAt!)).toBeLessThan(scheduled);
    expect(copiesAt(mailId)).toBe(1);
    await waitFor('no job message left', async () => ((await heldJobs()) === 0 ? true : undefined));
  });

  it('refuses a delivered mail, a mail with no attempt yet and an unknown mail, changing nothing', async () => {
    holding = false;
    const { scan } = await scannedMail(p.store, {
      from: 'a@sh.company.local',
      to: ['y@hold.example'],
    });
    await publishJob(
      p.bus,
      jobFor(scan, { kind: 'remote', domain: 'hold.example', nextHop: 'hold.example', mx: true }, [
        'y@hold.example',
      ]),
    );
    const delivered = await waitFor('delivery', async () => {
      const r = await queue.get(scan.mailId);
      return r?.stage === 'delivered' ? r : undefined;
    });
    await expect(retryMail({ bus: p.bus, queue }, scan.mailId)).rejects.toMatchObject({
      name: 'QueueControlError',
      reason: 'finished',
      message: `mail ${scan.mailId} is delivered: nothing is left to deliver`,
    });
    await expect(deleteMail({ bus: p.bus, queue }, scan.mailId)).rejects.toMatchObject({
      reason: 'finished',
    });
    expect(await queue.get(scan.mailId)).toEqual(delivered);

    // Routed, but delivery has not tried it yet: its attempt is due already.
    const queued = '01KBQ0000000000000000000AA';
    const fresh = routedRecord(queued, 'z@hold.example');
    await queue.update(queued, () => fresh);
    const refused = await retryMail({ bus: p.bus, queue }, queued).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(QueueControlError);
    expect(refused).toMatchObject({ reason: 'not-deferred' });
    expect(await queue.get(queued)).toEqual(fresh);

    await expect(
      retryMail({ bus: p.bus, queue }, '01KBQ0000000000000000000ZZ'),
    ).rejects.toMatchObject({ reason: 'not-found' });
  });
});

describe('queue delete', () => {
  it('removes a deferred mail: recipients deleted, job message gone, no DSN, a DELETED event', async () => {
    const { mailId, record } = await deferredMail('stuck.example');
    const seq = record.jobs['remote:stuck.example:25']!.seq!;
    const sessions = mx.sessions;
    const bouncesBefore = (await acceptedEnvelopes(p.bus)).length;

    const result = await deleteMail({ bus: p.bus, queue, actor: 'test' }, mailId);
    expect(result).toEqual({ mailId, recipients: ['x@stuck.example'], removedMessages: 1 });
    expect(await stored(seq)).toBeNull();

    const after = (await queue.get(mailId))!;
    expect(after.stage).toBe('deleted');
    const job = after.jobs['remote:stuck.example:25']!;
    expect(job.state).toBe('deleted');
    expect(job.nextAttemptAt).toBeUndefined();
    expect(job.recipients['x@stuck.example']).toMatchObject({ state: 'deleted', attempts: 1 });

    const events = await p.bus.jsm.streams.getMessage(streams.events.name, {
      last_by_subj: subjects.event('delivery', mailId),
    });
    const ev = fromBinary(schemas.DeliveryEvent.schema, events!.data);
    expect(ev).toMatchObject({
      outcome: Outcome.DELETED,
      recipient: 'x@stuck.example',
      message: 'deleted from the queue by test; no DSN sent',
    });

    await waitFor('no job message left', async () => ((await heldJobs()) === 0 ? true : undefined));
    expect(mx.sessions).toBe(sessions);
    expect((await acceptedEnvelopes(p.bus)).length).toBe(bouncesBefore);
    await expect(deleteMail({ bus: p.bus, queue }, mailId)).rejects.toMatchObject({
      reason: 'finished',
    });
  });

  it('a job message that outlived its deletion is acked without an attempt', async () => {
    const { scan } = await scannedMail(p.store, {
      from: 'a@sh.company.local',
      to: ['w@stuck.example'],
    });
    const job = jobFor(
      scan,
      { kind: 'remote', domain: 'stuck.example', nextHop: 'stuck.example', mx: true },
      ['w@stuck.example'],
    );
    // The record says deleted (as deleteMail leaves it) before delivery ever sees the job.
    const record = routedRecord(scan.mailId, 'w@stuck.example', 'deleted');
    await queue.update(scan.mailId, () => record);
    const sessions = mx.sessions;
    await publishJob(p.bus, job);
    await waitFor('the job to be acked', async () => ((await heldJobs()) === 0 ? true : undefined));
    expect(mx.sessions).toBe(sessions);
    expect(await queue.get(scan.mailId)).toEqual(record);
  });
});
