/**
 * Builds the protobuf Envelope and the Received header of an accepted mail.
 * Pure: all facts are arguments.
 */
import { create } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import {
  ClientSchema,
  type Envelope,
  EnvelopeSchema,
  Listener,
  Origin,
  type SpfResult,
  TlsSchema,
  DsnNotify,
  DsnRet,
} from '@mailmesh/proto';
import type { ListenerKind } from '@mailmesh/config';

export interface ClientFacts {
  readonly ip: string;
  readonly port: number;
  readonly helo: string;
  /** The load balancer, when the PROXY protocol was used. */
  readonly proxyIp?: string;
  readonly proxyPort?: number;
}

export interface TlsFacts {
  readonly version: string;
  readonly cipher: string;
  readonly sni?: string;
}

export interface RecipientFacts {
  readonly address: string;
  /** ORCPT as given (RFC 3461 §4.2). */
  readonly original?: string;
  /** NOTIFY as given, e.g. `SUCCESS,FAILURE`. */
  readonly notify?: string;
}

export interface EnvelopeFacts {
  readonly mailId: string;
  readonly receivedAtMs: number;
  readonly listener: ListenerKind;
  readonly client: ClientFacts;
  readonly tls: TlsFacts | undefined;
  readonly auth: { readonly user: string; readonly mechanism: string } | undefined;
  readonly mailFrom: string;
  readonly recipients: readonly RecipientFacts[];
  readonly size: number;
  readonly sha256: string;
  readonly spool: {
    readonly bucket: string;
    readonly key: string;
    readonly offset?: number;
    readonly length?: number;
  };
  /** The stored body, when it is small enough to travel inline (`Envelope.body`). */
  readonly body?: Buffer | undefined;
  readonly spf: SpfResult | undefined;
  readonly traceparent: string | undefined;
  readonly messageId: string;
  readonly subject: string;
  readonly fromHeader: string;
  /** RET= of MAIL FROM. */
  readonly ret: string | undefined;
  /** ENVID= of MAIL FROM, xtext-encoded as received. */
  readonly envid: string | undefined;
  readonly instance: string;
}

export const listenerEnum: Record<ListenerKind, Listener> = {
  mx: Listener.MX,
  submission: Listener.SUBMISSION,
  smtps: Listener.SMTPS,
};

const NOTIFY: Record<string, DsnNotify> = {
  SUCCESS: DsnNotify.SUCCESS,
  FAILURE: DsnNotify.FAILURE,
  DELAY: DsnNotify.DELAY,
  NEVER: DsnNotify.NEVER,
};

/** RFC 3461 §4: xtext `+XX` escapes. */
export function decodeXtext(s: string): string {
  return s.replace(/\+([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

export function parseNotify(notify: string | undefined): DsnNotify[] {
  if (notify === undefined || notify === '') return [];
  const out: DsnNotify[] = [];
  for (const word of notify.toUpperCase().split(',')) {
    const n = NOTIFY[word.trim()];
    if (n !== undefined && !out.includes(n)) out.push(n);
  }
  // RFC 3461 §4.1: NEVER stands alone; a contradictory list keeps NEVER only.
  return out.includes(DsnNotify.NEVER) ? [DsnNotify.NEVER] : out;
}

/** A header field value with CR, LF and other controls removed (never injects a field). */
export function oneLine(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x08\x0a-\x1f\x7f]+/g, ' ').trim();
}

export function buildEnvelope(f: EnvelopeFacts): Envelope {
  const ret = f.ret?.toUpperCase();
  return create(EnvelopeSchema, {
    mailId: f.mailId,
    receivedAt: timestampFromMs(f.receivedAtMs),
    origin: Origin.SMTP,
    listener: listenerEnum[f.listener],
    client: create(ClientSchema, {
      ip: f.client.ip,
      port: f.client.port,
      helo: oneLine(f.client.helo),
      proxyIp: f.client.proxyIp ?? '',
      proxyPort: f.client.proxyPort ?? 0,
    }),
    ...(f.tls
      ? {
          tls: create(TlsSchema, {
            version: f.tls.version,
            cipher: f.tls.cipher,
            sni: f.tls.sni ?? '',
          }),
        }
      : {}),
    ...(f.auth ? { auth: { user: f.auth.user, mechanism: f.auth.mechanism } } : {}),
    mailFrom: f.mailFrom,
    recipients: f.recipients.map((r) => ({
      address: r.address,
      original: r.original ?? '',
      notify: parseNotify(r.notify),
    })),
    size: BigInt(f.size),
    sha256: f.sha256,
    spool: {
      bucket: f.spool.bucket,
      key: f.spool.key,
      offset: BigInt(f.spool.offset ?? 0),
      length: BigInt(f.spool.length ?? 0),
    },
    ...(f.body ? { body: f.body } : {}),
    ...(f.spf ? { spf: f.spf } : {}),
    ...(f.traceparent ? { trace: { traceparent: f.traceparent, tracestate: '' } } : {}),
    messageId: oneLine(f.messageId),
    subject: oneLine(f.subject),
    fromHeader: f.fromHeader,
    dsnRet: ret === 'FULL' ? DsnRet.FULL : ret === 'HDRS' ? DsnRet.HDRS : DsnRet.UNSPECIFIED,
    envid: f.envid !== undefined ? decodeXtext(f.envid) : '',
    ingressInstance: f.instance,
  });
}

export interface ReceivedFacts {
  readonly mailId: string;
  readonly hostname: string;
  readonly helo: string;
  readonly clientIp: string;
  readonly tls: TlsFacts | undefined;
  readonly authenticated: boolean;
  readonly esmtp: boolean;
  /** The first recipient, shown as `for <...>` only when there is exactly one (RFC 5321 §4.4). */
  readonly recipients: readonly string[];
  readonly at: Date;
}

/** RFC 5321 §4.4 trace field body (folded), with the protocol per RFC 3848 and TLS per RFC 8314. */
export function receivedHeader(f: ReceivedFacts): string {
  const proto = `${f.esmtp ? 'ESMTP' : 'SMTP'}${f.tls ? 'S' : ''}${f.authenticated ? 'A' : ''}`;
  const ip = f.clientIp.includes(':') ? `IPv6:${f.clientIp}` : f.clientIp;
  const helo = oneLine(f.helo).replace(/[()\\]/g, '') || 'unknown';
  const lines = [
    `from ${helo} ([${ip}])`,
    `by ${f.hostname} (Mailmesh) with ${proto} id ${f.mailId}`,
  ];
  const only = f.recipients.length === 1 ? f.recipients[0] : undefined;
  if (only !== undefined) lines.push(`for <${oneLine(only)}>`);
  if (f.tls) lines.push(`(using ${oneLine(f.tls.version)} with cipher ${oneLine(f.tls.cipher)})`);
  return `${lines.join('\r\n\t')};\r\n\t${f.at.toUTCString().replace('GMT', '+0000')}`;
}
