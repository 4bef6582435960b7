/** Small network probes `mailmesh dev` uses to tell when a child is ready. */
import { createConnection, createServer } from 'node:net';

/** True when GET `url` answers `status` (default 200) within `timeoutMs`. */
export async function httpOk(url: string, timeoutMs = 2_000, status = 200): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel();
    return res.status === status;
  } catch {
    return false;
  }
}

/** True when a TCP connection to `host:port` opens within `timeoutMs`. */
export function tcpOpen(host: string, port: number, timeoutMs = 2_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * True when the SMTP server at `host:port` sends a `220` greeting. A bare TCP accept is
 * not enough: Haraka accepts before its plugins are loaded.
 */
export function smtpGreets(host: string, port: number, timeoutMs = 3_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    let buf = '';
    const done = (ok: boolean): void => {
      if (ok) socket.end('QUIT\r\n');
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.on('data', (chunk: Buffer) => {
      buf += chunk.toString('latin1');
      if (buf.includes('\n')) done(buf.startsWith('220'));
    });
    socket.once('error', () => done(false));
    socket.once('close', () => resolve(buf.startsWith('220')));
  });
}

/** True when nothing listens on `127.0.0.1:port` (we could bind it). */
export function portFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => {
      server.close(() => resolve(true));
    });
  });
}

/** Sends `request` to `host:port` and resolves with what came back before close (or `until` matched). */
export function tcpExchange(
  host: string,
  port: number,
  request: string,
  until: (reply: string) => boolean = () => false,
  timeoutMs = 3_000,
): Promise<string> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    let buf = '';
    const done = (): void => {
      socket.destroy();
      resolve(buf);
    };
    socket.setTimeout(timeoutMs, done);
    socket.once('connect', () => socket.write(request));
    socket.on('data', (chunk: Buffer) => {
      buf += chunk.toString('latin1');
      if (until(buf)) done();
    });
    socket.once('error', done);
    socket.once('close', done);
  });
}
