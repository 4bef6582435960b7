/**
 * Exactly-once local delivery across a crash: 2,000 mails, each to one mailbox in
 * sh.company.local and one in bj.company.local, delivered by a `mailmesh-delivery`
 * child process that is killed with SIGKILL mid-flight and started again.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumers } from '@mailmesh/proto';
import { provision } from '@mailmesh/runtime';

import { folders, mailboxKeys, openMailStore, type MailStore } from '../src/index.js';
import { entries } from '@mailmesh/rig';
import { jobFor, publishJob, scannedMail, startPlatform, waitFor, type Platform } from './peers.js';

const MAILS = 2_000;
const main = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'main.js');
const boxes = {
  sh: ['zhang.san@sh.company.local', 'wang.wu@sh.company.local'],
  bj: ['li.si@bj.company.local', 'zhao.liu@bj.company.local'],
};

let p: Platform;
let store: MailStore;
let child: ChildProcess | undefined;
let logDir: string;

function startChild(n: number): ChildProcess {
  const out = openSync(join(logDir, `delivery-${n}.log`), 'a');
  const c = spawn(process.execPath, [main], {
    env: {
      ...process.env,
      MAILMESH_NATS_URL: p.nats.url,
      MAILMESH_S3_ENDPOINT: p.minio.endpoint,
      MAILMESH_S3_ACCESS_KEY: p.minio.accessKey,
      MAILMESH_S3_SECRET_KEY: p.minio.secretKey,
      MAILMESH_HEALTH_PORT: '0',
      MAILMESH_INSTANCE: `crash-${n}`,
      MAILMESH_DELIVERY_ROLES: 'local',
      MAILMESH_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', out, out],
  });
  return c;
}

async function delivered(): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const addr of [...boxes.sh, ...boxes.bj])
    out.set(
      addr,
      (await store.messages(addr, folders.inbox)).map((m) => m.mailId),
    );
  return out;
}
const total = (m: Map<string, string[]>): number =>
  [...m.values()].reduce((a, b) => a + b.length, 0);

/** Entries in every inbox, counted from the key listing only (cheap enough to poll). */
async function countEntries(): Promise<number> {
  let n = 0;
  for (const addr of [...boxes.sh, ...boxes.bj]) {
    for await (const _k of await store.kv.keys(mailboxKeys.folderMessages(addr, folders.inbox)))
      n++;
  }
  return n;
}

beforeAll(async () => {
  if (!existsSync(main))
    throw new Error(`${main} is missing: build @mailmesh/delivery first (npx turbo run build)`);
  logDir = mkdtempSync(join(tmpdir(), 'mailmesh-crash-'));
  p = await startPlatform();
  // A short ack_wait so the jobs the killed process held come back within seconds, not a minute.
  await provision(p.bus, {
    streams: [],
    kv: [],
    consumers: [{ ...consumers.deliveryLocal, ackWaitMs: 3_000 }],
  });
  await p.configure(
    entries([
      {
        domain: 'sh.company.local',
        mailboxes: [{ localPart: 'zhang.san' }, { localPart: 'wang.wu' }],
      },
      {
        domain: 'bj.company.local',
        mailboxes: [{ localPart: 'li.si' }, { localPart: 'zhao.liu' }],
      },
    ]),
  );
  store = await openMailStore(p.bus, p.store);
}, 180_000);

afterAll(async () => {
  if (child?.pid !== undefined && child.exitCode === null) child.kill('SIGKILL');
  await p?.stop();
  if (logDir) rmSync(logDir, { recursive: true, force: true });
});

describe('killing delivery mid-flight', () => {
  it(`delivers each of ${MAILS} mails to every mailbox exactly once`, async () => {
    const expected = new Map<string, string[]>([...boxes.sh, ...boxes.bj].map((a) => [a, []]));
    // Publish in bounded batches: store the body, then one job per domain.
    for (let i = 0; i < MAILS; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, MAILS - i) }, async (_, k) => {
          const n = i + k;
          const sh = boxes.sh[n % 2]!;
          const bj = boxes.bj[n % 2]!;
          const { scan } = await scannedMail(p.store, {
            from: 'sender@outside.example',
            to: [sh, bj],
            body: `mail ${n}`,
          });
          expected.get(sh)!.push(scan.mailId);
          expected.get(bj)!.push(scan.mailId);
          await publishJob(
            p.bus,
            jobFor(scan, { kind: 'local', domain: 'sh.company.local' }, [sh]),
          );
          await publishJob(
            p.bus,
            jobFor(scan, { kind: 'local', domain: 'bj.company.local' }, [bj]),
          );
        }),
      );
    }

    child = startChild(1);
    // Kill once a fair share is delivered, while jobs are in flight.
    await waitFor(
      'first deliveries',
      async () => ((await countEntries()) >= MAILS * 0.4 ? true : undefined),
      180_000,
    );
    child.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));
    const atKill = await countEntries();
    expect(atKill).toBeLessThan(MAILS * 2);

    child = startChild(2);
    await waitFor(
      'every delivery',
      async () => ((await countEntries()) >= MAILS * 2 ? true : undefined),
      240_000,
    );
    // Give redeliveries of jobs held by the killed process time to come back and be no-ops.
    await new Promise((r) => setTimeout(r, 4_000));
    const settled = await delivered();
    for (const [addr, ids] of expected) {
      const got = settled.get(addr) ?? [];
      expect(got.length, `${addr} entries`).toBe(ids.length);
      expect(new Set(got).size, `${addr} distinct mails`).toBe(ids.length);
      expect([...got].sort()).toEqual([...ids].sort());
    }
    expect(total(settled)).toBe(MAILS * 2);
    child.kill('SIGTERM');
    await new Promise((r) => child!.once('exit', r));
  }, 600_000);
});
