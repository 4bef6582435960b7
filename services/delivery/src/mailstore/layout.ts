/**
 * Layout of the mailbox store (see MAILSTORE.md): message bodies in the S3 bucket
 * `mailbox` (one object per mail, shared by every local recipient), the IMAP index
 * in the JetStream KV bucket `mailmesh-mailbox`. Self-contained so the IMAP/POP3
 * service can use the same definitions.
 */
import { assertMailId, ulidTime } from '@mailmesh/proto';

/** Folders delivery files into. Other folders are created by IMAP clients. */
export const folders = { inbox: 'INBOX', junk: 'Junk' } as const;

/** Keyword set on mail filed as junk (RFC 5788 registry). */
export const JUNK_KEYWORD = '$Junk';

/**
 * Encodes a string as one KV key token: `[A-Za-z0-9_-]` stay, every other byte of
 * its UTF-8 form becomes `=XX` (uppercase hex), `=` included. Reversible, and never
 * contains `.` (the token separator), so `msg.<mailbox>.<folder>.>` lists a folder.
 *   `zhang.san@sh.company.local` -> `zhang=2Esan=40sh=2Ecompany=2Elocal`
 */
export function keyToken(s: string): string {
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9_-]/.test(c) ? c : `=${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

export function decodeKeyToken(token: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < token.length; i++) {
    if (token[i] === '=') {
      bytes.push(parseInt(token.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(token.charCodeAt(i));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Mailbox addresses are canonical: lowercase `local@primary-domain`. */
export const mailboxToken = (address: string): string => keyToken(address.toLowerCase());

export const mailboxKeys = {
  /** `box.<mailbox>`: MailboxState (folders, UID counters, usage). */
  state: (address: string): string => `box.${mailboxToken(address)}`,
  /** `msg.<mailbox>.<folder>.<uid>`: one MessageEntry. */
  message: (address: string, folder: string, uid: number): string =>
    `msg.${mailboxToken(address)}.${keyToken(folder)}.${uid}`,
  /** Filter for every message of one folder. */
  folderMessages: (address: string, folder: string): string =>
    `msg.${mailboxToken(address)}.${keyToken(folder)}.>`,
  /** Filter for every message of a mailbox (all folders): IMAP IDLE watches it. */
  mailboxMessages: (address: string): string => `msg.${mailboxToken(address)}.>`,
  /** `dlv.<mailId>.<mailbox>`: DeliveryRecord, the idempotency key of local delivery. */
  delivery: (mailId: string, address: string): string =>
    `dlv.${assertMailId(mailId)}.${mailboxToken(address)}`,
} as const;

/** Body object of a mail in the `mailbox` bucket: `msg/<yyyy>/<mm>/<dd>/<mailId>.eml`. */
export function bodyKey(mailId: string): string {
  const d = new Date(ulidTime(assertMailId(mailId)));
  const p = (n: number): string => String(n).padStart(2, '0');
  return `msg/${d.getUTCFullYear()}/${p(d.getUTCMonth() + 1)}/${p(d.getUTCDate())}/${mailId}.eml`;
}

export interface FolderState {
  /** RFC 3501 §2.3.1.1; changes only if the folder is deleted and created again. */
  readonly uidValidity: number;
  /** The UID the next message gets. UIDs are never reused. */
  readonly uidNext: number;
  /** RFC 7162 HIGHESTMODSEQ: raised by every append and flag change in the folder. */
  readonly highestModSeq: number;
  /** Messages in the folder (appends minus expunges). */
  readonly messages: number;
  readonly createdAt: string;
}

export interface MailboxState {
  readonly v: 1;
  readonly address: string;
  readonly createdAt: string;
  /** Bytes and messages over all folders (what the quota limits). */
  readonly usage: { readonly bytes: number; readonly messages: number };
  /** Folder name (IMAP name, UTF-8) -> state. */
  readonly folders: Readonly<Record<string, FolderState>>;
}

export interface MessageEntry {
  readonly v: 1;
  readonly uid: number;
  readonly mailId: string;
  readonly folder: string;
  /** IMAP INTERNALDATE: when the mail was delivered. */
  readonly internalDate: string;
  /** RFC822.SIZE: prefix bytes + body bytes. */
  readonly size: number;
  /** Header lines prepended for this recipient (Return-Path, Delivered-To, scanner headers), CRLF-terminated. */
  readonly prefix: string;
  readonly body: { readonly bucket: string; readonly key: string; readonly size: number };
  /** IMAP flags and keywords (`\\Seen`, `$Junk`, ...). */
  readonly flags: readonly string[];
  /** RFC 7162 MODSEQ of the entry's last change. */
  readonly modseq: number;
}

export interface DeliveryRecord {
  readonly v: 1;
  readonly mailId: string;
  readonly address: string;
  /** `reserved`: a delivery started; `uid` set: that UID belongs to this (mail, mailbox). */
  readonly folder?: string;
  readonly uid?: number;
  readonly at: string;
}
