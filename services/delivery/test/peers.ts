import { createHash } from 'node:crypto';
import { create, fromBinary } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import {
  type DeliveryJob,
  DeliveryJobSchema,
  type DsnNotify,
  type Envelope,
  EnvelopeSchema,
  msgId,
  RouteKind,
  schemas,
  streams,
  subjects,
  TlsPolicy,
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
  publish,
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

export async function startPlatform(): Promise<Platform> {
  const [nats, minio] = await Promise.all([startNats(), startMinio()]);
  const bus = await connectBus({ servers: nats.url, name: 'delivery-test' });
  await provision(bus);
  const store = connectObjectStore({
    endpoint: minio.endpoint,
    accessKey: minio.accessKey,
    secretKey: minio.secretKey,
  });
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

export interface JobRoute {
  kind: 'local' | 'remote';
  domain: string;
  nextHop?: string;
  port?: number;
  tls?: 'required' | 'opportunistic' | 'none';
  auth?: { name: string; key: string };
  mx?: boolean;
}

/** The DeliveryJob the router would publish for `recipients` of a scanned mail. */
export function jobFor(
  scan: ScanResult,
  route: JobRoute,
  recipients: (string | { address: string; notify?: DsnNotify[]; original?: string })[],
): DeliveryJob {
  const tls = {
    required: TlsPolicy.REQUIRED,
    opportunistic: TlsPolicy.OPPORTUNISTIC,
    none: TlsPolicy.NONE,
  };
  return create(DeliveryJobSchema, {
    mailId: scan.mailId,
    envelope: scan.envelope,
    scan,
    recipients: recipients.map((r) =>
      typeof r === 'string'
        ? { address: r }
        : { address: r.address, notify: r.notify ?? [], original: r.original ?? '' },
    ),
    route: {
      kind: route.kind === 'local' ? RouteKind.LOCAL : RouteKind.REMOTE,
      domain: route.domain,
      nextHop: route.kind === 'remote' ? (route.nextHop ?? route.domain) : '',
      port: route.port ?? 0,
      tls: route.kind === 'remote' ? tls[route.tls ?? 'opportunistic'] : TlsPolicy.UNSPECIFIED,
      authSecretRef: route.auth?.name ?? '',
      authSecretKey: route.auth?.key ?? '',
      mx: route.mx ?? false,
    },
    attempt: 1,
    headersToAdd: scan.headersToAdd,
    junk: scan.junk,
  });
}

export async function publishJob(bus: Bus, job: DeliveryJob, tag = ''): Promise<void> {
  const r = job.route;
  const subject =
    r?.kind === RouteKind.LOCAL
      ? subjects.deliverLocal(r.domain)
      : subjects.deliverRemote(r?.nextHop ?? '');
  await publish(bus, subject, schemas.DeliveryJob, job, {
    msgId: msgId(
      job.mailId,
      'router',
      `${r?.kind === RouteKind.LOCAL ? 'local' : 'remote'}.${r?.domain ?? ''}${tag}`,
    ),
  });
}

/** Polls until `check` returns a value (not undefined) or `timeoutMs` passes. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; ; i++) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, Math.min(200, 10 * (i + 1))));
  }
}

/** Every envelope published on mail.accepted (DSNs in these tests). */
export async function acceptedEnvelopes(bus: Bus): Promise<Envelope[]> {
  const out: Envelope[] = [];
  const info = await bus.jsm.streams.info(streams.mail.name, {
    subjects_filter: subjects.accepted,
  });
  const n = info.state.subjects?.[subjects.accepted] ?? 0;
  if (n === 0) return out;
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await bus.jsm.streams.getMessage(streams.mail.name, { seq }).catch(() => null);
    if (m && m.subject === subjects.accepted) out.push(fromBinary(EnvelopeSchema, m.data));
  }
  return out;
}
