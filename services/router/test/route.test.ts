import { fromBinary } from '@bufbuild/protobuf';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DeliveryEventSchema,
  DeliveryJobSchema,
  DsnNotify,
  EnvelopeSchema,
  Origin,
  Outcome,
  RouteKind,
  streams,
  subjects,
  TlsPolicy,
} from '@mailmesh/proto';
import { silentLogger } from '@mailmesh/runtime';
import { openQueueStore, parseDsn, staticMailResolver, type QueueStore } from '@mailmesh/queue';

import { buildRouterConfig, routeMail, type RouterDeps } from '../src/index.js';
import { branch, entries, internalOnly } from '@mailmesh/rig';
import { scannedMail, startPlatform, type Platform } from '@mailmesh/rig';

let p: Platform;
let deps: RouterDeps;
let queue: QueueStore;

beforeAll(async () => {
  p = await startPlatform();
  queue = await openQueueStore(p.bus);
  const cfg = buildRouterConfig(entries(branch, [internalOnly]));
  deps = {
    bus: p.bus,
    store: p.store,
    queue,
    config: () => cfg,
    resolver: staticMailResolver({}),
    log: silentLogger(),
    hostname: 'mx.test.local',
  };
});
afterAll(async () => {
  await p?.stop();
});

async function last(subject: string) {
  return p.bus.jsm.streams.getMessage(streams.mail.name, { last_by_subj: subject });
}

async function eventsOf(mailId: string) {
  const out = [];
  const info = await p.bus.jsm.streams.info(streams.events.name);
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await p.bus.jsm.streams.getMessage(streams.events.name, { seq }).catch(() => null);
    if (m && m.subject.endsWith(mailId)) out.push(fromBinary(DeliveryEventSchema, m.data));
  }
  return out;
}

