/**
 * The bridge between Haraka and Mailmesh: the CommonJS shims in haraka/plugins
 * hand every hook to `IngressHost.hook`, which gathers the facts from Haraka's
 * connection, asks a pure decision function, and maps its Reply to Haraka's
 * return codes with exact SMTP and enhanced codes. All I/O of a session (S3,
 * NATS, audit, timers) happens here, at the edge.
 */
import { PassThrough, type Readable } from 'node:stream';
import { Group, parseFrom, type Address as HeaderAddress } from '@haraka/email-address';
import {
  context as otelContext,
  propagation,
  SpanKind,
  SpanStatusCode,
  type Span,
} from '@opentelemetry/api';
import type { ConfigSnapshot, Limits, ListenerConfig } from '@mailmesh/config';
import { NetworkList, splitAddress } from '@mailmesh/config';
import { inlineBodyMaxBytes, natsHeaders, type SpfResult } from '@mailmesh/proto';
import { withSpan, type Bus, type Logger, type ObjectStore } from '@mailmesh/runtime';
import {
  buildEnvelope,
  receivedHeader,
  type RecipientFacts,
  type TlsFacts,
} from './accept/envelope.js';
import { inlineGate, inlineRefusalOf } from './accept/inline.js';
import type { SpoolBatcher } from './accept/segments.js';
import { AcceptanceError, acceptDurably } from './accept/store.js';
import type { AuditChain, ReplyFacts, TransactionFacts } from './audit.js';
import { AuthLimiter } from './auth/limiter.js';
import type { PasswordVerifier } from './auth/password.js';
import { saslContinue, saslStart, type SaslState, type SaslStep } from './auth/sasl.js';
import type { HarakaAddress, HarakaConnection, HarakaConstants, Next } from './haraka/types.js';
import type { IngressMetrics } from './metrics.js';
import { ConnectionTracker, decideConnect } from './policy/connection.js';
import {
  decideFromHeader,
  decideMailFrom,
  decideRecipient,
  type SessionFacts,
} from './policy/envelope.js';
import { accept, isRefusal, next, replies, type Refusal, type Reply } from './reply.js';
import type { SpfChecker } from './spf.js';

/** Haraka's respond() takes a DSN-named object to override the reply code. */
export class DSN {
  constructor(
    readonly code: number,
    readonly reply: string,
  ) {}
}

/** The queue hook's success reply; boot.ts makes Haraka send it without its uuid suffix. */
export class QueuedReply {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

export const HOST_KEY = Symbol.for('mailmesh.ingress.host');

export interface HostDeps {
  readonly snapshot: () => ConfigSnapshot | undefined;
  readonly store: ObjectStore;
  /** Group commit of small bodies (accept/segments.ts). */
  readonly spool?: SpoolBatcher;
  readonly bus: Bus;
  readonly log: Logger;
  readonly metrics: IngressMetrics;
  readonly audit: AuditChain;
  readonly constants: HarakaConstants;
  readonly verifyPassword: PasswordVerifier;
  readonly spf: SpfChecker;
  readonly newId: () => string;
  readonly instance: string;
  readonly clock: () => number;
}

/** Per-connection state, kept in `connection.notes.mailmesh`. */
class Session {
  readonly id: string;
  readonly startedAtMs: number;
  helo = '';
  authUser: string | undefined;
  authMechanism: string | undefined;
  sasl: SaslState | undefined;
  /** Inside an AUTH exchange (from AUTH to its final reply). */
  inAuth = false;
  readonly replies: ReplyFacts[] = [];
  readonly transactions: TransactionFacts[] = [];
  /** The open transaction (its MAIL was accepted); replies to RCPT and DATA go there. */
  current: TransactionFacts | undefined;
  bytesIn = 0;
  bytesOut = 0;
  release: (() => void) | undefined;
  idleTimer: NodeJS.Timeout | undefined;
  busy = false;
  ended = false;
  proxyIp: string | undefined;
  proxyPort: number | undefined;

