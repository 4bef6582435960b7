/**
 * Crash safety with real processes: `mailmesh-scanner` (dist/main.js) is killed with
 * SIGKILL mid-message — once after the scan and before any output, once after the
 * output and before the ack — and a fresh process scans the redelivered message
 * again. Downstream sees exactly one verdict.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { objectBuckets, quarantineKey, subjects } from '@mailmesh/proto';
import type { Bus, ObjectStore } from '@mailmesh/runtime';
import { startMinio, startNats, type MinioPeer, type NatsPeer } from '@mailmesh/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { corpusFile } from './helpers/corpus.js';
import { mailOutputs, setup, submit, waitFor, writeConfig } from './helpers/pipeline.js';
import { groupPolicySpec } from './group-policy.js';

const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));

interface Child {
  readonly proc: ChildProcess;
  readonly lines: Array<Record<string, unknown>>;
}

let nats: NatsPeer;
let minio: MinioPeer;
let bus: Bus;
let store: ObjectStore;
const children: Child[] = [];

function startScannerProcess(name: string, hold?: string): Child {
  const proc = spawn(process.execPath, [main], {
    env: {
      ...process.env,
      MAILMESH_NATS_URL: nats.url,
      MAILMESH_S3_ENDPOINT: minio.endpoint,
      MAILMESH_S3_ACCESS_KEY: minio.accessKey,
      MAILMESH_S3_SECRET_KEY: minio.secretKey,
      MAILMESH_S3_REGION: minio.region,
      MAILMESH_INSTANCE: name,
      MAILMESH_HOSTNAME: 'mx.sh.company.local',
      MAILMESH_HEALTH_PORT: '0',
      MAILMESH_LOG_LEVEL: 'info',
      MAILMESH_SCANNER_TEST_HOLD: hold ?? '',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const child: Child = { proc, lines: [] };
  let buf = '';
  proc.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        child.lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not a log line
      }
    }
  });
  children.push(child);
  return child;
}

function killed(c: Child): Promise<void> {
  return new Promise((resolve) => {
    if (c.proc.exitCode !== null || c.proc.signalCode !== null) return resolve();
    c.proc.once('exit', () => resolve());
    c.proc.kill('SIGKILL');
  });
}

const logged = (c: Child, event: string, mailId: string) =>
  c.lines.find((l) => l['event'] === event && l['mailId'] === mailId);

beforeAll(async () => {
  if (!existsSync(main))
    throw new Error(`${main} is missing: build the package first (npx tsc -b)`);
  [nats, minio] = await Promise.all([startNats(), startMinio()]);
  // A short ack_wait so the killed process's message comes back within seconds.
  ({ bus, store } = await setup(nats, minio, 2_000));
  await writeConfig(bus, groupPolicySpec());
});

afterAll(async () => {
  await Promise.all(children.map(killed));
  await bus?.close();
  await store?.close();
  await Promise.all([nats?.stop(), minio?.stop()]);
});

describe('a scanner killed mid-message', () => {
  it('is replaced, the message is scanned once more, and the verdict is not duplicated', async () => {
    const { mailId } = await submit(bus, store, corpusFile('dlp-utf8-hit.eml'));

    // 1. Killed after scanning, before any output.
    const a = startScannerProcess('crash-a', 'scanned:600000');
    await waitFor('process A to hold after the scan', () => logged(a, 'scanner.test_hold', mailId));
    await killed(a);
    expect(
      (await mailOutputs(bus)).filter(
        (o) => o.mailId === mailId && o.subject !== subjects.accepted,
      ),
    ).toEqual([]);

    // 2. Killed after publishing the verdict, before the ack.
    const b = startScannerProcess('crash-b', 'published:600000');
    await waitFor('process B to hold after publishing', () =>
      logged(b, 'scanner.test_hold', mailId),
    );
    await killed(b);
    const afterB = (await mailOutputs(bus)).filter((o) => o.mailId === mailId);
    expect(afterB.map((o) => o.subject).sort()).toEqual([subjects.accepted, subjects.quarantined]);

    // 3. A healthy process scans it once more, republishes (deduplicated) and acks.
    const c = startScannerProcess('crash-c');
    const scanned = await waitFor('process C to scan and ack', async () => {
      const line = logged(c, 'scanner.scanned', mailId);
      const left = (await mailOutputs(bus)).some(
        (o) => o.mailId === mailId && o.subject === subjects.accepted,
      );
      return line && !left ? line : undefined;
    });
    expect(scanned['verdict']).toBe('quarantine');
    expect(scanned['redelivery']).toBeGreaterThanOrEqual(2);

    const final = (await mailOutputs(bus)).filter((o) => o.mailId === mailId);
    expect(final.map((o) => o.subject)).toEqual([subjects.quarantined]);
    expect(final[0]?.scan?.scannerInstance).toBe('crash-b');
    expect(
      (await store.getBuffer(objectBuckets.quarantine, quarantineKey(mailId))).equals(
        corpusFile('dlp-utf8-hit.eml'),
      ),
    ).toBe(true);
  });
});
