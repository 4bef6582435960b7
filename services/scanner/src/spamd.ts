/**
 * A spamd client speaking SPAMC/1.5 (spamd(1), "The SPAMC/SPAMD protocol"): the
 * `SYMBOLS` command returns the score, the threshold and the names of the rules
 * that hit. Never throws: every outcome is a result word.
 */
import { connect, type Socket } from 'node:net';

export type SpamdResult =
  | {
      readonly result: 'pass';
      readonly isSpam: boolean;
      readonly score: number;
      readonly threshold: number;
      readonly symbols: readonly string[];
    }
  | { readonly result: 'temperror'; readonly reason: string }
  /** The message is larger than the client sends to spamd; it was not checked. */
  | { readonly result: 'none'; readonly reason: string };

export interface SpamdOptions {
  readonly host: string;
  readonly port: number;
  /** Default 30 s. */
  readonly timeoutMs?: number;
  /** Messages larger than this are not sent (spamc's default limit is 500 KiB); default 1 MiB. */
  readonly maxBytes?: number;
  /** `User:` header (per-user preferences); default none. */
  readonly user?: string;
  readonly dial?: (host: string, port: number) => Socket;
}

export interface SpamdClient {
  check(body: Buffer): Promise<SpamdResult>;
}

/** Parses a complete spamd response to SYMBOLS. */
export function parseSpamdResponse(raw: string): SpamdResult {
  const sep = raw.indexOf('\r\n\r\n');
  const head = sep >= 0 ? raw.slice(0, sep) : raw;
  const body = sep >= 0 ? raw.slice(sep + 4) : '';
  const lines = head.split('\r\n');
  const status = /^SPAMD\/[\d.]+\s+(\d+)\s+(.*)$/.exec(lines[0] ?? '');
  if (!status)
    return { result: 'temperror', reason: `unexpected reply ${JSON.stringify(lines[0] ?? '')}` };
  if (status[1] !== '0')
    return { result: 'temperror', reason: `spamd error ${status[1]} ${status[2] ?? ''}`.trim() };
  const spam = lines
    .map((l) => /^Spam:\s*(True|False|Yes|No)\s*;\s*(-?[\d.]+)\s*\/\s*(-?[\d.]+)/i.exec(l))
    .find((m) => m !== null);
  if (!spam) return { result: 'temperror', reason: 'reply has no Spam header' };
  return {
    result: 'pass',
    isSpam: /^(true|yes)$/i.test(spam[1] ?? ''),
    score: Number(spam[2]),
    threshold: Number(spam[3]),
    symbols: body
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== ''),
  };
}

export function createSpamdClient(opts: SpamdOptions): SpamdClient {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const maxBytes = opts.maxBytes ?? 1024 * 1024;
  const dial = opts.dial ?? ((host: string, port: number) => connect({ host, port }));
  return {
    check(body) {
      if (body.length > maxBytes) {
        return Promise.resolve({ result: 'none', reason: `message larger than ${maxBytes} bytes` });
      }
      return new Promise((resolve) => {
        let done = false;
        const chunks: Buffer[] = [];
        const s = dial(opts.host, opts.port);
        const finish = (r: SpamdResult): void => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          s.destroy();
          resolve(r);
        };
        const timer = setTimeout(
          () => finish({ result: 'temperror', reason: `no reply within ${timeoutMs} ms` }),
          timeoutMs,
        );
        s.on('connect', () => {
          const head =
            `SYMBOLS SPAMC/1.5\r\nContent-length: ${body.length}\r\n` +
            (opts.user === undefined ? '' : `User: ${opts.user}\r\n`) +
            '\r\n';
          s.write(head);
          s.write(body);
          // spamd reads Content-length bytes, then answers and closes.
          s.end();
        });
        s.on('data', (d: Buffer) => chunks.push(d));
        s.on('end', () => finish(parseSpamdResponse(Buffer.concat(chunks).toString('utf8'))));
        s.on('error', (err: Error) => finish({ result: 'temperror', reason: err.message }));
      });
    },
  };
}