  constructor(
    id: string,
    now: number,
    readonly listener: ListenerConfig,
    readonly allow: NetworkList,
  ) {
    this.id = id;
    this.startedAtMs = now;
  }
}

/** Bytes of a message queued in memory by Haraka before the socket is paused / resumed. */
const BACKLOG_HIGH = 2 * 1024 * 1024;
const BACKLOG_LOW = 512 * 1024;

const ENHANCED = /^([245]\.\d{1,3}\.\d{1,3})\s+(.*)$/s;

function replyFacts(command: string, code: number, msg: unknown): ReplyFacts {
  let text: string;
  if (msg instanceof DSN) {
    code = msg.code;
    text = msg.reply;
  } else if (Array.isArray(msg)) {
    text = msg.map(String).join('\n');
  } else {
    text =
      msg === undefined || msg === null ? '' : typeof msg === 'string' ? msg : JSON.stringify(msg);
  }
  const m = ENHANCED.exec(text);
  return { command, code, enhanced: m?.[1] ?? '', text: m?.[2] ?? text };
}

const portOf = (hostPort: string): number => Number(hostPort.slice(hostPort.lastIndexOf(':') + 1));
const hostOf = (hostPort: string): string =>
  hostPort.slice(0, hostPort.lastIndexOf(':')).replace(/^\[|\]$/g, '');
const bareIp = (ip: string): string => ip.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1');

/** The listener a socket was accepted on, by its local address and port. */
export function listenerFor(
  listeners: readonly ListenerConfig[],
  localIp: string,
  localPort: number,
): ListenerConfig | undefined {
  const ip = bareIp(localIp);
  return listeners.find((l) =>
    l.addresses.some((a) => {
      const h = hostOf(a);
      return portOf(a) === localPort && (h === ip || h === '0.0.0.0' || h === '::');
    }),
  );
}

type Handler = (conn: HarakaConnection, params: unknown) => Reply | Promise<Reply>;

export class IngressHost {
  readonly tracker: ConnectionTracker;
  readonly authLimiter: AuthLimiter;
  private readonly handlers: Record<string, Handler>;
  private readonly allowLists = new Map<string, NetworkList>();

  constructor(private readonly deps: HostDeps) {
    this.tracker = new ConnectionTracker(deps.clock);
    this.authLimiter = new AuthLimiter(deps.clock);
    this.handlers = {
      connect_init: (c) => this.onConnectInit(c),
      lookup_rdns: () => accept(''),
      connect: (c) => this.onConnect(c),
      capabilities: (c) => this.onCapabilities(c),
      helo: (c, p) => this.onHelo(c, p),
      ehlo: (c, p) => this.onHelo(c, p),
      unrecognized_command: (c, p) => this.onUnrecognized(c, p as string[]),
      mail: (c, p) => this.onMail(c, p as [HarakaAddress, Record<string, string | null>]),
      rcpt: (c, p) => this.onRcpt(c, p as [HarakaAddress, Record<string, string | null>]),
      data: (c) => this.onData(c),
      data_post: (c) => this.onDataPost(c),
      queue: (c) => this.onQueue(c),
      queue_outbound: (c) => this.onQueue(c),
      disconnect: (c) => this.onDisconnect(c),
    };
  }

  get activeSessions(): number {
    return this.tracker.active;
  }

