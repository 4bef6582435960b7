import { context as otelContext, SpanKind, trace, SpanStatusCode } from '@opentelemetry/api';
import { fromBinary, type Message } from '@bufbuild/protobuf';
import type { JsMsg } from '@nats-io/jetstream';
import type { MsgHdrs } from '@nats-io/nats-core';
import { natsHeaders, type ConsumerSpec, type Problem, type WireType } from '@mailmesh/proto';
import type { Registry } from 'prom-client';

import type { Bus } from './bus.js';
import { ConsumerFailedError } from './errors.js';
import type { Logger } from './logging.js';
import { consumerMetrics } from './metrics.js';
import { mailIdOf } from './publish.js';
import { extractTrace, tracer } from './tracing.js';

/** What the handler decided; the runtime performs it (exactly one final action per message). */
export type HandlerOutcome =
  | { readonly kind: 'ack' }
  | { readonly kind: 'nak'; readonly delayMs: number }
  | { readonly kind: 'term'; readonly reason: string };

export const outcome = {
  ack: (): HandlerOutcome => ({ kind: 'ack' }),
  /** Redeliver after `delayMs` (temporary failure). */
  nak: (delayMs = 0): HandlerOutcome => ({ kind: 'nak', delayMs }),
  /** Never redeliver (permanent failure, after e.g. a DSN was published). */
  term: (reason: string): HandlerOutcome => ({ kind: 'term', reason }),
} as const;

/** One decoded, validated message handed to a handler. */
export interface Delivery<T> {
  readonly data: T;
  readonly subject: string;
  /** Stream sequence. */
  readonly seq: number;
  /** 0 on first delivery. */
  readonly redeliveryCount: number;
  readonly headers: MsgHdrs | undefined;
  readonly mailId: string | undefined;
  /** Child logger carrying subject, seq, mailId and traceId. */
  readonly log: Logger;
  /** True once ack/nak/term was sent. */
  readonly settled: boolean;
  /** Resets the ack_wait timer for long work (at most one progress ack per second). */
  working(): void;
  ack(): void;
  nak(delayMs?: number): void;
  term(reason: string): void;
}

/**
 * Returns the final action, or settles the delivery itself and returns nothing.
 * A throw is a temporary failure: the message is nak'ed with backoff.
 */
export type Handler<T> = (
  delivery: Delivery<T>,
) => Promise<HandlerOutcome | void> | HandlerOutcome | void;

export interface ConsumeOptions {
  /** Messages handled at once; default 1. */
  readonly concurrency?: number;
  readonly log: Logger;
  /** While a handler runs, signal "working" this often so ack_wait does not expire. */
  readonly ackExtendMs?: number;
  /** Redelivery delay after a handler throw, by redelivery count; default 1 s doubling to 60 s. */
  readonly retryDelayMs?: (redeliveryCount: number) => number;
  /** Counts outcomes and handler time when given. */
  readonly registry?: Registry;
  /**
   * How long one pull request waits for messages (minimum 1000). `stop()` waits for
   * the open pull to run out, so this bounds how long stopping an idle consumer takes.
   * Default 5000.
   */
  readonly pullExpiresMs?: number;
}

export interface Consumer {
  /**
   * Stops pulling, lets in-flight handlers finish, hands back (nak) messages that
   * arrive meanwhile, flushes acks. Takes at most `pullExpiresMs` plus the handlers' time.
   */
  stop(): Promise<void>;
  /** Resolves after stop(); rejects with ConsumerFailedError if pulling ended on its own. */
  readonly done: Promise<void>;
}

/** `Delivery.working()` sends at most one progress ack per this interval. */
const WORKING_MIN_INTERVAL_MS = 1_000;

/** 1 s, 2 s, 4 s ... capped at 60 s. */
export function defaultRetryDelayMs(redeliveryCount: number): number {
  return Math.min(60_000, 1_000 * 2 ** Math.min(Math.max(redeliveryCount, 0), 6));
}

type Decoded<T> = { ok: true; value: T } | { ok: false; problems: Problem[] };

/** Decodes and validates a payload; pure apart from the protobuf decoder. */
export function decodeMessage<T extends Message>(
  wire: WireType<T>,
  data: Uint8Array,
  schemaHeader: string | undefined,
): Decoded<T> {
  if (schemaHeader !== undefined && schemaHeader !== '' && schemaHeader !== wire.typeName) {
    return {
      ok: false,
      problems: [{ path: '', problem: `payload is ${schemaHeader}, expected ${wire.typeName}` }],
    };
  }
  let value: T;
  try {
    value = fromBinary(wire.schema, data);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return {
      ok: false,
      problems: [{ path: '', problem: `does not decode as ${wire.typeName}: ${why}` }],
    };
  }
  const problems = wire.validate(value);
  return problems.length > 0 ? { ok: false, problems } : { ok: true, value };
}

