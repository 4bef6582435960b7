/**
 * Size: a 40 MiB message is accepted with bounded memory (Haraka spools to disk,
 * the socket pauses while that catches up, the S3 upload goes in parts); one over
 * the limit gets 552 5.3.4 after the final dot, without being kept.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { objectBuckets, spoolKey } from '@mailmesh/proto';
import {
  DOMAIN,
  pySmtp,
  queuedId,
  spoolKeys,
  startRig,
  takeEnvelopes,
  type Rig,
} from './helpers.js';

const MIB = 1024 * 1024;
let rig: Rig;
beforeAll(async () => {
  rig = await startRig({ limits: { maxMessageBytes: 41 * MIB } });
});
afterAll(async () => {
  await rig?.stop();
});

async function bigMessage(name: string, bytes: number): Promise<string> {
  const path = join(rig.dir, name);
  const out = createWriteStream(path);
  out.write(`From: a@example.org\r\nTo: zhang.san@${DOMAIN}\r\nSubject: big\r\n\r\n`);
  const line = `${'0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/'.repeat(1).slice(0, 76)}\r\n`;
  let written = 0;
  while (written < bytes) {
    const chunk = line.repeat(1024);
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
    written += chunk.length;
  }
  await new Promise<void>((resolve, reject) =>
    out.end((err?: Error | null) => (err ? reject(err) : resolve())),
  );
  return path;
}

describe('message size', () => {
  it('accepts 40 MiB with bounded memory and stores it intact', async () => {
    const file = await bigMessage('40m.eml', 40 * MIB);
    // Live memory = JS heap + Buffers still referenced, sampled after a full GC.
    // (RSS and unforced arrayBuffers also count dead line Buffers V8 has not yet
    // collected, which grow with message size without being held.)
    const gc = (globalThis as { gc?: () => void }).gc;
    if (!gc) throw new Error('run with --expose-gc (vitest.config.mjs sets it)');
    const live = (): number => {
      gc();
      const m = process.memoryUsage();
      return m.heapUsed + m.arrayBuffers;
    };
    const base = live();
    let peak = base;
    const sampler = setInterval(() => (peak = Math.max(peak, live())), 250);
    let steps;
    try {
      steps = await pySmtp({
        host: '127.0.0.1',
        port: rig.ports.mx,
        steps: [
          ['ehlo', 'big.test'],
          ['mail', 'a@example.org'],
          ['rcpt', `zhang.san@${DOMAIN}`],
          ['data_file', file],
          ['quit'],
        ],
      });
    } finally {
      clearInterval(sampler);
    }
    const data = steps.find((s) => s.step === 'data')!;
    expect(data.code).toBe(250);
    const mailId = queuedId(data.text)!;
    // Haraka spools to disk and the upload holds one 5 MiB part at a time: the live
    // set while a 40 MiB message goes through must stay a fraction of its size.
    console.log(
      `live memory growth while accepting 40 MiB: ${((peak - base) / MIB).toFixed(1)} MiB`,
    );
    // Measured flat: ~15 MiB for both a 12 MiB and a 40 MiB message (two 5 MiB part buffers).
    expect(peak - base).toBeLessThan(24 * MIB);
    const [env] = await takeEnvelopes(rig.bus, 1);
    expect(env!.mailId).toBe(mailId);
    expect(Number(env!.size)).toBeGreaterThan(40 * MIB);
    const hash = createHash('sha256');
    for await (const chunk of await rig.store.get(objectBuckets.spool, spoolKey(mailId)))
      hash.update(chunk as Buffer);
    expect(hash.digest('hex')).toBe(env!.sha256);
  });

  it('answers 552 5.3.4 to a message over the limit and keeps nothing', async () => {
    const before = (await spoolKeys(rig.store)).length;
    const file = await bigMessage('42m.eml', 42 * MIB);
    const steps = await pySmtp({
      host: '127.0.0.1',
      port: rig.ports.mx,
      steps: [
        ['ehlo', 'big.test'],
        ['mail', 'a@example.org'],
        ['rcpt', `zhang.san@${DOMAIN}`],
        ['data_file', file],
        ['quit'],
      ],
    });
    expect(steps.find((s) => s.step === 'data')).toEqual({
      step: 'data',
      code: 552,
      text: `5.3.4 Message size exceeds fixed limit of ${41 * MIB} bytes`,
    });
    expect((await spoolKeys(rig.store)).length).toBe(before);
    expect(await takeEnvelopes(rig.bus, 1, 500)).toEqual([]);
  });
});
