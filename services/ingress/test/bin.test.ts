/**
 * The `mailmesh-ingress` bin as it runs in a pod: `node dist/main.js` as a child
 * process, configured by the environment only, against real nats-server and MinIO
 * (provisioned by @mailmesh/runtime, configuration in the KV bucket). A real
 * client (swaks) sends a mail; the envelope on mail.accepted, the spool object,
 * the trace context, the health endpoints and a clean SIGTERM are checked.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromBinary } from '@bufbuild/protobuf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeConfigValue } from '@mailmesh/config';
import {
  configKeys,
  consumers,
  EnvelopeSchema,
  kvBuckets,
  natsHeaders,
  objectBuckets,
  SpfResultCode,
} from '@mailmesh/proto';
import {
  connectBus,
  connectObjectStore,
  provision,
  type Bus,
  type ObjectStore,
} from '@mailmesh/runtime';
import { freePort, startMinio, startNats, type MinioPeer, type NatsPeer } from '@mailmesh/testkit';
import {
  DOMAIN,
  lastReply,
  makeCert,
  platformConfig,
  queuedId,
  RawSmtp,
  sleep,
  swaks,
  testDomain,
  type Ports,
} from './helpers.js';

const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[0-9a-f]$/;

let dir: string;
let nats: NatsPeer;
let minio: MinioPeer;
let bus: Bus;
let store: ObjectStore;
let ports: Ports;
let healthPort: number;
let child: ChildProcess;
let output = '';
let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

async function waitForSmtp(port: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`ingress exited ${child.exitCode}:\n${output}`);
    try {
      const c = await RawSmtp.open(port);
      const greeting = await c.reply(2_000);
      c.close();
      if (greeting.code === 220) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > until) throw new Error(`no SMTP greeting in ${timeoutMs} ms:\n${output}`);
    await sleep(200);
  }
}

const get = async (path: string): Promise<{ status: number; body: string }> => {
  const res = await fetch(`http://127.0.0.1:${healthPort}${path}`);
  return { status: res.status, body: await res.text() };
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mm-ingress-bin-'));
  [nats, minio] = await Promise.all([startNats(), startMinio()]);
  bus = await connectBus({ servers: nats.url, name: 'ingress-bin-test', timeoutMs: 5_000 });
  await provision(bus);
  store = connectObjectStore(minio.connection);
  const tls = await makeCert(dir, 'mx.test.local');
  ports = {
    mx: await freePort(),
    submission: await freePort(),
    smtps: await freePort(),
    restricted: await freePort(),
  };
  healthPort = await freePort();
  const kv = await bus.kv(kvBuckets.config);
  await kv.put(configKeys.platform, encodeConfigValue(platformConfig(ports, tls)));
  await kv.put(configKeys.domain(DOMAIN), encodeConfigValue(await testDomain()));
  const dnsFile = join(dir, 'dns.json');
  await writeFile(
    dnsFile,
    JSON.stringify({ 'example.org': { TXT: ['v=spf1 ip4:127.0.0.0/8 -all'] } }),
  );

  child = spawn(process.execPath, [MAIN], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env['PATH'] ?? '',
      HOME: process.env['HOME'] ?? '',
      MAILMESH_NATS_URL: nats.url,
      MAILMESH_S3_ENDPOINT: minio.endpoint,
      MAILMESH_S3_ACCESS_KEY: minio.accessKey,
      MAILMESH_S3_SECRET_KEY: minio.secretKey,
      MAILMESH_S3_REGION: minio.region,
      MAILMESH_INSTANCE: 'Bin-Test.Pod',
      MAILMESH_HEALTH_PORT: String(healthPort),
      MAILMESH_INGRESS_DIR: join(dir, 'ingress'),
      MAILMESH_DNS_FILE: dnsFile,
      MAILMESH_LOG_LEVEL: 'info',
    },
  });
  exited = new Promise((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const keep = (d: Buffer): void => {
    output = (output + d.toString()).slice(-20_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  await waitForSmtp(ports.mx, 60_000);
});

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await exited;
  }
  await bus?.close().catch(() => undefined);
  await store?.close();
  await Promise.all([nats?.stop(), minio?.stop()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('mailmesh-ingress bin', () => {
  it('accepts a mail with 250 and publishes its envelope with the trace context', async () => {
    const r = await swaks([
      '--server',
      `127.0.0.1:${ports.mx}`,
      '--from',
      'a@example.org',
      '--to',
      `zhang.san@${DOMAIN}`,
      '--header',
      'Subject: from the bin test',
      '--body',
      'hello from swaks',
    ]);
    const reply = lastReply(r);
    expect(reply.code).toBe(250);
    expect(reply.text).toMatch(/^2\.0\.0 Ok: queued as [0-9A-HJKMNP-TV-Z]{26}$/);
    const mailId = queuedId(reply.text)!;

    const c = await bus.js.consumers.get(consumers.scanner.stream, consumers.scanner.durable);
    const m = await c.next({ expires: 5_000 });
    expect(m).not.toBeNull();
    m!.ack();
    const env = fromBinary(EnvelopeSchema, m!.data);
    expect(env.mailId).toBe(mailId);
    expect(env.mailFrom).toBe('a@example.org');
    expect(env.recipients.map((x) => x.address)).toEqual([`zhang.san@${DOMAIN}`]);
    expect(env.client?.ip).toBe('127.0.0.1');
    expect(env.spf?.result).toBe(SpfResultCode.PASS);
    expect(env.subject).toBe('from the bin test');
    expect(env.ingressInstance).toBe('bin-test-pod');
    expect(await store.exists(env.spool!.bucket, env.spool!.key)).toBe(true);
    expect(env.spool?.bucket).toBe(objectBuckets.spool);

    // DESIGN rule 5: the envelope and the publish carry one trace; the publish is
    // a child span of the acceptance, so the trace ids match and the span ids differ.
    const inEnvelope = TRACEPARENT.exec(env.trace?.traceparent ?? '');
    const inHeader = TRACEPARENT.exec(m!.headers?.get(natsHeaders.traceparent) ?? '');
    expect(inEnvelope, `envelope traceparent ${env.trace?.traceparent}`).not.toBeNull();
    expect(inHeader, 'traceparent header').not.toBeNull();
    expect(inHeader![1]).toBe(inEnvelope![1]);
    expect(inHeader![1]).not.toMatch(/^0+$/);
    expect(inHeader![2]).not.toBe(inEnvelope![2]);
    expect(m!.headers?.get(natsHeaders.mailId)).toBe(mailId);
  });

  it('answers /healthz, /readyz and /metrics', async () => {
    expect(await get('/healthz')).toEqual({ status: 200, body: 'ok' });
    expect(await get('/readyz')).toEqual({ status: 200, body: 'ready' });
    const metrics = await get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.body).toMatch(/mailmesh_ingress_accepted_total\{[^}]*listener="mx"[^}]*\} 1\b/);
    expect(metrics.body).toMatch(/mailmesh_ingress_sessions_total\{[^}]*listener="mx"[^}]*\} \d/);
  });

  it('exits 0 on SIGTERM and stops listening', async () => {
    child.kill('SIGTERM');
    const result = await Promise.race([
      exited,
      sleep(30_000).then(() => ({ code: null, signal: 'timeout' as const })),
    ]);
    expect(result, output.slice(-2_000)).toEqual({ code: 0, signal: null });
    await expect(RawSmtp.open(ports.mx)).rejects.toThrow(/ECONNREFUSED/);
  });
});