function headerValue(h: MsgHdrs | undefined, key: string): string | undefined {
  return h?.has(key) ? h.get(key) : undefined;
}

/**
 * Pulls from a durable consumer (create it with `provision`) and runs `handler` for
 * each message, at most `concurrency` at a time, inside the trace context the
 * publisher sent. Undecodable or invalid messages are termed and logged once.
 */
export async function consume<T extends Message>(
  bus: Bus,
  spec: ConsumerSpec,
  wire: WireType<T>,
  handler: Handler<T>,
  opts: ConsumeOptions,
): Promise<Consumer> {
  const concurrency = Math.max(1, Math.floor(opts.concurrency ?? 1));
  const retryDelay = opts.retryDelayMs ?? defaultRetryDelayMs;
  const name = `${spec.stream}/${spec.durable}`;
  const log = opts.log.child({ consumer: name });
  const metrics = opts.registry ? consumerMetrics(opts.registry) : undefined;
  const fetchExpiresMs = Math.max(1_000, opts.pullExpiresMs ?? 5_000);

  const jsConsumer = await bus.js.consumers.get(spec.stream, spec.durable);

  async function handleOne(m: JsMsg): Promise<void> {
    const started = process.hrtime.bigint();
    const redeliveryCount = Math.max(0, m.info.deliveryCount - 1);
    const parent = extractTrace(m.headers, otelContext.active());
    const span = tracer().startSpan(
      `process ${m.subject}`,
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          'messaging.system': 'nats',
          'messaging.operation.type': 'process',
          'messaging.destination.name': m.subject,
          'messaging.consumer.group.name': spec.durable,
          'messaging.nats.sequence': m.seq,
          'messaging.nats.redelivery_count': redeliveryCount,
        },
      },
      parent,
    );
    const ctx = trace.setSpan(parent, span);
    const traceId = span.spanContext().traceId;
    const headerMailId = headerValue(m.headers, natsHeaders.mailId);
    let final = 'none';
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const settle = (what: string, act: () => void): void => {
      if (settled) {
        log.warn(
          {
            event: 'consume.double_settle',
            subject: m.subject,
            seq: m.seq,
            first: final,
            then: what,
          },
          'message already settled; ignoring second action',
        );
        return;
      }
      settled = true;
      final = what;
      if (timer) clearInterval(timer);
      act();
    };

    try {
      const decoded = decodeMessage(wire, m.data, headerValue(m.headers, natsHeaders.schema));
      if (!decoded.ok) {
        const reason = decoded.problems
          .map((p) => (p.path ? `${p.path}: ${p.problem}` : p.problem))
          .join('; ');
        settle('term', () => m.term(`invalid ${wire.typeName}: ${reason}`.slice(0, 1000)));
        span.setStatus({ code: SpanStatusCode.ERROR, message: reason });
        log.error(
          {
            event: 'consume.invalid',
            subject: m.subject,
            seq: m.seq,
            mailId: headerMailId,
            traceId,
            problems: decoded.problems,
          },
          `termed undecodable/invalid message ${m.subject}#${m.seq}: ${reason}`,
        );
        return;
      }
      const data = decoded.value;
      const mailId = mailIdOf(data) ?? headerMailId;
      const mlog = log.child({ subject: m.subject, seq: m.seq, mailId, traceId });
      if (mailId !== undefined) span.setAttribute('mailmesh.mail_id', mailId);
      let lastWorking = Date.now();
      if (opts.ackExtendMs !== undefined && opts.ackExtendMs > 0) {
        timer = setInterval(() => {
          if (settled) return;
          lastWorking = Date.now();
          m.working();
        }, opts.ackExtendMs);
      }
      const delivery: Delivery<T> = {
        data,
        subject: m.subject,
        seq: m.seq,
        redeliveryCount,
        headers: m.headers,
        mailId,
        log: mlog,
        get settled() {
          return settled;
        },
        working: () => {
          // A progress ack per call would be a bus message per check of every mail;
          // the timer above covers long work, this only needs to reach the server
          // well within ack_wait.
          const now = Date.now();
          if (settled || now - lastWorking < WORKING_MIN_INTERVAL_MS) return;
          lastWorking = now;
          m.working();
        },
        ack: () => settle('ack', () => m.ack()),
        nak: (delayMs?: number) =>
          settle('nak', () => (delayMs && delayMs > 0 ? m.nak(delayMs) : m.nak())),
        term: (reason: string) => settle('term', () => m.term(reason)),
      };

      let result: HandlerOutcome | void;
      try {
        result = await otelContext.with(ctx, () => handler(delivery));
      } catch (err) {
        const delayMs = retryDelay(redeliveryCount);
        span.recordException(err instanceof Error ? err : String(err));
        span.setStatus({
          code: SpanStatusCode.ERROR,
          message: err instanceof Error ? err.message : String(err),
        });
        if (!settled) settle('nak', () => m.nak(delayMs));
        mlog.error(
          { event: 'consume.handler_error', err, redeliveryCount, retryInMs: delayMs },
          'handler failed; message will be redelivered',
        );
        return;
      }
      if (settled) return;
      if (result === undefined) {
        const delayMs = retryDelay(redeliveryCount);
        settle('nak', () => m.nak(delayMs));
        mlog.error(
          { event: 'consume.no_outcome', retryInMs: delayMs },
          'handler returned no outcome and did not settle the message; redelivering',
        );
        return;
      }
      switch (result.kind) {
        case 'ack':
          settle('ack', () => m.ack());
          break;
        case 'nak':
          settle('nak', () => (result.delayMs > 0 ? m.nak(result.delayMs) : m.nak()));
          break;
        case 'term':
          settle('term', () => m.term(result.reason));
          mlog.info({ event: 'consume.term', reason: result.reason }, 'message termed by handler');
          break;
      }
    } catch (err) {
      // Only reachable through a bug in the runtime itself; never leave a message hanging.
      if (!settled) settle('nak', () => m.nak(retryDelay(redeliveryCount)));
      log.error(
        { event: 'consume.internal_error', err, subject: m.subject, seq: m.seq },
        'consume failed',
      );
    } finally {
      if (timer) clearInterval(timer);
      span.setAttribute('mailmesh.outcome', final);
      span.end();
      if (metrics) {
        metrics.messages.inc({ consumer: name, outcome: final });
        metrics.duration.observe(
          { consumer: name },
          Number(process.hrtime.bigint() - started) / 1e9,
        );
      }
    }
  }

  let stopping = false;
  let wake: () => void = () => undefined;
  const stopRequested = new Promise<void>((resolve) => {
    wake = resolve;
  });
  const inflight = new Set<Promise<void>>();
  let failures = 0;

  /*
   * Each pull asks for exactly the free handler slots, so nothing waits in a client
   * buffer while its ack_wait runs. A pull is never cancelled: the server may already
   * be sending its messages, which would then sit unacked until ack_wait. On stop the
   * open pull runs out (at most `expires`) and whatever it brings is handed back (nak).
   */
  const pull = (async () => {
    while (!stopping && !bus.nc.isClosed()) {
      if (inflight.size >= concurrency) {
        await Promise.race([stopRequested, ...inflight]);
        continue;
      }
      try {
        const batch = await jsConsumer.fetch({
          max_messages: concurrency - inflight.size,
          expires: fetchExpiresMs,
        });
        for await (const m of batch) {
          if (stopping) {
            // Arrived after stop(): hand it back at once instead of after ack_wait.
            m.nak();
            continue;
          }
          const p: Promise<void> = handleOne(m).finally(() => inflight.delete(p));
          inflight.add(p);
        }
        failures = 0;
      } catch (err) {
        if (stopping || bus.nc.isClosed()) break;
        failures++;
        const delayMs = Math.min(30_000, 250 * 2 ** Math.min(failures, 7));
        log.warn(
          { event: 'consume.pull_failed', err, failures, retryInMs: delayMs },
          'pulling messages failed; retrying',
        );
        await Promise.race([stopRequested, new Promise((r) => setTimeout(r, delayMs))]);
      }
    }
  })();

  const done = pull.then(
    async () => {
      await Promise.all(inflight);
      if (!stopping) throw new ConsumerFailedError(spec.stream, spec.durable);
    },
    async (err: unknown) => {
      await Promise.all(inflight);
      throw new ConsumerFailedError(spec.stream, spec.durable, { cause: err });
    },
  );
  // Callers await `done` when they care; an unobserved failure must not crash the process.
  done.catch((err: unknown) => {
    log.error({ event: 'consume.failed', err }, 'consumer stopped unexpectedly');
  });

  let stopped: Promise<void> | undefined;
  return {
    done,
    stop: () => {
      stopped ??= (async () => {
        stopping = true;
        wake();
        await done.catch(() => undefined);
        if (!bus.nc.isClosed()) await bus.nc.flush().catch(() => undefined);
      })();
      return stopped;
    },
  };
}
