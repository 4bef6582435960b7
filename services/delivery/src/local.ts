/**
 * Local delivery: append a job's mail to each recipient's mailbox, exactly once per
 * (mailId, mailbox), with the recipient's Return-Path and Delivered-To in front of
 * the shared body.
 */
import type { ConfigSnapshot } from '@mailmesh/config';
import { type DeliveryJob, mailHeaders } from '@mailmesh/proto';
import { inlineBody, spoolRefOf } from '@mailmesh/queue';

import type { MailStore } from './mailstore/store.js';
import { headerBlock, headerLine } from './message.js';
import type { DeliveryOutcome } from './outcome.js';

export interface LocalDeps {
  readonly mailstore: MailStore;
  readonly snapshot: () => ConfigSnapshot;
}

/** The lines delivery puts in front of the body for one recipient (RFC 5321 §4.4). */
export function recipientPrefix(job: DeliveryJob, address: string): string {
  const from = job.envelope?.mailFrom ?? '';
  return (
    headerLine(mailHeaders.returnPath, `<${from}>`) +
    headerLine(mailHeaders.deliveredTo, address) +
    headerBlock(job.headersToAdd)
  );
}

export async function deliverLocal(
  deps: LocalDeps,
  job: DeliveryJob,
  recipients: readonly string[],
): Promise<DeliveryOutcome[]> {
  const env = job.envelope;
  if (!env) throw new Error('delivery job without envelope');
  const snap = deps.snapshot();
  const domain = job.route?.domain ?? '';
  if (!snap.isLocalDomain(domain)) {
    return recipients.map((recipient) => ({
      kind: 'tempfail',
      recipient,
      error: {
        kind: 'config',
        code: 451,
        enhanced: '4.3.5',
        message: `${domain} is not a local domain of this platform (not configured, or removed since routing)`,
      },
    }));
  }
  const body = await deps.mailstore.ensureBody(
    env.mailId,
    spoolRefOf(env),
    Number(env.size),
    inlineBody(env),
  );
  return Promise.all(
    recipients.map(async (recipient): Promise<DeliveryOutcome> => {
      const match = snap.findRecipient(recipient);
      const mailbox =
        match?.kind === 'mailbox'
          ? match.mailbox
          : match?.kind === 'catchAll' && !('members' in match.target)
            ? match.target
            : undefined;
      if (!mailbox) {
        return {
          kind: 'permfail',
          recipient,
          error: {
            kind: 'mailbox-unknown',
            code: 550,
            enhanced: '5.1.1',
            message: match
              ? `${recipient} is a group now, not a mailbox`
              : `mailbox ${recipient} does not exist`,
          },
        };
      }
      const result = await deps.mailstore.append({
        mailId: env.mailId,
        address: mailbox.address,
        quotaBytes: mailbox.quotaBytes,
        junk: job.junk,
        prefix: recipientPrefix(job, mailbox.address),
        body,
      });
      if (result.kind === 'over-quota') {
        return {
          kind: 'tempfail',
          recipient,
          error: {
            kind: 'quota',
            code: 452,
            enhanced: '4.2.2',
            message: `mailbox ${mailbox.address} is full: ${result.usedBytes} of ${result.quotaBytes} bytes used, message needs ${result.size}`,
          },
        };
      }
      return {
        kind: 'delivered',
        recipient,
        reply: `${result.folder} UID ${result.uid}${result.kind === 'duplicate' ? ' (already delivered)' : ''}`,
      };
    }),
  );
}
