/**
 * Real NATS + MinIO plumbing for integration tests: provisioning, configuration in
 * the KV bucket, "ingress" (body to the spool, envelope to mail.accepted), and
 * reading back what the scanner published.
 */
import { createHash } from 'node:crypto';
import { create, fromBinary } from '@bufbuild/protobuf';
import { timestampNow } from '@bufbuild/protobuf/wkt';
import { encodeConfigValue } from '@mailmesh/config';
import {
  EnvelopeSchema,
  Listener,
  Origin,
  ScanResultSchema,
  configKeys,
  consumers,
  kvBuckets,
  msgId,
  natsHeaders,
  objectBuckets,
  schemas,
  spoolKey,
  streams,
  subjects,
  type Envelope,
  type ScanResult,
} from '@mailmesh/proto';
import {
  connectBus,
  connectObjectStore,
  newMailId,
  provision,
  publish,
  type Bus,
  type ObjectStore,
} from '@mailmesh/runtime';
import type { MinioPeer, NatsPeer } from '@mailmesh/testkit';

export const scannerSpec = (ackWaitMs: number) => ({ ...consumers.scanner, ackWaitMs });

export async function setup(
  nats: NatsPeer,
  minio: MinioPeer,
  ackWaitMs: number,
): Promise<{ bus: Bus; store: ObjectStore }> {
  const bus = await connectBus({ servers: nats.url, name: 'scanner-test' });
  await provision(bus, {
    streams: [streams.mail, streams.events],
    kv: [kvBuckets.config],
    consumers: [scannerSpec(ackWaitMs)],
  });
  const store = connectObjectStore(minio.connection);
  await store.ensureBuckets([objectBuckets.spool, objectBuckets.quarantine]);
  return { bus, store };
}

export async function writeConfig(bus: Bus, policySpec: Record<string, unknown>): Promise<void> {
  const kv = await bus.kv(kvBuckets.config);
  await kv.put(
    configKeys.policy('group-dlp'),
    encodeConfigValue({ name: 'group-dlp', direction: 'any', spec: policySpec }),
  );
  await kv.put(
    configKeys.domain('sh.company.local'),
    encodeConfigValue({ domain: 'sh.company.local', policies: ['group-dlp'] }),
  );
}

export interface Submitted {
  readonly mailId: string;
  readonly envelope: Envelope;
}

/** What ingress does: body to the spool, then the envelope to mail.accepted. */
export async function submit(
  bus: Bus,
  store: ObjectStore,
  raw: Buffer,
  mailFrom = 'li.si@partner.example',
  recipients: readonly string[] = ['zhang.san@sh.company.local'],
): Promise<Submitted> {
  const mailId = newMailId();
  const key = spoolKey(mailId);
  await store.put(objectBuckets.spool, key, raw, { size: raw.length });
  const envelope = create(EnvelopeSchema, {
    mailId,
    receivedAt: timestampNow(),
    origin: Origin.SMTP,
    listener: Listener.MX,
    client: { ip: '203.0.113.7', port: 41000, helo: 'mx.partner.example' },
    mailFrom,
    recipients: recipients.map((address) => ({ address })),
    size: BigInt(raw.length),
    sha256: createHash('sha256').update(raw).digest('hex'),
    spool: { bucket: objectBuckets.spool, key },
    messageId: '<test@partner.example>',
    subject: 'test',
  });
  await publish(bus, subjects.accepted, schemas.Envelope, envelope, {
    msgId: msgId(mailId, 'ingress'),
  });
  return { mailId, envelope };
}

export interface Output {
  readonly subject: string;
  readonly mailId: string;
  readonly scan?: ScanResult;
  readonly envelope?: Envelope;
}

/** Every message now in the MAIL stream (a work queue: acked inputs are gone). */
export async function mailOutputs(bus: Bus): Promise<Output[]> {
  const info = await bus.jsm.streams.info(streams.mail.name);
  const out: Output[] = [];
  for (
    let seq = info.state.first_seq;
    seq <= info.state.last_seq && info.state.messages > 0;
    seq++
  ) {
    let m;
    try {
      m = await bus.jsm.streams.getMessage(streams.mail.name, { seq });
    } catch {
      continue; // deleted (acked) message
    }
    if (!m) continue;
    const mailId = m.header.get(natsHeaders.mailId);
    if (m.subject === subjects.scanned || m.subject === subjects.quarantined) {
      out.push({ subject: m.subject, mailId, scan: fromBinary(ScanResultSchema, m.data) });
    } else if (m.subject === subjects.accepted) {
      out.push({ subject: m.subject, mailId, envelope: fromBinary(EnvelopeSchema, m.data) });
    }
  }
  return out;
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
