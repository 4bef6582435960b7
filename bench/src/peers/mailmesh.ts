import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  defaultLimits,
  encodeConfigValue,
  type CompiledDomain,
  type PlatformConfig,
} from '@mailmesh/config';
import { fromBinary } from '@bufbuild/protobuf';
import { configKeys, EnvelopeSchema, kvBuckets, objectBuckets, streams } from '@mailmesh/proto';
import { connectBus, connectObjectStore, provision, type Bus } from '@mailmesh/runtime';
import {
  makeSelfSignedCert,
  startMinio,
  startNats,
  type MinioPeer,
  type NatsPeer,
} from '@mailmesh/testkit';
import { freePort, waitExit } from '../proc.js';
import { waitForGreeting } from './greeting.js';

/**
 * The Mailmesh ingress bin (`services/ingress/dist/main.js`) as a child process,
 * durable: real nats-server and MinIO from @mailmesh/testkit, streams provisioned
 * by @mailmesh/runtime, configuration in the KV bucket as the operator writes it.
 */
export interface MailmeshPeer {
  readonly port: number;
  readonly ingressPid: number;
  readonly nats: NatsPeer;
  readonly minio: MinioPeer;
  readonly bus: Bus;
  /** Process-tree roots: the ingress alone, and ingress + nats-server + MinIO. */
  pids(): { ingress: number[]; all: number[] };
  /** Envelopes in the MAIL stream (one per accepted mail; nothing consumes them here). */
  accepted(): Promise<number>;
  /**
   * Envelopes in the MAIL stream whose body is in the spool: the object they name
   * exists and holds their byte range (small mails share segment objects).
   */
  spooled(): Promise<number>;
  /** Objects in the spool bucket (fewer than mails when the group commit batched). */
  spoolObjects(): Promise<number>;
  /** Empties the MAIL and AUDIT streams between runs (bodies stay in the spool). */
  purge(): Promise<void>;
  stop(): Promise<void>;
}

export interface MailmeshOptions {
  /** The local domain; `mailbox@domain` is a mailbox. */
  readonly domain: string;
  readonly mailbox: string;
  /** Domain of the load's MAIL FROM: SPF answers `pass` for 127.0.0.0/8 from a table. */
  readonly senderDomain: string;
  /** MAILMESH_LOG_LEVEL of the ingress; default `warn`. */
  readonly logLevel?: string;
  /** Extra node flags for the ingress process, e.g. `--cpu-prof --cpu-prof-dir=DIR`. */
  readonly nodeArgs?: readonly string[];
}

/** main.js of @mailmesh/ingress, next to the package's entry point. */
export function ingressBin(): string {
  // createRequire, not import.meta.resolve: the harness test runs under vite-node.
  const entry = createRequire(import.meta.url).resolve('@mailmesh/ingress');
  return join(dirname(entry), 'main.js');
}

