import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { objectBuckets, spoolKey } from '@mailmesh/proto';
import { freePort, startMinio, type MinioPeer } from '@mailmesh/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  connectObjectStore,
  newMailId,
  ObjectNotFoundError,
  ObjectStoreAuthError,
  ObjectStoreError,
  ObjectStoreTimeoutError,
  ObjectStoreUnavailableError,
  type ObjectStore,
} from '../src/index.js';

let minio: MinioPeer;
let store: ObjectStore;

beforeAll(async () => {
  minio = await startMinio();
  store = connectObjectStore(minio.connection);
  await store.ensureBuckets(Object.values(objectBuckets));
});

afterAll(async () => {
  await store?.close();
  await minio?.stop();
});

const MIB = 1024 * 1024;

/** `total` bytes of a deterministic pattern, produced 64 KiB at a time (never held whole). */
function generated(total: number): Readable {
  let sent = 0;
  let counter = 0;
  return new Readable({
    read() {
      if (sent >= total) {
        this.push(null);
        return;
      }
      const n = Math.min(64 * 1024, total - sent);
      const chunk = Buffer.alloc(n);
      for (let i = 0; i < n; i += 4) chunk.writeUInt32LE(counter++ >>> 0, i);
      sent += n;
      this.push(chunk);
    },
  });
}

async function sha256Of(stream: AsyncIterable<Buffer>): Promise<{ hex: string; bytes: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  for await (const c of stream) {
    h.update(c);
    bytes += c.length;
  }
  return { hex: h.digest('hex'), bytes };
}

