import { consumers, kvBuckets, streams } from '@mailmesh/proto';
import { freePort, startNats, type NatsPeer } from '@mailmesh/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  connectBus,
  JetStreamUnavailableError,
  NatsAuthError,
  NatsUnavailableError,
  provision,
  ProvisionConflictError,
  type Bus,
} from '../src/index.js';

let nats: NatsPeer;
let bus: Bus;

beforeAll(async () => {
  nats = await startNats();
  bus = await connectBus({ servers: nats.url, name: 'runtime-provision-test' });
});

afterAll(async () => {
  await bus?.close();
  await nats?.stop();
});

async function liveConfigs(b: Bus): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const s of Object.values(streams)) out[s.name] = (await b.jsm.streams.info(s.name)).config;
  for (const k of Object.values(kvBuckets)) {
    out[`KV_${k.bucket}`] = (await b.jsm.streams.info(`KV_${k.bucket}`)).config;
  }
  for (const c of Object.values(consumers)) {
    const info = await b.jsm.consumers.info(c.stream, c.durable);
    out[`${c.stream}/${c.durable}`] = { config: info.config, created: info.created };
  }
  return out;
}

describe('connectBus', () => {
  it('reports an unreachable server with NatsUnavailableError', async () => {
    const port = await freePort();
    const err = await connectBus({
      servers: `127.0.0.1:${port}`,
      name: 't',
      timeoutMs: 2_000,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NatsUnavailableError);
    expect((err as Error).message).toBe(
      `cannot reach NATS at nats://127.0.0.1:${port}: connection refused — is nats-server running? (set MAILMESH_NATS_URL)`,
    );
    expect((err as NatsUnavailableError).retryable).toBe(true);
  });

  it('reports rejected credentials with NatsAuthError', async () => {
    const secured = await startNats({ users: [{ user: 'scanner', password: 'right' }] });
    try {
      const err = await connectBus({
        servers: secured.url,
        name: 't',
        user: 'scanner',
        pass: 'wrong',
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NatsAuthError);
      expect(err).toMatchObject({ retryable: false, server: secured.url });
      expect((err as Error).message).not.toContain('wrong');
      const ok = await connectBus({
        servers: secured.url,
        name: 't',
        user: 'scanner',
        pass: 'right',
      });
      await ok.close();
    } finally {
      await secured.stop();
    }
  });

  it('reports a server without JetStream with JetStreamUnavailableError', async () => {
    const plain = await startNats({ jetstream: false });
    try {
      const err = await connectBus({ servers: plain.url, name: 't' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(JetStreamUnavailableError);
      expect((err as Error).message).toBe(
        `NATS at ${plain.url} has JetStream disabled — start nats-server with -js`,
      );
    } finally {
      await plain.stop();
    }
  });
});

describe('provision', () => {
  it('creates everything once, then reports everything unchanged and changes nothing', async () => {
    const first = await provision(bus);
    const all = [
      ...Object.values(streams).map((s) => `stream:${s.name}`),
      ...Object.values(kvBuckets).map((k) => `kv:${k.bucket}`),
      ...Object.values(consumers).map((c) => `consumer:${c.stream}/${c.durable}`),
    ];
    expect(first.created.sort()).toEqual([...all].sort());
    expect(first.updated).toEqual([]);
    const before = await liveConfigs(bus);

    const second = await provision(bus);
    expect(second).toEqual({ created: [], updated: [], unchanged: all });
    expect(await liveConfigs(bus)).toEqual(before);

    const kv = await bus.kv(kvBuckets.config);
    expect((await kv.status()).history).toBe(kvBuckets.config.history);
  });

  it('updates a changed definition in place', async () => {
    const mailBefore = await bus.jsm.streams.info(streams.mail.name);
    const scannerBefore = await bus.jsm.consumers.info(
      streams.mail.name,
      consumers.scanner.durable,
    );
    const r = await provision(bus, {
      streams: [{ ...streams.mail, maxAgeMs: 7 * 86_400_000, description: 'changed' }],
      consumers: [{ ...consumers.scanner, ackWaitMs: 90_000 }],
      kv: [{ ...kvBuckets.queue, history: 3 }],
    });
    expect(r).toEqual({
      created: [],
      updated: ['stream:MAIL', `kv:${kvBuckets.queue.bucket}`, 'consumer:MAIL/scanner'],
      unchanged: [],
    });
    const mail = await bus.jsm.streams.info(streams.mail.name);
    expect(mail.created).toBe(mailBefore.created);
    expect(mail.config.max_age).toBe(7 * 86_400_000 * 1e6);
    expect(mail.config.description).toBe('changed');
    const scanner = await bus.jsm.consumers.info(streams.mail.name, consumers.scanner.durable);
    expect(scanner.created).toBe(scannerBefore.created);
    expect(scanner.config.ack_wait).toBe(90_000 * 1e6);
    expect(
      (await bus.jsm.streams.info(`KV_${kvBuckets.queue.bucket}`)).config.max_msgs_per_subject,
    ).toBe(3);
    const names: string[] = [];
    for await (const s of bus.jsm.streams.list()) names.push(s.config.name);
    expect(names.filter((n) => n === 'MAIL')).toHaveLength(1);

    // Back to the contract: updated again, then stable.
    const back = await provision(bus);
    expect(back.updated.sort()).toEqual(
      ['stream:MAIL', `kv:${kvBuckets.queue.bucket}`, 'consumer:MAIL/scanner'].sort(),
    );
    expect((await provision(bus)).updated).toEqual([]);
  });

  it('refuses an immutable change naming the field, and changes nothing', async () => {
    const before = await bus.jsm.streams.info(streams.mail.name);
    const err = await provision(bus, {
      streams: [{ ...streams.mail, retention: 'limits', description: 'would change' }],
      consumers: [],
      kv: [],
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProvisionConflictError);
    expect(err).toMatchObject({ kind: 'stream', resource: 'MAIL', field: 'retention' });
    expect((err as Error).message).toMatch(
      /stream MAIL: field retention cannot be changed in place \(live "workqueue", wanted "limits"\)/,
    );
    expect((await bus.jsm.streams.info(streams.mail.name)).config).toEqual(before.config);
  });
});
