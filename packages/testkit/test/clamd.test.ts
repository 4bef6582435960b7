import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZipFile } from 'yazl';

import { EICAR, EICAR_SIGNATURE, startClamd, type TcpServicePeer } from '../src/index.js';

/** clamd INSTREAM: `zINSTREAM\0`, then <u32 length><bytes> chunks, then a zero length. */
function instream(peer: TcpServicePeer, body: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: peer.host, port: peer.port });
    const chunks: Buffer[] = [];
    socket.on('connect', () => {
      const len = Buffer.alloc(4);
      len.writeUInt32BE(body.length);
      socket.write(Buffer.concat([Buffer.from('zINSTREAM\0'), len, body, Buffer.alloc(4)]));
    });
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('utf8').replace(/\0$/, '')));
    socket.on('error', reject);
  });
}

function zip(entries: Record<string, string>): Promise<Buffer> {
  const z = new ZipFile();
  for (const [name, content] of Object.entries(entries))
    z.addBuffer(Buffer.from(content, 'latin1'), name);
  z.end();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    z.outputStream.on('data', (c: Buffer) => chunks.push(c));
    z.outputStream.on('end', () => resolve(Buffer.concat(chunks)));
    z.outputStream.on('error', reject);
  });
}

describe('startClamd', () => {
  let clamd: TcpServicePeer;
  beforeAll(async () => {
    clamd = await startClamd({
      extraSignatures: `Mailmesh.Test.Extra:0:*:${Buffer.from('MAILMESH-EXTRA-SIG').toString('hex')}`,
    });
  });
  afterAll(async () => {
    await clamd?.stop();
  });

  it('finds EICAR in a stream under the kit signature name', async () => {
    expect(await instream(clamd, Buffer.from(EICAR, 'latin1'))).toBe(
      `stream: ${EICAR_SIGNATURE} FOUND`,
    );
  });

  it('passes a clean buffer', async () => {
    expect(await instream(clamd, Buffer.from('Subject: hello\r\n\r\nnothing to see\r\n'))).toBe(
      'stream: OK',
    );
  });

  it('finds EICAR inside a zip', async () => {
    const archive = await zip({ 'readme.txt': 'clean', 'nested/eicar.com': EICAR });
    expect(archive.subarray(0, 2).toString()).toBe('PK');
    expect(await instream(clamd, archive)).toBe(`stream: ${EICAR_SIGNATURE} FOUND`);
  });

  it('loads extra signatures', async () => {
    expect(await instream(clamd, Buffer.from('xx MAILMESH-EXTRA-SIG xx'))).toBe(
      'stream: Mailmesh.Test.Extra.UNOFFICIAL FOUND',
    );
  });
});
