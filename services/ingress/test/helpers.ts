/**
 * Test rig: real nats-server + MinIO (testkit), real Haraka in this process,
 * real clients (swaks, Python smtplib, raw sockets). Nothing here mocks a peer.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fromBinary } from '@bufbuild/protobuf';
import { hash as argon2Hash } from '@node-rs/argon2';
import bcrypt from 'bcryptjs';
import {
  buildSnapshot,
  defaultLimits,
  encodeConfigValue,
  type CompiledDomain,
  type ConfigSnapshot,
  type Limits,
  type PlatformConfig,
} from '@mailmesh/config';
import { configKeys, consumers, type Envelope, EnvelopeSchema, kvBuckets } from '@mailmesh/proto';
import {
  connectBus,
  connectObjectStore,
  objectWriterThread,
  provision,
  createLogger,
  watchConfig,
  type Bus,
  type ConfigWatcher,
  type ObjectStore,
} from '@mailmesh/runtime';
import {
  freePort,
  makeSelfSignedCert as makeCert,
  startMinio,
  startNats,
  type MinioPeer,
  type NatsPeer,
} from '@mailmesh/testkit';
import { startIngress, staticResolver, type Ingress } from '../src/index.js';

const run = promisify(execFile);

/** Quiet unless MAILMESH_TEST_LOG=debug|info|... */
export const testLog = createLogger('ingress-test', {
  level: (process.env['MAILMESH_TEST_LOG'] ?? 'silent') as 'silent',
});

export const DOMAIN = 'sh.test.local';
export const ALIAS = 'shanghai.test.local';
export const PASSWORD = 'correct horse battery staple';
export const BCRYPT_PASSWORD = 'bcrypt-secret-42';

/** Makes a throwaway self-signed certificate with the openssl CLI (no key is committed). */
export { makeCert };

export async function testDomain(): Promise<CompiledDomain> {
  const argon = await argon2Hash(PASSWORD, { memoryCost: 4096, timeCost: 2, parallelism: 1 });
  const bc = await bcrypt.hash(BCRYPT_PASSWORD, 8);
  const box = (localPart: string, passwordHash: string, sendAs: string[] = []) => ({
    localPart,
    address: `${localPart}@${DOMAIN}`,
    passwordHash,
    quotaBytes: 0,
    sendAs,
    forwardTo: [],
  });
  return {
    domain: DOMAIN,
    aliases: [ALIAS],
    mailboxes: [
      box('zhang.san', argon, [`sales@${DOMAIN}`]),
      box('li.si', bc),
      box('locked', argon),
      box('cool', argon),
      box('postmaster', argon),
    ],
    groups: [
      {
        name: 'sales',
        address: `sales@${DOMAIN}`,
        members: [`zhang.san@${DOMAIN}`, `li.si@${DOMAIN}`],
      },
    ],
    // 127.0.0.64/28: branch MTAs that may relay without AUTH.
    relay: { allowedNetworks: ['127.0.0.64/28'] },
    outbound: {},
    inbound: { requireTLS: false },
    policies: [],
  };
}

export const catchAllDomain: CompiledDomain = {
  domain: 'catch.test.local',
  aliases: [],
  mailboxes: [
    {
      localPart: 'inbox',
      address: 'inbox@catch.test.local',
      passwordHash: '$2b$04$abcdefghijklmnopqrstuu5L2lGv0k0N7o1u3v5w7y9A1C3E5G7I.',
      quotaBytes: 0,
      sendAs: [],
      forwardTo: [],
    },
  ],
  groups: [],
  catchAll: 'inbox',
  relay: { allowedNetworks: [] },
  outbound: {},
  inbound: { requireTLS: true },
  policies: [],
};

export interface Ports {
  readonly mx: number;
  readonly submission: number;
  readonly smtps: number;
  /** An MX listener that only 127.0.0.1 may use. */
  readonly restricted: number;
}

