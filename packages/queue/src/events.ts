import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import {
  type DeliveryEvent,
  DeliveryEventSchema,
  msgId,
  type Outcome,
  schemas,
  type Stage,
  subjects,
} from '@mailmesh/proto';
import { type Bus, publish } from '@mailmesh/runtime';

import { shortHash } from './ids.js';

export interface EventFields {
  readonly mailId: string;
  readonly stage: Stage;
  readonly outcome: Outcome;
  readonly at: Date;
  readonly recipient?: string;
  readonly smtpCode?: number;
  readonly enhancedCode?: string;
  readonly message?: string;
  readonly attempt?: number;
  readonly nextAttemptAt?: Date;
  readonly remoteHost?: string;
  readonly detail?: string;
}

/** Builds a mailmesh.v1.DeliveryEvent; control characters are removed from free text. */
export function deliveryEvent(f: EventFields): DeliveryEvent {
  const clean = (s: string | undefined): string =>
    (s ?? '').replace(/[\r\n\t]+/g, ' ').slice(0, 2000);
  return create(DeliveryEventSchema, {
    mailId: f.mailId,
    stage: f.stage,
    recipient: f.recipient ?? '',
    outcome: f.outcome,
    smtpCode: f.smtpCode !== undefined && f.smtpCode >= 200 && f.smtpCode <= 599 ? f.smtpCode : 0,
    enhancedCode:
      f.enhancedCode !== undefined && /^[245]\.\d{1,3}\.\d{1,3}$/.test(f.enhancedCode)
        ? f.enhancedCode
        : '',
    message: clean(f.message),
    attempt: f.attempt ?? 0,
    at: timestampFromDate(f.at),
    ...(f.nextAttemptAt ? { nextAttemptAt: timestampFromDate(f.nextAttemptAt) } : {}),
    remoteHost: f.remoteHost ?? '',
    detail: clean(f.detail),
  });
}

/**
 * The `Nats-Msg-Id` part of an event: stable for the same fact (mail, recipient,
 * outcome, attempt, discriminator) so a redelivered input does not log it twice.
 */
export function eventPart(e: DeliveryEvent, discriminator = ''): string {
  return `e${e.outcome}.a${e.attempt}.${shortHash(`${e.recipient}|${discriminator}`)}`;
}

/**
 * Publishes lifecycle events on `event.<stage>.<mailId>` and waits for every ack
 * (DESIGN rule 1: the input is acked only after its outputs are stored).
 */
export async function publishEvents(
  bus: Bus,
  events: readonly DeliveryEvent[],
  discriminator = '',
): Promise<void> {
  await Promise.all(
    events.map((e) =>
      publish(bus, subjects.event(e.stage as Stage, e.mailId), schemas.DeliveryEvent, e, {
        msgId: msgId(e.mailId, e.stage as Stage, eventPart(e, discriminator)),
      }),
    ),
  );
}
