/**
 * Group commit of small spool bodies (accept/segments.ts) against a real MinIO:
 * bodies written while a PUT is in flight share one object, every range reads back
 * byte for byte, and an object none of whose mails was accepted is removed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { objectBuckets, spoolKey, spoolSegmentKey } from '@mailmesh/proto';
import {
  connectObjectStore,
  newMailId,
  objectWriterThread,
  type ObjectStore,
  type ObjectWriter,
  type ThreadedObjectWriter,
} from '@mailmesh/runtime';
import { startMinio, type MinioPeer } from '@mailmesh/testkit';

import { SpoolBatcher, type SpoolSlot } from '../src/accept/segments.js';
import { spoolKeys, testLog } from './helpers.js';

let minio: MinioPeer;
let store: ObjectStore;
let thread: ThreadedObjectWriter;

beforeAll(async () => {
  minio = await startMinio();
  store = connectObjectStore(minio.connection);
  thread = objectWriterThread(minio.connection);
  await store.ensureBuckets([objectBuckets.spool]);
}, 60_000);

afterAll(async () => {
  await store?.close();
  await thread?.close();
  await minio?.stop();
});

function body(i: number): Buffer {
  return Buffer.from(`Subject: mail ${i}\r\n\r\n${'x'.repeat(100 + i * 37)}\r\n`);
}

async function readSlot(slot: SpoolSlot): Promise<Buffer> {
  return store.getBuffer(slot.bucket, slot.key, {
    range: { offset: slot.offset, length: slot.length },
  });
}

// The bin writes through a worker thread; the in-process store is the default.
describe.each([
  ['the in-process store', (): ObjectWriter => store],
  ['a writer thread', (): ObjectWriter => thread],
])('SpoolBatcher writing through %s', (_name, writer) => {
  it('writes a lone body under its own spoolKey, at once', async () => {
    const stored: number[] = [];
    const spool = new SpoolBatcher({
      store: writer(),
      log: testLog,
      onStored: (n) => stored.push(n),
    });
    const id = newMailId();
    const slot = await spool.write(id, body(1), 10_000);
    expect(slot).toMatchObject({ key: spoolKey(id), offset: 0, length: body(1).length });
    expect(await store.getBuffer(objectBuckets.spool, spoolKey(id))).toEqual(body(1));
    expect(stored).toEqual([1]);
    await slot.settle(true);
  });

  it('batches the bodies that arrive while a write is in flight; each range is exact', async () => {
    const stored: number[] = [];
    const spool = new SpoolBatcher({
      store: writer(),
      log: testLog,
      onStored: (n) => stored.push(n),
    });
    const ids = Array.from({ length: 40 }, () => newMailId());
    const slots = await Promise.all(ids.map((id, i) => spool.write(id, body(i), 10_000)));
    // The first goes alone (nothing was in flight); the rest queued behind it.
    expect(stored.reduce((a, b) => a + b, 0)).toBe(40);
    expect(stored.length).toBeLessThan(40);
    expect(slots[0]!.key).toBe(spoolKey(ids[0]!));
    const segmentSlot = slots.find((s) => s.key.endsWith('.segment'));
    expect(segmentSlot).toBeDefined();
    for (const [i, slot] of slots.entries()) expect(await readSlot(slot)).toEqual(body(i));
    // A segment is named after its first mail.
    const firstInSegment = slots.findIndex((s) => s.key === segmentSlot!.key);
    expect(segmentSlot!.key).toBe(spoolSegmentKey(ids[firstInSegment]!));
    await Promise.all(slots.map((s) => s.settle(true)));
  });

  it('removes an object once every mail in it was refused, keeps it when one was accepted', async () => {
    // No linger here: which mails share an object depends only on the write in flight.
    const spool = new SpoolBatcher({ store: writer(), log: testLog, lingerMs: 0 });
    const first = newMailId();
    const ids = Array.from({ length: 6 }, () => newMailId());
    const lone = spool.write(first, body(0), 10_000);
    const batched = await Promise.all(ids.map((id, i) => spool.write(id, body(i + 1), 10_000)));
    const segKey = batched[0]!.key;
    expect(segKey.endsWith('.segment')).toBe(true);
    expect(new Set(batched.map((s) => s.key)).size).toBe(1);

    // The lone mail was refused: its object goes.
    await (await lone).settle(false);
    expect(await store.exists(objectBuckets.spool, spoolKey(first))).toBe(false);

    // One accepted mail keeps the segment whole, whatever the others did.
    await batched[0]!.settle(true);
    for (const s of batched.slice(1)) await s.settle(false);
    expect(await store.exists(objectBuckets.spool, segKey)).toBe(true);
    // settle is once: a second call changes nothing.
    await batched[1]!.settle(true);

    const again = Array.from({ length: 5 }, () => newMailId());
    const lone2 = spool.write(newMailId(), body(9), 10_000);
    const refused = await Promise.all(again.map((id, i) => spool.write(id, body(i), 10_000)));
    await (await lone2).settle(true);
    const key = refused[0]!.key;
    expect(key.endsWith('.segment')).toBe(true);
    for (const s of refused) await s.settle(false);
    expect(await store.exists(objectBuckets.spool, key)).toBe(false);
  });

  it('under a steady flow, a write lingers for the next body; a lone mail never waits', async () => {
    const stored: number[] = [];
    const spool = new SpoolBatcher({
      store: writer(),
      log: testLog,
      // Long enough that a slow PUT on a busy machine is not mistaken for a linger.
      lingerMs: 1_000,
      onStored: (n) => stored.push(n),
    });
    const started = Date.now();
    const a = await spool.write(newMailId(), body(1), 10_000);
    expect(Date.now() - started).toBeLessThan(1_000); // nothing else was flowing: no wait
    // B arrives right after A (mail is flowing): it waits for company, and C joins it.
    const b = spool.write(newMailId(), body(2), 10_000);
    await new Promise((r) => setTimeout(r, 20));
    const c = spool.write(newMailId(), body(3), 10_000);
    const [sb, sc] = await Promise.all([b, c]);
    expect(sb.key).toBe(sc.key);
    expect(sb.key.endsWith('.segment')).toBe(true);
    expect(stored).toEqual([1, 2]);
    expect(await readSlot(sc)).toEqual(body(3));
    await Promise.all([a, sb, sc].map((s) => s.settle(true)));
  });

  it('rejects every waiter of a failed write, leaving no object; flows again after a restart', async () => {
    const before = await spoolKeys(store);
    const spool = new SpoolBatcher({ store: writer(), log: testLog });
    await minio.kill();
    try {
      const results = await Promise.allSettled(
        Array.from({ length: 5 }, (_, i) => spool.write(newMailId(), body(i), 1_500)),
      );
      const names = results.map((r) =>
        r.status === 'rejected' ? (r.reason as Error).name : 'stored',
      );
      for (const name of names) {
        expect([
          'ObjectStoreUnavailableError',
          'ObjectStoreTimeoutError',
          'SpoolDeadlineError',
        ]).toContain(name);
      }
    } finally {
      await minio.restart();
    }
    // Mail flows again through the same batcher once MinIO is back.
    const id = newMailId();
    const slot = await spool.write(id, body(3), 20_000);
    expect(await readSlot(slot)).toEqual(body(3));
    await slot.settle(true);
    const after = await spoolKeys(store);
    expect(after.filter((k) => !before.includes(k))).toEqual([spoolKey(id)]);
  }, 60_000);

  it('gives up on a write that outlives its deadline and removes what lands later', async () => {
    const spool = new SpoolBatcher({ store: writer(), log: testLog });
    const pid = minio.pid!;
    const ids = Array.from({ length: 4 }, () => newMailId());
    process.kill(pid, 'SIGSTOP'); // MinIO hangs: the PUT neither fails nor finishes
    let results: PromiseSettledResult<SpoolSlot>[];
    try {
      results = await Promise.allSettled(ids.map((id, i) => spool.write(id, body(i), 700)));
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    expect(
      results.map((r) => (r.status === 'rejected' ? (r.reason as Error).name : 'stored')),
    ).toEqual([
      'SpoolDeadlineError',
      'SpoolDeadlineError',
      'SpoolDeadlineError',
      'SpoolDeadlineError',
    ]);
    // Whatever the paused PUT stored on resuming belongs to no mail and is removed.
    const deadline = Date.now() + 15_000;
    for (;;) {
      const left = (await spoolKeys(store)).filter((k) => ids.some((id) => k.includes(id)));
      if (left.length === 0) break;
      if (Date.now() > deadline) throw new Error(`left behind: ${left.join(', ')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }, 60_000);
});
