import { createHash } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import { timestampDate, timestampFromDate } from '@bufbuild/protobuf/wkt';
import {
  DsnNotify,
  DsnRet,
  type Envelope,
  EnvelopeSchema,
  Listener,
  msgId,
  objectBuckets,
  Origin,
  schemas,
  spoolKey,
  subjects,
} from '@mailmesh/proto';
import {
  type Bus,
  type Logger,
  ObjectNotFoundError,
  type ObjectStore,
  publish,
} from '@mailmesh/runtime';

import { composeDsn, dsnIdentity, type DsnKind, type DsnRecipient } from './dsn.js';
import { inlineCopy, readMessage, readMessageHeaders } from './message.js';
import { derivedMailId } from './ids.js';

/** A recipient to report on, with the NOTIFY conditions it was given (RFC 3461 §4.1). */
export interface BounceRecipient extends DsnRecipient {
  readonly notify: readonly DsnNotify[];
}

export interface BounceDeps {
  readonly bus: Bus;
  readonly store: ObjectStore;
  /** Reporting-MTA and MAILER-DAEMON domain: the platform host name. */
  readonly hostname: string;
  readonly log: Logger;
  readonly now?: () => Date;
}

export interface BounceRequest {
  readonly kind: DsnKind;
  /** The stage that reports (the msg-id of the publish names it). */
  readonly stage: 'router' | 'delivery';
  /** The original mail's envelope. */
  readonly envelope: Envelope;
  /**
   * Distinguishes the reports one mail may get (one per job, one per kind):
   * the same part yields the same DSN id, so a retried report is sent once.
   */
  readonly part: string;
  readonly recipients: readonly BounceRecipient[];
  readonly willRetryUntil?: Date;
}

/** Largest original returned whole with RET=FULL; larger ones return headers only. */
const MAX_FULL_RETURN = 10 * 1024 * 1024;

/**
 * The recipients a DSN of `kind` is due for (RFC 3461 §4.1): NOTIFY absent means
 * FAILURE and DELAY; NEVER means none. A null sender or a DSN itself gets none
 * (RFC 3464 §2, RFC 5321 §4.5.5: never bounce a bounce).
 */
export function recipientsDue<R extends { readonly notify: readonly DsnNotify[] }>(
  kind: DsnKind,
  envelope: Pick<Envelope, 'mailFrom' | 'origin'>,
  recipients: readonly R[],
): R[] {
  if (envelope.mailFrom === '' || envelope.origin === Origin.DSN) return [];
  const want = kind === 'failure' ? DsnNotify.FAILURE : DsnNotify.DELAY;
  return recipients.filter((r) =>
    r.notify.length === 0 ? true : !r.notify.includes(DsnNotify.NEVER) && r.notify.includes(want),
  );
}

function fallbackHeaders(env: Envelope): Buffer {
  const lines = [`X-Mailmesh-Id: ${env.mailId}`];
  if (env.fromHeader) lines.push(`From: <${env.fromHeader}>`);
  if (env.messageId) lines.push(`Message-ID: ${env.messageId}`);
  if (env.subject) lines.push(`Subject: ${env.subject.replace(/[\r\n]+/g, ' ')}`);
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`);
}

async function originalContent(
  store: ObjectStore,
  env: Envelope,
): Promise<{ headers: Buffer; full?: Buffer }> {
  try {
    if (env.dsnRet === DsnRet.FULL && env.size <= BigInt(MAX_FULL_RETURN)) {
      const full = await readMessage(store, env, { maxBytes: MAX_FULL_RETURN });
      return { headers: full, full };
    }
    return { headers: await readMessageHeaders(store, env) };
  } catch (err) {
    // The report matters more than the copy: with the original gone, return what the envelope knows.
    if (
      err instanceof ObjectNotFoundError ||
      (err instanceof Error && err.cause instanceof ObjectNotFoundError)
    ) {
      return { headers: fallbackHeaders(env) };
    }
    throw err;
  }
}

/**
 * Sends a DSN to the original sender: composes it, stores it in the spool and
 * publishes its envelope (origin DSN, null sender) on `mail.accepted`, so it flows
 * through scanner and router like any mail. Idempotent per (mail, part): a repeat
 * finds the stored report and republishes the same envelope under the same msg-id.
 * Returns the DSN's mail id, or undefined when no DSN is due.
 */
export async function sendDsn(deps: BounceDeps, req: BounceRequest): Promise<string | undefined> {
  const env = req.envelope;
  const due = recipientsDue(req.kind, env, req.recipients);
  if (due.length === 0) return undefined;
  const now = (deps.now ?? (() => new Date()))();
  const dsnId = derivedMailId(env.mailId, `dsn.${req.kind}.${req.part}`);
  const key = spoolKey(dsnId);
  const bucket = objectBuckets.spool;

  const { messageId, subject, from } = dsnIdentity(req.kind, dsnId, deps.hostname);
  let bytes: Buffer;
  if (await deps.store.exists(bucket, key)) {
    // A repeat: keep the stored report so the envelope's sha256 matches what is stored.
    bytes = await deps.store.getBuffer(bucket, key);
  } else {
    const original = await originalContent(deps.store, env);
    const c = composeDsn({
      kind: req.kind,
      reportingMta: deps.hostname,
      dsnMailId: dsnId,
      date: now,
      to: env.mailFrom,
      original: {
        mailId: env.mailId,
        receivedAt: env.receivedAt ? timestampDate(env.receivedAt) : now,
        ...(env.envid ? { envid: env.envid } : {}),
        ...(env.messageId ? { messageId: env.messageId } : {}),
        ...(env.subject ? { subject: env.subject } : {}),
        headers: original.headers,
        ...(original.full ? { full: original.full } : {}),
      },
      recipients: due,
      ...(req.willRetryUntil ? { willRetryUntil: req.willRetryUntil } : {}),
    });
    bytes = c.bytes;
    await deps.store.put(bucket, key, bytes, { contentType: 'message/rfc822', size: bytes.length });
  }

  const dsnEnvelope = create(EnvelopeSchema, {
    mailId: dsnId,
    receivedAt: timestampFromDate(now),
    origin: Origin.DSN,
    listener: Listener.INTERNAL,
    mailFrom: '',
    // NOTIFY=NEVER: a report about this report would loop.
    recipients: [{ address: env.mailFrom, notify: [DsnNotify.NEVER] }],
    size: BigInt(bytes.length),
    sha256: createHash('sha256').update(bytes).digest('hex'),
    spool: { bucket, key },
    ...inlineCopy(bytes),
    ...(env.trace ? { trace: env.trace } : {}),
    messageId,
    subject,
    fromHeader: from,
  });
  await publish(deps.bus, subjects.accepted, schemas.Envelope, dsnEnvelope, {
    msgId: msgId(dsnId, req.stage),
  });
  deps.log.info(
    {
      event: `${req.stage}.dsn_sent`,
      mailId: env.mailId,
      dsnMailId: dsnId,
      kind: req.kind,
      recipients: due.map((r) => r.address),
    },
    `${req.kind} DSN sent to ${env.mailFrom}`,
  );
  return dsnId;
}
