/**
 * One attempt at a delivery job, local or remote: skip recipients already done
 * (queue record), deliver the rest, decide per recipient (delivered / retry /
 * give up), send the DSNs that are due, record everything in the queue bucket,
 * publish events, and answer the consumer: ack, nak(delay) or term.
 */
import { timestampDate } from '@bufbuild/protobuf/wkt';
import {
  type DeliveryEvent,
  type DeliveryJob,
  Outcome,
  RouteKind,
  TlsPolicy,
} from '@mailmesh/proto';
import { type HandlerOutcome, type Logger, outcome } from '@mailmesh/runtime';
import {
  type BounceDeps,
  type BounceRecipient,
  deliveryEvent,
  jobKey,
  newJob,
  publishEvents,
  type QueueError,
  type QueueJob,
  type QueueRecipient,
  type QueueRecord,
  type QueueRoute,
  type QueueStore,
  finalRecipientStates,
  sendDsn,
  shortHash,
  withJob,
} from '@mailmesh/queue';
import type { Bus } from '@mailmesh/runtime';

import { deliveryEvents } from './events.js';
import { type DeliveryOutcome, enhancedOf, type FailureDetail } from './outcome.js';
import { decideRetry, type RetryPolicy, scheduleFor } from './schedule.js';

export interface JobDeps {
  readonly bus: Bus;
  readonly queue: QueueStore;
  readonly bounce: BounceDeps;
  readonly retry: RetryPolicy;
  readonly now: () => Date;
  readonly log: Logger;
  /** Delivers to the given recipients of the job; may throw (then every recipient fails temporarily). */
  readonly deliver: (job: DeliveryJob, recipients: readonly string[]) => Promise<DeliveryOutcome[]>;
}

const TLS_NAME: Partial<Record<TlsPolicy, 'required' | 'opportunistic' | 'none'>> = {
  [TlsPolicy.REQUIRED]: 'required',
  [TlsPolicy.OPPORTUNISTIC]: 'opportunistic',
  [TlsPolicy.NONE]: 'none',
};

/** The job's route as the queue record stores it. */
export function queueRouteOf(job: DeliveryJob): QueueRoute {
  const r = job.route;
  if (!r || r.kind === RouteKind.LOCAL) return { kind: 'local', domain: r?.domain ?? '' };
  return {
    kind: 'remote',
    domain: r.domain,
    nextHop: r.nextHop,
    port: r.port || 25,
    tls: TLS_NAME[r.tls] ?? 'opportunistic',
    mx: r.mx,
  };
}

function destinationOf(route: QueueRoute): string {
  if (route.kind === 'local') return `mailboxes of ${route.domain}`;
  return route.mx ? `MX of ${route.nextHop}` : `smart host ${route.nextHop}:${route.port ?? 25}`;
}

function queueError(e: FailureDetail, permanent: boolean): QueueError {
  return {
    kind: e.kind,
    ...(e.code !== undefined ? { code: e.code } : {}),
    enhanced: enhancedOf(e, permanent),
    message: e.message,
    ...(e.host !== undefined ? { host: e.host } : {}),
  };
}

/** A final decision per recipient after one attempt. */
type Decision =
  | {
      readonly kind: 'delivered';
      readonly recipient: string;
      readonly host?: string;
      readonly reply?: string;
    }
  | { readonly kind: 'retry'; readonly recipient: string; readonly error: FailureDetail }
  | {
      readonly kind: 'failed';
      readonly recipient: string;
      readonly error: FailureDetail;
      readonly expired: boolean;
    };

/**
 * Handles one delivery of a job message (`seq`: its MAIL stream sequence, kept in
 * the queue record for `mailmesh queue retry|delete`). Throws only when the queue
 * or bus is unavailable.
 */
