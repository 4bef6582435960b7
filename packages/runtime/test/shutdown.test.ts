import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { msgId, schemas, streams, subjects, type ConsumerSpec } from '@mailmesh/proto';
import { startNats, type NatsPeer } from '@mailmesh/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { connectBus, newMailId, provision, publish, type Bus } from '../src/index.js';
import { deliveryEvent, sleep, until } from './helpers.js';

const WORKER = fileURLToPath(new URL('./fixtures/worker.mjs', import.meta.url));

let nats: NatsPeer;
let bus: Bus;

beforeAll(async () => {
  nats = await startNats();
  bus = await connectBus({ servers: nats.url, name: 'runtime-shutdown-test' });
  await provision(bus, { streams: [streams.events], consumers: [], kv: [] });
});

afterAll(async () => {
  await bus?.close();
  await nats?.stop();
});

interface Worker {
  readonly child: ChildProcess;
  readonly lines: Record<string, unknown>[];
  readonly exited: Promise<number | null>;
  has(event: string): boolean;
}

let n = 0;
async function startWorker(mailId: string, env: Record<string, string>): Promise<Worker> {
  const spec: ConsumerSpec = {
    stream: streams.events.name,
    durable: `worker-${++n}`,
    filterSubject: subjects.eventsOf(mailId),
    ackWaitMs: 60_000,
    maxAckPending: 100,
    maxDeliver: -1,
    description: 'worker fixture',
  };
  await provision(bus, { streams: [], kv: [], consumers: [spec] });
  const child = spawn(process.execPath, [WORKER], {
    env: {
      ...process.env,
      MAILMESH_NATS_URL: nats.url,
      MAILMESH_LOG_LEVEL: 'info',
      WORKER_DURABLE: spec.durable,
      WORKER_FILTER: spec.filterSubject,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  let buf = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        lines.push({ raw: line });
      }
    }
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const w: Worker = { child, lines, exited, has: (e) => lines.some((l) => l['event'] === e) };
  await until(
    `worker ready (stderr: ${stderr})`,
    () => w.has('worker.ready') || child.exitCode !== null,
  );
  expect(child.exitCode).toBeNull();
  return w;
}

async function publishEvent(mailId: string): Promise<number> {
  const ev = deliveryEvent(mailId);
  const ack = await publish(bus, subjects.event('delivery', mailId), schemas.DeliveryEvent, ev, {
    msgId: msgId(mailId, 'delivery'),
  });
  return ack.seq;
}

describe('runService graceful shutdown', () => {
  it('on SIGTERM finishes the in-flight message, acks it, drains and exits 0', async () => {
    const mailId = newMailId();
    const w = await startWorker(mailId, { WORKER_HANDLER_MS: '1500' });
    const seq = await publishEvent(mailId);
    await until('handler started', () => w.has('worker.started'));
    w.child.kill('SIGTERM');
    const code = await w.exited;
    expect(code).toBe(0);
    expect(w.has('worker.finished')).toBe(true);
    expect(w.has('shutdown.done')).toBe(true);
    const events = w.lines.map((l) => l['event']);
    expect(events.indexOf('shutdown.start')).toBeLessThan(events.indexOf('worker.finished'));

    const spec = w.lines.find((l) => l['event'] === 'worker.started');
    expect(spec?.['seq']).toBe(seq);
    const info = await bus.jsm.consumers.info(streams.events.name, `worker-${n}`);
    expect(info.ack_floor.stream_seq).toBe(seq);
    expect(info.num_ack_pending).toBe(0);
    expect(info.num_redelivered).toBe(0);
    expect(info.num_pending).toBe(0);
  });

  it('exits 1 when in-flight work outlasts the shutdown deadline', async () => {
    const mailId = newMailId();
    const w = await startWorker(mailId, {
      WORKER_HANDLER_MS: '30000',
      WORKER_SHUTDOWN_TIMEOUT_MS: '500',
    });
    await publishEvent(mailId);
    await until('handler started', () => w.has('worker.started'));
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(1);
    expect(w.has('shutdown.timeout')).toBe(true);
    expect(w.has('worker.finished')).toBe(false);
  });

  it('exits 1 at once on a second signal', async () => {
    const mailId = newMailId();
    const w = await startWorker(mailId, { WORKER_HANDLER_MS: '30000' });
    await publishEvent(mailId);
    await until('handler started', () => w.has('worker.started'));
    w.child.kill('SIGTERM');
    await until('shutdown started', () => w.has('shutdown.start'));
    await sleep(100);
    w.child.kill('SIGINT');
    expect(await w.exited).toBe(1);
    expect(w.has('shutdown.forced')).toBe(true);
    expect(w.has('worker.finished')).toBe(false);
  });
});
