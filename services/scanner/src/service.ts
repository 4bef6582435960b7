/**
 * The scanner service: a shared durable consumer of `mail.accepted` (so any number
 * of processes scale it), one scan per envelope, one output per verdict:
 *
 *   pass | tag   -> ScanResult on mail.scanned
 *   quarantine   -> body copied to bucket quarantine, ScanResult on mail.quarantined
 *   reject       -> a DSN to the sender as a new envelope on mail.accepted
 *
 * then the input is acked (DESIGN rule 1). Every publish carries
 * `Nats-Msg-Id: <mailId>.scanner[.part]` and every stored object has a fixed key,
 * so a redelivered envelope (crash, ack_wait) produces no second output.
 */
import { create } from '@bufbuild/protobuf';
import { timestampDate, timestampFromDate } from '@bufbuild/protobuf/wkt';
import {
  DeliveryEventSchema,
  EnvelopeSchema,
  Listener,
  Origin,
  Outcome,
  ScanResultSchema,
  consumers,
  msgId,
  objectBuckets,
  quarantineKey,
  schemas,
  spoolKey,
  subjects,
  type ConsumerSpec,
  type Envelope,
  type ScanResult,
} from '@mailmesh/proto';
import {
  ObjectNotFoundError,
  RuntimeError,
  consume,
  outcome,
  publish,
  type Bus,
  type Consumer,
  type Delivery,
  type HandlerOutcome,
  type Logger,
  type ObjectStore,
} from '@mailmesh/runtime';
import { inlineCopy, readMessage } from '@mailmesh/queue';
import type { Registry } from 'prom-client';

import type { ScannerConfig } from './config.js';
import { DSN_SUBJECT, buildDsn, dsnMailId, dsnMessageId, splitRule, wantsDsn } from './dsn.js';
import { events } from './events.js';
import { headerFieldsOf, judgeMail, reasonsOf, sha256Hex } from './judge.js';
import type { ScanDeps, ScanOutcome } from './scan.js';
import { toVerdict, type Finding } from './verdict.js';

export interface ScannerOptions {
  readonly bus: Bus;
  readonly store: ObjectStore;
  readonly log: Logger;
  /** The live configuration (swapped whole by the config watcher). */
  readonly config: () => ScannerConfig;
  /** clamd, spamd, DNS resolver and friends; `progress` is set per message. */
  readonly deps: Omit<ScanDeps, 'progress' | 'authservId'>;
  /** Pod name, written into ScanResult.scanner_instance. */
  readonly instance: string;
  /** Host name for DSNs and Authentication-Results when the platform config has none. */
  readonly hostname: string;
  /** Messages scanned at once per process; default 4. */
  readonly concurrency?: number;
  /** Largest spool body read; default 64 MiB. */
  readonly maxMessageBytes?: number;
  readonly clock?: () => Date;
  /** Default `consumers.scanner`; tests pass a shorter ack_wait. */
  readonly consumer?: ConsumerSpec;
  readonly registry?: Registry;
  /** Redelivery delay after a temporary failure, by redelivery count; default `tempfailDelayMs`. */
  readonly retryDelayMs?: (redeliveryCount: number) => number;
  /**
   * Crash tests stop a process here: `scanned` after the scan and before any output,
   * `published` after the outputs and before the ack (published output, unacked input).
   */
  readonly testHold?: (point: HoldPoint, mailId: string) => Promise<void> | void;
}

export type HoldPoint = 'scanned' | 'published';

export interface Scanner {
  stop(): Promise<void>;
  readonly done: Promise<void>;
}

/** Temporary failures back off from 15 s to 5 min. */
export function tempfailDelayMs(redeliveryCount: number): number {
  return Math.min(300_000, 15_000 * 2 ** Math.min(Math.max(redeliveryCount, 0), 5));
}

