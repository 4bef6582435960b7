import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSnapshot } from '@mailmesh/config';
import { objectBuckets } from '@mailmesh/proto';
import { silentLogger } from '@mailmesh/runtime';
import { openQueueStore, parseDsn, staticMailResolver, type QueueStore } from '@mailmesh/queue';

import {
  bodyKey,
  folders,
  JUNK_KEYWORD,
  startDelivery,
  staticSecrets,
  type DeliveryService,
} from '../src/index.js';
import { entries, type DomainDoc } from '@mailmesh/rig';
import {
  acceptedEnvelopes,
  jobFor,
  publishJob,
  scannedMail,
  startPlatform,
  waitFor,
  type Platform,
} from './peers.js';

const domains: DomainDoc[] = [
  {
    domain: 'sh.company.local',
    aliases: ['shanghai.company.local'],
    mailboxes: [
      { localPart: 'zhang.san' },
      { localPart: 'wang.wu' },
      { localPart: 'tiny', quotaBytes: 200 },
    ],
  },
  { domain: 'bj.company.local', mailboxes: [{ localPart: 'li.si' }] },
];

let p: Platform;
let svc: DeliveryService;
let queue: QueueStore;

beforeAll(async () => {
  p = await startPlatform();
  const snapshot = buildSnapshot(entries(domains));
  queue = await openQueueStore(p.bus);
  svc = await startDelivery({
    bus: p.bus,
    store: p.store,
    config: () => snapshot,
    resolver: staticMailResolver({}),
    secrets: staticSecrets({}),
    hostname: 'mx.test.local',
    log: silentLogger(),
    remote: false,
    retry: { default: { delaysMs: [20, 40], maxAgeMs: 1_500, delayDsnAfterMs: 0 } },
  });
});
afterAll(async () => {
  await svc?.stop();
  await p?.stop();
});

