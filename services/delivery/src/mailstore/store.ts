/**
 * Appends mail to mailboxes, idempotently per (mailId, mailbox). The order of
 * writes is what makes a crash at any point safe (MAILSTORE.md, "Append"):
 *
 *   1. body object (once per mail; an existing object is kept)
 *   2. create dlv.<mailId>.<mailbox>          — or find it from an earlier attempt
 *   3. allocate a UID: CAS on box.<mailbox>   — quota checked here
 *   4. record the UID in dlv.<mailId>.<mailbox> (CAS on its revision)
 *   5. put msg.<mailbox>.<folder>.<uid>
 *
 * A redelivered job finds the record of step 4 and rewrites step 5 with the same
 * UID, so a message never appears twice. A crash between 3 and 4 leaves an unused
 * UID (allowed: UIDs must ascend, not be dense) and over-counts usage by one message.
 */
import type { Readable } from 'node:stream';
import type { KV } from '@nats-io/kv';
import { kvBuckets, objectBuckets } from '@mailmesh/proto';
import type { ObjectStore } from '@mailmesh/runtime';
import { createJson, encodeJson, getJson, isWrongRevision, updateJson } from '@mailmesh/queue';

import {
  bodyKey,
  type DeliveryRecord,
  folders,
  JUNK_KEYWORD,
  mailboxKeys,
  type MailboxState,
  type MessageEntry,
} from './layout.js';

const BUCKET = kvBuckets.mailbox.bucket;

export interface BodyRef {
  readonly bucket: string;
  readonly key: string;
  readonly size: number;
}

export interface AppendInput {
  readonly mailId: string;
  /** Canonical mailbox address. */
  readonly address: string;
  /** 0 = unlimited. */
  readonly quotaBytes: number;
  readonly junk: boolean;
  /** Per-recipient header lines, CRLF-terminated. */
  readonly prefix: string;
  readonly body: BodyRef;
}

export type AppendResult =
  | { readonly kind: 'appended'; readonly folder: string; readonly uid: number }
  /** This (mail, mailbox) was delivered before: nothing new was written. */
  | { readonly kind: 'duplicate'; readonly folder: string; readonly uid: number }
  | {
      readonly kind: 'over-quota';
      readonly usedBytes: number;
      readonly quotaBytes: number;
      readonly size: number;
    };

/** Serializes work per key inside one process, so CAS races happen only between processes. */
class KeyedMutex {
  private readonly tails = new Map<string, Promise<unknown>>();
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.tails.set(key, tail);
    try {
      return await next;
    } finally {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}

export class MailStore {
  private readonly lock = new KeyedMutex();

