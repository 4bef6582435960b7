/**
 * Delivery outcomes: a closed union per recipient (after Stalwart's queue) with a
 * closed set of error kinds, so the retry decision, the DSN and the queue record
 * never parse free text.
 */

/** Why an attempt failed. Closed: add a kind here, never an ad hoc string elsewhere. */
export const errorKinds = [
  /** DNS could not answer (timeout, SERVFAIL): temporary. */
  'dns',
  /** The destination domain does not exist (NXDOMAIN, no MX and no address). */
  'no-such-domain',
  /** The domain publishes a null MX (RFC 7505): it accepts no mail. */
  'null-mx',
  /** No TCP connection (refused, unreachable) or the connection dropped. */
  'connect',
  /** The remote stopped answering within the socket timeout. */
  'timeout',
  /** TLS was required but not offered, or the handshake failed. */
  'tls-unavailable',
  /** TLS was required and the certificate did not verify. */
  'tls-cert',
  /** SMTP AUTH to the next hop failed, or its credentials are missing. */
  'auth',
  /** The greeting or EHLO was refused. */
  'greeting',
  /** MAIL FROM was refused. */
  'sender-refused',
  /** RCPT TO was refused for this recipient. */
  'recipient-refused',
  /** The message (DATA or end of data) was refused. */
  'message-refused',
  /** The remote broke the protocol. */
  'protocol',
  /** Local: the mailbox does not exist (any more). */
  'mailbox-unknown',
  /** Local: the mailbox is over its quota. */
  'quota',
  /** Local: the message already passed this mailbox (Delivered-To loop). */
  'loop',
  /** Local: the mailbox store (S3 or KV) failed. */
  'storage',
  /** The destination is not configured here (any more), or a secret is missing. */
  'config',
  /** The queue lifetime passed; the last temporary error is in the message. */
  'expired',
] as const;
export type ErrorKind = (typeof errorKinds)[number];

export interface FailureDetail {
  readonly kind: ErrorKind;
  /** SMTP reply code (the remote's, or ours for local failures). */
  readonly code?: number;
  /** RFC 3463 enhanced status code. */
  readonly enhanced?: string;
  /** What went wrong; for remote failures the reply text. */
  readonly message: string;
  /** The remote host (name and address) involved. */
  readonly host?: string;
}

export type DeliveryOutcome =
  | {
      readonly kind: 'delivered';
      readonly recipient: string;
      readonly host?: string;
      readonly reply?: string;
    }
  | { readonly kind: 'tempfail'; readonly recipient: string; readonly error: FailureDetail }
  | { readonly kind: 'permfail'; readonly recipient: string; readonly error: FailureDetail };

/** The status code a DSN or event reports when the failure carries none (RFC 3463). */
export function enhancedOf(e: FailureDetail, permanent: boolean): string {
  if (e.enhanced) return permanent ? e.enhanced.replace(/^4/, '5') : e.enhanced;
  const cls = permanent ? '5' : '4';
  const subject: Record<ErrorKind, string> = {
    dns: '4.3',
    'no-such-domain': '1.2',
    'null-mx': '1.10',
    connect: '4.1',
    timeout: '4.2',
    'tls-unavailable': '7.10',
    'tls-cert': '7.10',
    auth: '7.0',
    greeting: '0.0',
    'sender-refused': '1.7',
    'recipient-refused': '1.1',
    'message-refused': '6.0',
    protocol: '5.0',
    'mailbox-unknown': '1.1',
    quota: '2.2',
    loop: '4.6',
    storage: '3.0',
    config: '3.5',
    expired: '4.7',
  };
  return `${cls}.${subject[e.kind]}`;
}

/** `RFC 3463 enhanced code in an SMTP reply text`, e.g. `550 5.1.1 no such user` -> `5.1.1`. */
export function enhancedFromReply(reply: string): string | undefined {
  return /^\d{3}[ -]([245]\.\d{1,3}\.\d{1,3})\b/.exec(reply.trim())?.[1];
}
