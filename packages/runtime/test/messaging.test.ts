import { context as otelContext, trace } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { headers as natsHeaders_ } from '@nats-io/nats-core';
import {
  consumers,
  msgId,
  natsHeaders,
  schemas,
  streams,
  subjects,
  type ConsumerSpec,
  type DeliveryEvent,
  type Envelope,
} from '@mailmesh/proto';
import { startNats, type NatsPeer } from '@mailmesh/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  connectBus,
  consume,
  createRegistry,
  initTracing,
  InvalidMessageError,
  newMailId,
  outcome,
  provision,
  publish,
  PublishError,
  PublishTimeoutError,
  withSpan,
  type Bus,
  type Delivery,
  type Tracing,
} from '../src/index.js';
import { captureLog, deliveryEvent, envelope, sleep, until } from './helpers.js';

let nats: NatsPeer;
let bus: Bus;
let tracing: Tracing;
const spans = new InMemorySpanExporter();

beforeAll(async () => {
  tracing = initTracing('runtime-test', { exporter: spans });
  nats = await startNats();
  bus = await connectBus({ servers: nats.url, name: 'runtime-messaging-test' });
  await provision(bus);
});

afterAll(async () => {
  await bus?.close();
  await nats?.stop();
  await tracing?.shutdown();
});

let n = 0;
/** A durable consumer on EVENTS that sees only the events of one mail. */
async function eventConsumer(mailId: string, ackWaitMs = 30_000): Promise<ConsumerSpec> {
  const spec: ConsumerSpec = {
    stream: streams.events.name,
    durable: `test-${++n}`,
    filterSubject: subjects.eventsOf(mailId),
    ackWaitMs,
    maxAckPending: 100,
    maxDeliver: -1,
    description: 'test consumer',
  };
  await provision(bus, { streams: [], kv: [], consumers: [spec] });
  return spec;
}

async function consumerInfo(spec: ConsumerSpec) {
  return bus.jsm.consumers.info(spec.stream, spec.durable);
}

