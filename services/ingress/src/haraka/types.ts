/**
 * The parts of Haraka's (untyped, CommonJS) objects that Mailmesh touches. Kept
 * minimal on purpose: everything else stays Haraka's business.
 */
import type { Readable, Writable } from 'node:stream';

export interface HarakaAddress {
  readonly user: string;
  readonly host: string;
  readonly original: string;
  readonly address: string;
  isNull(): boolean;
  format(): string;
}

export interface HarakaHeader {
  get(name: string): string;
  get_all(name: string): string[];
  get_decoded(name: string): string;
}

export interface HarakaMessageStream {
  /** Bytes queued in memory, not yet in the stream's spool file. */
  readonly buffered: number;
  /** Appends one line as the client sent it (dot-stuffed); Transaction.add_data's sink. */
  add_line(line: Buffer): void;
  pipe<T extends Writable>(
    dest: T,
    options?: { line_endings?: string; dot_stuffed?: boolean; ending_dot?: boolean },
  ): T;
  unpipe(): void;
}

export interface HarakaTransaction {
  readonly uuid: string;
  readonly mail_from: HarakaAddress;
  readonly rcpt_to: HarakaAddress[];
  readonly header: HarakaHeader;
  readonly message_stream: HarakaMessageStream;
  data_bytes: number;
  discard_data?: boolean;
  /** The blank line ending the header section was seen (a message without one is repaired by Haraka). */
  readonly found_hb_sep?: boolean;
  add_data(line: Buffer | string): void;
  add_leading_header(key: string, value: string): void;
  notes: Record<string, unknown>;
}

export interface HarakaSocket {
  readonly remotePort?: number;
  readonly localAddress?: string;
  readonly localPort?: number;
  readonly servername?: string | false;
  readonly cleartext?: { readonly servername?: string | false };
  write(data: string | Buffer, ...rest: unknown[]): boolean;
  on(event: 'data', cb: (data: Buffer) => void): unknown;
  setTimeout(ms: number): unknown;
  destroy(): void;
}

export interface HarakaConnection {
  readonly uuid: string;
  readonly client: HarakaSocket;
  readonly local: { ip: string | null; port: number | null; host: string };
  readonly remote: { ip: string; port: number; host: string | null; closed: boolean };
  readonly hello: { host: string | null; verb: string | null };
  readonly tls: {
    enabled: boolean;
    advertised: boolean;
    cipher: { name?: string; standardName?: string; version?: string };
  };
  readonly proxy: { allowed: boolean; ip: string | null; type: string | null };
  readonly notes: Record<string, unknown>;
  readonly transaction: HarakaTransaction | null;
  readonly current_line: string | null;
  readonly esmtp: boolean;
  readonly state: number;
  capabilities: string[] | null;
  relaying: boolean;
  authheader?: string;
  respond(code: number | string, msg: unknown, func?: () => void): unknown;
  disconnect(): void;
  pause(): void;
  resume(): void;
  reset_transaction(cb?: () => void): void;
  auth_results(message?: string): string;
}

/** haraka-constants: the hook return codes. */
export interface HarakaConstants {
  readonly cont: number;
  readonly ok: number;
  readonly deny: number;
  readonly denysoft: number;
  readonly denydisconnect: number;
  readonly denysoftdisconnect: number;
}

export type Next = (code?: number, msg?: unknown) => void;

export type BodySource = () => Readable;
