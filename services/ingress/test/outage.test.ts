/**
 * DESIGN rule 1 under failure: NATS or MinIO dies while a client is in DATA. The
 * answer is 451 4.3.0, nothing is left behind (no envelope, no spool object), and
 * once the peer is back mail flows again without restarting ingress.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DOMAIN,
  mailStreamCount,
  queuedId,
  RawSmtp,
  sleep,
  spoolKeys,
  startRig,
  takeEnvelopes,
  type Rig,
} from './helpers.js';

let rig: Rig;
beforeAll(async () => {
  rig = await startRig();
});
afterAll(async () => {
  await rig?.stop();
});

async function openData(): Promise<RawSmtp> {
  const c = await RawSmtp.open(rig.ports.mx);
  expect((await c.reply()).code).toBe(220);
  await c.command('EHLO outage.test');
  expect((await c.command('MAIL FROM:<a@example.org>')).code).toBe(250);
  expect((await c.command(`RCPT TO:<zhang.san@${DOMAIN}>`)).code).toBe(250);
  expect((await c.command('DATA')).code).toBe(354);
  c.write('Subject: outage\r\n\r\nfirst half\r\n');
  return c;
}

async function sendOne(): Promise<{ code: number; text: string }> {
  const c = await RawSmtp.open(rig.ports.mx);
  await c.reply();
  await c.command('EHLO outage.test');
  await c.command('MAIL FROM:<a@example.org>');
  await c.command(`RCPT TO:<zhang.san@${DOMAIN}>`);
  await c.command('DATA');
  c.write('Subject: after\r\n\r\nback\r\n.\r\n');
  const r = await c.reply(15_000);
  c.close();
  return r;
}

/** Retries until the peers answer again (reconnects take a moment). */
async function eventuallyAccepted(): Promise<string> {
  for (let i = 0; i < 30; i++) {
    const r = await sendOne();
    if (r.code === 250) return queuedId(r.text)!;
    await sleep(500);
  }
  throw new Error('mail did not flow again');
}

describe('outages during DATA', () => {
  it('NATS down: 451 4.3.0, spool object removed, no envelope; flows again after restart', async () => {
    await takeEnvelopes(rig.bus, 10, 300);
    const spoolBefore = (await spoolKeys(rig.store)).length;
    const c = await openData();
    await rig.nats.kill();
    c.write('second half\r\n.\r\n');
    expect(await c.reply(15_000)).toEqual({
      code: 451,
      text: '4.3.0 Error: queue file write error, try again later',
    });
    c.close();
    expect((await spoolKeys(rig.store)).length).toBe(spoolBefore);
    await rig.nats.restart();
    const mailId = await eventuallyAccepted();
    const envs = await takeEnvelopes(rig.bus, 5, 2_000);
    // Only the mail sent after the restart exists.
    expect(envs.map((e) => e.mailId)).toEqual([mailId]);
    expect(await mailStreamCount(rig.bus)).toBe(0);
    expect((await spoolKeys(rig.store)).length).toBe(spoolBefore + 1);
  });

  it('MinIO down: 451 4.3.0, no envelope, no body; flows again after restart', async () => {
    await takeEnvelopes(rig.bus, 10, 300);
    const spoolBefore = (await spoolKeys(rig.store)).length;
    const c = await openData();
    await rig.minio.kill();
    c.write('second half\r\n.\r\n');
    expect(await c.reply(15_000)).toEqual({
      code: 451,
      text: '4.3.0 Error: queue file write error, try again later',
    });
    c.close();
    expect(await mailStreamCount(rig.bus)).toBe(0);
    await rig.minio.restart();
    const mailId = await eventuallyAccepted();
    const envs = await takeEnvelopes(rig.bus, 5, 2_000);
    expect(envs.map((e) => e.mailId)).toEqual([mailId]);
    expect((await spoolKeys(rig.store)).length).toBe(spoolBefore + 1);
  });
});
