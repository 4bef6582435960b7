import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';

/** GET `url`; true on the expected status. Plain http through fetch. */
export async function httpStatusIs(
  url: string,
  status: number,
  signal: AbortSignal,
): Promise<boolean> {
  const res = await fetch(url, { signal });
  await res.body?.cancel();
  return res.status === status;
}

/** GET over https without verifying the (self-signed) certificate. */
export function httpsGet(
  url: string,
  headers: Record<string, string>,
  signal: AbortSignal,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      url,
      { method: 'GET', headers, rejectUnauthorized: false, signal },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/**
 * Opens a TCP connection, writes `payload`, and collects the reply until the server closes the
 * connection or `done(reply)` says it has enough.
 */
export function tcpExchange(
  host: string,
  port: number,
  payload: string | Uint8Array,
  signal: AbortSignal,
  done: (reply: string) => boolean = () => false,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const chunks: Buffer[] = [];
    const text = (): string => Buffer.concat(chunks).toString('latin1');
    const onAbort = (): void => {
      socket.destroy();
      reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    const finish = (): void => {
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(text());
    };
    socket.on('connect', () => socket.write(payload));
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      if (done(text())) finish();
    });
    socket.on('end', finish);
    socket.on('error', (error) => {
      signal.removeEventListener('abort', onAbort);
      reject(error);
    });
  });
}
