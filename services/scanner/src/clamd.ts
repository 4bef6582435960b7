/**
 * A clamd client for the INSTREAM command over TCP (clamd(8)): `zINSTREAM\0`, then
 * chunks of `<4-byte big-endian length><bytes>`, then a zero-length chunk; clamd
 * answers one NUL-terminated line `stream: OK`, `stream: <Signature> FOUND` or
 * `... ERROR`. Never throws: every outcome is a result word.
 */
import { connect, type Socket } from 'node:net';

export type ClamdResult =
  | { readonly result: 'pass' }
  | { readonly result: 'fail'; readonly signature: string }
  | { readonly result: 'temperror'; readonly reason: string };

export interface ClamdOptions {
  readonly host: string;
  readonly port: number;
  /** Whole exchange deadline; default 30 s. */
  readonly timeoutMs?: number;
  /** Bytes per INSTREAM chunk; default 64 KiB (clamd's StreamMaxLength bounds the total). */
  readonly chunkBytes?: number;
  /** Opens the TCP connection; tests and proxies replace it. */
  readonly dial?: (host: string, port: number) => Socket;
}

export interface ClamdClient {
  scan(body: Buffer): Promise<ClamdResult>;
  ping(): Promise<boolean>;
}

/** Parses clamd's reply line (without the NUL). */
export function parseClamdReply(line: string): ClamdResult {
  const reply = line.replace(/\0+$/, '').trim();
  const m = /^(?:stream|[^:]*):\s*(.*)$/.exec(reply);
  const rest = (m?.[1] ?? reply).trim();
  if (rest === 'OK') return { result: 'pass' };
  if (rest.endsWith(' FOUND'))
    return { result: 'fail', signature: rest.slice(0, -' FOUND'.length).trim() };
  return { result: 'temperror', reason: reply === '' ? 'empty reply' : reply };
}

export function createClamdClient(opts: ClamdOptions): ClamdClient {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const chunk = opts.chunkBytes ?? 64 * 1024;
  const dial = opts.dial ?? ((host: string, port: number) => connect({ host, port }));

  const exchange = (
    write: (s: Socket) => void,
  ): Promise<{ ok: true; reply: string } | { ok: false; reason: string }> =>
    new Promise((resolve) => {
      let done = false;
      const chunks: Buffer[] = [];
      const s = dial(opts.host, opts.port);
      const finish = (r: { ok: true; reply: string } | { ok: false; reason: string }): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        s.destroy();
        resolve(r);
      };
      const timer = setTimeout(
        () => finish({ ok: false, reason: `no reply within ${timeoutMs} ms` }),
        timeoutMs,
      );
      s.on('connect', () => write(s));
      s.on('data', (d: Buffer) => {
        chunks.push(d);
        const all = Buffer.concat(chunks);
        const nul = all.indexOf(0);
        if (nul >= 0) finish({ ok: true, reply: all.subarray(0, nul).toString('utf8') });
      });
      s.on('end', () => {
        const all = Buffer.concat(chunks).toString('utf8');
        if (all !== '') finish({ ok: true, reply: all });
        else finish({ ok: false, reason: 'connection closed without a reply' });
      });
      s.on('error', (err: Error) => finish({ ok: false, reason: err.message }));
    });

  return {
    async scan(body) {
      const r = await exchange((s) => {
        s.write('zINSTREAM\0');
        for (let off = 0; off < body.length; off += chunk) {
          const part = body.subarray(off, off + chunk);
          const len = Buffer.alloc(4);
          len.writeUInt32BE(part.length, 0);
          s.write(len);
          s.write(part);
        }
        s.write(Buffer.alloc(4)); // zero-length chunk: end of stream
      });
      return r.ok ? parseClamdReply(r.reply) : { result: 'temperror', reason: r.reason };
    },
    async ping() {
      const r = await exchange((s) => s.write('zPING\0'));
      return r.ok && r.reply.trim() === 'PONG';
    },
  };
}
