import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { encodeConfigValue } from '@mailmesh/config';
import { folders, openMailStore, type MailStore, type MessageEntry } from '@mailmesh/delivery';
import {
  configKeys,
  consumers,
  kvBuckets,
  objectBuckets,
  streams,
  type ConsumerSpec,
} from '@mailmesh/proto';
import { openQueueStore, type QueueRecord, type QueueStore } from '@mailmesh/queue';
import {
  connectBus,
  connectObjectStore,
  provision,
  type Bus,
  type ObjectStore,
} from '@mailmesh/runtime';
import {
  makeSelfSignedCert,
  startMinio,
  startNats,
  type MinioPeer,
  type NatsPeer,
  type TcpServicePeer,
} from '@mailmesh/testkit';
import { freePort, sleep, waitExit } from '../proc.js';
import { waitForGreeting } from '../peers/greeting.js';
import {
  BENCH_DOMAIN,
  benchDomain,
  benchPolicy,
  dnsTable,
  platformDocument,
  POLICY_NAME,
} from './config.js';

export const serviceNames = ['ingress', 'scanner', 'router', 'delivery'] as const;
export type ServiceName = (typeof serviceNames)[number];

/** Every process of the platform whose CPU the benchmark accounts for (clamd, spamd if used). */
export type ProcessName = ServiceName | 'nats-server' | 'minio' | 'clamd' | 'spamd';
export const processNames: readonly ProcessName[] = [
  ...serviceNames,
  'nats-server',
  'minio',
  'clamd',
  'spamd',
];

/** Bus and storage operations so far: NATS messages per service connection, S3 requests per API. */
export interface OpsSnapshot {
  /** Messages each service sent to nats-server (publishes, requests, acks, pulls). */
  readonly natsSent: Readonly<Partial<Record<ServiceName, number>>>;
  /** Messages nats-server sent to each service. */
  readonly natsReceived: Readonly<Partial<Record<ServiceName, number>>>;
  /** `minio_api_requests_total` by API (`PutObject`, `GetObject`, `HeadObject`, ...). */
  readonly s3: Readonly<Record<string, number>>;
}

export interface PlatformOptions {
  /** Port of the smtp-sink: `bench.local`'s smart host. */
  readonly sinkPort: number;
  /** Local parts of the mailboxes of `bench.local`. */
  readonly mailboxes: readonly string[];
  /** Real clamd and spamd: the policy then asks for antivirus and spam checks. */
  readonly daemons?: { readonly clamd: TcpServicePeer; readonly spamd: TcpServicePeer };
  /** MAILMESH_LOG_LEVEL of every service; default `warn`. */
  readonly logLevel?: string;
  /** Services to run under `node --cpu-prof`; profiles land in `profileDir` on stop. */
  readonly profile?: readonly ServiceName[];
  readonly profileDir?: string;
  /** Extra environment per service (knobs such as MAILMESH_SMTP_MAX_CONNECTIONS). */
  readonly env?: Partial<Record<ServiceName, Readonly<Record<string, string>>>>;
}

/**
 * The whole Mailmesh pipeline on loopback: real nats-server and MinIO (testkit),
 * streams, consumers and buckets provisioned, configuration in the KV bucket as the
 * operator writes it, and one child process per service bin (`dist/main.js`).
 */
export interface Platform {
  /** The ingress's SMTP port. */
  readonly port: number;
  readonly bus: Bus;
  readonly nats: NatsPeer;
  readonly minio: MinioPeer;
  /** Pid of each process (root of its tree for CPU accounting). */
  pids(): Partial<Record<ProcessName, number>>;
  /** Counters of bus and storage operations (nats-server /connz, MinIO metrics). */
  ops(): Promise<OpsSnapshot>;
  /** Messages in a mailbox's INBOX (its state document: one KV get). */
  inboxCount(localPart: string): Promise<number>;
  /** Every INBOX entry of a mailbox (mail id, internal date = when it was appended). */
  inboxEntries(localPart: string): Promise<MessageEntry[]>;
  /** Queue records of these mails (`mailmesh-queue`), by mail id. */
  queueRecords(mailIds: readonly string[]): Promise<Map<string, QueueRecord>>;
  /** Messages still in the MAIL work-queue stream (0 once every stage acked). */
  inFlight(): Promise<number>;
  /** Last lines a service wrote (warnings, errors). */
  output(service: ServiceName): string;
  stop(): Promise<void>;
}

/**
 * `dist/main.js` of a service package, next to its entry point. createRequire, not
 * import.meta.resolve: vitest's module runner does not provide the latter.
 */
function serviceBin(service: ServiceName): string {
  return join(dirname(createRequire(import.meta.url).resolve(`@mailmesh/${service}`)), 'main.js');
}

const CONSUMERS_OF: Record<Exclude<ServiceName, 'ingress'>, readonly ConsumerSpec[]> = {
  scanner: [consumers.scanner],
  router: [consumers.router],
  delivery: [consumers.deliveryLocal, consumers.deliveryRemote],
};

