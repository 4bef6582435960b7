/**
 * A provisioned Mailmesh platform for tests and benchmarks: real nats-server and
 * MinIO (from @mailmesh/testkit) with every stream, consumer, KV bucket and S3
 * bucket in place, plus a stored message in the shape a stage would consume.
 */
import { createHash } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import {
  type DsnNotify,
  EnvelopeSchema,
  kvBuckets,
  Listener,
  objectBuckets,
  Origin,
  ScanResultSchema,
  spoolKey,
  Verdict,
  type ScanResult,
} from '@mailmesh/proto';
import {
  type Bus,
  connectBus,
  connectObjectStore,
  newMailId,
  type ObjectStore,
  provision,
} from '@mailmesh/runtime';
import { startMinio, startNats, type MinioPeer, type NatsPeer } from '@mailmesh/testkit';

export interface Platform {
  nats: NatsPeer;
  minio: MinioPeer;
  bus: Bus;
  store: ObjectStore;
  /** Writes the configuration bucket (key -> JSON bytes). */
  configure(entries: ReadonlyMap<string, Uint8Array>): Promise<void>;
  stop(): Promise<void>;
}

/** nats-server + MinIO on loopback, streams/consumers/KV provisioned, every bucket created. */
export async function startPlatform(name = 'mailmesh-test'): Promise<Platform> {
  const [nats, minio] = await Promise.all([startNats(), startMinio()]);
  const bus = await connectBus({ servers: nats.url, name });
  await provision(bus);
  const store = connectObjectStore(minio.connection);
  await store.ensureBuckets(Object.values(objectBuckets));
  const kv = await bus.kv(kvBuckets.config);
  return {
    nats,
    minio,
    bus,
    store,
    configure: async (entries) => {
      for (const [k, v] of entries) await kv.put(k, v);
    },
    stop: async () => {
      await bus.close();
      await store.close();
      await Promise.all([nats.stop(), minio.stop()]);
    },
  };
}

export interface MailSpec {
  from: string;
  to: (string | { address: string; notify?: DsnNotify[]; original?: string })[];
  subject?: string;
  headers?: string[];
  body?: string;
  verdict?: Verdict;
  junk?: boolean;
}

/** Stores a message in the spool and returns the ScanResult the scanner would publish for it. */
export async function scannedMail(
  store: ObjectStore,
  spec: MailSpec,
): Promise<{ scan: ScanResult; raw: Buffer }> {
  const mailId = newMailId();
  const raw = Buffer.from(
    [
      `Received: from client by ingress.test; ${new Date().toUTCString()}`,
      ...(spec.headers ?? []),
      `From: <${spec.from || 'nobody@nowhere.test'}>`,
      `To: ${spec.to.map((t) => (typeof t === 'string' ? t : t.address)).join(', ')}`,
      `Subject: ${spec.subject ?? 'test'}`,
      `Message-ID: <${mailId}@ingress.test>`,
      '',
      spec.body ?? 'hello',
      '',
    ].join('\r\n'),
  );
  const key = spoolKey(mailId);
  await store.put(objectBuckets.spool, key, raw);
  const now = new Date();
  const envelope = create(EnvelopeSchema, {
    mailId,
    receivedAt: timestampFromDate(now),
    origin: Origin.SMTP,
    listener: Listener.SUBMISSION,
    mailFrom: spec.from,
    recipients: spec.to.map((t) =>
      typeof t === 'string'
        ? { address: t }
        : { address: t.address, notify: t.notify ?? [], original: t.original ?? '' },
    ),
    size: BigInt(raw.length),
    sha256: createHash('sha256').update(raw).digest('hex'),
    spool: { bucket: objectBuckets.spool, key },
    messageId: `<${mailId}@ingress.test>`,
    subject: spec.subject ?? 'test',
    fromHeader: spec.from,
  });
  const scan = create(ScanResultSchema, {
    mailId,
    envelope,
    verdict: spec.verdict ?? Verdict.PASS,
    headersToAdd: [{ name: 'X-Mailmesh-Verdict', value: 'pass' }],
    junk: spec.junk ?? false,
    scannedAt: timestampFromDate(now),
  });
  return { scan, raw };
}
