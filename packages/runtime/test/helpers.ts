import { Writable } from 'node:stream';
import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import {
  DeliveryEventSchema,
  EnvelopeSchema,
  Listener,
  objectBuckets,
  Origin,
  Outcome,
  spoolKey,
  type DeliveryEvent,
  type Envelope,
} from '@mailmesh/proto';

import { createLogger, newMailId, type Logger } from '../src/index.js';

export function envelope(mailId = newMailId()): Envelope {
  return create(EnvelopeSchema, {
    mailId,
    receivedAt: timestampFromDate(new Date()),
    origin: Origin.SMTP,
    listener: Listener.MX,
    mailFrom: 'alice@sh.company.local',
    recipients: [{ address: 'bob@bj.company.local' }],
    size: 2048n,
    sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    spool: { bucket: objectBuckets.spool, key: spoolKey(mailId) },
  });
}

export function deliveryEvent(mailId = newMailId(), attempt = 1): DeliveryEvent {
  return create(DeliveryEventSchema, {
    mailId,
    stage: 'delivery',
    recipient: 'bob@bj.company.local',
    outcome: Outcome.TEMPFAIL,
    smtpCode: 451,
    enhancedCode: '4.4.1',
    attempt,
    at: timestampFromDate(new Date()),
  });
}

export interface CapturedLog {
  readonly log: Logger;
  readonly lines: Record<string, unknown>[];
}

/** A real pino logger whose JSON lines are parsed into `lines`. */
export function captureLog(service = 'test'): CapturedLog {
  const lines: Record<string, unknown>[] = [];
  let partial = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      partial += chunk.toString('utf8');
      let nl: number;
      while ((nl = partial.indexOf('\n')) >= 0) {
        const line = partial.slice(0, nl);
        partial = partial.slice(nl + 1);
        if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      cb();
    },
  });
  return {
    log: createLogger(service, { level: 'debug', instance: 't1', destination: sink }),
    lines,
  };
}

/** Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function until<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 15_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
