/**
 * The router's I/O: consume `mail.scanned`, read the message's header section for
 * loop checks, ask DNS about remote domains, plan (pure), record the plan in the
 * queue bucket, publish one DeliveryJob per route, bounce refused recipients,
 * publish lifecycle events — and only then ack (DESIGN rule 1).
 */
import { create } from '@bufbuild/protobuf';
import type { ConfigSnapshot } from '@mailmesh/config';
import {
  consumers,
  DeliveryJobSchema,
  type DeliveryEvent,
  type Envelope,
  type HeaderField,
  HeaderFieldSchema,
  mailHeaders,
  msgId,
  Outcome,
  RouteKind,
  RouteSchema,
  schemas,
  type ScanResult,
  TlsPolicy,
  Verdict,
} from '@mailmesh/proto';
import {
  type Bus,
  consume,
  type Consumer,
  type HandlerOutcome,
  type Logger,
  type ObjectStore,
  outcome,
  publish,
  type Registry,
} from '@mailmesh/runtime';
import {
  type BounceRecipient,
  deliveryEvent,
  headerValues,
  type MailResolver,
  newJob,
  parseHeaders,
  publishEvents,
  type QueueProblem,
  type QueueRecord,
  type QueueStore,
  readMessageHeaders,
  resolveMailHosts,
  sendDsn,
  mailStage,
  withJob,
  type MxAnswer,
} from '@mailmesh/queue';
import { timestampDate } from '@bufbuild/protobuf/wkt';

import type { RouterConfig } from './config.js';
import {
  defaultExpandLimits,
  type EnvelopeRecipient,
  type ExpandLimits,
  expandRecipients,
  type HeaderFacts,
  type Refusal,
} from './expand.js';
import { routerEvents } from './events.js';
import { domainsNeedingMx, type Plan, type PlannedJob, planRoutes } from './plan.js';

export interface RouterDeps {
  readonly bus: Bus;
  readonly store: ObjectStore;
  readonly queue: QueueStore;
  /** The live configuration (swapped whole on every revision). */
  readonly config: () => RouterConfig;
  readonly resolver: MailResolver;
  readonly log: Logger;
  /** Host name for DSNs when the platform document has none. */
  readonly hostname: string;
  readonly now?: () => Date;
  readonly limits?: ExpandLimits;
}

export interface RouterOptions extends RouterDeps {
  /** Mails routed at once; default 16. */
  readonly concurrency?: number;
  readonly registry?: Registry;
}

/** What routing one mail did, for tests and logs. */
export interface RouteResult {
  readonly plan: Plan;
  readonly dsnMailId?: string;
}

const TLS: Record<string, TlsPolicy> = {
  required: TlsPolicy.REQUIRED,
  opportunistic: TlsPolicy.OPPORTUNISTIC,
  none: TlsPolicy.NONE,
};

function hostnameOf(snapshot: ConfigSnapshot, fallback: string): string {
  return snapshot.platform?.hostname ?? fallback;
}

/** Delivered-To and Received facts from a raw header section. */
export function headerFacts(section: Buffer): HeaderFacts {
  const headers = parseHeaders(section);
  const deliveredTo = new Set(
    headerValues(headers, 'Delivered-To').map((v) => v.replace(/^<|>$/g, '').trim().toLowerCase()),
  );
  return { deliveredTo, receivedCount: headerValues(headers, 'Received').length };
}

/** The `Nats-Msg-Id` part of a job: its key with `:` as `.` (`remote.mail.hq.company.local.587`). */
export function jobPart(key: string): string {
  return key.replace(/:/g, '.');
}

function orcptOf(r: { address: string; envelope: EnvelopeRecipient }): string {
  if (r.envelope.original !== '') return r.envelope.original;
  return r.address !== r.envelope.address ? `rfc822;${r.envelope.address}` : '';
}

function buildJob(scan: ScanResult, env: Envelope, job: PlannedJob) {
  const extra: HeaderField[] =
    job.route.kind === 'remote'
      ? job.forwardedBy.map((a) =>
          create(HeaderFieldSchema, { name: mailHeaders.deliveredTo, value: a }),
        )
      : [];
  const r = job.route;
  return create(DeliveryJobSchema, {
    mailId: env.mailId,
    envelope: env,
    scan,
    recipients: job.recipients.map((x) => ({
      address: x.address,
      original: orcptOf(x),
      notify: [...x.envelope.notify],
    })),
    route: create(RouteSchema, {
      kind: r.kind === 'local' ? RouteKind.LOCAL : RouteKind.REMOTE,
      domain: r.domain,
      nextHop: r.kind === 'remote' ? (r.nextHop ?? r.domain) : '',
      port: r.kind === 'remote' ? (r.port ?? 25) : 0,
      tls:
        r.kind === 'remote'
          ? (TLS[r.tls ?? 'opportunistic'] ?? TlsPolicy.OPPORTUNISTIC)
          : TlsPolicy.UNSPECIFIED,
      authSecretRef: job.auth?.name ?? '',
      authSecretKey: job.auth?.key ?? '',
      mx: r.mx ?? false,
    }),
    attempt: 1,
    headersToAdd: [...scan.headersToAdd, ...extra],
    junk: scan.junk,
  });
}