export function scanResultOf(
  env: Envelope,
  out: ScanOutcome & { kind: 'verdict' },
  at: Date,
  instance: string,
): ScanResult {
  return create(ScanResultSchema, {
    mailId: env.mailId,
    envelope: env,
    verdict: toVerdict(out.action),
    reasons: reasonsOf(out.findings),
    headersToAdd: headerFieldsOf(out.headers),
    junk: out.junk,
    spamScore: out.spamScore,
    scanIncomplete: out.incomplete,
    scannedAt: timestampFromDate(at),
    scannerInstance: instance,
  });
}

export async function startScanner(opts: ScannerOptions): Promise<Scanner> {
  const clock = opts.clock ?? (() => new Date());
  const maxBytes = opts.maxMessageBytes ?? 64 * 1024 * 1024;
  const spec = opts.consumer ?? consumers.scanner;
  const retryDelay = opts.retryDelayMs ?? tempfailDelayMs;

  function readBody(env: Envelope): Promise<Buffer> {
    return readMessage(opts.store, env, { maxBytes, timeoutMs: 60_000 });
  }

  /** Best effort: the trace event must never hold up or duplicate the mail itself. */
  async function publishEvent(
    d: Delivery<Envelope>,
    env: Envelope,
    kind: Outcome,
    message: string,
    detail: string,
  ): Promise<void> {
    try {
      await publish(
        opts.bus,
        subjects.event('scanner', env.mailId),
        schemas.DeliveryEvent,
        create(DeliveryEventSchema, {
          mailId: env.mailId,
          stage: 'scanner',
          outcome: kind,
          message,
          detail: detail.slice(0, 2000),
          at: timestampFromDate(clock()),
          ...(kind === Outcome.REJECTED ? { smtpCode: 550, enhancedCode: '5.7.1' } : {}),
        }),
        { msgId: msgId(env.mailId, 'scanner', 'event') },
      );
    } catch (err) {
      d.log.warn(
        { event: events.eventPublishFailed, mailId: env.mailId, err },
        'trace event not published',
      );
    }
  }

  async function storeDsn(
    env: Envelope,
    raw: Buffer,
    findings: readonly Finding[],
    hostname: string,
  ): Promise<Envelope> {
    const id = dsnMailId(env.mailId);
    const key = spoolKey(id);
    // A redelivery must publish the DSN it stored before, byte for byte.
    let body: Buffer;
    if (await opts.store.exists(objectBuckets.spool, key)) {
      body = await opts.store.getBuffer(objectBuckets.spool, key);
    } else {
      body = buildDsn({ original: env, raw, findings, hostname, now: clock() }).message;
      await opts.store.put(objectBuckets.spool, key, body, {
        size: body.length,
        contentType: 'message/rfc822',
      });
    }
    return create(EnvelopeSchema, {
      mailId: id,
      receivedAt: timestampFromDate(clock()),
      origin: Origin.DSN,
      listener: Listener.INTERNAL,
      mailFrom: '',
      recipients: [{ address: env.mailFrom }],
      size: BigInt(body.length),
      sha256: sha256Hex(body),
      spool: { bucket: objectBuckets.spool, key },
      ...inlineCopy(body),
      ...(env.trace ? { trace: env.trace } : {}),
      messageId: dsnMessageId(id, hostname),
      subject: DSN_SUBJECT,
      fromHeader: `MAILER-DAEMON@${hostname}`,
    });
  }

  async function handle(d: Delivery<Envelope>): Promise<HandlerOutcome> {
    const env = d.data;
    const cfg = opts.config();
    const hostname = cfg.hostname ?? opts.hostname;

    let raw: Buffer;
    try {
      raw = await readBody(env);
    } catch (err) {
      const missing = err instanceof ObjectNotFoundError;
      const retryable = err instanceof RuntimeError ? err.retryable : true;
      d.log.error(
        { event: events.bodyUnavailable, mailId: env.mailId, err, missing },
        'spool body unavailable',
      );
      // A missing body may still be arriving from a lagging replica; give it a few tries.
      if (missing && d.redeliveryCount >= 5)
        return outcome.term(`spool body ${env.spool?.key ?? ''} missing`);
      return outcome.nak(retryable || missing ? retryDelay(d.redeliveryCount) : retryDelay(5));
    }

    const {
      outcome: out,
      policies,
      scanMs,
      isDsn,
    } = await judgeMail(env, raw, cfg, {
      ...opts.deps,
      authservId: hostname,
      progress: () => d.working(),
    });

    if (out.kind === 'tempfail') {
      const delayMs = retryDelay(d.redeliveryCount);
      d.log.warn(
        {
          event: events.tempfail,
          mailId: env.mailId,
          check: out.check,
          reason: out.reason,
          retryInMs: delayMs,
        },
        `${out.check} unavailable; scanning again later`,
      );
      return outcome.nak(delayMs);
    }

    await opts.testHold?.('scanned', env.mailId);
    const { findings, action: verdict } = out;
    const result = scanResultOf(env, out, clock(), opts.instance);
    const summary = findings
      .filter((f) => f.action !== 'pass')
      .map((f) => `${f.check}:${f.rule}`)
      .join(', ');

    switch (verdict) {
      case 'pass':
      case 'tag':
        // Together: one write to the bus for both, and the event never waits on the result.
        await Promise.all([
          publish(opts.bus, subjects.scanned, schemas.ScanResult, result, {
            msgId: msgId(env.mailId, 'scanner'),
          }),
          publishEvent(d, env, Outcome.SCANNED, verdict, summary),
        ]);
        break;
      case 'quarantine':
        await opts.store.put(objectBuckets.quarantine, quarantineKey(env.mailId), raw, {
          size: raw.length,
          contentType: 'message/rfc822',
          metadata: { 'mailmesh-mail-id': env.mailId },
        });
        await publish(opts.bus, subjects.quarantined, schemas.ScanResult, result, {
          msgId: msgId(env.mailId, 'scanner'),
        });
        await publishEvent(d, env, Outcome.QUARANTINED, 'quarantined', summary);
        break;
      case 'reject': {
        if (wantsDsn(env, isDsn)) {
          const dsn = await storeDsn(env, raw, findings, hostname);
          await publish(opts.bus, subjects.accepted, schemas.Envelope, dsn, {
            msgId: msgId(env.mailId, 'scanner', 'dsn'),
          });
          d.log.info(
            { event: events.dsn, mailId: env.mailId, dsnMailId: dsn.mailId, to: env.mailFrom },
            'DSN sent',
          );
        }
        const first = findings.find((f) => f.action === 'reject');
        const [policy, rule] = first ? splitRule(first.rule) : ['', ''];
        await publishEvent(
          d,
          env,
          Outcome.REJECTED,
          `rejected by policy ${policy} rule ${rule}`,
          summary,
        );
        break;
      }
    }
    await opts.testHold?.('published', env.mailId);
    d.log.info(
      {
        event: events.scanned,
        mailId: env.mailId,
        verdict,
        reasons: findings.map((f) => `${f.check}:${f.rule}:${f.action}`),
        policies: policies.map((p) => p.name),
        scanMs,
        redelivery: d.redeliveryCount,
        receivedAt: env.receivedAt ? timestampDate(env.receivedAt).toISOString() : undefined,
      },
      `scanned: ${verdict}`,
    );
    return outcome.ack();
  }

  // Long scans (big attachments, slow clamd) keep their message: signal "working" at a
  // third of the ack_wait the server actually has, which an operator may have tuned.
  const info = await opts.bus.jsm.consumers.info(spec.stream, spec.durable);
  const ackWaitMs = info.config.ack_wait ? Math.floor(info.config.ack_wait / 1e6) : spec.ackWaitMs;
  const consumer: Consumer = await consume(opts.bus, spec, schemas.Envelope, handle, {
    log: opts.log,
    concurrency: opts.concurrency ?? 4,
    ackExtendMs: Math.max(500, Math.floor(ackWaitMs / 3)),
    ...(opts.registry ? { registry: opts.registry } : {}),
  });
  return { stop: () => consumer.stop(), done: consumer.done };
}