  /** Runs one Haraka hook; `done` is already guarded to run once. Never throws. */
  hook(name: string, done: Next, conn: HarakaConnection, params: unknown): void {
    const handler = this.handlers[name];
    if (!handler) {
      done();
      return;
    }
    let result: Reply | Promise<Reply>;
    try {
      result = handler(conn, params);
    } catch (err) {
      result = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    Promise.resolve(result).then(
      (reply) => this.answer(name, done, reply),
      (err: unknown) => {
        this.deps.log.error({ event: 'ingress.hook_failed', hook: name, err }, 'hook failed');
        this.answer(name, done, replies.internalError());
      },
    );
  }

  private answer(hook: string, done: Next, reply: Reply): void {
    const k = this.deps.constants;
    switch (reply.kind) {
      case 'next':
        done(k.cont);
        return;
      case 'accept':
        if (hook === 'queue' || hook === 'queue_outbound')
          done(k.ok, new QueuedReply(reply.text ?? ''));
        else done(k.ok, reply.text);
        return;
      default:
        this.countRefusal(hook, reply);
        done(k[reply.kind], new DSN(reply.code, `${reply.enhanced} ${reply.text}`));
    }
  }

  private countRefusal(hook: string, r: Refusal): void {
    const stage = hook === 'unrecognized_command' ? 'auth' : hook === 'data_post' ? 'data' : hook;
    this.deps.metrics.rejected.inc({ stage, code: String(r.code), reason: r.enhanced });
  }

  private session(conn: HarakaConnection): Session | undefined {
    return conn.notes['mailmesh'] as Session | undefined;
  }

  private limits(): Limits | undefined {
    return this.deps.snapshot()?.platform?.limits;
  }

  private facts(conn: HarakaConnection, s: Session): SessionFacts {
    return {
      listener: s.listener.kind,
      clientIp: bareIp(conn.remote.ip),
      tls: conn.tls.enabled,
      authUser: s.authUser,
    };
  }

  private tlsFacts(conn: HarakaConnection): TlsFacts | undefined {
    if (!conn.tls.enabled) return undefined;
    const c = conn.tls.cipher;
    const sni = conn.client.cleartext?.servername ?? conn.client.servername;
    return {
      version: c.version ?? '',
      cipher: c.standardName ?? c.name ?? '',
      ...(typeof sni === 'string' && sni !== '' ? { sni } : {}),
    };
  }

  // -------------------------------------------------------------------------
  // Connection

  private allowListOf(l: ListenerConfig): NetworkList {
    const key = `${l.name}|${l.allowNetworks.join(',')}`;
    let list = this.allowLists.get(key);
    if (!list) {
      list = new NetworkList(l.allowNetworks, `listener ${l.name}`);
      this.allowLists.set(key, list);
    }
    return list;
  }

  private onConnectInit(conn: HarakaConnection): Reply {
    const platform = this.deps.snapshot()?.platform;
    if (!platform || this.session(conn)) return next;
    // The socket's own address, not conn.local: after PROXY that is the load balancer's.
    const localIp = conn.client.localAddress ?? conn.local.ip ?? '';
    const localPort = conn.client.localPort ?? conn.local.port ?? 0;
    const listener = listenerFor(platform.listeners, localIp, localPort);
    if (!listener) {
      this.deps.log.error(
        { event: 'ingress.unknown_listener', localIp, localPort },
        'connection on an unknown listener',
      );
      return next;
    }
    const s = new Session(
      this.deps.newId(),
      this.deps.clock(),
      listener,
      this.allowListOf(listener),
    );
    if (conn.proxy.ip) {
      s.proxyIp = bareIp(conn.proxy.ip);
      s.proxyPort = conn.client.remotePort ?? 0;
    }
    conn.notes['mailmesh'] = s;
    this.instrument(conn, s);
    return next;
  }

  /** Records every reply for the audit, counts bytes, runs the idle timer. */
  private instrument(conn: HarakaConnection, s: Session): void {
    const respond = conn.respond.bind(conn);
    conn.respond = (code, msg, func) => {
      if (!s.ended) this.recordReply(conn, s, Number(code), msg);
      return respond(code, msg, func);
    };
    const write = conn.client.write.bind(conn.client);
    conn.client.write = (data: string | Buffer, ...rest: unknown[]) => {
      s.bytesOut += typeof data === 'string' ? Buffer.byteLength(data) : data.length;
      return write(data, ...rest);
    };
    conn.client.on('data', (d: Buffer) => {
      s.bytesIn += d.length;
      this.armIdle(conn, s);
    });
    this.armIdle(conn, s);
  }

  private armIdle(conn: HarakaConnection, s: Session): void {
    if (s.ended) return;
    if (s.idleTimer) clearTimeout(s.idleTimer);
    const ms = this.limits()?.commandTimeoutMs ?? 300_000;
    s.idleTimer = setTimeout(() => {
      if (s.busy) {
        this.armIdle(conn, s);
        return;
      }
      this.timeout(conn, s, replies.commandTimeout());
    }, ms);
    s.idleTimer.unref();
  }

  private timeout(conn: HarakaConnection, s: Session, r: Refusal): void {
    // 99: Haraka's DISCONNECTING state.
    if (s.ended || conn.state >= 99) return;
    this.countRefusal('timeout', r);
    conn.respond(r.code, new DSN(r.code, `${r.enhanced} ${r.text}`), () => conn.disconnect());
  }

  private recordReply(conn: HarakaConnection, s: Session, code: number, msg: unknown): void {
    const line = conn.current_line ?? '';
    const verb = (/^\S*/.exec(line)?.[0] ?? '').toUpperCase();
    // AUTH continuation lines are base64, not commands: the exchange counts as AUTH.
    const command = conn.current_line === null ? 'CONNECT' : s.inAuth ? 'AUTH' : verb || 'UNKNOWN';
    if (s.inAuth && code !== 334) s.inAuth = false;
    const r = replyFacts(command, code, msg);
    if (command === 'MAIL') {
      const t: TransactionFacts = {
        mailFrom: /<([^>]*)>/.exec(line)?.[1] ?? '',
        rcptTo: [],
        replies: [r],
        mailId: '',
        bytes: 0,
        queued: false,
      };
      s.transactions.push(t);
      s.current = r.code < 400 ? t : undefined;
      return;
    }
    const txn = s.current;
    if ((command === 'RCPT' || command === 'DATA') && txn) {
      if (command === 'RCPT') txn.rcptTo.push(/<([^>]*)>/.exec(line)?.[1] ?? '');
      txn.replies.push(r);
      if (command === 'DATA' && code !== 354) s.current = undefined;
      return;
    }
    s.replies.push(r);
  }

  private onConnect(conn: HarakaConnection): Reply {
    const s = this.session(conn);
    const limits = this.limits();
    if (!s || !limits) return replies.configNotReady();
    const ip = bareIp(conn.remote.ip);
    const recent = this.tracker.attempt(ip);
    const reply = decideConnect(limits, {
      ip,
      allowNetworks: s.allow,
      active: this.tracker.active,
      activeFromIp: this.tracker.activeFrom(ip),
      recentFromIp: recent,
    });
    if (reply.kind === 'accept') {
      s.release = this.tracker.open(ip);
      this.deps.metrics.sessions.inc({ listener: s.listener.name });
      this.deps.metrics.activeSessions.inc({ listener: s.listener.name });
      return next;
    }
    return reply;
  }

  private onCapabilities(conn: HarakaConnection): Reply {
    const s = this.session(conn);
    const limits = this.limits();
    const caps = conn.capabilities;
    if (!s || !limits || !caps) return next;
    const size = caps.findIndex((c) => /^SIZE\b/i.test(c));
    if (size >= 0) caps[size] = `SIZE ${limits.maxMessageBytes}`;
    caps.push('ENHANCEDSTATUSCODES', 'DSN');
    // RFC 4954 §4 and DESIGN rule 6: AUTH only over TLS.
    if (conn.tls.enabled && s.authUser === undefined) caps.push('AUTH PLAIN LOGIN');
    return next;
  }

  private onHelo(conn: HarakaConnection, params: unknown): Reply {
    const s = this.session(conn);
    if (s) s.helo = typeof params === 'string' ? params : String(conn.hello.host ?? '');
    return next;
  }

  // -------------------------------------------------------------------------
  // AUTH (RFC 4954) through Haraka's unrecognized_command hook

  private async onUnrecognized(conn: HarakaConnection, params: string[]): Promise<Reply> {
    const s = this.session(conn);
    const snapshot = this.deps.snapshot();
    const limits = snapshot?.platform?.limits;
    if (!s || !snapshot || !limits) return next;
    const [cmd = '', rest = ''] = params;
    let step: SaslStep;
    if (s.sasl !== undefined) {
      const state = s.sasl;
      s.sasl = undefined;
      step = saslContinue(state, rest === '' ? cmd : `${cmd} ${rest}`);
    } else if (cmd.toUpperCase() === 'AUTH') {
      s.inAuth = true;
      if (!conn.tls.enabled) return replies.authRequiresTls();
      if (s.authUser !== undefined) return replies.authAlready();
      if (conn.transaction)
        return { ...replies.authAlready(), text: 'AUTH not permitted during a mail transaction' };
      if (this.authLimiter.ipGate(bareIp(conn.remote.ip), limits) === 'ip-locked')
        return replies.authIpCooldown();
      step = saslStart(rest);
    } else {
      return next;
    }
    switch (step.kind) {
      case 'challenge':
        s.sasl = step.state;
        conn.respond(334, step.challenge);
        return accept();
      case 'error':
        return step.error === 'mechanism'
          ? replies.authMechanism()
          : step.error === 'cancelled'
            ? replies.authCancelled()
            : replies.authSyntax();
      case 'credentials':
        return this.verify(conn, s, snapshot, limits, step.mechanism, step.credentials);
    }
  }

  private async verify(
    conn: HarakaConnection,
    s: Session,
    snapshot: ConfigSnapshot,
    limits: Limits,
    mechanism: string,
    creds: { user: string; password: string },
  ): Promise<Reply> {
    const ip = bareIp(conn.remote.ip);
    if (this.authLimiter.accountGate(creds.user, limits) === 'account-locked')
      return replies.authAccountCooldown();
    const login = snapshot.findLogin(creds.user);
    s.busy = true;
    let ok: boolean;
    try {
      ok = await this.deps.verifyPassword(login?.mailbox.passwordHash, creds.password);
    } finally {
      s.busy = false;
    }
    if (!ok || !login) {
      this.authLimiter.failed(ip, creds.user, limits);
      this.deps.log.info(
        { event: 'ingress.auth_failed', sessionId: s.id, ip, mechanism },
        'authentication failed',
      );
      return replies.authFailed();
    }
    this.authLimiter.succeeded(creds.user);
    s.authUser = login.mailbox.address;
    s.authMechanism = mechanism;
    // Haraka's notion of an authenticated client (its own 587/465 check reads it).
    conn.relaying = true;
    conn.authheader = '(authenticated bits=0)\n';
    conn.respond(235, new DSN(235, '2.7.0 Authentication successful'));
    return accept();
  }

  // -------------------------------------------------------------------------
  // Envelope

  private onMail(
    conn: HarakaConnection,
    [from, params]: [HarakaAddress, Record<string, string | null>],
  ): Reply {
    const s = this.session(conn);
    const snapshot = this.deps.snapshot();
    const limits = snapshot?.platform?.limits;
    if (!s || !snapshot || !limits) return replies.configNotReady();
    const sizeParam = params['SIZE'];
    const declared = sizeParam !== undefined && sizeParam !== null ? Number(sizeParam) : undefined;
    const reply = decideMailFrom(snapshot, limits, this.facts(conn, s), {
      raw: from.original,
      address: from.isNull() ? '' : from.address,
      declaredSize: declared !== undefined && Number.isFinite(declared) ? declared : undefined,
    });
    if (reply.kind === 'accept' && conn.transaction) {
      conn.transaction.notes['mailmesh_mail'] = {
        ret: params['RET'] ?? undefined,
        envid: params['ENVID'] ?? undefined,
      };
    }
    return reply;
  }

  private onRcpt(
    conn: HarakaConnection,
    [rcpt, params]: [HarakaAddress, Record<string, string | null>],
  ): Reply {
    const s = this.session(conn);
    const snapshot = this.deps.snapshot();
    const limits = snapshot?.platform?.limits;
    const txn = conn.transaction;
    if (!s || !snapshot || !limits || !txn) return replies.configNotReady();
    const reply = decideRecipient(snapshot, limits, this.facts(conn, s), {
      raw: rcpt.original,
      address: rcpt.address,
      accepted: txn.rcpt_to.length - 1,
    });
    if (reply.kind === 'accept') {
      const list = (txn.notes['mailmesh_rcpts'] ??= []) as RecipientFacts[];
      const orcpt = params['ORCPT'];
      const notify = params['NOTIFY'];
      list.push({
        address: rcpt.address,
        ...(orcpt ? { original: orcpt } : {}),
        ...(notify ? { notify } : {}),
      });
    }
    return reply;
  }

  // -------------------------------------------------------------------------
  // Data

  private onData(conn: HarakaConnection): Reply {
    const s = this.session(conn);
    const limits = this.limits();
    const txn = conn.transaction;
    if (!s || !limits || !txn) return replies.configNotReady();
    const max = limits.maxMessageBytes;
    // Haraka's own size limit is off (it would answer 550); stop keeping the
    // body once it is over ours, and answer 552 5.3.4 at the final dot.
    const addData = txn.add_data.bind(txn);
    const stream = txn.message_stream;
    let paused = false;
    const resumeWhenDrained = (): void => {
      if (s.ended) return;
      if (stream.buffered > BACKLOG_LOW) {
        setTimeout(resumeWhenDrained, 5);
        return;
      }
      paused = false;
      conn.resume();
    };
    // A small message is kept as the lines arrived (still dot-stuffed) and stored
    // from them at the final dot, byte for byte as the client sent it (DKIM-safe).
    // Until the body outgrows inlineBodyMaxBytes, Haraka's message stream gets
    // nothing: `discard_data` keeps Haraka parsing the header section but skips the
    // stream. A body that outgrows it has its kept lines replayed into the stream,
    // which takes the rest: the stream is the path of large mail only.
    const raw: Buffer[] = [];
    let rawBytes = 0;
    let keepRaw = true;
    txn.discard_data = true;
    // Haraka repairs a message without the blank line after its header section at
    // the final dot (Transaction.end_data sets found_hb_sep): whether the client sent
    // one is known only while the lines arrive.
    let separatorSent = false;
    txn.notes['mailmesh_raw'] = (): RawMessage | undefined =>
      keepRaw ? { lines: raw, headerSectionEnded: separatorSent } : undefined;
    txn.add_data = (line) => {
      if (txn.data_bytes > max) {
        txn.discard_data = true;
        return;
      }
      if (keepRaw) {
        rawBytes += line.length;
        if (rawBytes <= inlineBodyMaxBytes && Buffer.isBuffer(line)) {
          raw.push(line);
          addData(line);
          separatorSent ||= txn.found_hb_sep === true;
          return;
        }
        keepRaw = false;
        txn.discard_data = false;
        for (const kept of raw) stream.add_line(kept);
        raw.length = 0;
      }
      addData(line);
      // Haraka's message stream queues lines in memory while its spool file write
      // catches up, without telling the socket: stop reading until it has drained.
      if (!paused && stream.buffered > BACKLOG_HIGH) {
        paused = true;
        conn.pause();
        setTimeout(resumeWhenDrained, 5);
      }
    };
    const t = setTimeout(() => this.timeout(conn, s, replies.dataTimeout()), limits.dataTimeoutMs);
    t.unref();
    txn.notes['mailmesh_data_timer'] = t;
    return next;
  }

  private async onDataPost(conn: HarakaConnection): Promise<Reply> {
    const s = this.session(conn);
    const snapshot = this.deps.snapshot();
    const platform = snapshot?.platform;
    const txn = conn.transaction;
    if (!s || !snapshot || !platform || !txn) return replies.configNotReady();
    clearTimeout(txn.notes['mailmesh_data_timer'] as NodeJS.Timeout | undefined);
    const limits = platform.limits;
    if (txn.data_bytes > limits.maxMessageBytes)
      return replies.sizeExceeded(limits.maxMessageBytes);

    const authors = fromAddresses(txn.header.get_all('From'));
    const fromCheck = decideFromHeader(snapshot, s.authUser, authors);
    if (isRefusal(fromCheck)) return fromCheck;

    s.busy = true;
    const started = this.deps.clock();
    const mailId = this.deps.newId();
    // DESIGN rule 5: the mail's trace starts here; the envelope carries its
    // traceparent and the publish (a child span) carries it in the NATS headers.
    return withSpan(
      'smtp.accept',
      { 'mailmesh.mail_id': mailId, 'mailmesh.session_id': s.id, 'smtp.listener': s.listener.name },
      (span) => this.accept(span, conn, s, txn, platform, authors, mailId, started),
      { kind: SpanKind.SERVER },
    );
  }

  private async accept(
    span: Span,
    conn: HarakaConnection,
    s: Session,
    txn: NonNullable<HarakaConnection['transaction']>,
    platform: NonNullable<ConfigSnapshot['platform']>,
    authors: readonly string[] | undefined,
    mailId: string,
    started: number,
  ): Promise<Reply> {
    try {
      const mailFrom = txn.mail_from.isNull() ? '' : txn.mail_from.address;
      const clientIp = bareIp(conn.remote.ip);
      let spf: SpfResult | undefined;
      if (s.listener.kind === 'mx' && s.authUser === undefined) {
        spf = await this.deps.spf({ sender: mailFrom, ip: clientIp, helo: s.helo });
      }
      const tls = this.tlsFacts(conn);
      const recipients = (txn.notes['mailmesh_rcpts'] ?? []) as RecipientFacts[];
      const mail = (txn.notes['mailmesh_mail'] ?? {}) as { ret?: string; envid?: string };
      const received = receivedHeader({
        mailId,
        hostname: platform.hostname,
        helo: s.helo,
        clientIp,
        tls,
        authenticated: s.authUser !== undefined,
        esmtp: conn.esmtp,
        recipients: recipients.map((r) => r.address),
        at: new Date(started),
      });
      const raw = (txn.notes['mailmesh_raw'] as (() => RawMessage | undefined) | undefined)?.();
      let body: Readable | Buffer;
      if (raw) {
        body = storedMessage(received, raw.lines, { headerSectionEnded: raw.headerSectionEnded });
      } else {
        txn.add_leading_header('Received', received);
        // dot_stuffed: the stream holds the lines as sent; the stored copy is unstuffed (RFC 5321 §4.5.2).
        body = txn.message_stream.pipe(new PassThrough({ highWaterMark: 64 * 1024 }), {
          line_endings: '\r\n',
          dot_stuffed: true,
        });
      }
      const accepted = await acceptDurably(
        {
          store: this.deps.store,
          spool: this.deps.spool,
          bus: this.deps.bus,
          log: this.deps.log,
          clock: this.deps.clock,
        },
        {
          mailId,
          body,
          deadlineMs: platform.acceptanceDeadlineMs,
          gate: inlineGate(platform.inlineScan, s.listener.kind, { ...this.deps, sessionId: s.id }),
          envelope: (stored) =>
            buildEnvelope({
              mailId,
              receivedAtMs: this.deps.clock(),
              listener: s.listener.kind,
              client: {
                ip: clientIp,
                port: conn.remote.port,
                helo: s.helo,
                ...(s.proxyIp !== undefined
                  ? { proxyIp: s.proxyIp, proxyPort: s.proxyPort ?? 0 }
                  : {}),
              },
              tls,
              auth:
                s.authUser !== undefined
                  ? { user: s.authUser, mechanism: s.authMechanism ?? '' }
                  : undefined,
              mailFrom,
              recipients,
              size: stored.size,
              sha256: stored.sha256,
              spool: stored,
              body: stored.copy,
              spf,
              traceparent: traceparentOf(),
              messageId: txn.header.get('Message-ID'),
              subject: txn.header.get_decoded('Subject'),
              fromHeader: authors?.[0] ?? '',
              ret: mail.ret,
              envid: mail.envid,
              instance: this.deps.instance,
            }),
        },
      );
      txn.notes['mailmesh_accepted'] = mailId;
      if (s.current) {
        s.current.mailId = mailId;
        s.current.queued = true;
      }
      this.deps.metrics.accepted.inc({ listener: s.listener.name });
      this.deps.metrics.acceptanceSeconds.observe(
        { outcome: 'accepted' },
        (this.deps.clock() - started) / 1000,
      );
      this.deps.log.info(
        {
          event: 'ingress.accepted',
          mailId,
          sessionId: s.id,
          size: accepted.size,
          seq: accepted.seq,
        },
        'mail accepted',
      );
      return accept();
    } catch (err) {
      const refused = inlineRefusalOf(err);
      if (refused) return refused;
      this.deps.metrics.acceptanceSeconds.observe(
        { outcome: 'failed' },
        (this.deps.clock() - started) / 1000,
      );
      const stage = err instanceof AcceptanceError ? err.stage : 'internal';
      span.setStatus({ code: SpanStatusCode.ERROR, message: `not accepted (${stage})` });
      this.deps.log.warn(
        { event: 'ingress.accept_failed', sessionId: s.id, stage, err },
        'mail not accepted',
      );
      return replies.storageUnavailable();
    } finally {
      s.busy = false;
      if (s.current) s.current.bytes = txn.data_bytes;
    }
  }

  private onQueue(conn: HarakaConnection): Reply {
    const mailId = conn.transaction?.notes['mailmesh_accepted'];
    if (typeof mailId !== 'string') return replies.storageUnavailable();
    return accept(`2.0.0 Ok: queued as ${mailId}`);
  }

  // -------------------------------------------------------------------------
  // End of session

  private onDisconnect(conn: HarakaConnection): Reply {
    const s = this.session(conn);
    if (!s || s.ended) return next;
    s.ended = true;
    if (s.idleTimer) clearTimeout(s.idleTimer);
    clearTimeout(conn.transaction?.notes['mailmesh_data_timer'] as NodeJS.Timeout | undefined);
    if (s.release) {
      s.release();
      this.deps.metrics.activeSessions.dec({ listener: s.listener.name });
    }
    const client = {
      ip: bareIp(conn.remote.ip),
      port: conn.remote.port,
      helo: s.helo,
      ...(s.proxyIp !== undefined ? { proxyIp: s.proxyIp, proxyPort: s.proxyPort ?? 0 } : {}),
    };
    try {
      this.deps.audit.submit({
        sessionId: s.id,
        startedAtMs: s.startedAtMs,
        endedAtMs: this.deps.clock(),
        listener: s.listener.kind,
        client,
        tls: this.tlsFacts(conn),
        helo: s.helo,
        authUser: s.authUser ?? '',
        transactions: s.transactions,
        replies: s.replies,
        bytesIn: s.bytesIn,
        bytesOut: s.bytesOut,
        instance: this.deps.instance,
      });
    } catch (err) {
      this.deps.log.error(
        { event: 'ingress.audit_build_failed', sessionId: s.id, err },
        'could not build audit record',
      );
    }
    return next;
  }
}

/** The active span's W3C traceparent; undefined when tracing is not set up. */
function traceparentOf(): string | undefined {
  const carrier: Record<string, string> = {};
  propagation.inject(otelContext.active(), carrier);
  return carrier[natsHeaders.traceparent];
}

/** The addr-specs of From: fields (RFC 5322 §3.6.2); undefined when missing or unparseable. */
export function fromAddresses(fields: readonly string[]): string[] | undefined {
  if (fields.length === 0) return undefined;
  const out: string[] = [];
  try {
    for (const f of fields) {
      for (const item of parseFrom(f.replace(/\r?\n/g, ' ').trim())) {
        const list: HeaderAddress[] = item instanceof Group ? item.addresses : [item];
        for (const a of list) {
          const parts = splitAddress(a.address);
          if (parts) out.push(`${parts.local}@${parts.domain}`);
        }
      }
    }
  } catch {
    return undefined;
  }
  return out.length > 0 ? out : undefined;
}

/** A small message as the client sent it (dot-stuffed lines), kept during DATA. */
interface RawMessage {
  readonly lines: readonly Buffer[];
  /** The client sent the blank line that ends the header section. */
  readonly headerSectionEnded: boolean;
}

/**
 * The message as stored: our Received field, then the lines as the client sent
 * them with the transparency dot removed (RFC 5321 §4.5.2).
 */
export function storedMessage(
  received: string,
  lines: readonly Buffer[],
  opts: { headerSectionEnded?: boolean } = {},
): Buffer {
  const parts: Buffer[] = [Buffer.from(`Received: ${received.replace(/\r?\n/g, '\r\n')}\r\n`)];
  const end = opts.headerSectionEnded === false ? headerSectionLength(lines) : -1;
  for (let i = 0; i < lines.length; i++) {
    if (i === end) parts.push(CRLF);
    const line = lines[i]!;
    parts.push(line[0] === 0x2e ? line.subarray(1) : line);
  }
  if (end === lines.length) parts.push(CRLF);
  return Buffer.concat(parts);
}

const CRLF = Buffer.from('\r\n');
const HEADER_LINE = /^(?:[^\s:]*:|[ \t])/;

/**
 * A message without the blank line that ends its header section: how many of its
 * first lines are its header section. Haraka's rule (Transaction.end_data): the
 * run of lines that look like a field or a folded continuation, at least one; the
 * blank line then goes after them.
 */
function headerSectionLength(lines: readonly Buffer[]): number {
  let n = 0;
  while (n < lines.length) {
    const line = lines[n]!;
    const text = (line[0] === 0x2e ? line.subarray(1) : line).toString('latin1');
    if (!HEADER_LINE.test(text)) break;
    n++;
  }
  return Math.max(n, Math.min(1, lines.length));
}
