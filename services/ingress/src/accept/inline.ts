/**
 * The inline (before-queue) scan, Postfix's before-queue content filter: once
 * the body is in the spool and before the envelope is published, ingress asks a
 * scanner over NATS request/reply (`rpc.scan.inline`) with a deadline, so a mail
 * policy rejects is refused in the SMTP session (`550 5.7.1`) and never queued:
 * no envelope, no DSN, nothing left in the spool.
 *
 * No verdict in time (timeout, no scanner subscribed, the scanner could not
 * decide) falls back to the platform's `inlineScan.onTimeout`: `accept` queues the
 * mail as usual and the after-queue scan judges it; `tempfail` answers
 * `451 4.3.0` and keeps nothing. Every mail that is queued is scanned after queue
 * as well: the inline verdict is not carried along (see services/scanner/README.md).
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import type { InlineScanFallback, InlineScanSettings, ListenerKind } from '@mailmesh/config';
import {
  InlineScanReplySchema,
  InlineScanRequestSchema,
  Verdict,
  natsHeaders,
  schemas,
  subjects,
  type Envelope,
  type InlineScanReply,
} from '@mailmesh/proto';
import { injectTrace, withSpan, type Bus, type Logger } from '@mailmesh/runtime';

import { replies, type Refusal } from '../reply.js';

/** Why there is no verdict. */
export type NoVerdictReason =
  'timeout' | 'no-responders' | 'scanner-error' | 'bad-reply' | 'request-failed';

export type InlineScanOutcome =
  | { readonly kind: 'verdict'; readonly reply: InlineScanReply }
  | { readonly kind: 'no-verdict'; readonly reason: NoVerdictReason; readonly detail: string };

export type InlineDecision =
  | { readonly kind: 'queue'; readonly fallback: boolean }
  | { readonly kind: 'refuse'; readonly reply: Refusal };

/** Whether mail on a listener of `kind` is scanned before it is queued. */
export function inlineScanApplies(
  settings: InlineScanSettings | undefined,
  kind: ListenerKind,
): boolean {
  if (!settings?.enabled) return false;
  const kinds = settings.listenerKinds ?? [];
  return kinds.length === 0 || kinds.includes(kind);
}

// Reply text goes onto the SMTP wire: printable US-ASCII, one line, bounded.
const printable = (s: string, max: number): string => s.replace(/[^\x20-\x7e]/g, '?').slice(0, max);

/**
 * What an inline scan outcome means for the transaction. Pure. Only a reject
 * refuses outright: quarantine, tag and pass are queued, and the after-queue scan
 * quarantines or tags the mail as it always does.
 */
export function decideInline(
  outcome: InlineScanOutcome,
  onTimeout: InlineScanFallback,
): InlineDecision {
  if (outcome.kind === 'no-verdict') {
    return onTimeout === 'tempfail'
      ? { kind: 'refuse', reply: replies.scanUnavailable() }
      : { kind: 'queue', fallback: true };
  }
  const r = outcome.reply;
  if (r.verdict !== Verdict.REJECT) return { kind: 'queue', fallback: false };
  // The first check that asked for the reject names the policy and rule;
  // evidence (the reason's detail) stays in the logs and the trace.
  const first = r.reasons.find((x) => x.action === Verdict.REJECT);
  return {
    kind: 'refuse',
    reply: replies.policyRejected(
      printable(first?.rule || 'content', 160),
      printable(first?.check || 'scan', 32),
    ),
  };
}

/** The error's name anywhere down the cause chain (nats.js nests "no responders"). */
function hasErrorNamed(err: unknown, names: readonly string[]): boolean {
  for (let e: unknown = err, d = 0; e instanceof Error && d < 5; e = e.cause, d++) {
    if (names.includes(e.name)) return true;
  }
  return false;
}

/**
 * Asks one scanner (the queue group picks it) for a verdict on a stored mail.
 * Never throws: every failure is a `no-verdict` outcome.
 */