describe('object store', () => {
  it('puts, stats, gets, lists and deletes objects', async () => {
    const id = newMailId();
    const key = spoolKey(id);
    const body = Buffer.from('From: a@b\r\nSubject: hi\r\n\r\nhello\r\n');
    const put = await store.put(objectBuckets.spool, key, body, {
      contentType: 'message/rfc822',
      metadata: { 'mail-id': id },
    });
    expect(put.size).toBe(body.length);
    expect(put.etag).toMatch(/^[0-9a-f]{32}$/);

    const stat = await store.stat(objectBuckets.spool, key);
    expect(stat).toMatchObject({
      size: body.length,
      etag: put.etag,
      contentType: 'message/rfc822',
    });
    expect(stat.metadata['mail-id']).toBe(id);
    expect(await store.getBuffer(objectBuckets.spool, key)).toEqual(body);
    expect(await store.exists(objectBuckets.spool, key)).toBe(true);

    // Ranges (a mail inside a spool segment): exact bytes, to the end, bounded.
    const range = { offset: 11, length: 13 };
    expect(await store.getBuffer(objectBuckets.spool, key, { range })).toEqual(
      body.subarray(11, 24),
    );
    expect(
      await store.getBuffer(objectBuckets.spool, key, { range: { offset: 26, length: 0 } }),
    ).toEqual(body.subarray(26));
    await expect(
      store.getBuffer(objectBuckets.spool, key, { range, maxBytes: 12 }),
    ).rejects.toThrow(/larger than 12 bytes/);

    const streamed = await store.put(objectBuckets.spool, `${key}.2`, Readable.from([body, body]));
    expect(streamed.size).toBe(body.length * 2);

    const prefix = key.slice(0, key.lastIndexOf('/') + 1);
    const listed: { key: string; size: number }[] = [];
    for await (const e of store.list(objectBuckets.spool, prefix)) listed.push(e);
    expect(listed).toEqual(
      expect.arrayContaining([
        { key, size: body.length },
        { key: `${key}.2`, size: body.length * 2 },
      ]),
    );

    await store.delete(objectBuckets.spool, key);
    expect(await store.exists(objectBuckets.spool, key)).toBe(false);
    await expect(store.get(objectBuckets.spool, key)).rejects.toBeInstanceOf(ObjectNotFoundError);
    await expect(store.stat(objectBuckets.spool, key)).rejects.toBeInstanceOf(ObjectNotFoundError);
    // Deleting a missing object succeeds, as in S3.
    await store.delete(objectBuckets.spool, key);
  });

  it('refuses a body whose size differs from the announced one and leaves no object', async () => {
    const key = `size/${newMailId()}.eml`;
    const err = await store
      .put(objectBuckets.spool, key, Readable.from([Buffer.from('12345')]), { size: 6 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ObjectStoreError);
    expect(err).toMatchObject({ code: 'SizeMismatch' });
    expect(await store.exists(objectBuckets.spool, key)).toBe(false);
  });

  it('streams a 50 MiB object through in bounded memory (multipart), byte-exact', async () => {
    const total = 50 * MIB;
    const expected = await sha256Of(generated(total));
    global.gc?.();
    const before = process.memoryUsage();
    let peakRss = before.rss;
    let peakHeap = before.heapUsed;
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      peakRss = Math.max(peakRss, m.rss);
      peakHeap = Math.max(peakHeap, m.heapUsed);
    }, 20);
    const key = `big/${newMailId()}.eml`;
    let put;
    let got;
    try {
      put = await store.put(objectBuckets.spool, key, generated(total), {
        contentType: 'message/rfc822',
      });
      got = await sha256Of((await store.get(objectBuckets.spool, key)) as AsyncIterable<Buffer>);
    } finally {
      clearInterval(sampler);
    }
    expect(put.size).toBe(total);
    // A multipart etag is "<md5 of part md5s>-<parts>".
    expect(put.etag).toMatch(/-\d+$/);
    expect(got).toEqual(expected);
    expect((await store.stat(objectBuckets.spool, key)).size).toBe(total);
    // The body is 50 MiB; holding it whole would grow the process by at least that much.
    expect(peakRss - before.rss).toBeLessThan(40 * MIB);
    expect(peakHeap - before.heapUsed).toBeLessThan(40 * MIB);
    await store.delete(objectBuckets.spool, key);
  });

  it('reports rejected credentials with ObjectStoreAuthError', async () => {
    const wrongKey = connectObjectStore({
      endpoint: minio.endpoint,
      accessKey: 'nobody',
      secretKey: 'wrong-secret',
      region: minio.region,
    });
    const err = await wrongKey
      .put(objectBuckets.spool, 'x.eml', Buffer.from('x'))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ObjectStoreAuthError);
    expect((err as Error).message).toBe(
      `S3 at ${minio.endpoint}: access key rejected (InvalidAccessKeyId) — check MAILMESH_S3_ACCESS_KEY`,
    );
    await expect(wrongKey.check()).rejects.toBeInstanceOf(ObjectStoreAuthError);

    const wrongSecret = connectObjectStore({
      endpoint: minio.endpoint,
      accessKey: minio.accessKey,
      secretKey: 'not-the-secret',
      region: minio.region,
    });
    const err2 = await wrongSecret.ensureBuckets(['spool']).catch((e: unknown) => e);
    expect(err2).toBeInstanceOf(ObjectStoreAuthError);
    expect((err2 as ObjectStoreAuthError).code).toBe('SignatureDoesNotMatch');
    await wrongKey.close();
    await wrongSecret.close();
  });

  it('reports an unreachable endpoint with ObjectStoreUnavailableError', async () => {
    const port = await freePort();
    const down = connectObjectStore({
      endpoint: `http://127.0.0.1:${port}`,
      accessKey: 'a',
      secretKey: 'b',
    });
    const err = await down.check().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ObjectStoreUnavailableError);
    expect((err as ObjectStoreUnavailableError).retryable).toBe(true);
    expect((err as Error).message).toMatch(
      `S3 at http://127.0.0.1:${port} is unavailable: connection refused`,
    );
    await down.close();
  });

  it('fails fast when the deadline passes while the body is still arriving', async () => {
    let pushed = false;
    // A client that sends a little and then stalls.
    const stalled = new Readable({
      read() {
        if (!pushed) {
          pushed = true;
          this.push(Buffer.alloc(1024));
        }
      },
    });
    const key = `stall/${newMailId()}.eml`;
    const err = await store
      .put(objectBuckets.spool, key, stalled, { timeoutMs: 300 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ObjectStoreTimeoutError);
    expect(err).toMatchObject({ reason: 'timeout', retryable: true, operation: 'put' });
    expect(stalled.destroyed).toBe(true);
    expect(await store.exists(objectBuckets.spool, key)).toBe(false);

    const ac = new AbortController();
    ac.abort();
    await expect(
      store.put(objectBuckets.spool, key, Buffer.from('x'), { signal: ac.signal }),
    ).rejects.toMatchObject({ name: 'ObjectStoreTimeoutError', reason: 'aborted' });
  });
});