describe('routeMail (real NATS + MinIO)', () => {
  it('publishes one job per destination, refuses an outside domain with a parsed DSN naming the rule', async () => {
    const { scan } = await scannedMail(p.store, {
      from: 'zhang.san@sh.company.local',
      to: [
        'li.si@bj.company.local',
        'sales@sh.company.local',
        'boss@hq.company.local',
        { address: 'x@gmail.com', original: 'rfc822;X@gmail.com' },
      ],
      subject: 'quarterly numbers',
    });
    const mailId = scan.mailId;
    const result = await routeMail(deps, scan);
    expect(result.plan.jobs.map((j) => j.subject)).toEqual([
      subjects.deliverLocal('bj.company.local'),
      subjects.deliverLocal('sh.company.local'),
      subjects.deliverRemote('mail.hq.company.local'),
    ]);

    const bj = fromBinary(
      DeliveryJobSchema,
      (await last(subjects.deliverLocal('bj.company.local')))!.data,
    );
    expect(bj.mailId).toBe(mailId);
    expect(bj.route?.kind).toBe(RouteKind.LOCAL);
    expect(bj.recipients.map((r) => [r.address, r.original])).toEqual([
      ['li.si@bj.company.local', ''],
    ]);
    const sh = fromBinary(
      DeliveryJobSchema,
      (await last(subjects.deliverLocal('sh.company.local')))!.data,
    );
    expect(sh.recipients.map((r) => [r.address, r.original])).toEqual([
      ['zhang.san@sh.company.local', 'rfc822;sales@sh.company.local'],
    ]);
    const hq = fromBinary(
      DeliveryJobSchema,
      (await last(subjects.deliverRemote('mail.hq.company.local')))!.data,
    );
    expect(hq.route).toMatchObject({
      kind: RouteKind.REMOTE,
      nextHop: 'mail.hq.company.local',
      port: 587,
      tls: TlsPolicy.REQUIRED,
      authSecretRef: 'hq-relay',
      authSecretKey: 'credentials',
      mx: false,
    });
    expect(hq.headersToAdd.map((h) => h.name)).toEqual(['X-Mailmesh-Verdict']);

    // The DSN: a new mail (origin DSN, null sender) on mail.accepted, its body in the spool.
    expect(result.dsnMailId).toBeDefined();
    const dsnMsg = await last(subjects.accepted);
    const dsnEnv = fromBinary(EnvelopeSchema, dsnMsg!.data);
    expect(dsnEnv).toMatchObject({ mailId: result.dsnMailId, origin: Origin.DSN, mailFrom: '' });
    expect(dsnEnv.recipients.map((r) => [r.address, r.notify])).toEqual([
      ['zhang.san@sh.company.local', [DsnNotify.NEVER]],
    ]);
    const bytes = await p.store.getBuffer(dsnEnv.spool!.bucket, dsnEnv.spool!.key);
    expect(bytes.length).toBe(Number(dsnEnv.size));
    const parsed = await simpleParser(bytes);
    expect(parsed.headers.get('content-type')).toMatchObject({
      value: 'multipart/report',
      params: { 'report-type': 'delivery-status' },
    });
    const dsn = parseDsn(bytes);
    expect(dsn.reportType).toBe('delivery-status');
    expect(dsn.message['reporting-mta']).toBe('dns; mx.test.local');
    expect(dsn.recipients).toHaveLength(1);
    const r0 = dsn.recipients[0] ?? {};
    expect(r0['final-recipient']).toBe('rfc822; x@gmail.com');
    expect(r0['original-recipient']).toBe('rfc822; X@gmail.com');
    expect(r0['action']).toBe('failed');
    expect(r0['status']).toBe('5.7.1');
    expect(r0['diagnostic-code']).toContain('MailPolicy internal-only');
    expect(parsed.text).toContain('recipients.allowDomains');
    const returned = parsed.attachments.find((a) => a.contentType === 'text/rfc822-headers');
    expect(returned?.content.toString()).toContain('Subject: quarterly numbers');

    // The queue record names every destination and the refusal.
    const rec = await queue.get(mailId);
    expect(rec?.stage).toBe('queued');
    expect(Object.keys(rec?.jobs ?? {})).toEqual([
      'local:bj.company.local',
      'local:sh.company.local',
      'remote:mail.hq.company.local:587',
    ]);
    expect(rec?.jobs['remote:mail.hq.company.local:587']?.reason).toContain(
      'relays outbound mail through its smart host',
    );
    expect(rec?.problems).toEqual([
      expect.objectContaining({
        recipient: 'x@gmail.com',
        kind: 'transport-rule',
        rule: 'MailPolicy internal-only recipients.allowDomains',
        dsnSent: true,
      }),
    ]);

    const events = await eventsOf(mailId);
    expect(
      events
        .filter((e) => e.outcome === Outcome.ROUTED)
        .map((e) => e.recipient)
        .sort(),
    ).toEqual(['boss@hq.company.local', 'li.si@bj.company.local', 'zhang.san@sh.company.local']);
    expect(
      events
        .filter((e) => e.outcome === Outcome.REJECTED)
        .map((e) => [e.recipient, e.enhancedCode]),
    ).toEqual([['x@gmail.com', '5.7.1']]);
    expect(events.filter((e) => e.outcome === Outcome.BOUNCED)).toHaveLength(1);
    expect(events.filter((e) => e.outcome === Outcome.EXPANDED).map((e) => e.recipient)).toEqual([
      'sales@sh.company.local',
      'all@sh.company.local',
    ]);
  });

  it('is idempotent: routing the same scan again publishes no duplicate job or DSN', async () => {
    const { scan } = await scannedMail(p.store, {
      from: 'li.si@bj.company.local',
      to: ['zhang.san@sh.company.local', 'ghost@sh.company.local'],
    });
    const before = (await p.bus.jsm.streams.info(streams.mail.name)).state.messages;
    const a = await routeMail(deps, scan);
    const mid = (await p.bus.jsm.streams.info(streams.mail.name)).state.messages;
    const b = await routeMail(deps, scan);
    const after = (await p.bus.jsm.streams.info(streams.mail.name)).state.messages;
    expect(mid - before).toBe(2); // one job + one DSN envelope
    expect(after).toBe(mid);
    expect(b.dsnMailId).toBe(a.dsnMailId);
  });

  it('sends no DSN for the null sender, and names every fact for an unknown domain', async () => {
    const { scan } = await scannedMail(p.store, { from: '', to: ['someone@unknown.example'] });
    const r = await routeMail(deps, scan);
    expect(r.dsnMailId).toBeUndefined();
    expect(r.plan.refused[0]?.message).toContain(
      'not a local domain of this platform (local: bj.company.local, sh.company.local)',
    );
    const rec = await queue.get(scan.mailId);
    expect(rec?.stage).toBe('failed');
    expect(rec?.problems[0]).toMatchObject({ kind: 'unknown-domain', enhanced: '5.1.2' });
  });

  it('refuses a message that already has Delivered-To for the mailbox (forwarding loop)', async () => {
    const { scan } = await scannedMail(p.store, {
      from: 'li.si@bj.company.local',
      to: ['zhang.san@sh.company.local'],
      headers: ['Delivered-To: zhang.san@sh.company.local'],
    });
    const r = await routeMail(deps, scan);
    expect(r.plan.jobs).toEqual([]);
    expect(r.plan.refused.map((x) => [x.kind, x.enhanced])).toEqual([['mail-loop', '5.4.6']]);
  });
});