function problemOf(r: Refusal, dsnSent: boolean): QueueProblem {
  return {
    recipient: r.address,
    kind: r.kind,
    code: r.code,
    enhanced: r.enhanced,
    message: r.message,
    ...(r.rule !== undefined ? { rule: r.rule } : {}),
    ...(dsnSent ? { dsnSent } : {}),
  };
}

/** The queue record of a freshly routed mail, merged into an existing one (a redelivered input). */
export function recordOf(
  env: Envelope,
  plan: Plan,
  now: Date,
  current: QueueRecord | undefined,
): QueueRecord | undefined {
  let rec: QueueRecord = current ?? {
    v: 1,
    mailId: env.mailId,
    from: env.mailFrom,
    receivedAt: (env.receivedAt ? timestampDate(env.receivedAt) : now).toISOString(),
    ...(env.messageId ? { messageId: env.messageId } : {}),
    ...(env.subject ? { subject: env.subject } : {}),
    size: Number(env.size),
    stage: 'queued',
    updatedAt: now.toISOString(),
    problems: plan.refused.map((r) => problemOf(r, false)),
    jobs: {},
  };
  let changed = current === undefined;
  for (const job of plan.jobs) {
    if (rec.jobs[job.key]) continue;
    changed = true;
    rec = withJob(
      rec,
      job.key,
      newJob(
        job.subject,
        job.destination,
        job.route,
        job.recipients.map((r) => ({ address: r.address, original: r.envelope.address })),
        job.reason,
      ),
      now,
    );
  }
  if (!changed) return undefined;
  return { ...rec, stage: mailStage(rec.jobs, rec.problems), updatedAt: now.toISOString() };
}

async function gatherMx(
  resolver: MailResolver,
  domains: readonly string[],
): Promise<Map<string, MxAnswer>> {
  const answers = await Promise.all(
    domains.map(async (d) => [d, await resolveMailHosts(resolver, d)] as const),
  );
  return new Map(answers);
}

