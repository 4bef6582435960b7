import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startNats, type NatsPeer } from '../src/index.js';

// Test-local names: this suite exercises the server, not Mailmesh's wire names.
const STREAM = 'TESTKIT';
const SUBJECT = 'testkit.events';

describe('startNats with JetStream', () => {
  let nats: NatsPeer;
  beforeAll(async () => {
    nats = await startNats();
  });
  afterAll(async () => {
    await nats?.stop();
  });

  it('serves JetStream and keeps stream messages across kill -9 and restart', async () => {
    expect(nats.url).toBe(`nats://127.0.0.1:${nats.port}`);
    const nc = await connect({ servers: nats.url });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: STREAM, subjects: [SUBJECT] });
      const js = jetstream(nc);
      for (let i = 0; i < 3; i++) await js.publish(SUBJECT, `m${i}`);
    } finally {
      await nc.close();
    }

    const pidBefore = nats.pid;
    await nats.kill();
    expect(nats.pid).toBeUndefined();
    await nats.restart();
    expect(nats.pid).not.toBe(pidBefore);

    const nc2 = await connect({ servers: nats.url });
    try {
      const jsm = await jetstreamManager(nc2);
      const info = await jsm.streams.info(STREAM);
      expect(info.state.messages).toBe(3);
      const msg = await jsm.streams.getMessage(STREAM, { seq: 2 });
      expect(msg?.string()).toBe('m1');
    } finally {
      await nc2.close();
    }
  });

  it('answers the monitoring endpoint with JetStream enabled', async () => {
    const res = await fetch(`${nats.monitorUrl}/jsz`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { config?: { store_dir?: string } };
    expect(body.config?.store_dir).toContain(nats.dir);
  });
});

describe('startNats without JetStream', () => {
  let nats: NatsPeer;
  beforeAll(async () => {
    nats = await startNats({ jetstream: false });
  });
  afterAll(async () => {
    await nats?.stop();
  });

  it('rejects JetStream API calls', async () => {
    const nc = await connect({ servers: nats.url });
    try {
      await expect(jetstreamManager(nc, { timeout: 2_000 })).rejects.toThrow(/jetstream/i);
    } finally {
      await nc.close();
    }
  });
});

describe('startNats with users', () => {
  let nats: NatsPeer;
  beforeAll(async () => {
    nats = await startNats({
      jetstream: false,
      users: [
        { user: 'svc', password: 'svc-pass' },
        { user: 'anon', password: 'anon-pass', permissions: 'publish: "public.>"' },
      ],
      noAuthUser: 'anon',
    });
  });
  afterAll(async () => {
    await nats?.stop();
  });

  it('authenticates users and rejects a wrong password', async () => {
    const nc = await connect({ servers: nats.url, user: 'svc', pass: 'svc-pass' });
    await nc.flush();
    await nc.close();
    await expect(
      connect({ servers: nats.url, user: 'svc', pass: 'nope', reconnect: false }),
    ).rejects.toThrow(/authorization/i);
    // no credentials: acts as `anon`, whose connection is allowed
    const anon = await connect({ servers: nats.url });
    await anon.flush();
    await anon.close();
  });
});
