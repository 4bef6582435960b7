import { generateKeyPairSync } from 'node:crypto';
import { dkimVerify } from 'mailauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSnapshot } from '@mailmesh/config';
import { silentLogger } from '@mailmesh/runtime';
import { openQueueStore, parseDsn, staticMailResolver, type QueueStore } from '@mailmesh/queue';

import { startDelivery, staticSecrets, type DeliveryService } from '../src/index.js';
import { entries } from '@mailmesh/rig';
import {
  acceptedEnvelopes,
  jobFor,
  publishJob,
  scannedMail,
  startPlatform,
  waitFor,
  type Platform,
} from './peers.js';
import { createCa, startSmtp, type TestCa, type TestSmtp } from './smtp.js';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const publicB64 = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');

let p: Platform;
let svc: DeliveryService;
let queue: QueueStore;
let ca: TestCa;
let hq: TestSmtp;
let untrusted: TestSmtp;
let mx: TestSmtp;
let dataCalls = 0;

beforeAll(async () => {
  ca = createCa();
  const other = createCa();
  [p, hq, untrusted, mx] = await Promise.all([
    startPlatform(),
    startSmtp({
      tls: ca.issue('mail.hq.company.local'),
      auth: { user: 'sh-relay', pass: 's3cret:with:colons' },
    }),
    startSmtp({ tls: other.issue('rogue.hq.company.local') }),
    startSmtp({
      rcpt: (a) => (a.startsWith('nobody@') ? 550 : a.endsWith('@slow.example') ? 451 : undefined),
      // flaky.example answers 451 to the first two DATA commands it sees, then 250.
      data: () => (++dataCalls <= 2 && currentFlaky ? 451 : undefined),
    }),
  ]);
  other.cleanup();
  const snapshot = buildSnapshot(
    entries([
      {
        domain: 'sh.company.local',
        mailboxes: [{ localPart: 'zhang.san' }],
        dkim: { selector: 'mm1', keySecretRef: { name: 'sh-dkim', key: 'private.pem' } },
      },
    ]),
  );
  queue = await openQueueStore(p.bus);
  svc = await startDelivery({
    bus: p.bus,
    store: p.store,
    config: () => snapshot,
    resolver: staticMailResolver({
      'mail.hq.company.local': { A: ['127.0.0.1'] },
      'rogue.hq.company.local': { A: ['127.0.0.1'] },
      'flaky.example': { MX: ['10 mx.flaky.example'] },
      'mx.flaky.example': { A: ['127.0.0.1'] },
      'strict.example': { MX: ['10 mx.strict.example'] },
      'slow.example': { MX: ['10 mx.strict.example'] },
      'mx.strict.example': { A: ['127.0.0.1'] },
    }),
    secrets: staticSecrets({
      'hq-relay': { credentials: 'sh-relay:s3cret:with:colons' },
      'sh-dkim': { 'private.pem': privatePem },
    }),
    hostname: 'mx.sh.company.local',
    log: silentLogger(),
    local: false,
    mxPort: mx.port,
    ca: [ca.ca],
    retry: {
      default: { delaysMs: [50, 100, 200], maxAgeMs: 60_000, delayDsnAfterMs: 0 },
      // A per-domain schedule: slow.example gets a delay DSN at once and gives up after 1.5 s.
      domains: { 'slow.example': { delaysMs: [100], maxAgeMs: 1_500, delayDsnAfterMs: 1 } },
    },
  });
});
afterAll(async () => {
  await svc?.stop();
  await Promise.all([hq?.stop(), untrusted?.stop(), mx?.stop()]);
  await p?.stop();
  ca?.cleanup();
});

let currentFlaky = false;