interface Child {
  readonly name: ServiceName;
  readonly proc: ChildProcess;
  output: string;
}

export async function startPlatform(opts: PlatformOptions): Promise<Platform> {
  const dir = await mkdtemp(join(tmpdir(), 'mm-bench-e2e-'));
  const children: Child[] = [];
  let nats: NatsPeer | undefined;
  let minio: MinioPeer | undefined;
  let bus: Bus | undefined;
  let store: ObjectStore | undefined;

  const stopChildren = async (): Promise<void> => {
    // Ingress first (no new mail), delivery last; SIGTERM lets each drain and, under
    // --cpu-prof, write its profile.
    for (const c of children) {
      if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGTERM');
      const killer = setTimeout(() => c.proc.kill('SIGKILL'), 20_000);
      await waitExit(c.proc);
      clearTimeout(killer);
    }
  };
  const tap = new Map<string, number>();
  const cleanup = async (): Promise<void> => {
    await stopChildren();
    // BENCH_E2E_TAP=<file>: every subject published on the bus, counted by shape.
    const tapFile = process.env['BENCH_E2E_TAP'];
    if (tapFile) {
      const rows = [...tap].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${n}\t${k}`);
      await writeFile(tapFile, `${rows.join('\n')}\n`);
    }
    await store?.close();
    await bus?.close().catch(() => undefined);
    await Promise.all([nats?.stop(), minio?.stop()]);
    await rm(dir, { recursive: true, force: true });
  };

  try {
    // MinIO's Prometheus metrics without a bearer token: this is a throwaway loopback peer.
    process.env['MINIO_PROMETHEUS_AUTH_TYPE'] ??= 'public';
    [nats, minio] = await Promise.all([startNats(), startMinio()]);
    const natsPeer = nats;
    const minioPeer = minio;
    bus = await connectBus({ servers: nats.url, name: 'bench-e2e', timeoutMs: 10_000 });
    const theBus = bus;
    if (process.env['BENCH_E2E_TAP']) {
      bus.nc.subscribe('>', {
        callback: (_err, m) => {
          const shape = m.subject
            .replace(/[0-7][0-9A-HJKMNP-TV-Z]{25}/g, '<id>')
            .replace(/^_INBOX\..*/, '_INBOX')
            .replace(/^(\$JS\.ACK\.[^.]+\.[^.]+)\..*/, '$1');
          tap.set(shape, (tap.get(shape) ?? 0) + 1);
        },
      });
    }
    await provision(bus);
    store = connectObjectStore(minio.connection);
    await store.ensureBuckets(Object.values(objectBuckets), { timeoutMs: 10_000 });

    const port = await freePort();
    const kv = await bus.kv(kvBuckets.config);
    await kv.put(
      configKeys.platform,
      encodeConfigValue(
        platformDocument({ port, ...(await makeSelfSignedCert(dir, 'mx.bench.local')) }),
      ),
    );
    await kv.put(
      configKeys.policy(POLICY_NAME),
      encodeConfigValue(benchPolicy({ daemons: opts.daemons !== undefined })),
    );
    await kv.put(
      configKeys.domain(BENCH_DOMAIN),
      encodeConfigValue(benchDomain({ mailboxes: opts.mailboxes, sinkPort: opts.sinkPort })),
    );
    const dnsFile = join(dir, 'dns.json');
    await writeFile(dnsFile, JSON.stringify(dnsTable()));
    const secretsDir = join(dir, 'secrets');
    await mkdir(secretsDir);

    const common: Record<string, string> = {
      MAILMESH_NATS_URL: nats.url,
      MAILMESH_S3_ENDPOINT: minio.endpoint,
      MAILMESH_S3_ACCESS_KEY: minio.accessKey,
      MAILMESH_S3_SECRET_KEY: minio.secretKey,
      MAILMESH_S3_REGION: minio.region,
      MAILMESH_INSTANCE: 'bench',
      MAILMESH_HOSTNAME: 'mx.bench.local',
      MAILMESH_HEALTH_PORT: '0',
      MAILMESH_DNS_FILE: dnsFile,
      MAILMESH_LOG_LEVEL: opts.logLevel ?? 'warn',
    };
    const own: Record<ServiceName, Record<string, string>> = {
      ingress: { MAILMESH_INGRESS_DIR: join(dir, 'ingress') },
      scanner: opts.daemons
        ? {
            MAILMESH_CLAMD: `127.0.0.1:${opts.daemons.clamd.port}`,
            MAILMESH_SPAMD: `127.0.0.1:${opts.daemons.spamd.port}`,
          }
        : {},
      router: {},
      delivery: { MAILMESH_SECRETS_DIR: secretsDir },
    };

    const spawnService = (name: ServiceName): Child => {
      const nodeArgs = opts.profile?.includes(name)
        ? ['--cpu-prof', `--cpu-prof-dir=${opts.profileDir ?? join(dir, 'profiles')}`]
        : [];
      const proc = spawn(process.execPath, [...nodeArgs, serviceBin(name)], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, ...common, ...own[name], ...(opts.env?.[name] ?? {}) },
      });
      const child: Child = { name, proc, output: '' };
      const keep = (d: string): void => {
        child.output = (child.output + d).slice(-8000);
      };
      proc.stdout?.setEncoding('utf8').on('data', keep);
      proc.stderr?.setEncoding('utf8').on('data', keep);
      children.push(child);
      return child;
    };
    const crashed = (): string | undefined => {
      const dead = children.find((c) => c.proc.exitCode !== null || c.proc.signalCode !== null);
      return dead
        ? `${dead.name} exited (${dead.proc.exitCode ?? dead.proc.signalCode}): ${dead.output.slice(-2000)}`
        : undefined;
    };

    // Ingress first in `children` so stop() closes the door before the stages drain.
    const ingress = spawnService('ingress');
    for (const name of ['scanner', 'router', 'delivery'] as const) spawnService(name);
    await waitForGreeting(port, 60_000, crashed);
    for (const name of ['scanner', 'router', 'delivery'] as const)
      for (const spec of CONSUMERS_OF[name]) await waitForPuller(bus, spec, 60_000, crashed);

    const mailstore: MailStore = await openMailStore(bus, store);
    const queue: QueueStore = await openQueueStore(bus);
    const address = (localPart: string): string => `${localPart}@${BENCH_DOMAIN}`;
    const byName = (n: ServiceName): Child => children.find((c) => c.name === n) ?? ingress;

    return {
      port,
      bus,
      nats,
      minio,
      pids: () => ({
        ingress: byName('ingress').proc.pid ?? 0,
        scanner: byName('scanner').proc.pid ?? 0,
        router: byName('router').proc.pid ?? 0,
        delivery: byName('delivery').proc.pid ?? 0,
        'nats-server': natsPeer.pid ?? 0,
        minio: minioPeer.pid ?? 0,
        ...(opts.daemons
          ? { clamd: opts.daemons.clamd.pid ?? 0, spamd: opts.daemons.spamd.pid ?? 0 }
          : {}),
      }),
      ops: () => opsSnapshot(natsPeer.monitorUrl, minioPeer.endpoint),
      inboxCount: async (localPart) =>
        (await mailstore.state(address(localPart)))?.folders[folders.inbox]?.messages ?? 0,
      inboxEntries: (localPart) => mailstore.messages(address(localPart), folders.inbox),
      queueRecords: async (mailIds) => {
        const out = new Map<string, QueueRecord>();
        for (let i = 0; i < mailIds.length; i += 100) {
          const batch = mailIds.slice(i, i + 100);
          const got = await Promise.all(batch.map((id) => queue.get(id)));
          got.forEach((r, j) => {
            const id = batch[j];
            if (r && id !== undefined) out.set(id, r);
          });
        }
        return out;
      },
      inFlight: async () => (await theBus.jsm.streams.info(streams.mail.name)).state.messages,
      output: (service) => byName(service).output,
      stop: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

interface Connz {
  readonly connections?: readonly {
    readonly name?: string;
    readonly in_msgs: number;
    readonly out_msgs: number;
  }[];
}

async function opsSnapshot(natsMonitor: string, minioEndpoint: string): Promise<OpsSnapshot> {
  const [connz, metrics] = await Promise.all([
    fetch(`${natsMonitor}/connz?limit=1024`).then((r) => r.json() as Promise<Connz>),
    fetch(`${minioEndpoint}/minio/metrics/v3/api/requests`).then((r) => r.text()),
  ]);
  const natsSent: Partial<Record<ServiceName, number>> = {};
  const natsReceived: Partial<Record<ServiceName, number>> = {};
  for (const c of connz.connections ?? []) {
    // Services name their connection `<service>-<instance>` (main.ts of each).
    const service = serviceNames.find((s) => c.name?.startsWith(`${s}-`));
    if (!service) continue;
    natsSent[service] = (natsSent[service] ?? 0) + c.in_msgs;
    natsReceived[service] = (natsReceived[service] ?? 0) + c.out_msgs;
  }
  const s3: Record<string, number> = {};
  // v3 metrics are live; v2 (`/minio/v2/metrics/*`) are cached for several seconds.
  for (const m of metrics.matchAll(
    /^minio_api_requests_total\{(?:[^}]*,)?name="(\w+)"[^}]*\} (\S+)$/gm,
  ))
    if (m[1] !== undefined) s3[m[1]] = (s3[m[1]] ?? 0) + Number(m[2]);
  return { natsSent, natsReceived, s3 };
}

/** Waits until a service has a pull request open on its durable consumer (it is consuming). */
async function waitForPuller(
  bus: Bus,
  spec: ConsumerSpec,
  timeoutMs: number,
  crashed: () => string | undefined,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const why = crashed();
    if (why !== undefined) throw new Error(why);
    const info = await bus.jsm.consumers.info(spec.stream, spec.durable);
    if (info.num_waiting > 0) return;
    if (Date.now() > until)
      throw new Error(
        `no consumer pulls from ${spec.stream}/${spec.durable} after ${timeoutMs} ms`,
      );
    await sleep(100);
  }
}
