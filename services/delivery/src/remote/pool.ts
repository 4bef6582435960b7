/**
 * Pooled SMTP transports, one nodemailer pool per destination (address, port, TLS
 * policy, SNI name, AUTH user). The pool keeps connections open between messages
 * (RSET + next MAIL), caps connections per destination and pipelines RCPTs where
 * the server offers PIPELINING. nodemailer sets TCP_NODELAY on every socket, so
 * no Nagle/delayed-ACK stall between the last DATA chunk and the reply (ANCHORS.md).
 */
import { rootCertificates } from 'node:tls';
import {
  createTransport,
  type Mail,
  type SMTPPoolOptions,
  type SMTPPoolSentMessageInfo,
} from 'nodemailer';
import type { Logger } from '@mailmesh/runtime';

import type { Credentials } from '../secrets.js';

export type TlsMode = 'required' | 'opportunistic' | 'none';

export interface Destination {
  /** IP address to connect to (resolved by our injectable resolver, never by nodemailer). */
  readonly address: string;
  readonly port: number;
  /** Host name: TLS SNI and the name the certificate must carry. */
  readonly servername: string;
  readonly tls: TlsMode;
  readonly auth?: Credentials;
}

export interface PoolOptions {
  /** Our EHLO name. */
  readonly ehloName: () => string;
  /** Connections per destination; default 5. */
  readonly maxConnections?: number;
  /** Messages per connection before it is replaced; default 100. */
  readonly maxMessages?: number;
  /** Extra CA certificates (PEM) trusted besides the system ones, e.g. an intranet CA. */
  readonly ca?: readonly string[];
  readonly connectionTimeoutMs?: number;
  readonly socketTimeoutMs?: number;
  /** Idle connections close after this long; default 30 s. */
  readonly idleTimeoutMs?: number;
  readonly log: Logger;
}

export type SmtpTransport = Mail<SMTPPoolSentMessageInfo, SMTPPoolOptions>;

export class TransportPool {
  private readonly pools = new Map<string, SmtpTransport>();

  constructor(private readonly opts: PoolOptions) {}

  private keyOf(d: Destination): string {
    return `${d.address}|${d.port}|${d.servername}|${d.tls}|${d.auth?.user ?? ''}`;
  }

  get(d: Destination): SmtpTransport {
    const key = this.keyOf(d);
    let t = this.pools.get(key);
    if (t) return t;
    const o = this.opts;
    const ca = o.ca && o.ca.length > 0 ? [...rootCertificates, ...o.ca] : undefined;
    const options: SMTPPoolOptions & { pool: true } = {
      pool: true,
      host: d.address,
      port: d.port,
      name: o.ehloName(),
      // RFC 8314: port 465 is implicit TLS; elsewhere STARTTLS per policy.
      secure: d.port === 465,
      requireTLS: d.tls === 'required',
      ignoreTLS: d.tls === 'none',
      opportunisticTLS: d.tls === 'opportunistic',
      tls: {
        servername: d.servername,
        // RFC 7435: opportunistic TLS protects against passive listeners only; it does not verify.
        rejectUnauthorized: d.tls === 'required',
        minVersion: 'TLSv1.2',
        ...(ca ? { ca } : {}),
      },
      ...(d.auth ? { auth: { user: d.auth.user, pass: d.auth.pass } } : {}),
      maxConnections: o.maxConnections ?? 5,
      maxMessages: o.maxMessages ?? 100,
      idleTimeout: o.idleTimeoutMs ?? 30_000,
      connectionTimeout: o.connectionTimeoutMs ?? 30_000,
      greetingTimeout: o.connectionTimeoutMs ?? 30_000,
      socketTimeout: o.socketTimeoutMs ?? 300_000,
      disableFileAccess: true,
      disableUrlAccess: true,
      logger: false,
    };
    t = createTransport(options);
    this.pools.set(key, t);
    o.log.debug(
      { event: 'delivery.pool_open', address: d.address, port: d.port, host: d.servername },
      'SMTP pool opened',
    );
    return t;
  }

  /** Closes every pool; connections in the middle of a message finish it first. */
  close(): void {
    for (const t of this.pools.values()) t.close();
    this.pools.clear();
  }

  get size(): number {
    return this.pools.size;
  }
}