export async function startMailmesh(opts: MailmeshOptions): Promise<MailmeshPeer> {
  const dir = await mkdtemp(join(tmpdir(), 'mm-bench-ingress-'));
  const [nats, minio] = await Promise.all([startNats(), startMinio()]);
  const bus = await connectBus({ servers: nats.url, name: 'bench', timeoutMs: 10_000 });
  const cleanup = async (): Promise<void> => {
    await bus.close().catch(() => undefined);
    await Promise.all([nats.stop(), minio.stop()]);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await provision(bus);
    const port = await freePort();
    const { certFile, keyFile } = await makeSelfSignedCert(dir, 'mx.bench.local');
    const platform: PlatformConfig = {
      hostname: 'mx.bench.local',
      listeners: [
        {
          name: 'mx',
          kind: 'mx',
          addresses: [`127.0.0.1:${port}`],
          allowNetworks: [],
          proxyProtocolFrom: [],
        },
      ],
      tls: { certFile, keyFile },
      // The load comes from one IP: per-IP limits would refuse it (421), which is
      // the point of them, not of this benchmark.
      limits: {
        ...defaultLimits,
        maxConnections: 10_000,
        perIpConnections: 10_000,
        perIpRatePerMinute: 100_000_000,
      },
      acceptanceDeadlineMs: 30_000,
      inlineScan: { enabled: false, timeoutMs: 10_000 },
    };
    const domain: CompiledDomain = {
      domain: opts.domain,
      aliases: [],
      mailboxes: [
        {
          localPart: opts.mailbox,
          address: `${opts.mailbox}@${opts.domain}`,
          // Nobody logs in during the benchmark; a well-formed bcrypt hash of nothing known.
          passwordHash: '$2b$04$abcdefghijklmnopqrstuu5L2lGv0k0N7o1u3v5w7y9A1C3E5G7I.',
          quotaBytes: 0,
          sendAs: [],
          forwardTo: [],
        },
      ],
      groups: [],
      relay: { allowedNetworks: [] },
      outbound: {},
      inbound: { requireTLS: false },
      policies: [],
    };
    const kv = await bus.kv(kvBuckets.config);
    await kv.put(configKeys.platform, encodeConfigValue(platform));
    await kv.put(configKeys.domain(opts.domain), encodeConfigValue(domain));
    const dnsFile = join(dir, 'dns.json');
    await writeFile(
      dnsFile,
      JSON.stringify({ [opts.senderDomain]: { TXT: ['v=spf1 ip4:127.0.0.0/8 -all'] } }),
    );

    const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), ingressBin()], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        MAILMESH_NATS_URL: nats.url,
        MAILMESH_S3_ENDPOINT: minio.endpoint,
        MAILMESH_S3_ACCESS_KEY: minio.accessKey,
        MAILMESH_S3_SECRET_KEY: minio.secretKey,
        MAILMESH_S3_REGION: minio.region,
        MAILMESH_INSTANCE: 'bench',
        MAILMESH_HEALTH_PORT: process.env['BENCH_INGRESS_HEALTH_PORT'] ?? '0',
        MAILMESH_INGRESS_DIR: join(dir, 'ingress'),
        MAILMESH_DNS_FILE: dnsFile,
        MAILMESH_LOG_LEVEL: opts.logLevel ?? 'warn',
      },
    });
    let output = '';
    const keep = (d: string): void => {
      output = (output + d).slice(-4000);
    };
    child.stdout.setEncoding('utf8').on('data', keep);
    child.stderr.setEncoding('utf8').on('data', keep);
    const stopIngress = async (): Promise<void> => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await waitExit(child);
    };
    try {
      await waitForGreeting(port, 60_000, () =>
        child.exitCode !== null ? `ingress exited ${child.exitCode}: ${output}` : undefined,
      );
    } catch (err) {
      await stopIngress();
      throw err;
    }
    const store = connectObjectStore(minio.connection);
    return {
      port,
      ingressPid: child.pid!,
      nats,
      minio,
      bus,
      pids: () => ({
        ingress: [child.pid!],
        all: [child.pid!, nats.pid ?? 0, minio.pid ?? 0].filter((p) => p > 0),
      }),
      accepted: async () => (await bus.jsm.streams.info(streams.mail.name)).state.messages,
      spooled: async () => {
        const sizes = new Map<string, number>();
        for await (const o of store.list(objectBuckets.spool)) sizes.set(o.key, o.size);
        const last = (await bus.jsm.streams.info(streams.mail.name)).state.last_seq;
        let n = 0;
        for (let seq = 1; seq <= last; seq++) {
          const m = await bus.jsm.streams.getMessage(streams.mail.name, { seq }).catch(() => null);
          if (!m) continue;
          const env = fromBinary(EnvelopeSchema, m.data);
          const size = env.spool ? sizes.get(env.spool.key) : undefined;
          const end = Number((env.spool?.offset ?? 0n) + (env.spool?.length || env.size));
          if (size !== undefined && end <= size) n++;
        }
        return n;
      },
      spoolObjects: async () => {
        let n = 0;
        for await (const o of store.list(objectBuckets.spool)) if (o.key !== '') n++;
        return n;
      },
      purge: async () => {
        await bus.jsm.streams.purge(streams.mail.name);
        await bus.jsm.streams.purge(streams.audit.name);
      },
      stop: async () => {
        await stopIngress();
        await store.close();
        await cleanup();
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