describe('remote delivery over SMTP (real NATS + MinIO, smtp-server on loopback)', () => {
  it('relays through the smart host with verified STARTTLS and AUTH, DKIM-signed so that mailauth verifies it', async () => {
    const { scan } = await scannedMail(p.store, {
      from: 'zhang.san@sh.company.local',
      to: ['boss@hq.company.local'],
      subject: 'to HQ',
    });
    await publishJob(
      p.bus,
      jobFor(
        scan,
        {
          kind: 'remote',
          domain: 'hq.company.local',
          nextHop: 'mail.hq.company.local',
          port: hq.port,
          tls: 'required',
          auth: { name: 'hq-relay', key: 'credentials' },
        },
        ['boss@hq.company.local'],
      ),
    );
    const got = await waitFor('smart host received it', () =>
      hq.received.find((r) => r.data.toString().includes(scan.mailId)),
    );
    expect(got).toMatchObject({
      from: 'zhang.san@sh.company.local',
      to: ['boss@hq.company.local'],
      secure: true,
      user: 'sh-relay',
    });
    expect(got.data.toString()).toMatch(/^DKIM-Signature: /);
    expect(got.data.toString()).toContain('X-Mailmesh-Verdict: pass');

    const result = await dkimVerify(got.data, {
      resolver: (name: string, type: string) =>
        name === 'mm1._domainkey.sh.company.local' && type === 'TXT'
          ? Promise.resolve([[`v=DKIM1; k=rsa; p=${publicB64}`]])
          : Promise.reject(Object.assign(new Error('not found'), { code: 'ENOTFOUND' })),
    });
    expect(result.results.map((r) => [r.signingDomain, r.selector, r.status.result])).toEqual([
      ['sh.company.local', 'mm1', 'pass'],
    ]);
    const rec = await waitFor('record', async () =>
      (await queue.get(scan.mailId))?.stage === 'delivered' ? true : undefined,
    );
    expect(rec).toBe(true);
  });

  it('required TLS with a certificate our CAs do not trust: deferred with the reason visible', async () => {
    const { scan } = await scannedMail(p.store, {
      from: 'zhang.san@sh.company.local',
      to: ['boss@rogue.hq.company.local'],
    });
    await publishJob(
      p.bus,
      jobFor(
        scan,
        {
          kind: 'remote',
          domain: 'rogue.hq.company.local',
          nextHop: 'rogue.hq.company.local',
          port: untrusted.port,
          tls: 'required',
        },
        ['boss@rogue.hq.company.local'],
      ),
    );
    const rec = await waitFor('deferred', async () => {
      const r = await queue.get(scan.mailId);
      return r?.stage === 'deferred' ? r : undefined;
    });
    const job = Object.values(rec.jobs)[0];
    expect(job?.lastError?.kind).toBe('tls-cert');
    expect(job?.lastError?.message).toContain('rogue.hq.company.local');
    expect(untrusted.received).toHaveLength(0);
  });

  it('4xx then 2xx: delivered exactly once after the scheduled retries', async () => {
    currentFlaky = true;
    dataCalls = 0;
    const { scan } = await scannedMail(p.store, {
      from: 'zhang.san@sh.company.local',
      to: ['a@flaky.example'],
    });
    await publishJob(
      p.bus,
      jobFor(
        scan,
        { kind: 'remote', domain: 'flaky.example', nextHop: 'flaky.example', port: 25, mx: true },
        ['a@flaky.example'],
      ),
    );
    const rec = await waitFor('delivered', async () => {
      const r = await queue.get(scan.mailId);
      return r?.stage === 'delivered' ? r : undefined;
    });
    currentFlaky = false;
    const job = rec.jobs['remote:flaky.example:25'];
    expect(job?.attempts).toBe(3);
    expect(job?.recipients['a@flaky.example']).toMatchObject({ state: 'delivered', attempts: 3 });
    expect(job?.lastError).toMatchObject({ kind: 'message-refused', code: 451 });
    await new Promise((r) => setTimeout(r, 300));
    expect(mx.received.filter((m) => m.data.toString().includes(scan.mailId))).toHaveLength(1);
  });

  it('5xx for one recipient: the other is delivered, the sender gets exactly one failure DSN', async () => {
    const { scan } = await scannedMail(p.store, {
      from: 'zhang.san@sh.company.local',
      to: ['ok@strict.example', 'nobody@strict.example'],
    });
    await publishJob(
      p.bus,
      jobFor(
        scan,
        { kind: 'remote', domain: 'strict.example', nextHop: 'strict.example', mx: true },
        ['ok@strict.example', 'nobody@strict.example'],
      ),
    );
    const rec = await waitFor('finished', async () => {
      const r = await queue.get(scan.mailId);
      return r?.stage === 'partial' ? r : undefined;
    });
    const job = rec.jobs['remote:strict.example:25'];
    expect(job?.recipients['ok@strict.example']?.state).toBe('delivered');
    expect(job?.recipients['nobody@strict.example']).toMatchObject({
      state: 'failed',
      dsnSent: true,
      lastError: { code: 550, enhanced: '5.1.1' },
    });
    await new Promise((r) => setTimeout(r, 300));
    const dsns = [];
    for (const e of await acceptedEnvelopes(p.bus)) {
      const d = parseDsn(await p.store.getBuffer(e.spool!.bucket, e.spool!.key));
      if (d.message['x-mailmesh-mail-id'] === scan.mailId) dsns.push({ e, d });
    }
    expect(dsns).toHaveLength(1);
    const { e, d } = dsns[0]!;
    expect(e.mailFrom).toBe('');
    expect(e.recipients.map((r) => r.address)).toEqual(['zhang.san@sh.company.local']);
    expect(d.reportType).toBe('delivery-status');
    expect(d.recipients).toHaveLength(1);
    expect(d.recipients[0]).toMatchObject({
      'final-recipient': 'rfc822; nobody@strict.example',
      action: 'failed',
      status: '5.1.1',
    });
    expect(d.recipients[0]?.['remote-mta']).toBe('dns; mx.strict.example');
    expect(d.recipients[0]?.['diagnostic-code']).toContain('550');
    expect(d.text).toContain('nobody@strict.example');
    expect(
      mx.received.filter((m) => m.data.toString().includes(scan.mailId)).map((m) => m.to),
    ).toEqual([['ok@strict.example']]);
  });

  it('keeps deferring on its per-domain schedule: one delay DSN, then one failure DSN at expiry', async () => {
    const { scan } = await scannedMail(p.store, {
      from: 'zhang.san@sh.company.local',
      to: ['late@slow.example'],
    });
    await publishJob(
      p.bus,
      jobFor(scan, { kind: 'remote', domain: 'slow.example', nextHop: 'slow.example', mx: true }, [
        'late@slow.example',
      ]),
    );
    const rec = await waitFor(
      'expired',
      async () => {
        const r = await queue.get(scan.mailId);
        return r?.stage === 'failed' ? r : undefined;
      },
      20_000,
    );
    const job = rec.jobs['remote:slow.example:25'];
    expect(job?.delayNotified).toBe(true);
    expect(job?.attempts).toBeGreaterThan(2);
    expect(job?.recipients['late@slow.example']?.lastError).toMatchObject({
      kind: 'expired',
      enhanced: '5.4.7',
    });
    await new Promise((r) => setTimeout(r, 300));
    const reports = [];
    for (const e of await acceptedEnvelopes(p.bus)) {
      const d = parseDsn(await p.store.getBuffer(e.spool!.bucket, e.spool!.key));
      if (d.message['x-mailmesh-mail-id'] === scan.mailId) reports.push(d);
    }
    expect(reports.map((d) => d.recipients[0]?.['action']).sort()).toEqual(['delayed', 'failed']);
    const delayed = reports.find((d) => d.recipients[0]?.['action'] === 'delayed');
    expect(delayed?.recipients[0]?.['status']).toBe('4.2.1');
    expect(delayed?.recipients[0]?.['will-retry-until']).toBeDefined();
    const failed = reports.find((d) => d.recipients[0]?.['action'] === 'failed');
    expect(failed?.recipients[0]?.['status']).toBe('5.4.7');
    expect(failed?.recipients[0]?.['diagnostic-code']).toContain('451');
  });
});
