/**
 * Session audit records (one per SMTP session) as a hash chain per ingress
 * process: `seq` counts from 1 at process start and `prevHash` is the previous
 * record's `hash`, so a gap or an edit shows. The archiver verifies each
 * instance's chain; `actor` names the instance.
 */
import { createHash } from 'node:crypto';
import { create, toBinary } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import {
  type AuditRecord,
  AuditRecordSchema,
  ClientSchema,
  msgId,
  ReplySchema,
  schemas,
  SessionAuditSchema,
  subjects,
  TlsSchema,
  TransactionSchema,
} from '@mailmesh/proto';
import { publish, type Bus, type Logger } from '@mailmesh/runtime';
import type { ListenerKind } from '@mailmesh/config';
import { listenerEnum, type ClientFacts, type TlsFacts } from './accept/envelope.js';

export interface ReplyFacts {
  readonly command: string;
  readonly code: number;
  readonly enhanced: string;
  readonly text: string;
}

export interface TransactionFacts {
  mailFrom: string;
  readonly rcptTo: string[];
  readonly replies: ReplyFacts[];
  mailId: string;
  bytes: number;
  queued: boolean;
}

export interface SessionFacts {
  readonly sessionId: string;
  readonly startedAtMs: number;
  readonly endedAtMs: number;
  readonly listener: ListenerKind;
  readonly client: ClientFacts;
  readonly tls: TlsFacts | undefined;
  readonly helo: string;
  readonly authUser: string;
  readonly transactions: readonly TransactionFacts[];
  readonly replies: readonly ReplyFacts[];
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly instance: string;
}

const reply = (r: ReplyFacts) => create(ReplySchema, r);

/** Builds the chained record for one session. Pure. */
export function sessionRecord(s: SessionFacts, seq: bigint, prevHash: string): AuditRecord {
  const record = create(AuditRecordSchema, {
    seq,
    prevHash,
    hash: '',
    kind: 'session',
    at: timestampFromMs(s.endedAtMs),
    actor: `ingress/${s.instance}`,
    mailId: '',
    body: {
      case: 'session',
      value: create(SessionAuditSchema, {
        sessionId: s.sessionId,
        startedAt: timestampFromMs(s.startedAtMs),
        endedAt: timestampFromMs(s.endedAtMs),
        listener: listenerEnum[s.listener],
        client: create(ClientSchema, {
          ip: s.client.ip,
          port: s.client.port,
          helo: s.client.helo,
          proxyIp: s.client.proxyIp ?? '',
          proxyPort: s.client.proxyPort ?? 0,
        }),
        ...(s.tls
          ? {
              tls: create(TlsSchema, {
                version: s.tls.version,
                cipher: s.tls.cipher,
                sni: s.tls.sni ?? '',
              }),
            }
          : {}),
        helo: s.helo,
        authUser: s.authUser,
        transactions: s.transactions.map((t) =>
          create(TransactionSchema, {
            mailFrom: t.mailFrom,
            rcptTo: t.rcptTo,
            replies: t.replies.map(reply),
            mailId: t.mailId,
            bytes: BigInt(t.bytes),
            queued: t.queued,
          }),
        ),
        replies: s.replies.map(reply),
        bytesIn: BigInt(s.bytesIn),
        bytesOut: BigInt(s.bytesOut),
        ingressInstance: s.instance,
      }),
    },
  });
  record.hash = createHash('sha256').update(toBinary(AuditRecordSchema, record)).digest('hex');
  return record;
}

/** Session records published together at most. */
const AUDIT_BATCH = 64;

/**
 * Publishes session records in order, one batch at a time, so the chain on the stream
 * has the order of `seq` (a record that needed a retry lands after later ones; the
 * chain is verified by `seq` and `prev_hash`, not by stream position). Bounded: past `maxPending` the oldest waiting record is
 * dropped (counted and logged) rather than growing memory while NATS is down.
 */
export class AuditChain {
  private seq = 0n;
  private prevHash = '';
  private readonly pending: AuditRecord[] = [];
  private running: Promise<void> | undefined;

  constructor(
    private readonly bus: Bus,
    private readonly log: Logger,
    private readonly onDrop: () => void,
    private readonly maxPending = 10_000,
    private readonly attempts = 3,
  ) {}

  submit(s: SessionFacts): AuditRecord {
    this.seq += 1n;
    const record = sessionRecord(s, this.seq, this.prevHash);
    this.prevHash = record.hash;
    this.pending.push(record);
    if (this.pending.length > this.maxPending) {
      const dropped = this.pending.shift();
      this.onDrop();
      this.log.error(
        { event: 'ingress.audit_dropped', seq: String(dropped?.seq) },
        'audit backlog full, dropped a session record',
      );
    }
    this.running ??= this.drain().finally(() => (this.running = undefined));
    return record;
  }

  /** Resolves when every submitted record was published or given up on. */
  async flush(): Promise<void> {
    while (this.running) await this.running;
  }

  /**
   * Publishes what is waiting as one batch: the records leave in `seq` order on one
   * connection (one write), and the server stores them in that order. A record
   * whose publish failed is retried, alone and in order, before the next batch.
   */
  private async drain(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, AUDIT_BATCH);
      const results = await Promise.allSettled(batch.map((r) => this.publishOne(r)));
      for (const [i, res] of results.entries()) {
        if (res.status === 'rejected') await this.retry(batch[i]!, res.reason);
      }
    }
  }

  private publishOne(r: AuditRecord): Promise<unknown> {
    const session = r.body.case === 'session' ? r.body.value : undefined;
    return publish(this.bus, subjects.audit('session'), schemas.AuditRecord, r, {
      msgId: msgId(session?.sessionId ?? '', 'ingress', `session.${r.seq}`),
      timeoutMs: 5_000,
    });
  }

  private async retry(r: AuditRecord, firstError: unknown): Promise<void> {
    let err = firstError;
    for (let i = 2; i <= this.attempts; i++) {
      await new Promise((res) => setTimeout(res, 200 * (i - 1)));
      try {
        await this.publishOne(r);
        return;
      } catch (e) {
        err = e;
      }
    }
    this.onDrop();
    this.log.error(
      { event: 'ingress.audit_failed', seq: String(r.seq), err },
      'could not publish session audit record',
    );
  }
}