describe('local delivery into the mailbox store (real NATS + MinIO)', () => {
  it('stores the body once for recipients in two domains, each with its own Return-Path/Delivered-To', async () => {
    const { scan, raw } = await scannedMail(p.store, {
      from: 'li.si@bj.company.local',
      to: ['zhang.san@sh.company.local', 'wang.wu@sh.company.local', 'li.si@bj.company.local'],
    });
    await publishJob(
      p.bus,
      jobFor(scan, { kind: 'local', domain: 'sh.company.local' }, [
        'zhang.san@sh.company.local',
        'wang.wu@sh.company.local',
      ]),
    );
    await publishJob(
      p.bus,
      jobFor(scan, { kind: 'local', domain: 'bj.company.local' }, ['li.si@bj.company.local']),
    );
    const rec = await waitFor('both jobs delivered', async () => {
      const r = await queue.get(scan.mailId);
      // Without a router in this test, the first job to finish creates the record.
      return r?.stage === 'delivered' && Object.keys(r.jobs).length === 2 ? r : undefined;
    });
    expect(Object.values(rec.jobs).map((j) => j.state)).toEqual(['delivered', 'delivered']);

    const bodies: string[] = [];
    for await (const o of p.store.list(
      objectBuckets.mailbox,
      bodyKey(scan.mailId).replace(/[^/]+$/, ''),
    ))
      if (o.key.includes(scan.mailId)) bodies.push(o.key);
    expect(bodies).toEqual([bodyKey(scan.mailId)]);

    for (const addr of [
      'zhang.san@sh.company.local',
      'wang.wu@sh.company.local',
      'li.si@bj.company.local',
    ]) {
      const msgs = await svc.mailstore.messages(addr, folders.inbox);
      const mine = msgs.filter((m) => m.mailId === scan.mailId);
      expect(mine).toHaveLength(1);
      const bytes = await svc.mailstore.read(mine[0]!);
      expect(
        bytes
          .toString()
          .startsWith(
            `Return-Path: <li.si@bj.company.local>\r\nDelivered-To: ${addr}\r\nX-Mailmesh-Verdict: pass\r\n`,
          ),
      ).toBe(true);
      expect(bytes.subarray(bytes.length - raw.length).equals(raw)).toBe(true);
      expect(mine[0]!.size).toBe(bytes.length);
    }
    const state = await svc.mailstore.state('zhang.san@sh.company.local');
    expect(state?.folders[folders.inbox]).toMatchObject({
      uidNext: 2,
      highestModSeq: 1,
      messages: 1,
    });
  });

  it('never makes a second entry for a redelivered job, and files junk in Junk with $Junk', async () => {
    const { scan } = await scannedMail(p.store, {
      from: 'x@outside.example',
      to: ['wang.wu@sh.company.local'],
      junk: true,
    });
    const job = jobFor(scan, { kind: 'local', domain: 'sh.company.local' }, [
      'wang.wu@sh.company.local',
    ]);
    await publishJob(p.bus, job, '.first');
    await waitFor('delivered', async () =>
      (await queue.get(scan.mailId))?.stage === 'delivered' ? true : undefined,
    );
    // The same job again under another msg-id (as after the duplicate window): still one entry.
    await publishJob(p.bus, job, '.again');
    await svc.mailstore
      .append({
        mailId: scan.mailId,
        address: 'wang.wu@sh.company.local',
        quotaBytes: 0,
        junk: true,
        prefix: 'X: y\r\n',
        body: {
          bucket: objectBuckets.mailbox,
          key: bodyKey(scan.mailId),
          size: Number(scan.envelope!.size),
        },
      })
      .then((r) => expect(r.kind).toBe('duplicate'));
    await new Promise((r) => setTimeout(r, 300));
    const junk = (await svc.mailstore.messages('wang.wu@sh.company.local', folders.junk)).filter(
      (m) => m.mailId === scan.mailId,
    );
    expect(junk).toHaveLength(1);
    expect(junk[0]?.flags).toEqual([JUNK_KEYWORD]);
    expect(
      (await svc.mailstore.messages('wang.wu@sh.company.local', folders.inbox)).filter(
        (m) => m.mailId === scan.mailId,
      ),
    ).toHaveLength(0);
  });

  it('over quota: defers on the schedule, then a failure DSN (5.2.2) at the end of the queue lifetime', async () => {
    const { scan } = await scannedMail(p.store, {
      from: 'li.si@bj.company.local',
      to: ['tiny@sh.company.local'],
      body: 'x'.repeat(400),
    });
    await publishJob(
      p.bus,
      jobFor(scan, { kind: 'local', domain: 'sh.company.local' }, ['tiny@sh.company.local']),
    );
    const deferred = await waitFor('deferred', async () => {
      const r = await queue.get(scan.mailId);
      return r?.stage === 'deferred' ? r : undefined;
    });
    expect(deferred.jobs['local:sh.company.local']?.lastError).toMatchObject({
      kind: 'quota',
      code: 452,
      enhanced: '4.2.2',
    });
    expect(deferred.jobs['local:sh.company.local']?.nextAttemptAt).toBeDefined();
    const failed = await waitFor(
      'failed',
      async () => {
        const r = await queue.get(scan.mailId);
        return r?.stage === 'failed' ? r : undefined;
      },
      20_000,
    );
    const job = failed.jobs['local:sh.company.local'];
    expect(job?.attempts).toBeGreaterThanOrEqual(2);
    expect(job?.recipients['tiny@sh.company.local']).toMatchObject({
      state: 'failed',
      dsnSent: true,
    });
    const dsns = (await acceptedEnvelopes(p.bus)).filter(
      (e) => e.recipients[0]?.address === 'li.si@bj.company.local' && e.mailFrom === '',
    );
    const mine = [];
    for (const e of dsns) {
      const d = parseDsn(await p.store.getBuffer(e.spool!.bucket, e.spool!.key));
      if (d.message['x-mailmesh-mail-id'] === scan.mailId) mine.push(d);
    }
    expect(mine).toHaveLength(1);
    expect(mine[0]?.recipients[0]).toMatchObject({
      'final-recipient': 'rfc822; tiny@sh.company.local',
      action: 'failed',
      status: '5.4.7',
    });
    expect(mine[0]?.recipients[0]?.['diagnostic-code']).toContain('is full');
    expect(await svc.mailstore.messages('tiny@sh.company.local', folders.inbox)).toHaveLength(0);
  });
});
