import { Client } from 'minio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startMinio, type MinioPeer } from '../src/index.js';

function client(peer: MinioPeer): Client {
  return new Client({
    endPoint: peer.host,
    port: peer.port,
    useSSL: false,
    accessKey: peer.accessKey,
    secretKey: peer.secretKey,
    region: peer.region,
  });
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

describe('startMinio', () => {
  let minio: MinioPeer;
  beforeAll(async () => {
    minio = await startMinio({ accessKey: 'testkit-user', secretKey: 'testkit-secret-1' });
  });
  afterAll(async () => {
    await minio?.stop();
  });

  it('stores an object that survives a restart, and fails requests while killed', async () => {
    expect(minio.endpoint).toBe(`http://127.0.0.1:${minio.port}`);
    const s3 = client(minio);
    await s3.makeBucket('testkit', minio.region);
    await s3.putObject('testkit', 'greeting.txt', Buffer.from('hello minio'));
    expect(await readAll(await s3.getObject('testkit', 'greeting.txt'))).toBe('hello minio');

    await minio.kill();
    expect(minio.pid).toBeUndefined();
    await expect(client(minio).statObject('testkit', 'greeting.txt')).rejects.toThrow();

    await minio.restart();
    expect(await readAll(await client(minio).getObject('testkit', 'greeting.txt'))).toBe(
      'hello minio',
    );
  });

  it('rejects wrong credentials', async () => {
    const bad = new Client({
      endPoint: minio.host,
      port: minio.port,
      useSSL: false,
      accessKey: minio.accessKey,
      secretKey: 'not-the-secret',
      region: minio.region,
    });
    await expect(bad.listBuckets()).rejects.toThrow(/signature|access/i);
  });
});