export async function processJob(
  deps: JobDeps,
  job: DeliveryJob,
  seq?: number,
): Promise<HandlerOutcome> {
  const env = job.envelope;
  if (!env) return outcome.term('delivery job without envelope');
  const route = queueRouteOf(job);
  const key = jobKey(route);
  const read = await deps.queue.read(job.mailId);
  const record = read?.value;
  const recJob = record?.jobs[key];
  const done = new Set(
    Object.entries(recJob?.recipients ?? {})
      .filter(([, r]) => finalRecipientStates.has(r.state))
      .map(([a]) => a),
  );
  const pending = job.recipients.filter((r) => !done.has(r.address));
  if (pending.length === 0) {
    deps.log.info(
      { event: deliveryEvents.alreadyDone, mailId: job.mailId, job: key },
      'every recipient already handled',
    );
    return outcome.ack();
  }
  const attempt = (recJob?.attempts ?? 0) + 1;
  const addresses = pending.map((r) => r.address);

  let results: DeliveryOutcome[];
  try {
    results = await deps.deliver(job, addresses);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    deps.log.warn(
      { event: deliveryEvents.attemptError, mailId: job.mailId, job: key, err },
      'delivery attempt failed',
    );
    results = addresses.map((recipient) => ({
      kind: 'tempfail',
      recipient,
      error: { kind: 'storage', code: 451, enhanced: '4.3.0', message: `local error: ${message}` },
    }));
  }

  // Times after the attempt: a busy pool can hold a job for a while, and trace,
  // latency and the next attempt count from when the attempt finished.
  const finished = deps.now();
  const schedule = scheduleFor(deps.retry, route.domain);
  const receivedAt = env.receivedAt ? timestampDate(env.receivedAt) : finished;
  const retry = decideRetry(
    schedule,
    receivedAt,
    finished,
    attempt,
    recJob?.delayNotified ?? false,
  );
  const decisions: Decision[] = results.map((r): Decision => {
    switch (r.kind) {
      case 'delivered':
        return r;
      case 'permfail':
        return { kind: 'failed', recipient: r.recipient, error: r.error, expired: false };
      case 'tempfail':
        return retry.kind === 'expire'
          ? { kind: 'failed', recipient: r.recipient, error: r.error, expired: true }
          : { kind: 'retry', recipient: r.recipient, error: r.error };
    }
  });

  const byAddress = new Map(pending.map((r) => [r.address, r]));
  const bounceRecipient = (
    d: Decision & { error: FailureDetail },
    permanent: boolean,
    reason: string,
  ): BounceRecipient => {
    const r = byAddress.get(d.recipient);
    const e = d.error;
    return {
      address: d.recipient,
      ...(r?.original ? { orcpt: r.original } : {}),
      status: 'expired' in d && d.expired ? '5.4.7' : enhancedOf(e, permanent),
      ...(e.host ? { remoteMta: e.host.replace(/[[:].*$/, '') } : {}),
      ...(e.code !== undefined
        ? { diagnostic: `${e.code} ${e.message}` }
        : { diagnostic: e.message }),
      reason,
      lastAttemptAt: finished,
      notify: r?.notify ?? [],
    };
  };

  // Failure DSN for the recipients that failed for good in this attempt.
  const failed = decisions.filter(
    (d): d is Extract<Decision, { kind: 'failed' }> => d.kind === 'failed',
  );
  let failureDsn: string | undefined;
  if (failed.length > 0) {
    failureDsn = await sendDsn(deps.bounce, {
      kind: 'failure',
      stage: 'delivery',
      envelope: env,
      part: `${key}.${shortHash(
        failed
          .map((f) => f.recipient)
          .sort()
          .join(','),
      )}`,
      recipients: failed.map((f) =>
        bounceRecipient(
          f,
          true,
          f.expired
            ? `gave up after ${attempt} attempts over ${Math.round((finished.getTime() - receivedAt.getTime()) / 1000)} s; last error: ${f.error.message}`
            : f.error.message,
        ),
      ),
    });
  }
  // One delay DSN per job, once the mail has waited long enough.
  const retrying = decisions.filter(
    (d): d is Extract<Decision, { kind: 'retry' }> => d.kind === 'retry',
  );
  let delayDsn: string | undefined;
  if (retrying.length > 0 && retry.kind === 'retry' && retry.sendDelayDsn) {
    delayDsn = await sendDsn(deps.bounce, {
      kind: 'delay',
      stage: 'delivery',
      envelope: env,
      part: `${key}.delay`,
      recipients: retrying.map((d) => bounceRecipient(d, false, d.error.message)),
      willRetryUntil: new Date(receivedAt.getTime() + schedule.maxAgeMs),
    });
  }

  const nextAttemptAt =
    retry.kind === 'retry' && retrying.length > 0 ? retry.nextAttemptAt : undefined;
  const lastError = [...decisions]
    .reverse()
    .find((d): d is Exclude<Decision, { kind: 'delivered' }> => d.kind !== 'delivered');
  // The record and the events together: one write to the bus, both acks awaited.
  const recorded = deps.queue.update(
    job.mailId,
    (cur) =>
      updateRecord(cur, job, key, route, decisions, {
        now: finished,
        attempt,
        ...(nextAttemptAt ? { nextAttemptAt } : {}),
        ...(lastError
          ? { lastError: queueError(lastError.error, lastError.kind === 'failed') }
          : {}),
        failureDsn: failureDsn !== undefined,
        delayDsn: delayDsn !== undefined,
        ...(seq !== undefined ? { seq } : {}),
      }),
    // Usually nothing else wrote the record since it was read above: skip a read.
    { known: read ?? null },
  );
  const [after] = await Promise.all([
    recorded,
    publishEvents(
      deps.bus,
      eventsOf(job, decisions, attempt, finished, nextAttemptAt, failureDsn, delayDsn),
      key,
    ),
  ]);

  const summary = {
    event: deliveryEvents.attempt,
    mailId: job.mailId,
    job: key,
    attempt,
    delivered: decisions.filter((d) => d.kind === 'delivered').length,
    retrying: retrying.length,
    failed: failed.length,
    ...(nextAttemptAt ? { nextAttemptAt: nextAttemptAt.toISOString() } : {}),
    ...(lastError ? { lastError: lastError.error.message } : {}),
  };
  // An operator may have deleted recipients while this attempt ran: those wait for nothing.
  const stillDeferred = retrying.filter(
    (d) => after?.jobs[key]?.recipients[d.recipient]?.state !== 'deleted',
  );
  if (stillDeferred.length > 0 && retry.kind === 'retry') {
    deps.log.info(
      summary,
      `deferred ${retrying.length} recipient(s); next attempt in ${retry.delayMs} ms`,
    );
    return outcome.nak(retry.delayMs);
  }
  deps.log.info(summary, 'attempt finished');
  if (failed.length > 0 && failed.length === decisions.length && done.size === 0) {
    return outcome.term(
      `every recipient failed permanently: ${failed[0]?.error.message ?? ''}`.slice(0, 500),
    );
  }
  return outcome.ack();
}

interface UpdateFacts {
  readonly now: Date;
  readonly attempt: number;
  readonly nextAttemptAt?: Date;
  readonly lastError?: QueueError;
  readonly failureDsn: boolean;
  readonly delayDsn: boolean;
  readonly seq?: number;
}

/** Applies one attempt's decisions to the queue record (pure; run again on a lost CAS race). */
export function updateRecord(
  cur: QueueRecord | undefined,
  job: DeliveryJob,
  key: string,
  route: QueueRoute,
  decisions: readonly Decision[],
  f: UpdateFacts,
): QueueRecord {
  const env = job.envelope;
  const now = f.now.toISOString();
  const base: QueueRecord = cur ?? {
    v: 1,
    mailId: job.mailId,
    from: env?.mailFrom ?? '',
    receivedAt: (env?.receivedAt ? timestampDate(env.receivedAt) : f.now).toISOString(),
    ...(env?.messageId ? { messageId: env.messageId } : {}),
    ...(env?.subject ? { subject: env.subject } : {}),
    size: Number(env?.size ?? 0n),
    stage: 'queued',
    updatedAt: now,
    problems: [],
    jobs: {},
  };
  const prior: QueueJob =
    base.jobs[key] ??
    newJob(
      '',
      destinationOf(route),
      route,
      job.recipients.map((r) => ({ address: r.address })),
    );
  const recipients: Record<string, QueueRecipient> = { ...prior.recipients };
  for (const d of decisions) {
    const was = recipients[d.recipient] ?? { state: 'pending', attempts: 0 };
    // Deleted while this attempt ran (`mailmesh queue delete`): stays deleted unless it got through.
    if (was.state === 'deleted' && d.kind !== 'delivered') continue;
    if (d.kind === 'delivered') {
      recipients[d.recipient] = {
        ...was,
        state: 'delivered',
        attempts: was.attempts + 1,
        doneAt: now,
      };
    } else if (d.kind === 'retry') {
      recipients[d.recipient] = {
        ...was,
        state: 'deferred',
        attempts: was.attempts + 1,
        lastError: queueError(d.error, false),
      };
    } else {
      recipients[d.recipient] = {
        ...was,
        state: 'failed',
        attempts: was.attempts + 1,
        lastError: d.expired
          ? {
              ...queueError(d.error, true),
              kind: 'expired',
              enhanced: '5.4.7',
              message: `queue lifetime passed; last error: ${d.error.message}`,
            }
          : queueError(d.error, true),
        doneAt: now,
        ...(f.failureDsn ? { dsnSent: true } : {}),
      };
    }
  }
  const nextJob: QueueJob = {
    ...prior,
    attempts: Math.max(prior.attempts, f.attempt),
    firstAttemptAt: prior.firstAttemptAt ?? now,
    lastAttemptAt: now,
    ...(f.lastError ? { lastError: f.lastError } : {}),
    ...(f.delayDsn || prior.delayNotified ? { delayNotified: true } : {}),
    ...(f.seq !== undefined ? { seq: f.seq } : {}),
    recipients,
  };
  if (f.nextAttemptAt && Object.values(recipients).some((r) => r.state === 'deferred'))
    (nextJob as { nextAttemptAt?: string }).nextAttemptAt = f.nextAttemptAt.toISOString();
  else delete (nextJob as { nextAttemptAt?: string }).nextAttemptAt;
  return withJob(base, key, nextJob, f.now);
}

function eventsOf(
  job: DeliveryJob,
  decisions: readonly Decision[],
  attempt: number,
  now: Date,
  nextAttemptAt: Date | undefined,
  failureDsn: string | undefined,
  delayDsn: string | undefined,
): DeliveryEvent[] {
  const mailId = job.mailId;
  const out: DeliveryEvent[] = decisions.map((d) => {
    if (d.kind === 'delivered') {
      return deliveryEvent({
        mailId,
        stage: 'delivery',
        outcome: Outcome.DELIVERED,
        at: now,
        recipient: d.recipient,
        attempt,
        message: d.reply ?? 'delivered',
        ...(d.host ? { remoteHost: d.host } : {}),
      });
    }
    const e = d.error;
    return deliveryEvent({
      mailId,
      stage: 'delivery',
      outcome: d.kind === 'retry' ? Outcome.TEMPFAIL : Outcome.PERMFAIL,
      at: now,
      recipient: d.recipient,
      attempt,
      ...(e.code !== undefined ? { smtpCode: e.code } : {}),
      enhancedCode: enhancedOf(e, d.kind === 'failed'),
      message: e.message,
      detail: d.kind === 'failed' && d.expired ? `expired: ${e.kind}` : e.kind,
      ...(e.host ? { remoteHost: e.host } : {}),
      ...(d.kind === 'retry' && nextAttemptAt ? { nextAttemptAt } : {}),
    });
  });
  if (failureDsn) {
    out.push(
      deliveryEvent({
        mailId,
        stage: 'delivery',
        outcome: Outcome.BOUNCED,
        at: now,
        attempt,
        message: `failure DSN ${failureDsn} sent`,
        detail: failureDsn,
      }),
    );
  }
  if (delayDsn) {
    out.push(
      deliveryEvent({
        mailId,
        stage: 'delivery',
        outcome: Outcome.DELAYED,
        at: now,
        attempt,
        message: `delay DSN ${delayDsn} sent`,
        detail: delayDsn,
      }),
    );
  }
  return out;
}