export function platformConfig(
  ports: Ports,
  tls: { certFile: string; keyFile: string },
  limits: Partial<Limits> = {},
): PlatformConfig {
  return {
    hostname: 'mx.test.local',
    listeners: [
      {
        name: 'mx',
        kind: 'mx',
        addresses: [`127.0.0.1:${ports.mx}`],
        allowNetworks: [],
        proxyProtocolFrom: ['127.0.0.9/32'],
      },
      {
        name: 'submission',
        kind: 'submission',
        addresses: [`127.0.0.1:${ports.submission}`],
        allowNetworks: [],
        proxyProtocolFrom: [],
      },
      {
        name: 'smtps',
        kind: 'smtps',
        addresses: [`127.0.0.1:${ports.smtps}`],
        allowNetworks: [],
        proxyProtocolFrom: [],
      },
      {
        name: 'restricted',
        kind: 'mx',
        addresses: [`127.0.0.1:${ports.restricted}`],
        allowNetworks: ['127.0.0.1/32'],
        proxyProtocolFrom: [],
      },
    ],
    tls,
    limits: {
      ...defaultLimits,
      maxMessageBytes: 2 * 1024 * 1024,
      maxRecipients: 3,
      commandTimeoutMs: 30_000,
      ...limits,
    },
    acceptanceDeadlineMs: 4_000,
    inlineScan: { enabled: false, timeoutMs: 10_000 },
  };
}

export interface Rig {
  readonly nats: NatsPeer;
  readonly minio: MinioPeer;
  readonly bus: Bus;
  readonly store: ObjectStore;
  readonly watcher: ConfigWatcher<ConfigSnapshot>;
  readonly ingress: Ingress;
  readonly ports: Ports;
  readonly dir: string;
  readonly tls: { certFile: string; keyFile: string };
  /** Writes config documents and waits until the ingress snapshot has them. */
  putConfig(docs: Record<string, unknown>): Promise<void>;
  platform(limits?: Partial<Limits>): PlatformConfig;
  stop(): Promise<void>;
}

export interface RigOptions {
  readonly limits?: Partial<Limits>;
  readonly spf?: Readonly<Record<string, Readonly<Record<string, readonly string[]>>>>;
  readonly spoolAfterBytes?: number;
}