describe('publish + consume', () => {
  it('round-trips a message; a repeated msg-id is stored once and consumed once', async () => {
    const { log } = captureLog();
    const env = envelope();
    const id = msgId(env.mailId, 'ingress');
    const first = await publish(bus, subjects.accepted, schemas.Envelope, env, { msgId: id });
    const again = await publish(bus, subjects.accepted, schemas.Envelope, env, { msgId: id });
    expect(first.duplicate).toBe(false);
    expect(again).toEqual({ stream: 'MAIL', seq: first.seq, duplicate: true });

    const stored = await bus.jsm.streams.getMessage(streams.mail.name, { seq: first.seq });
    expect(stored?.header.get(natsHeaders.msgId)).toBe(id);
    expect(stored?.header.get(natsHeaders.schema)).toBe('mailmesh.v1.Envelope');
    expect(stored?.header.get(natsHeaders.mailId)).toBe(env.mailId);
    expect((await bus.jsm.streams.info(streams.mail.name)).state.messages).toBe(1);

    const seen: Delivery<Envelope>[] = [];
    const registry = createRegistry('scanner', { instance: 't', defaultMetrics: false });
    const c = await consume(
      bus,
      consumers.scanner,
      schemas.Envelope,
      (d) => {
        seen.push(d);
        return outcome.ack();
      },
      { log, pullExpiresMs: 1_000, registry },
    );
    await until('one delivery', () => seen.length === 1);
    await sleep(300);
    await c.stop();
    expect(seen).toHaveLength(1);
    const d = seen[0]!;
    expect(d.data.mailId).toBe(env.mailId);
    expect(d.data.recipients[0]?.address).toBe('bob@bj.company.local');
    expect(d.mailId).toBe(env.mailId);
    expect(d.subject).toBe(subjects.accepted);
    expect(d.redeliveryCount).toBe(0);
    expect(d.settled).toBe(true);
    await c.done;
    const info = await consumerInfo(consumers.scanner);
    expect(info.num_ack_pending).toBe(0);
    expect(info.num_pending).toBe(0);
    expect(await registry.getSingleMetricAsString('mailmesh_consumer_messages_total')).toContain(
      'mailmesh_consumer_messages_total{consumer="MAIL/scanner",outcome="ack",service="scanner",instance="t"} 1',
    );
    // Work-queue stream: the acked message is gone.
    expect((await bus.jsm.streams.info(streams.mail.name)).state.messages).toBe(0);
  });

  it('refuses an invalid message before sending anything', async () => {
    const env = envelope();
    env.recipients = [];
    const before = (await bus.jsm.streams.info(streams.mail.name)).state.last_seq;
    const err = await publish(bus, subjects.accepted, schemas.Envelope, env, {
      msgId: msgId(env.mailId, 'ingress'),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidMessageError);
    expect((err as InvalidMessageError).problems).toEqual([
      { path: 'recipients', problem: 'at least one recipient is required' },
    ]);
    expect((await bus.jsm.streams.info(streams.mail.name)).state.last_seq).toBe(before);
  });

  it('gives PublishTimeoutError (retryable) when no ack arrives in time', async () => {
    // A core subscriber that never answers stands in for a stream that does not ack.
    const silent = bus.nc.subscribe(subjects.inlineScan);
    try {
      const ev = deliveryEvent();
      const err = await publish(bus, subjects.inlineScan, schemas.DeliveryEvent, ev, {
        msgId: msgId(ev.mailId, 'delivery'),
        timeoutMs: 300,
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PublishTimeoutError);
      expect(err).toMatchObject({ retryable: true, subject: subjects.inlineScan, timeoutMs: 300 });
    } finally {
      silent.unsubscribe();
    }
  });

  it('gives PublishError no-stream when no stream captures the subject', async () => {
    const ev = deliveryEvent();
    const err = await publish(bus, subjects.inlineScan, schemas.DeliveryEvent, ev, {
      msgId: msgId(ev.mailId, 'delivery'),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PublishError);
    expect(err).toMatchObject({ failure: 'no-stream', retryable: true });
  });

  it('terms a payload that does not decode, logs it once and never redelivers it', async () => {
    const mailId = newMailId();
    const spec = await eventConsumer(mailId, 1_000);
    const { log, lines } = captureLog();
    const subject = subjects.event('delivery', mailId);
    const h = natsHeaders_();
    h.set(natsHeaders.schema, schemas.DeliveryEvent.typeName);
    const ack = await bus.js.publish(subject, new Uint8Array([0xff, 0xff, 0xff, 0xff]), {
      msgID: msgId(mailId, 'delivery', 'garbage'),
      headers: h,
    });
    let calls = 0;
    const c = await consume(
      bus,
      spec,
      schemas.DeliveryEvent,
      () => {
        calls++;
        return outcome.ack();
      },
      { log, pullExpiresMs: 1_000 },
    );
    await until(
      'delivered',
      async () => (await consumerInfo(spec)).delivered.stream_seq === ack.seq,
    );
    // Past ack_wait (1 s): a message that was not termed would be redelivered by now.
    await sleep(2_500);
    await c.stop();
    const info = await consumerInfo(spec);
    expect(calls).toBe(0);
    expect(info.num_ack_pending).toBe(0);
    expect(info.num_redelivered).toBe(0);
    expect(info.ack_floor.stream_seq).toBe(ack.seq);
    const errors = lines.filter((l) => l['event'] === 'consume.invalid');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ level: 'error', subject, seq: ack.seq });
    expect(String(errors[0]?.['msg'])).toMatch(/does not decode as mailmesh.v1.DeliveryEvent/);
  });

  it('redelivers after nak(delay), not before', async () => {
    const ev = deliveryEvent();
    const spec = await eventConsumer(ev.mailId);
    const { log } = captureLog();
    await publish(bus, subjects.event('delivery', ev.mailId), schemas.DeliveryEvent, ev, {
      msgId: msgId(ev.mailId, 'delivery'),
    });
    const at: number[] = [];
    const c = await consume(
      bus,
      spec,
      schemas.DeliveryEvent,
      (d: Delivery<DeliveryEvent>) => {
        at.push(Date.now());
        return d.redeliveryCount === 0 ? outcome.nak(1_500) : outcome.ack();
      },
      { log, pullExpiresMs: 1_000 },
    );
    await until('redelivery', () => at.length === 2);
    await c.stop();
    expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(1_400);
    const info = await consumerInfo(spec);
    expect(info.num_ack_pending).toBe(0);
    expect(info.num_redelivered).toBe(0);
    expect(info.ack_floor.stream_seq).toBe(info.delivered.stream_seq);
  });

  it('naks a handler that throws, logs it, and the redelivery succeeds', async () => {
    const ev = deliveryEvent();
    const spec = await eventConsumer(ev.mailId);
    const { log, lines } = captureLog();
    await publish(bus, subjects.event('delivery', ev.mailId), schemas.DeliveryEvent, ev, {
      msgId: msgId(ev.mailId, 'delivery'),
    });
    const counts: number[] = [];
    const c = await consume(
      bus,
      spec,
      schemas.DeliveryEvent,
      (d: Delivery<DeliveryEvent>) => {
        counts.push(d.redeliveryCount);
        if (d.redeliveryCount < 2) throw new Error('smart host unreachable');
        return outcome.ack();
      },
      { log, pullExpiresMs: 1_000, retryDelayMs: () => 100 },
    );
    await until('third attempt', () => counts.length === 3);
    await c.stop();
    expect(counts).toEqual([0, 1, 2]);
    const failures = lines.filter((l) => l['event'] === 'consume.handler_error');
    expect(failures).toHaveLength(2);
    expect(failures[0]).toMatchObject({
      mailId: ev.mailId,
      err: { message: 'smart host unreachable' },
    });
    expect((await consumerInfo(spec)).num_ack_pending).toBe(0);
  });

  it('lets a handler settle the message itself; a second action is ignored and logged', async () => {
    const ev = deliveryEvent();
    const spec = await eventConsumer(ev.mailId, 1_000);
    const { log, lines } = captureLog();
    await publish(bus, subjects.event('delivery', ev.mailId), schemas.DeliveryEvent, ev, {
      msgId: msgId(ev.mailId, 'delivery'),
    });
    let calls = 0;
    const c = await consume(
      bus,
      spec,
      schemas.DeliveryEvent,
      (d) => {
        calls++;
        d.ack();
        d.term('too late');
        return outcome.nak(0);
      },
      { log, pullExpiresMs: 1_000 },
    );
    await until('handled', () => calls === 1);
    await sleep(1_500);
    await c.stop();
    expect(calls).toBe(1);
    const info = await consumerInfo(spec);
    expect(info.num_ack_pending).toBe(0);
    expect(info.num_redelivered).toBe(0);
    expect(lines.filter((l) => l['event'] === 'consume.double_settle')).toHaveLength(1);
  });

  it("keeps a long handler's message from being redelivered with ackExtendMs", async () => {
    const ev = deliveryEvent();
    const spec = await eventConsumer(ev.mailId, 1_000);
    const { log } = captureLog();
    await publish(bus, subjects.event('delivery', ev.mailId), schemas.DeliveryEvent, ev, {
      msgId: msgId(ev.mailId, 'delivery'),
    });
    let calls = 0;
    let finished = false;
    const c = await consume(
      bus,
      spec,
      schemas.DeliveryEvent,
      async () => {
        calls++;
        await sleep(2_500);
        finished = true;
        return outcome.ack();
      },
      { log, pullExpiresMs: 1_000, ackExtendMs: 300, concurrency: 2 },
    );
    await until('finished', () => finished);
    await c.stop();
    expect(calls).toBe(1);
    const info = await consumerInfo(spec);
    expect(info.num_redelivered).toBe(0);
    expect(info.num_ack_pending).toBe(0);
  });

  it('continues the publisher trace in the consumer span', async () => {
    const ev = deliveryEvent();
    const spec = await eventConsumer(ev.mailId);
    const { log } = captureLog();
    spans.reset();
    let publisherTrace = '';
    await withSpan('ingress.accept', {}, async (span) => {
      publisherTrace = span.spanContext().traceId;
      await publish(bus, subjects.event('delivery', ev.mailId), schemas.DeliveryEvent, ev, {
        msgId: msgId(ev.mailId, 'delivery'),
      });
    });
    let handlerTrace = '';
    const c = await consume(
      bus,
      spec,
      schemas.DeliveryEvent,
      (d) => {
        expect(d.headers?.get(natsHeaders.traceparent)).toMatch(
          new RegExp(`^00-${publisherTrace}-`),
        );
        handlerTrace = trace.getSpanContext(otelContext.active())?.traceId ?? '';
        return outcome.ack();
      },
      { log, pullExpiresMs: 1_000 },
    );
    await until('handled', () => handlerTrace !== '');
    await c.stop();
    expect(publisherTrace).toMatch(/^[0-9a-f]{32}$/);
    expect(handlerTrace).toBe(publisherTrace);
    const finished = spans.getFinishedSpans();
    const consumerSpan = finished.find(
      (s) => s.name === `process ${subjects.event('delivery', ev.mailId)}`,
    );
    const producerSpan = finished.find(
      (s) => s.name === `send ${subjects.event('delivery', ev.mailId)}`,
    );
    expect(consumerSpan?.spanContext().traceId).toBe(publisherTrace);
    expect(consumerSpan?.parentSpanContext?.spanId).toBe(producerSpan?.spanContext().spanId);
  });

  it('runs at most `concurrency` handlers at once and stop() waits for them', async () => {
    const mailId = newMailId();
    const spec = await eventConsumer(mailId);
    const { log } = captureLog();
    const total = 12;
    for (let i = 0; i < total; i++) {
      const ev = deliveryEvent(mailId, i + 1);
      await publish(bus, subjects.event('delivery', mailId), schemas.DeliveryEvent, ev, {
        msgId: msgId(mailId, 'delivery', String(i)),
      });
    }
    let active = 0;
    let peak = 0;
    let done = 0;
    const c = await consume(
      bus,
      spec,
      schemas.DeliveryEvent,
      async () => {
        active++;
        peak = Math.max(peak, active);
        await sleep(100);
        active--;
        done++;
        return outcome.ack();
      },
      { log, pullExpiresMs: 1_000, concurrency: 3 },
    );
    await until('some handled', () => done >= 4);
    await c.stop();
    expect(active).toBe(0);
    expect(peak).toBe(3);
    // Everything started was finished and acked.
    expect((await consumerInfo(spec)).ack_floor.stream_seq).toBeGreaterThan(0);

    // Messages pulled but not started were handed back (nak), so a second consumer gets
    // them now rather than after ack_wait (30 s); every message is handled exactly once.
    let rest = 0;
    const c2 = await consume(
      bus,
      spec,
      schemas.DeliveryEvent,
      () => {
        rest++;
        return outcome.ack();
      },
      { log, pullExpiresMs: 1_000, concurrency: 4 },
    );
    await until('rest handled', () => done + rest === total, 10_000);
    await sleep(200);
    await c2.stop();
    expect(done + rest).toBe(total);
    const info = await consumerInfo(spec);
    expect(info.num_ack_pending).toBe(0);
    expect(info.num_pending).toBe(0);
  });
});
