import { describe, expect, it } from 'vitest';

import { Counter, createRegistry, startHealthServer } from '../src/index.js';

describe('health server', () => {
  it('serves /healthz, /readyz (503 then 200), /metrics and 404 JSON', async () => {
    const registry = createRegistry('scanner', { instance: 'scanner-0' });
    const scanned = new Counter({
      name: 'mailmesh_scanner_mails_total',
      help: 'Mails scanned',
      labelNames: ['verdict'] as const,
      registers: [registry],
    });
    scanned.inc({ verdict: 'clean' }, 3);
    let ready: boolean | { ready: boolean; reason: string } = {
      ready: false,
      reason: 'config not loaded',
    };
    const server = await startHealthServer({
      host: '127.0.0.1',
      port: 0,
      ready: () => ready,
      registry,
    });
    try {
      expect(server.port).toBeGreaterThan(0);
      expect(server.url).toBe(`http://127.0.0.1:${server.port}`);

      const live = await fetch(`${server.url}/healthz`);
      expect(live.status).toBe(200);
      expect(await live.text()).toBe('ok');

      const notReady = await fetch(`${server.url}/readyz`);
      expect(notReady.status).toBe(503);
      expect(await notReady.json()).toEqual({ status: 'not ready', reason: 'config not loaded' });

      ready = true;
      const isReady = await fetch(`${server.url}/readyz`);
      expect(isReady.status).toBe(200);

      const metrics = await fetch(`${server.url}/metrics`);
      expect(metrics.status).toBe(200);
      expect(metrics.headers.get('content-type')).toMatch(/^text\/plain; version=0.0.4/);
      const text = await metrics.text();
      expect(text).toContain('# TYPE mailmesh_scanner_mails_total counter');
      expect(text).toContain(
        'mailmesh_scanner_mails_total{verdict="clean",service="scanner",instance="scanner-0"} 3',
      );
      expect(text).toMatch(/^mailmesh_process_resident_memory_bytes\{.*\} \d+/m);

      const missing = await fetch(`${server.url}/nope`);
      expect(missing.status).toBe(404);
      expect(await missing.json()).toEqual({ error: 'not found', path: '/nope' });
    } finally {
      await server.close();
    }
  });

  it('answers 503 with the reason when the readiness check throws', async () => {
    const server = await startHealthServer({
      host: '127.0.0.1',
      port: 0,
      ready: () => Promise.reject(new Error('NATS connection lost')),
    });
    try {
      const r = await fetch(`${server.url}/readyz`);
      expect(r.status).toBe(503);
      expect(await r.json()).toEqual({ status: 'not ready', reason: 'NATS connection lost' });
    } finally {
      await server.close();
    }
  });
});
