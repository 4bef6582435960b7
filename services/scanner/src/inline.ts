/**
 * The before-queue ("inline") scan: a NATS request/reply responder on
 * `rpc.scan.inline`, in queue group `queueGroups.inlineScan` so that every
 * scanner process shares the requests (Postfix's before-queue content filter).
 *
 * Ingress sends an InlineScanRequest after the body is in the spool and before it
 * publishes the envelope; this reads the body, judges it exactly as the
 * after-queue consumer does (judge.ts) and answers an InlineScanReply. It
 * publishes and stores nothing: the mail is not accepted yet, and whatever the
 * answer, the after-queue scan still runs for a mail ingress accepts.
 *
 * A request that waited here longer than its `deadline_ms` is dropped unanswered
 * (the requester has given up and applied its fallback); a full queue answers an
 * error at once so the requester need not wait for its deadline.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import {
  InlineScanReplySchema,
  MAIL_ID_PATTERN,
  Verdict,
  natsHeaders,
  queueGroups,
  schemas,
  subjects,
  type Envelope,
  type InlineScanReply,
} from '@mailmesh/proto';
import {
  Counter,
  decodeMessage,
  extractTrace,
  injectTrace,
  withSpan,
  type Bus,
  type Logger,
  type ObjectStore,
  type Registry,
} from '@mailmesh/runtime';
import { readMessage } from '@mailmesh/queue';

import type { ScannerConfig } from './config.js';
import { events } from './events.js';
import { headerFieldsOf, judgeMail, reasonsOf } from './judge.js';
import type { ScanDeps } from './scan.js';
import { toVerdict } from './verdict.js';

export interface InlineResponderOptions {
  readonly bus: Bus;
  readonly store: ObjectStore;
  readonly log: Logger;
  /** The live configuration (swapped whole by the config watcher). */
  readonly config: () => ScannerConfig;
  readonly deps: Omit<ScanDeps, 'progress' | 'authservId'>;
  /** Pod name, written into InlineScanReply.scanner_instance. */
  readonly instance: string;
  /** authserv-id when the platform config has no host name. */
  readonly hostname: string;
  /** Requests scanned at once per process; default 4. */
  readonly concurrency?: number;
  /** Requests waiting beyond `concurrency`; more are answered "overloaded". Default 64. */
  readonly maxQueued?: number;
  /** Largest spool body read; default 64 MiB. */
  readonly maxMessageBytes?: number;
  /** Monotonic milliseconds, for request deadlines; default performance.now. */
  readonly now?: () => number;
  readonly registry?: Registry;
}

export interface InlineResponder {
  /** Stops taking requests and waits for those in progress to be answered. */
  stop(): Promise<void>;
  /** Resolves once the subscription has ended (stopped, or the connection closed). */
  readonly done: Promise<void>;
}

/** How an inline request ended, the `outcome` label of the request counter. */
export type InlineOutcome =
  'pass' | 'tag' | 'quarantine' | 'reject' | 'error' | 'invalid' | 'overloaded' | 'expired';

interface Pending {
  readonly mailId: string;
  readonly arrivedAt: number;
  readonly deadlineMs: number;
  readonly run: () => Promise<void>;
  readonly refuse: (error: string) => void;
}

const errorReply = (mailId: string, error: string, instance: string): InlineScanReply =>
  create(InlineScanReplySchema, {
    mailId: MAIL_ID_PATTERN.test(mailId) ? mailId : '',
    verdict: Verdict.UNSPECIFIED,
    error: error.slice(0, 500),
    scannerInstance: instance,
  });