export async function requestInlineScan(
  bus: Bus,
  envelope: Envelope,
  timeoutMs: number,
): Promise<InlineScanOutcome> {
  const request = create(InlineScanRequestSchema, { envelope, deadlineMs: timeoutMs });
  return withSpan(
    `request ${subjects.inlineScan}`,
    {
      'messaging.system': 'nats',
      'messaging.operation.type': 'send',
      'messaging.destination.name': subjects.inlineScan,
      'mailmesh.mail_id': envelope.mailId,
    },
    async (): Promise<InlineScanOutcome> => {
      const h = injectTrace();
      h.set(natsHeaders.schema, schemas.InlineScanRequest.typeName);
      h.set(natsHeaders.mailId, envelope.mailId);
      let data: Uint8Array;
      try {
        const m = await bus.nc.request(
          subjects.inlineScan,
          toBinary(InlineScanRequestSchema, request),
          { timeout: timeoutMs, headers: h },
        );
        data = m.data;
      } catch (err) {
        const detail = err instanceof Error ? err.message : String(err);
        // Matched by name: nats.js error classes are not part of our runtime's surface.
        if (hasErrorNamed(err, ['NoResponders', 'NoRespondersError']))
          return { kind: 'no-verdict', reason: 'no-responders', detail };
        if (hasErrorNamed(err, ['TimeoutError']))
          return { kind: 'no-verdict', reason: 'timeout', detail };
        return { kind: 'no-verdict', reason: 'request-failed', detail };
      }
      let reply: InlineScanReply;
      try {
        reply = fromBinary(InlineScanReplySchema, data);
      } catch (err) {
        const detail = err instanceof Error ? err.message : String(err);
        return { kind: 'no-verdict', reason: 'bad-reply', detail };
      }
      const problems = schemas.InlineScanReply.validate(reply);
      if (problems.length > 0 || reply.mailId !== envelope.mailId) {
        const detail =
          problems.map((p) => `${p.path} ${p.problem}`).join('; ') ||
          `reply is for mail ${reply.mailId}`;
        return { kind: 'no-verdict', reason: 'bad-reply', detail };
      }
      if (reply.error !== '')
        return { kind: 'no-verdict', reason: 'scanner-error', detail: reply.error };
      return { kind: 'verdict', reply };
    },
  );
}

/** The inline scan refused the mail; acceptDurably has removed its spool object. */
export class InlineScanRefusal extends Error {
  override readonly name = 'InlineScanRefusal';
  constructor(
    readonly mailId: string,
    /** The SMTP answer: `550 5.7.1` for a reject, `451 4.3.0` for the tempfail fallback. */
    readonly reply: Refusal,
  ) {
    super(
      `mail ${mailId} refused by the inline scan: ${reply.code} ${reply.enhanced} ${reply.text}`,
    );
  }
}

/** Runs after the body is stored and before the envelope is published; throws to refuse. */
export type AcceptGate = (envelope: Envelope) => Promise<void>;

export interface InlineGateDeps {
  readonly bus: Bus;
  readonly log: Logger;
  readonly sessionId: string;
}

/**
 * The acceptance gate for a mail on a listener of `kind`, or undefined when the
 * platform does not scan inline there. It throws InlineScanRefusal to refuse.
 */
export function inlineGate(
  settings: InlineScanSettings | undefined,
  kind: ListenerKind,
  deps: InlineGateDeps,
): AcceptGate | undefined {
  if (!settings || !inlineScanApplies(settings, kind)) return undefined;
  const onTimeout = settings.onTimeout ?? 'accept';
  return async (envelope) => {
    // An envelope that is not valid will not be published either (451); no need to ask.
    if (schemas.Envelope.validate(envelope).length > 0) return;
    const outcome = await requestInlineScan(deps.bus, envelope, settings.timeoutMs);
    const decision = decideInline(outcome, onTimeout);
    const log = {
      event: 'ingress.inline_scan',
      mailId: envelope.mailId,
      sessionId: deps.sessionId,
      ...(outcome.kind === 'verdict'
        ? {
            verdict: Verdict[outcome.reply.verdict].toLowerCase(),
            reasons: outcome.reply.reasons.map((r) => `${r.check}:${r.rule}`),
            scanner: outcome.reply.scannerInstance,
          }
        : { noVerdict: outcome.reason, detail: outcome.detail, onTimeout }),
      decision: decision.kind,
    };
    if (decision.kind === 'queue') {
      if (outcome.kind === 'no-verdict') deps.log.warn(log, 'inline scan gave no verdict; queued');
      else deps.log.info(log, 'inline scan verdict; queued');
      return;
    }
    deps.log.info(
      { ...log, code: decision.reply.code, enhanced: decision.reply.enhanced },
      'inline scan refused the mail',
    );
    throw new InlineScanRefusal(envelope.mailId, decision.reply);
  };
}

/** The SMTP answer for an error from acceptDurably, if it is an inline-scan refusal. */
export function inlineRefusalOf(err: unknown): Refusal | undefined {
  return err instanceof InlineScanRefusal ? err.reply : undefined;
}