  constructor(
    readonly kv: KV,
    readonly objects: ObjectStore,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /**
   * Stores the body of a mail in the mailbox bucket once: an existing object is
   * kept (a redelivered job, or a second local domain of the same mail). With the
   * envelope's inline copy in hand it is written straight away: a mail id's body
   * never changes and a PUT replaces atomically, so a repeat writes the same bytes
   * and costs one request instead of a HEAD, a GET and a PUT.
   */
  async ensureBody(
    mailId: string,
    spool: {
      bucket: string;
      key: string;
      range?: { readonly offset: number; readonly length: number };
    },
    size: number,
    copy?: Buffer,
  ): Promise<BodyRef> {
    const key = bodyKey(mailId);
    const bucket = objectBuckets.mailbox;
    if (copy) {
      const put = await this.objects.put(bucket, key, copy, {
        size: copy.length,
        contentType: 'message/rfc822',
      });
      return { bucket, key, size: put.size };
    }
    try {
      const st = await this.objects.stat(bucket, key);
      if (st.size === size) return { bucket, key, size };
    } catch (err) {
      if (!(err instanceof Error && err.name === 'ObjectNotFoundError')) throw err;
    }
    const src: Readable | Buffer = spool.range
      ? await this.objects.getBuffer(spool.bucket, spool.key, { range: spool.range })
      : await this.objects.get(spool.bucket, spool.key);
    const put = await this.objects.put(bucket, key, src, { size, contentType: 'message/rfc822' });
    return { bucket, key, size: put.size };
  }

  /** Appends one message to one mailbox (INBOX, or Junk), exactly once per (mailId, address). */
  async append(input: AppendInput): Promise<AppendResult> {
    const address = input.address.toLowerCase();
    const folder = input.junk ? folders.junk : folders.inbox;
    const dKey = mailboxKeys.delivery(input.mailId, address);
    const at = this.now().toISOString();

    let record: DeliveryRecord | undefined;
    let recordRev: number | false = await createJson(this.kv, dKey, {
      v: 1,
      mailId: input.mailId,
      address,
      at,
    } satisfies DeliveryRecord);
    if (recordRev === false) {
      const cur = await getJson<DeliveryRecord>(this.kv, BUCKET, dKey);
      record = cur?.value;
      recordRev = cur?.revision ?? false;
    }

    if (record?.uid !== undefined && record.folder !== undefined) {
      const entryKey = mailboxKeys.message(address, record.folder, record.uid);
      if ((await this.kv.get(entryKey))?.operation === 'PUT') {
        return { kind: 'duplicate', folder: record.folder, uid: record.uid };
      }
      // The UID was claimed but the entry not written (crash between steps 4 and 5).
      await this.putEntry(input, record.folder, record.uid, at);
      return { kind: 'appended', folder: record.folder, uid: record.uid };
    }

    const size = Buffer.byteLength(input.prefix) + input.body.size;
    const allocated = await this.lock.run(address, () =>
      this.allocate(address, folder, size, input.quotaBytes, at),
    );
    if (allocated.kind === 'over-quota') {
      // Nothing was claimed: release the reservation so a later attempt starts clean.
      if (recordRev !== false)
        await this.kv.delete(dKey, { previousSeq: recordRev }).catch(() => undefined);
      return allocated;
    }
    const claimed: DeliveryRecord = {
      v: 1,
      mailId: input.mailId,
      address,
      folder,
      uid: allocated.uid,
      at,
    };
    try {
      if (recordRev === false) await this.kv.create(dKey, encodeJson(claimed));
      else await this.kv.update(dKey, encodeJson(claimed), recordRev);
    } catch (err) {
      if (!isWrongRevision(err)) throw err;
      // A concurrent attempt claimed this (mail, mailbox) first: its UID wins, ours stays unused.
      const winner = await getJson<DeliveryRecord>(this.kv, BUCKET, dKey);
      const w = winner?.value;
      if (w?.uid === undefined || w.folder === undefined) throw err;
      await this.putEntry(input, w.folder, w.uid, at);
      return { kind: 'duplicate', folder: w.folder, uid: w.uid };
    }
    await this.putEntry(input, folder, allocated.uid, at, allocated.modseq);
    return { kind: 'appended', folder, uid: allocated.uid };
  }

  private async putEntry(
    input: AppendInput,
    folder: string,
    uid: number,
    at: string,
    modseq = uid,
  ): Promise<void> {
    const entry: MessageEntry = {
      v: 1,
      uid,
      mailId: input.mailId,
      folder,
      internalDate: at,
      size: Buffer.byteLength(input.prefix) + input.body.size,
      prefix: input.prefix,
      body: { bucket: input.body.bucket, key: input.body.key, size: input.body.size },
      flags: folder === folders.junk ? [JUNK_KEYWORD] : [],
      modseq,
    };
    await this.kv.put(
      mailboxKeys.message(input.address.toLowerCase(), folder, uid),
      encodeJson(entry),
    );
  }

  private async allocate(
    address: string,
    folder: string,
    size: number,
    quotaBytes: number,
    at: string,
  ): Promise<
    | { kind: 'ok'; uid: number; modseq: number }
    | { kind: 'over-quota'; usedBytes: number; quotaBytes: number; size: number }
  > {
    let result:
      | { kind: 'ok'; uid: number; modseq: number }
      | { kind: 'over-quota'; usedBytes: number; quotaBytes: number; size: number }
      | undefined;
    await updateJson<MailboxState>(this.kv, BUCKET, mailboxKeys.state(address), (cur) => {
      const state: MailboxState = cur ?? {
        v: 1,
        address,
        createdAt: at,
        usage: { bytes: 0, messages: 0 },
        folders: {},
      };
      if (quotaBytes > 0 && state.usage.bytes + size > quotaBytes) {
        result = { kind: 'over-quota', usedBytes: state.usage.bytes, quotaBytes, size };
        return undefined;
      }
      const f = state.folders[folder] ?? {
        uidValidity: Math.floor(Date.parse(at) / 1000),
        uidNext: 1,
        highestModSeq: 0,
        messages: 0,
        createdAt: at,
      };
      const uid = f.uidNext;
      const modseq = f.highestModSeq + 1;
      result = { kind: 'ok', uid, modseq };
      return {
        ...state,
        usage: { bytes: state.usage.bytes + size, messages: state.usage.messages + 1 },
        folders: {
          ...state.folders,
          [folder]: { ...f, uidNext: uid + 1, highestModSeq: modseq, messages: f.messages + 1 },
        },
      };
    });
    if (!result) throw new Error('mailbox state update produced no result');
    return result;
  }

  // ---------------------------------------------------------------------------
  // Reading (IMAP, POP3, tests)

  async state(address: string): Promise<MailboxState | undefined> {
    return (await getJson<MailboxState>(this.kv, BUCKET, mailboxKeys.state(address)))?.value;
  }

  /** Every message of a folder, ascending by UID. */
  async messages(address: string, folder: string): Promise<MessageEntry[]> {
    const keys: string[] = [];
    for await (const k of await this.kv.keys(mailboxKeys.folderMessages(address, folder)))
      keys.push(k);
    const entries = await Promise.all(keys.map((k) => getJson<MessageEntry>(this.kv, BUCKET, k)));
    return entries
      .filter((e): e is NonNullable<typeof e> => e !== undefined)
      .map((e) => e.value)
      .sort((a, b) => a.uid - b.uid);
  }

  /** The message as an IMAP client sees it: the recipient's prefix, then the shared body. */
  async read(entry: MessageEntry): Promise<Buffer> {
    const body = await this.objects.getBuffer(entry.body.bucket, entry.body.key);
    return Buffer.concat([Buffer.from(entry.prefix, 'utf8'), body]);
  }
}

/** Opens the mailbox index bucket (created by `provision`). */
export async function openMailStore(
  bus: { kv(spec: typeof kvBuckets.mailbox): Promise<KV> },
  objects: ObjectStore,
  now?: () => Date,
): Promise<MailStore> {
  return new MailStore(await bus.kv(kvBuckets.mailbox), objects, now);
}
