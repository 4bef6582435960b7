/**
 * objectWriterThread against a real MinIO: what it writes reads back byte for byte
 * through the in-process client, failures arrive as the same error classes the
 * in-process store raises, deadlines and abort signals reach the thread, and the
 * caller's buffer is left untouched.
 */
import type { Worker } from 'node:worker_threads';
import { objectBuckets } from '@mailmesh/proto';
import { startMinio, type MinioPeer } from '@mailmesh/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  connectObjectStore,
  newMailId,
  objectWriterThread,
  type ObjectStore,
  type ThreadedObjectWriter,
} from '../src/index.js';

let minio: MinioPeer;
let store: ObjectStore;
let writer: ThreadedObjectWriter;
const bucket = objectBuckets.spool;

beforeAll(async () => {
  minio = await startMinio();
  store = connectObjectStore(minio.connection);
  await store.ensureBuckets([bucket]);
  writer = objectWriterThread(minio.connection);
}, 60_000);

afterAll(async () => {
  await writer?.close();
  await store?.close();
  await minio?.stop();
});

const errorName = async (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'resolved',
    (err: unknown) => (err as Error).name,
  );

describe('objectWriterThread', () => {
  it('stores the bytes of a view into a larger buffer, and leaves the caller its buffer', async () => {
    const backing = Buffer.from(`head|${'m'.repeat(7000)}|tail`);
    const body = backing.subarray(5, 5 + 7000);
    const key = `writer/${newMailId()}.eml`;
    const put = await writer.put(bucket, key, body, {
      contentType: 'message/rfc822',
      metadata: { 'mail-id': 'x1' },
      size: body.length,
      timeoutMs: 10_000,
    });
    expect(put.size).toBe(7000);
    expect(put.etag).toMatch(/^[0-9a-f]{32}$/);
    expect(await store.getBuffer(bucket, key)).toEqual(body);
    const stat = await store.stat(bucket, key);
    expect(stat.contentType).toBe('message/rfc822');
    expect(stat.metadata['mail-id']).toBe('x1');
    expect(backing.toString()).toBe(`head|${'m'.repeat(7000)}|tail`);
    await writer.delete(bucket, key, { timeoutMs: 10_000 });
    expect(await store.exists(bucket, key)).toBe(false);
  });

  it('raises the in-process error classes: size mismatch, missing bucket, bad credentials', async () => {
    const key = `writer/${newMailId()}.eml`;
    await expect(writer.put(bucket, key, Buffer.from('four'), { size: 5 })).rejects.toMatchObject({
      name: 'ObjectStoreError',
      code: 'SizeMismatch',
      retryable: false,
    });
    expect(await store.exists(bucket, key)).toBe(false);
    expect(await errorName(writer.put('no-such-bucket', key, Buffer.from('x')))).toBe(
      'ObjectNotFoundError',
    );
    const wrong = objectWriterThread({ ...minio.connection, secretKey: 'not-the-secret' });
    try {
      await expect(wrong.put(bucket, key, Buffer.from('x'))).rejects.toMatchObject({
        name: 'ObjectStoreAuthError',
        code: 'SignatureDoesNotMatch',
        retryable: false,
      });
    } finally {
      await wrong.close();
    }
  });

  it('times out and aborts a PUT to a hung MinIO; works again once it resumes', async () => {
    const pid = minio.pid!;
    process.kill(pid, 'SIGSTOP');
    const ac = new AbortController();
    let timedOut: string;
    let aborted: string;
    try {
      const started = Date.now();
      const t = errorName(
        writer.put(bucket, `writer/${newMailId()}`, Buffer.from('t'), { timeoutMs: 400 }),
      );
      const a = errorName(
        writer.put(bucket, `writer/${newMailId()}`, Buffer.from('a'), { signal: ac.signal }),
      );
      setTimeout(() => ac.abort(), 200);
      [timedOut, aborted] = await Promise.all([t, a]);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    expect([timedOut, aborted]).toEqual(['ObjectStoreTimeoutError', 'ObjectStoreTimeoutError']);
    const key = `writer/${newMailId()}.eml`;
    await writer.put(bucket, key, Buffer.from('after'), { timeoutMs: 10_000 });
    expect((await store.getBuffer(bucket, key)).toString()).toBe('after');
  }, 30_000);

  it('answers ObjectStoreUnavailableError while MinIO is down, and flows after a restart', async () => {
    await minio.kill();
    try {
      expect(
        await errorName(
          writer.put(bucket, `writer/${newMailId()}`, Buffer.from('x'), { timeoutMs: 3_000 }),
        ),
      ).toMatch(/^ObjectStore(Unavailable|Timeout)Error$/);
    } finally {
      await minio.restart();
    }
    const key = `writer/${newMailId()}.eml`;
    await writer.put(bucket, key, Buffer.from('back'), { timeoutMs: 20_000 });
    expect((await store.getBuffer(bucket, key)).toString()).toBe('back');
  }, 60_000);

  it('fails the calls in flight when its thread dies, and starts a new one for the next call', async () => {
    const threads: Worker[] = [];
    const errors: string[] = [];
    const w = objectWriterThread(minio.connection, {
      onThreadStarted: (t) => threads.push(t),
      onThreadError: (err) => errors.push(err.message),
    });
    try {
      const first = `writer/${newMailId()}.eml`;
      await w.put(bucket, first, Buffer.from('one'), { timeoutMs: 10_000 });
      const pid = minio.pid!;
      process.kill(pid, 'SIGSTOP'); // the next PUT stays in flight until the thread is gone
      let inFlight: Promise<string>;
      try {
        inFlight = errorName(w.put(bucket, `writer/${newMailId()}`, Buffer.from('two')));
        await new Promise((r) => setTimeout(r, 100));
        await threads[0]!.terminate();
        expect(await inFlight).toBe('ObjectStoreUnavailableError');
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      expect(errors).toEqual(['object writer thread exited with code 1']);
      const next = `writer/${newMailId()}.eml`;
      await w.put(bucket, next, Buffer.from('three'), { timeoutMs: 10_000 });
      expect(threads).toHaveLength(2);
      expect((await store.getBuffer(bucket, next)).toString()).toBe('three');
    } finally {
      await w.close();
    }
  }, 30_000);

  it('refuses calls once closed', async () => {
    const w = objectWriterThread(minio.connection);
    const key = `writer/${newMailId()}.eml`;
    await w.put(bucket, key, Buffer.from('x'), { timeoutMs: 10_000 });
    await w.close();
    await expect(w.put(bucket, key, Buffer.from('y'))).rejects.toMatchObject({
      name: 'ObjectStoreUnavailableError',
    });
    expect((await store.getBuffer(bucket, key)).toString()).toBe('x');
  });
});