export async function startRig(opts: RigOptions = {}): Promise<Rig> {
  const dir = await mkdtemp(join(tmpdir(), 'mm-ingress-test-'));
  const [nats, minio] = await Promise.all([startNats(), startMinio()]);
  const bus = await connectBus({ servers: nats.url, name: 'ingress-test', timeoutMs: 5_000 });
  await provision(bus);
  const store = connectObjectStore({ ...minio.connection, partSizeBytes: 5 * 1024 * 1024 });
  // As in the bin: spool PUTs go through a writer thread.
  const spoolWriter = objectWriterThread(minio.connection);
  const tls = await makeCert(dir, 'mx.test.local');
  const ports: Ports = {
    mx: await freePort(),
    submission: await freePort(),
    smtps: await freePort(),
    restricted: await freePort(),
  };
  const kv = await bus.kv(kvBuckets.config);
  const platform = (limits: Partial<Limits> = {}) =>
    platformConfig(ports, tls, { ...opts.limits, ...limits });
  await kv.put(configKeys.platform, encodeConfigValue(platform()));
  await kv.put(configKeys.domain(DOMAIN), encodeConfigValue(await testDomain()));
  await kv.put(configKeys.domain(catchAllDomain.domain), encodeConfigValue(catchAllDomain));
  const watcher = watchConfig<ConfigSnapshot>(bus, (e) => buildSnapshot(e), { log: testLog });
  await watcher.ready;
  const ingress = await startIngress({
    bus,
    store,
    spoolWriter,
    snapshot: () => watcher.current().value as ConfigSnapshot,
    workDir: join(dir, 'haraka'),
    instance: 'test-ingress',
    log: testLog,
    resolver: staticResolver(opts.spf ?? {}),
    harakaLogLevel: 'error',
    loadIntervalMs: 500,
    tlsPollMs: 200,
    ...(opts.spoolAfterBytes !== undefined ? { spoolAfterBytes: opts.spoolAfterBytes } : {}),
  });
  const putConfig = async (docs: Record<string, unknown>): Promise<void> => {
    let rev = 0;
    for (const [k, v] of Object.entries(docs)) rev = await kv.put(k, encodeConfigValue(v));
    for (let i = 0; i < 200 && watcher.current().revision < rev; i++) await sleep(25);
    if (watcher.current().revision < rev) throw new Error(`config revision ${rev} not applied`);
  };
  return {
    nats,
    minio,
    bus,
    store,
    watcher,
    ingress,
    ports,
    dir,
    tls,
    putConfig,
    platform,
    stop: async () => {
      await ingress.stop(2_000).catch(() => undefined);
      await watcher.stop().catch(() => undefined);
      await bus.close().catch(() => undefined);
      await store.close();
      await spoolWriter.close();
      await Promise.all([nats.stop(), minio.stop()]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------
// Clients

export interface ServerReply {
  readonly code: number;
  readonly text: string;
}

export interface SwaksResult {
  readonly exitCode: number;
  /** Every server reply, in order (multi-line replies joined with \n). */
  readonly replies: ServerReply[];
  readonly output: string;
}

/** Runs swaks (real client) and collects the server's replies. */
export async function swaks(args: string[], timeoutMs = 60_000): Promise<SwaksResult> {
  return new Promise((resolve, reject) => {
    const p = spawn('/usr/bin/swaks', ['--timeout', '30', '--hide-informational', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    p.stdout.on('data', (d: Buffer) => (output += d.toString()));
    p.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(t);
      const replies: ServerReply[] = [];
      let pending: { code: number; lines: string[] } | undefined;
      for (const line of output.split('\n')) {
        const m = /^\s*<(?:-|\*\*|~|~\*)\s+(\d{3})([ -])(.*)$/.exec(line);
        if (!m) continue;
        const c = Number(m[1]);
        pending ??= { code: c, lines: [] };
        pending.lines.push(m[3] ?? '');
        if (m[2] === ' ') {
          replies.push({ code: pending.code, text: pending.lines.join('\n') });
          pending = undefined;
        }
      }
      resolve({ exitCode: code ?? -1, replies, output });
    });
  });
}

/** The reply to the last command before QUIT (or the last one at all). */
export function lastReply(r: SwaksResult): ServerReply {
  const rs = r.replies.filter((x) => x.code !== 221);
  const last = rs[rs.length - 1];
  if (!last) throw new Error(`no replies in swaks output:\n${r.output}`);
  return last;
}

export interface PyStep {
  readonly step: string;
  readonly code: number;
  readonly text: string;
}

/** Drives Python's smtplib (real client) through a scripted session; see fixtures/smtp_client.py. */
export async function pySmtp(script: Record<string, unknown>): Promise<PyStep[]> {
  const { stdout } = await run(
    'python3',
    [join(import.meta.dirname, 'fixtures', 'smtp_client.py'), JSON.stringify(script)],
    {
      timeout: 90_000,
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  return (JSON.parse(stdout) as { steps: PyStep[] }).steps;
}

/** A raw SMTP conversation over a socket, for byte-exact tests (smuggling, PROXY). */
export class RawSmtp {
  private buf = '';
  private waiters: Array<() => void> = [];
  closed = false;

  private constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf += d.toString('latin1');
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on('error', () => undefined);
  }

  /** Speaks over a socket opened elsewhere (e.g. TLS on top of a raw connection). */
  static over(socket: Socket): RawSmtp {
    return new RawSmtp(socket);
  }

  static open(port: number, localAddress = '127.0.0.1'): Promise<RawSmtp> {
    return new Promise((resolve, reject) => {
      const s = netConnect({ host: '127.0.0.1', port, localAddress }, () =>
        resolve(new RawSmtp(s)),
      );
      s.once('error', reject);
    });
  }

  write(data: string | Buffer): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /** Next complete reply (all lines of a multi-line reply). */
  async reply(timeoutMs = 15_000): Promise<ServerReply> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const m = /^((?:\d{3}-[^\n]*\n)*)(\d{3}) ([^\n]*)\n/.exec(this.buf);
      if (m) {
        this.buf = this.buf.slice(m[0].length);
        const lines = [
          ...(m[1] ?? '')
            .split('\n')
            .filter((l) => l !== '')
            .map((l) => l.slice(4).replace(/\r$/, '')),
          (m[3] ?? '').replace(/\r$/, ''),
        ];
        return { code: Number(m[2]), text: lines.join('\n') };
      }
      if (this.closed) throw new Error(`connection closed; unread: ${JSON.stringify(this.buf)}`);
      const left = until - Date.now();
      if (left <= 0)
        throw new Error(`no reply within ${timeoutMs} ms; buffered: ${JSON.stringify(this.buf)}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  async command(line: string): Promise<ServerReply> {
    this.write(`${line}\r\n`);
    return this.reply();
  }

  /** Resolves once the server closed the connection. */
  async waitClosed(timeoutMs = 15_000): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < until) await sleep(20);
    return this.closed;
  }

  close(): void {
    this.socket.destroy();
  }
}

// ---------------------------------------------------------------------------
// What ingress left on the bus and in S3

/** Takes up to `max` envelopes from the scanner's durable consumer (acking them). */
export async function takeEnvelopes(bus: Bus, max: number, waitMs = 3_000): Promise<Envelope[]> {
  const c = await bus.js.consumers.get(consumers.scanner.stream, consumers.scanner.durable);
  const out: Envelope[] = [];
  const until = Date.now() + waitMs;
  while (out.length < max && Date.now() < until) {
    const m = await c.next({ expires: Math.max(1_000, until - Date.now()) });
    if (!m) continue;
    out.push(fromBinary(EnvelopeSchema, m.data));
    m.ack();
  }
  return out;
}

export async function mailStreamCount(bus: Bus): Promise<number> {
  const info = await bus.jsm.streams.info(consumers.scanner.stream);
  return info.state.messages;
}

export async function spoolKeys(store: ObjectStore): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of store.list('spool')) keys.push(o.key);
  return keys;
}

export const queuedId = (text: string): string | undefined =>
  /queued as ([0-9A-HJKMNP-TV-Z]{26})$/.exec(text)?.[1];

export async function writeMessageFile(
  dir: string,
  name: string,
  content: string | Buffer,
): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, content);
  return p;
}

// ---------------------------------------------------------------------------
// PROXY protocol v2 (HAProxy proxy-protocol.txt §2.2), built byte by byte

export interface V2HeaderSpec {
  /** 0 LOCAL, 1 PROXY; other values for invalid headers. */
  readonly command?: number;
  readonly version?: number;
  /** 0 UNSPEC, 1 INET, 2 INET6, 3 UNIX. */
  readonly family?: number;
  /** 1 STREAM, 2 DGRAM. */
  readonly transport?: number;
  /** Address block; `ipv4`/`ipv6` below build one. */
  readonly addresses?: Buffer;
  /** Raw TLV bytes appended after the addresses. */
  readonly tlvs?: Buffer;
}

export const V2_SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

export function v2Header(spec: V2HeaderSpec = {}): Buffer {
  const body = Buffer.concat([spec.addresses ?? Buffer.alloc(0), spec.tlvs ?? Buffer.alloc(0)]);
  const fixed = Buffer.alloc(4);
  fixed[0] = ((spec.version ?? 2) << 4) | (spec.command ?? 1);
  fixed[1] = ((spec.family ?? 1) << 4) | (spec.transport ?? 1);
  fixed.writeUInt16BE(body.length, 2);
  return Buffer.concat([V2_SIGNATURE, fixed, body]);
}

export function v4Addresses(src: string, dst: string, srcPort: number, dstPort: number): Buffer {
  const b = Buffer.alloc(12);
  src.split('.').forEach((o, i) => (b[i] = Number(o)));
  dst.split('.').forEach((o, i) => (b[4 + i] = Number(o)));
  b.writeUInt16BE(srcPort, 8);
  b.writeUInt16BE(dstPort, 10);
  return b;
}

/** `groups`: eight 16-bit groups of each address, e.g. [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]. */
export function v6Addresses(
  src: readonly number[],
  dst: readonly number[],
  srcPort: number,
  dstPort: number,
): Buffer {
  const b = Buffer.alloc(36);
  src.forEach((g, i) => b.writeUInt16BE(g, i * 2));
  dst.forEach((g, i) => b.writeUInt16BE(g, 16 + i * 2));
  b.writeUInt16BE(srcPort, 32);
  b.writeUInt16BE(dstPort, 34);
  return b;
}

/** A PP2_TYPE_AUTHORITY TLV (§2.2.1) and a NOOP TLV, as a load balancer might add. */
export const SAMPLE_TLVS = Buffer.concat([
  Buffer.from([0x02, 0x00, 0x0e]),
  Buffer.from('mx.test.local!'),
  Buffer.from([0x04, 0x00, 0x03, 0, 0, 0]),
]);