export async function startInlineResponder(opts: InlineResponderOptions): Promise<InlineResponder> {
  const now = opts.now ?? (() => performance.now());
  const concurrency = Math.max(1, opts.concurrency ?? 4);
  const maxQueued = Math.max(0, opts.maxQueued ?? 64);
  const maxBytes = opts.maxMessageBytes ?? 64 * 1024 * 1024;
  const counter = opts.registry
    ? new Counter({
        name: 'mailmesh_scanner_inline_requests_total',
        help: 'Inline (before-queue) scan requests, by how they ended',
        labelNames: ['outcome'] as const,
        registers: [opts.registry],
      })
    : undefined;
  const count = (o: InlineOutcome): void => counter?.inc({ outcome: o });

  const queue: Pending[] = [];
  let inFlight = 0;
  let idle: (() => void) | undefined;

  function pump(): void {
    while (inFlight < concurrency && queue.length > 0) {
      const p = queue.shift()!;
      const waited = now() - p.arrivedAt;
      if (waited >= p.deadlineMs) {
        // The requester stopped waiting; scanning now would only cost CPU.
        count('expired');
        opts.log.warn(
          { event: events.inlineExpired, mailId: p.mailId, waitedMs: Math.round(waited) },
          'inline scan request expired before it started',
        );
        continue;
      }
      inFlight++;
      void p.run().finally(() => {
        inFlight--;
        pump();
      });
    }
    if (inFlight === 0 && queue.length === 0) idle?.();
  }

  async function scan(env: Envelope, deadlineMs: number, started: number) {
    const cfg = opts.config();
    const hostname = cfg.hostname ?? opts.hostname;
    let raw: Buffer;
    try {
      raw = await readMessage(opts.store, env, {
        maxBytes,
        timeoutMs: Math.max(1, deadlineMs - (now() - started)),
      });
    } catch (err) {
      opts.log.warn(
        { event: events.inlineBodyUnavailable, mailId: env.mailId, err },
        'inline scan: spool body unavailable',
      );
      return errorReply(
        env.mailId,
        `spool body unavailable: ${err instanceof Error ? err.message : String(err)}`,
        opts.instance,
      );
    }
    const j = await judgeMail(env, raw, cfg, { ...opts.deps, authservId: hostname });
    const out = j.outcome;
    if (out.kind === 'tempfail') {
      return errorReply(env.mailId, `${out.check} unavailable: ${out.reason}`, opts.instance);
    }
    opts.log.info(
      {
        event: events.inlineScanned,
        mailId: env.mailId,
        verdict: out.action,
        reasons: out.findings.map((f) => `${f.check}:${f.rule}:${f.action}`),
        policies: j.policies.map((p) => p.name),
        scanMs: j.scanMs,
      },
      `inline scan: ${out.action}`,
    );
    return create(InlineScanReplySchema, {
      mailId: env.mailId,
      verdict: toVerdict(out.action),
      reasons: reasonsOf(out.findings),
      headersToAdd: headerFieldsOf(out.headers),
      junk: out.junk,
      spamScore: out.spamScore,
      scanIncomplete: out.incomplete,
      scannerInstance: opts.instance,
    });
  }

  const sub = opts.bus.nc.subscribe(subjects.inlineScan, { queue: queueGroups.inlineScan });

  const loop = (async () => {
    for await (const m of sub) {
      const arrivedAt = now();
      const answer = (reply: InlineScanReply): void => {
        const h = injectTrace();
        h.set(natsHeaders.schema, schemas.InlineScanReply.typeName);
        if (reply.mailId !== '') h.set(natsHeaders.mailId, reply.mailId);
        try {
          // A requester that gave up has no inbox any more; NATS then drops the reply.
          m.respond(toBinary(InlineScanReplySchema, reply), { headers: h });
        } catch (err) {
          opts.log.warn(
            { event: events.inlineReplyFailed, mailId: reply.mailId, err },
            'inline scan reply not sent',
          );
        }
      };
      const schema = m.headers?.has(natsHeaders.schema)
        ? m.headers.get(natsHeaders.schema)
        : undefined;
      const decoded = decodeMessage(schemas.InlineScanRequest, m.data, schema);
      if (!decoded.ok) {
        count('invalid');
        const why = decoded.problems.map((p) => `${p.path || '(message)'} ${p.problem}`).join('; ');
        opts.log.warn({ event: events.inlineInvalid, problems: decoded.problems }, 'bad request');
        answer(errorReply('', `invalid request: ${why}`, opts.instance));
        continue;
      }
      const req = decoded.value;
      const env = req.envelope!;
      const pending: Pending = {
        mailId: env.mailId,
        arrivedAt,
        deadlineMs: req.deadlineMs,
        refuse: (error) => answer(errorReply(env.mailId, error, opts.instance)),
        run: () =>
          withSpan(
            `process ${subjects.inlineScan}`,
            {
              'messaging.system': 'nats',
              'messaging.operation.type': 'process',
              'messaging.destination.name': subjects.inlineScan,
              'mailmesh.mail_id': env.mailId,
            },
            async () => {
              let reply: InlineScanReply;
              try {
                reply = await scan(env, req.deadlineMs, arrivedAt);
              } catch (err) {
                opts.log.error(
                  { event: events.inlineFailed, mailId: env.mailId, err },
                  'inline scan failed',
                );
                reply = errorReply(env.mailId, 'internal error', opts.instance);
              }
              count(reply.error !== '' ? 'error' : outcomeOf(reply.verdict));
              answer(reply);
            },
            { context: extractTrace(m.headers) },
          ),
      };
      if (inFlight >= concurrency && queue.length >= maxQueued) {
        count('overloaded');
        pending.refuse('scanner overloaded');
        continue;
      }
      queue.push(pending);
      pump();
    }
  })();

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      // drain() unsubscribes, delivers what the server already sent (those requests
      // are still answered: no other member will see them), then ends the iterator.
      await sub.drain();
      await loop;
      if (inFlight > 0 || queue.length > 0) await new Promise<void>((r) => (idle = r));
    })());

  // The server knows the subscription once the flush returns: from then on a
  // request finds this responder (tests and readiness rely on it).
  await opts.bus.nc.flush();
  opts.log.info(
    { event: events.inlineListening, subject: subjects.inlineScan, queue: queueGroups.inlineScan },
    'answering inline scan requests',
  );
  return { stop, done: loop };
}

function outcomeOf(v: Verdict): InlineOutcome {
  switch (v) {
    case Verdict.TAG:
      return 'tag';
    case Verdict.QUARANTINE:
      return 'quarantine';
    case Verdict.REJECT:
      return 'reject';
    default:
      return 'pass';
  }
}
