/**
 * readMessage / readMessageHeaders against a real MinIO: the inline copy is used
 * without touching S3, a mail inside a spool segment is read by its range, and a
 * mail stored on its own is read whole.
 */
import { create } from '@bufbuild/protobuf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EnvelopeSchema,
  objectBuckets,
  spoolKey,
  spoolSegmentKey,
  type Envelope,
} from '@mailmesh/proto';
import { connectObjectStore, newMailId, type ObjectStore } from '@mailmesh/runtime';
import { startMinio, type MinioPeer } from '@mailmesh/testkit';

import { readMessage, readMessageHeaders, spoolRefOf } from '../src/index.js';

let minio: MinioPeer;
let store: ObjectStore;

beforeAll(async () => {
  minio = await startMinio();
  store = connectObjectStore(minio.connection);
  await store.ensureBuckets([objectBuckets.spool]);
});

afterAll(async () => {
  await store?.close();
  await minio?.stop();
});

const mailA = Buffer.from('Subject: first\r\nX-A: 1\r\n\r\nbody of the first\r\n');
const mailB = Buffer.from('Subject: second\r\n\r\nbody of the second, longer\r\n');

function envelope(
  mailId: string,
  size: number,
  spool: { key: string; offset?: bigint; length?: bigint },
  body?: Buffer,
): Envelope {
  return create(EnvelopeSchema, {
    mailId,
    size: BigInt(size),
    spool: { bucket: objectBuckets.spool, ...spool },
    ...(body ? { body } : {}),
  });
}

describe('readMessage', () => {
  it('uses the inline copy and reads nothing from S3', async () => {
    const id = newMailId();
    // The spool key does not exist: any read of it would fail.
    const env = envelope(id, mailA.length, { key: spoolKey(id) }, mailA);
    expect(await readMessage(store, env)).toEqual(mailA);
    expect((await readMessageHeaders(store, env)).toString()).toBe(
      'Subject: first\r\nX-A: 1\r\n\r\n',
    );
  });

  it('reads a mail of a spool segment by its range', async () => {
    const a = newMailId();
    const b = newMailId();
    const key = spoolSegmentKey(a);
    await store.put(objectBuckets.spool, key, Buffer.concat([mailA, mailB]));
    const envB = envelope(b, mailB.length, {
      key,
      offset: BigInt(mailA.length),
      length: BigInt(mailB.length),
    });
    expect(spoolRefOf(envB)).toEqual({
      bucket: objectBuckets.spool,
      key,
      range: { offset: mailA.length, length: mailB.length },
    });
    expect(await readMessage(store, envB)).toEqual(mailB);
    expect((await readMessageHeaders(store, envB)).toString()).toBe('Subject: second\r\n\r\n');
    const envA = envelope(a, mailA.length, { key, offset: 0n, length: BigInt(mailA.length) });
    expect(await readMessage(store, envA)).toEqual(mailA);
  });

  it('reads a mail stored on its own whole, and reports a missing one', async () => {
    const id = newMailId();
    await store.put(objectBuckets.spool, spoolKey(id), mailB);
    const env = envelope(id, mailB.length, { key: spoolKey(id) });
    expect(spoolRefOf(env).range).toBeUndefined();
    expect(await readMessage(store, env)).toEqual(mailB);
    const gone = newMailId();
    await expect(
      readMessage(store, envelope(gone, 10, { key: spoolKey(gone) })),
    ).rejects.toMatchObject({ name: 'ObjectNotFoundError' });
  });
});
