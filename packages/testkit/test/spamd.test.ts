import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { GTUBE, startSpamd, type TcpServicePeer } from '../src/index.js';

interface SpamdReply {
  status: string;
  spam: boolean;
  score: number;
  body: string;
}

/** One spamd protocol request (spamc 1.5): `<CMD> SPAMC/1.5`, Content-length, blank line, message. */
function spamd(
  peer: TcpServicePeer,
  command: 'CHECK' | 'SYMBOLS',
  message: string,
): Promise<SpamdReply> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: peer.host, port: peer.port });
    const chunks: Buffer[] = [];
    socket.on('connect', () => {
      const body = Buffer.from(message);
      socket.write(
        Buffer.concat([
          Buffer.from(`${command} SPAMC/1.5\r\nContent-length: ${body.length}\r\n\r\n`),
          body,
        ]),
      );
    });
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const [head = '', body = ''] = text.split('\r\n\r\n');
      const match = /^Spam: (True|False) ; (-?[\d.]+) \/ [\d.]+$/m.exec(head);
      if (match === null) {
        reject(new Error(`no Spam header in ${JSON.stringify(text)}`));
        return;
      }
      resolve({
        status: head.split('\r\n')[0] ?? '',
        spam: match[1] === 'True',
        score: Number(match[2]),
        body,
      });
    });
  });
}

const message = (subject: string, body: string): string =>
  [
    'From: alice@example.test',
    'To: bob@example.test',
    `Subject: ${subject}`,
    'Message-ID: <testkit-1@example.test>',
    'Date: Thu, 03 Dec 2026 10:00:00 +0000',
    '',
    body,
    '',
  ].join('\r\n');

describe('startSpamd', () => {
  let peer: TcpServicePeer;
  beforeAll(async () => {
    peer = await startSpamd();
  });
  afterAll(async () => {
    await peer?.stop();
  });

  it('scores GTUBE as spam with the GTUBE symbol', async () => {
    const reply = await spamd(peer, 'SYMBOLS', message('offer', GTUBE));
    expect(reply.status).toMatch(/^SPAMD\/1\.\d 0 EX_OK$/);
    expect(reply.spam).toBe(true);
    expect(reply.score).toBeGreaterThanOrEqual(1000);
    expect(reply.body.split(',')).toContain('GTUBE');
  });

  it('passes a ham message', async () => {
    const reply = await spamd(
      peer,
      'CHECK',
      message('lunch', 'Shall we have lunch at noon tomorrow?'),
    );
    expect(reply.spam).toBe(false);
    expect(reply.score).toBeLessThan(5);
  });
});
