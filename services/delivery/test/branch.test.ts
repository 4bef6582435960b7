/**
 * The seed's branch scenario end to end: sh.company.local (a branch that relays
 * outbound mail through the HQ smart host with STARTTLS + AUTH, under an
 * internal-only transport rule) and bj.company.local on one platform. The router
 * runs as its own process (`mailmesh-router`), delivery in this process; the
 * scanner's part is played by publishing ScanResults.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { dkimVerify } from 'mailauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSnapshot } from '@mailmesh/config';
import { msgId, ScanResultSchema, schemas, subjects, Verdict } from '@mailmesh/proto';
import { publish, silentLogger } from '@mailmesh/runtime';
import { openQueueStore, parseDsn, staticMailResolver, type QueueStore } from '@mailmesh/queue';

import { folders, startDelivery, staticSecrets, type DeliveryService } from '../src/index.js';
import { entries, type DomainDoc } from '@mailmesh/rig';
import { acceptedEnvelopes, scannedMail, startPlatform, waitFor, type Platform } from './peers.js';
import { createCa, startSmtp, type TestCa, type TestSmtp } from './smtp.js';

const routerMain = join(
  dirname(createRequire(import.meta.url).resolve('@mailmesh/router')),
  'main.js',
);
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const publicB64 = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');

let p: Platform;
let ca: TestCa;
let hq: TestSmtp;
let router: ChildProcess | undefined;
let svc: DeliveryService;
let queue: QueueStore;
let logDir: string;

beforeAll(async () => {
  if (!existsSync(routerMain))
    throw new Error(`${routerMain} is missing: build @mailmesh/router first`);
  ca = createCa();
  [p, hq] = await Promise.all([
    startPlatform(),
    startSmtp({
      tls: ca.issue('mail.hq.company.local'),
      auth: { user: 'sh-branch', pass: 'relay-pass' },
    }),
  ]);
  const domains: DomainDoc[] = [
    {
      domain: 'sh.company.local',
      mailboxes: [{ localPart: 'zhang.san' }],
      groups: [
        { name: 'sales', members: ['zhang.san@sh.company.local', 'li.si@bj.company.local'] },
      ],
      smartHost: {
        host: 'mail.hq.company.local',
        port: hq.port,
        tls: 'required',
        authSecretRef: { name: 'hq-relay', key: 'credentials' },
      },
      dkim: { selector: 'mm1', keySecretRef: { name: 'sh-dkim', key: 'private.pem' } },
      policies: ['internal-only'],
    },
    { domain: 'bj.company.local', mailboxes: [{ localPart: 'li.si' }] },
  ];
  const docs = entries(domains, [
    { name: 'internal-only', allow: ['*.company.local', 'sgcc.com.cn'] },
  ]);
  await p.configure(docs);
  const snapshot = buildSnapshot(docs);

  logDir = mkdtempSync(join(tmpdir(), 'mailmesh-branch-'));
  const out = openSync(join(logDir, 'router.log'), 'a');
  router = spawn(process.execPath, [routerMain], {
    env: {
      ...process.env,
      MAILMESH_NATS_URL: p.nats.url,
      MAILMESH_S3_ENDPOINT: p.minio.endpoint,
      MAILMESH_S3_ACCESS_KEY: p.minio.accessKey,
      MAILMESH_S3_SECRET_KEY: p.minio.secretKey,
      MAILMESH_HEALTH_PORT: '0',
      MAILMESH_HOSTNAME: 'mx.sh.company.local',
      MAILMESH_INSTANCE: 'branch-router',
      MAILMESH_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', out, out],
  });
  queue = await openQueueStore(p.bus);
  svc = await startDelivery({
    bus: p.bus,
    store: p.store,
    config: () => snapshot,
    resolver: staticMailResolver({ 'mail.hq.company.local': { A: ['127.0.0.1'] } }),
    secrets: staticSecrets({
      'hq-relay': { credentials: 'sh-branch:relay-pass' },
      'sh-dkim': { 'private.pem': privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() },
    }),
    hostname: 'mx.sh.company.local',
    log: silentLogger(),
    ca: [ca.ca],
    retry: { default: { delaysMs: [50, 100], maxAgeMs: 60_000, delayDsnAfterMs: 0 } },
  });
}, 180_000);

afterAll(async () => {
  await svc?.stop();
  if (router?.pid !== undefined && router.exitCode === null) {
    router.kill('SIGTERM');
    await new Promise((r) => router!.once('exit', r));
  }
  await hq?.stop();
  await p?.stop();
  ca?.cleanup();
  if (logDir) rmSync(logDir, { recursive: true, force: true });
});

async function scanned(scan: ReturnType<typeof create<typeof ScanResultSchema>>): Promise<void> {
  await publish(p.bus, subjects.scanned, schemas.ScanResult, scan, {
    msgId: msgId(scan.mailId, 'scanner'),
  });
}

describe('branch scenario: sh and bj on one platform, sh relaying through HQ', () => {
  it('delivers locally across domains, relays the rest via the smart host, bounces the outside domain by rule', async () => {
    const { scan } = await scannedMail(p.store, {
      from: 'zhang.san@sh.company.local',
      to: ['sales@sh.company.local', 'boss@hq.company.local', 'friend@gmail.com'],
      subject: 'branch report',
    });
    await scanned(scan);

    // bj's mailbox (through the sh group) and sh's own.
    for (const addr of ['li.si@bj.company.local', 'zhang.san@sh.company.local']) {
      const entry = await waitFor(`${addr} got it`, async () =>
        (await svc.mailstore.messages(addr, folders.inbox)).find((m) => m.mailId === scan.mailId),
      );
      expect(entry.prefix).toContain(`Delivered-To: ${addr}\r\n`);
    }
    // HQ smart host: TLS, AUTH as the branch, DKIM of sh verifies.
    const relayed = await waitFor('HQ got it', () =>
      hq.received.find((r) => r.data.toString().includes(scan.mailId)),
    );
    expect(relayed).toMatchObject({
      to: ['boss@hq.company.local'],
      secure: true,
      user: 'sh-branch',
    });
    const dkim = await dkimVerify(relayed.data, {
      resolver: (name: string) =>
        name === 'mm1._domainkey.sh.company.local'
          ? Promise.resolve([[`v=DKIM1; k=rsa; p=${publicB64}`]])
          : Promise.reject(Object.assign(new Error('nx'), { code: 'ENOTFOUND' })),
    });
    expect(dkim.results[0]?.status.result).toBe('pass');

    // The refused recipient: a DSN naming the rule, on mail.accepted as a new mail.
    const dsnEnv = await waitFor('DSN published', async () => {
      for (const e of await acceptedEnvelopes(p.bus)) {
        const d = parseDsn(await p.store.getBuffer(e.spool!.bucket, e.spool!.key));
        if (d.message['x-mailmesh-mail-id'] === scan.mailId) return { e, d };
      }
      return undefined;
    });
    expect(
      dsnEnv.d.recipients.map((r) => [r['final-recipient'], r['action'], r['status']]),
    ).toEqual([['rfc822; friend@gmail.com', 'failed', '5.7.1']]);
    expect(dsnEnv.d.recipients[0]?.['diagnostic-code']).toContain('MailPolicy internal-only');
    expect(dsnEnv.d.text).toContain('recipients.allowDomains');

    // The queue record tells the whole story.
    const rec = await waitFor('final queue state', async () => {
      const r = await queue.get(scan.mailId);
      return r?.stage === 'partial' ? r : undefined;
    });
    expect(Object.fromEntries(Object.entries(rec.jobs).map(([k, j]) => [k, j.state]))).toEqual({
      'local:sh.company.local': 'delivered',
      'local:bj.company.local': 'delivered',
      [`remote:mail.hq.company.local:${hq.port}`]: 'delivered',
    });
    expect(rec.problems.map((x) => [x.recipient, x.rule])).toEqual([
      ['friend@gmail.com', 'MailPolicy internal-only recipients.allowDomains'],
    ]);

    // Play the scanner for the DSN: it reaches the sender's INBOX.
    const dsnScan = create(ScanResultSchema, {
      mailId: dsnEnv.e.mailId,
      envelope: dsnEnv.e,
      verdict: Verdict.PASS,
      scannedAt: timestampFromDate(new Date()),
    });
    await scanned(dsnScan);
    const bounce = await waitFor('DSN in the sender INBOX', async () =>
      (await svc.mailstore.messages('zhang.san@sh.company.local', folders.inbox)).find(
        (m) => m.mailId === dsnEnv.e.mailId,
      ),
    );
    expect(bounce.prefix.startsWith('Return-Path: <>\r\n')).toBe(true);
  });

  it('mail from bj to sh is delivered, not stuck in the queue (seed problem 1)', async () => {
    const { scan } = await scannedMail(p.store, {
      from: 'li.si@bj.company.local',
      to: ['zhang.san@sh.company.local'],
    });
    await scanned(scan);
    await waitFor('delivered to sh', async () =>
      (await svc.mailstore.messages('zhang.san@sh.company.local', folders.inbox)).find(
        (m) => m.mailId === scan.mailId,
      ),
    );
    const rec = await waitFor('queue delivered', async () => {
      const r = await queue.get(scan.mailId);
      return r?.stage === 'delivered' ? r : undefined;
    });
    expect(rec.jobs['local:sh.company.local']?.reason).toBe('sh.company.local is a local domain');
  });
});
