/**
 * PROXY protocol v2 in front of Haraka's listeners. Haraka 3.3.4 trusts a PROXY
 * v1 line from its configured hosts (connection.ini [haproxy] hosts[]) on plain
 * and implicit-TLS listeners alike, and from there uses the client's address
 * everywhere (remote.ip, relaying, our hooks, the envelope, the audit). This shim
 * sits between the TCP server and Haraka's connection handler: for a socket from a
 * load balancer it reads the first bytes, and a v2 header is replaced by the v1
 * line that says the same; anything else (a v1 line, or no header) reaches Haraka
 * untouched, and Haraka's own rules apply. Sockets from other peers are handed
 * over at once: a v2 header from them reaches Haraka as bytes, whose signature
 * ends in "QUIT", so they are never taken for a client address.
 */
import type { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { parseProxyV2, proxyV1Line, PROXY_V2_MAX_BYTES, type ProxyV2Header } from '../proxy/v2.js';

export interface ProxyShimOptions {
  /** Is this socket peer (a bare IP) a configured load balancer? */
  readonly isLoadBalancer: (ip: string) => boolean;
  /** Time a load balancer has to send its header; default 30 s (Haraka's PROXY timeout). */
  readonly headerTimeoutMs?: number;
  /** Called for every refused header (logging, metrics). */
  readonly onRefused?: (ip: string, reason: string) => void;
  /** Called for every v2 header turned into a v1 line. */
  readonly onHeader?: (ip: string, header: ProxyV2Header) => void;
}

type ConnectionListener = (this: EventEmitter, socket: Socket) => void;

const bareIp = (ip: string): string => ip.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1');

/**
 * Puts the v2 reader in front of the 'connection' listeners `server` has now.
 * Install it before the server listens.
 */
export function interceptProxyV2(server: EventEmitter, opts: ProxyShimOptions): void {
  const handlers = server.listeners('connection') as ConnectionListener[];
  server.removeAllListeners('connection');
  const timeoutMs = opts.headerTimeoutMs ?? 30_000;
  const handOver = (socket: Socket, data: Buffer | undefined): void => {
    // Bytes read ahead go back in front of the stream; the socket stays paused
    // until Haraka's listeners are attached (as Haraka's own PROXY pre-parser does).
    socket.pause();
    if (data && data.length > 0) socket.unshift(data);
    setImmediate(() => {
      if (socket.destroyed) return;
      for (const h of handlers) h.call(server, socket);
      socket.resume();
    });
  };

  server.on('connection', (socket: Socket) => {
    const ip = bareIp(socket.remoteAddress ?? '');
    if (!opts.isLoadBalancer(ip)) {
      for (const h of handlers) h.call(server, socket);
      return;
    }
    let buf: Buffer = Buffer.alloc(0);
    let done = false;
    const finish = (): void => {
      done = true;
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('error', onGone);
      socket.removeListener('close', onGone);
    };
    const refuse = (reason: string): void => {
      finish();
      opts.onRefused?.(ip, reason);
      // Before any greeting, like Haraka's own "421 Invalid PROXY format".
      socket.end('421 4.7.0 Invalid PROXY protocol header\r\n');
      socket.destroySoon();
    };
    const onGone = (): void => {
      if (!done) finish();
    };
    const onData = (chunk: Buffer): void => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const r = parseProxyV2(buf);
      switch (r.kind) {
        case 'incomplete':
          if (buf.length > PROXY_V2_MAX_BYTES) refuse('header longer than allowed');
          return;
        case 'not-v2':
          finish();
          handOver(socket, buf);
          return;
        case 'invalid':
          refuse(r.reason);
          return;
        case 'header': {
          finish();
          opts.onHeader?.(ip, r.header);
          const line = proxyV1Line(r.header, {
            remote: { ip, port: socket.remotePort ?? 0 },
            local: { ip: bareIp(socket.localAddress ?? ''), port: socket.localPort ?? 0 },
          });
          handOver(
            socket,
            Buffer.concat([Buffer.from(line, 'latin1'), buf.subarray(r.header.length)]),
          );
          return;
        }
      }
    };
    const timer = setTimeout(() => refuse('no PROXY header in time'), timeoutMs);
    timer.unref();
    socket.on('data', onData);
    socket.once('error', onGone);
    socket.once('close', onGone);
  });
}
