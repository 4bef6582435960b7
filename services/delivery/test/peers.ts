import { create, fromBinary } from '@bufbuild/protobuf';
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
  type ScanResult,
} from '@mailmesh/proto';
import { type Bus, publish } from '@mailmesh/runtime';

export { scannedMail, startPlatform, type MailSpec, type Platform } from '@mailmesh/rig';

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
