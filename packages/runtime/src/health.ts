import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** `true`/`false`, or a verdict with the reason shown by /readyz when not ready. */
export type Readiness = boolean | { readonly ready: boolean; readonly reason?: string };

export interface HealthServerOptions {
  /** Default 0.0.0.0 so kubelet probes and Prometheus reach the pod. */
  readonly host?: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly ready: () => Readiness | Promise<Readiness>;
  readonly registry?: Registry;
}

export interface HealthServer {
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

async function readiness(check: HealthServerOptions['ready']): Promise<{
  ready: boolean;
  reason?: string;
}> {
  try {
    const r = await check();
    if (typeof r === 'boolean') return r ? { ready: true } : { ready: false, reason: 'not ready' };
    return r.ready ? { ready: true } : { ready: false, reason: r.reason ?? 'not ready' };
  } catch (err) {
    return { ready: false, reason: err instanceof Error ? err.message : String(err) };
  }
}

async function handle(
  opts: HealthServerOptions,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    sendJson(res, 405, { error: 'method not allowed', allowed: ['GET', 'HEAD'] });
    return;
  }
  switch (path) {
    case '/healthz':
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('ok');
      return;
    case '/readyz': {
      const r = await readiness(opts.ready);
      if (r.ready) {
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('ready');
      } else {
        sendJson(res, 503, { status: 'not ready', reason: r.reason });
      }
      return;
    }
    case '/metrics': {
      if (!opts.registry) {
        sendJson(res, 404, { error: 'no metrics registry configured' });
        return;
      }
      const text = await opts.registry.metrics();
      res.writeHead(200, { 'content-type': opts.registry.contentType });
      res.end(text);
      return;
    }
    default:
      sendJson(res, 404, { error: 'not found', path });
  }
}

/** Serves /healthz (liveness), /readyz (readiness) and /metrics (Prometheus text format). */
export async function startHealthServer(opts: HealthServerOptions): Promise<HealthServer> {
  const server = createServer((req, res) => {
    handle(opts, req, res).catch((err: unknown) => {
      if (!res.headersSent) {
        sendJson(res, 500, { error: err instanceof Error ? err.message : String(err) });
      } else {
        res.destroy();
      }
    });
  });
  // Probes must not keep a draining process alive.
  server.keepAliveTimeout = 1_000;
  const host = opts.host ?? '0.0.0.0';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return {
    port,
    url: `http://${urlHost.includes(':') ? `[${urlHost}]` : urlHost}:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