/** Routes one scanned mail end to end; throws (-> redelivery) on any I/O failure. */
export async function routeMail(deps: RouterDeps, scan: ScanResult): Promise<RouteResult> {
  const env = scan.envelope;
  if (!env) throw new Error('scan result without envelope (validation should have refused it)');
  const now = (deps.now ?? (() => new Date()))();
  const cfg = deps.config();
  const hostname = hostnameOf(cfg.snapshot, deps.hostname);
  const envelopeRecipients: EnvelopeRecipient[] = env.recipients.map((r) => ({
    address: r.address,
    original: r.original,
    notify: r.notify,
  }));

  let plan: Plan;
  let expanded: DeliveryEvent[] = [];
  if (scan.verdict === Verdict.REJECT) {
    const why = scan.reasons
      .filter((r) => r.action === Verdict.REJECT)
      .map((r) => `${r.check}${r.rule ? ` ${r.rule}` : ''}${r.detail ? `: ${r.detail}` : ''}`)
      .join('; ');
    plan = {
      jobs: [],
      refused: envelopeRecipients.map((r) => ({
        envelope: r,
        address: r.address,
        kind: 'content-rejected' as const,
        code: 550,
        enhanced: '5.7.1',
        message: `message refused by content policy${why ? `: ${why}` : ''}`,
      })),
    };
  } else {
    const section = await readMessageHeaders(deps.store, env);
    const expansion = expandRecipients(
      cfg.snapshot,
      envelopeRecipients,
      headerFacts(section),
      deps.limits ?? defaultExpandLimits,
    );
    const mx = await gatherMx(deps.resolver, domainsNeedingMx(cfg, expansion, env.mailFrom));
    plan = planRoutes(cfg, env.mailFrom, expansion, mx);
    expanded = expansion.steps.map((s) =>
      deliveryEvent({
        mailId: env.mailId,
        stage: 'router',
        outcome: Outcome.EXPANDED,
        at: now,
        recipient: s.from,
        message: `${s.kind} ${s.from} -> ${s.to.join(', ')}`,
      }),
    );
  }

  // A first delivery of the scan result finds no record: create it without a read
  // (a redelivery loses that compare-and-set and merges into what it finds).
  await deps.queue.update(env.mailId, (cur) => recordOf(env, plan, now, cur), { known: null });

  const routed: DeliveryEvent[] = plan.jobs.flatMap((job) =>
    job.recipients.map((r) =>
      deliveryEvent({
        mailId: env.mailId,
        stage: 'router',
        outcome: Outcome.ROUTED,
        at: now,
        recipient: r.address,
        message: `routed to ${job.destination}`,
        detail: `${job.subject}: ${job.reason}`,
      }),
    ),
  );
  // Jobs and their events in one go: one write to the bus, acks awaited together.
  await Promise.all([
    ...plan.jobs.map((job) =>
      publish(deps.bus, job.subject, schemas.DeliveryJob, buildJob(scan, env, job), {
        msgId: msgId(env.mailId, 'router', jobPart(job.key)),
      }),
    ),
    publishEvents(deps.bus, [...expanded, ...routed]),
  ]);

  let dsnMailId: string | undefined;
  if (plan.refused.length > 0) {
    const recipients: BounceRecipient[] = plan.refused.map((r) => {
      const orcpt =
        r.envelope.original !== ''
          ? r.envelope.original
          : r.address !== r.envelope.address
            ? `rfc822;${r.envelope.address}`
            : undefined;
      return {
        address: r.address,
        ...(orcpt !== undefined ? { orcpt } : {}),
        status: r.enhanced,
        diagnostic: `${r.code} ${r.enhanced} ${r.message}`,
        reason: r.rule ? `${r.message} [${r.rule}]` : r.message,
        notify: r.envelope.notify,
      };
    });
    dsnMailId = await sendDsn(
      { bus: deps.bus, store: deps.store, hostname, log: deps.log, now: () => now },
      { kind: 'failure', stage: 'router', envelope: env, part: 'router', recipients },
    );
    if (dsnMailId !== undefined) {
      await deps.queue.update(env.mailId, (cur) =>
        cur && cur.problems.some((p) => !p.dsnSent)
          ? {
              ...cur,
              problems: cur.problems.map((p) => ({ ...p, dsnSent: true })),
              updatedAt: now.toISOString(),
            }
          : undefined,
      );
    }
  }

  const events: DeliveryEvent[] = [];
  for (const r of plan.refused) {
    events.push(
      deliveryEvent({
        mailId: env.mailId,
        stage: 'router',
        outcome: Outcome.REJECTED,
        at: now,
        recipient: r.address,
        smtpCode: r.code,
        enhancedCode: r.enhanced,
        message: r.message,
        ...(r.rule ? { detail: r.rule } : {}),
      }),
    );
  }
  if (dsnMailId !== undefined) {
    events.push(
      deliveryEvent({
        mailId: env.mailId,
        stage: 'router',
        outcome: Outcome.BOUNCED,
        at: now,
        message: `failure DSN ${dsnMailId} sent to ${env.mailFrom}`,
        detail: dsnMailId,
      }),
    );
  }
  await publishEvents(deps.bus, events);

  deps.log.info(
    {
      event: routerEvents.routed,
      mailId: env.mailId,
      jobs: plan.jobs.map((j) => ({ subject: j.subject, recipients: j.recipients.length })),
      refused: plan.refused.map((r) => ({ recipient: r.address, kind: r.kind })),
    },
    `routed to ${plan.jobs.length} destination(s), refused ${plan.refused.length}`,
  );
  return { plan, ...(dsnMailId !== undefined ? { dsnMailId } : {}) };
}

/** Starts consuming `mail.scanned` (consumer `router`). */
export async function startRouter(opts: RouterOptions): Promise<Consumer> {
  return consume(
    opts.bus,
    consumers.router,
    schemas.ScanResult,
    async (d): Promise<HandlerOutcome> => {
      if (d.data.verdict === Verdict.QUARANTINE) {
        d.log.warn(
          { event: routerEvents.quarantineOnScanned },
          'quarantine verdict on mail.scanned; not routed',
        );
        return outcome.term('quarantine verdict belongs on mail.quarantined');
      }
      await routeMail(opts, d.data);
      return outcome.ack();
    },
    {
      concurrency: opts.concurrency ?? 16,
      log: opts.log,
      ackExtendMs: 10_000,
      ...(opts.registry ? { registry: opts.registry } : {}),
    },
  );
}
