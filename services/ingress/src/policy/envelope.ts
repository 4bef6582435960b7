/**
 * MAIL FROM and RCPT TO decisions over a configuration snapshot. Pure: every fact
 * about the session comes in as an argument.
 */
import type { ConfigSnapshot, Limits, ListenerKind } from '@mailmesh/config';
import { accept, replies, type Reply } from '../reply.js';
import { pathProblem } from './address.js';

export interface SessionFacts {
  readonly listener: ListenerKind;
  readonly clientIp: string;
  readonly tls: boolean;
  /** The authenticated login (a full address); undefined when not authenticated. */
  readonly authUser: string | undefined;
}

export interface MailFromFacts {
  /** The path as the client sent it, e.g. `<user@example.com>` or `<>`. */
  readonly raw: string;
  /** `user@domain` as parsed; `''` for the null reverse-path. */
  readonly address: string;
  /** The SIZE= parameter, if given (RFC 1870). */
  readonly declaredSize: number | undefined;
}

/** Submission (587) and SMTPS (465) are for authenticated users only (RFC 6409 §4.3). */
export function requiresAuth(listener: ListenerKind): boolean {
  return listener !== 'mx';
}

export function decideMailFrom(
  snapshot: ConfigSnapshot,
  limits: Limits,
  session: SessionFacts,
  mail: MailFromFacts,
): Reply {
  if (requiresAuth(session.listener) && session.authUser === undefined)
    return replies.authRequired();
  const problem = pathProblem(mail.raw);
  if (problem !== undefined) return replies.badSenderSyntax(problem);
  if (mail.declaredSize !== undefined && mail.declaredSize > limits.maxMessageBytes) {
    return replies.sizeDeclared(limits.maxMessageBytes);
  }
  // An authenticated user may only use its own addresses and sendAs (no null sender:
  // a submitting user has no business sending bounces).
  if (session.authUser !== undefined && !snapshot.maySendAs(session.authUser, mail.address)) {
    return replies.notOwnedSender(mail.address);
  }
  return accept();
}

export interface RcptFacts {
  readonly raw: string;
  /** `user@domain` as parsed. */
  readonly address: string;
  /** Recipients already accepted in this transaction. */
  readonly accepted: number;
}

export function decideRecipient(
  snapshot: ConfigSnapshot,
  limits: Limits,
  session: SessionFacts,
  rcpt: RcptFacts,
): Reply {
  const problem = pathProblem(rcpt.raw);
  if (problem !== undefined) return replies.badRecipientSyntax(problem);
  // RFC 5321 §4.5.3.1.8: 452 for too many recipients, the client sends the rest later.
  if (rcpt.accepted >= limits.maxRecipients) return replies.tooManyRecipients();
  const at = rcpt.address.lastIndexOf('@');
  const domainName = rcpt.address.slice(at + 1);
  const domain = snapshot.domainOf(domainName);
  if (domain !== undefined) {
    if (domain.inbound.requireTLS && !session.tls) return replies.tlsRequired(domain.domain);
    return snapshot.findRecipient(rcpt.address) !== undefined
      ? accept()
      : replies.unknownUser(rcpt.address);
  }
  if (session.authUser !== undefined || snapshot.mayRelay(session.clientIp)) return accept();
  return replies.relayDenied(rcpt.address);
}

/**
 * The From: header check for authenticated senders: every author address must be
 * one the user owns. `authors` are the addr-specs of the From field; undefined when
 * the field is missing or cannot be parsed.
 */
export function decideFromHeader(
  snapshot: ConfigSnapshot,
  authUser: string | undefined,
  authors: readonly string[] | undefined,
): Reply {
  if (authUser === undefined) return accept();
  if (authors === undefined || authors.length === 0) return replies.fromHeaderMissing();
  for (const a of authors) {
    if (!snapshot.maySendAs(authUser, a)) return replies.fromHeaderNotOwned(a);
  }
  return accept();
}
