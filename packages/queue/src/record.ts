/**
 * Queue visibility: one JSON record per mail in the `mailmesh-queue` KV bucket under
 * `queueKey(mailId)`. The router creates it with one job per route; delivery updates
 * the job it works on after every attempt. `mailmesh queue ls|show` and the HTTP API
 * read it; nothing reads it to decide what to deliver except a redelivered job that
 * skips the recipients already done.
 *
 * Every field is plain JSON (ISO 8601 times) so the CLI can print it as it is.
 */

/** Where a whole mail stands, derived from its jobs by `mailStage`. */
export const queueStages = [
  /** Jobs are published; no attempt has finished yet. */
  'queued',
  /** At least one job waits for a retry after a temporary failure. */
  'deferred',
  /** Every recipient was delivered. */
  'delivered',
  /** Every recipient failed permanently (a DSN went to the sender where one is due). */
  'failed',
  /** Finished: some recipients delivered, the others failed or were deleted. */
  'partial',
  /** An operator deleted it from the queue (`mailmesh queue delete`) before any delivery. */
  'deleted',
] as const;
export type QueueStage = (typeof queueStages)[number];

/** States of one job (one route) and of one recipient within it. */
export const jobStates = [
  'queued',
  'deferred',
  'delivered',
  'failed',
  'partial',
  'deleted',
] as const;
export type JobState = (typeof jobStates)[number];

/** `deleted`: an operator removed it from the queue; no attempt or DSN follows. */
export const recipientStates = ['pending', 'deferred', 'delivered', 'failed', 'deleted'] as const;
export type RecipientState = (typeof recipientStates)[number];

/** The last error of an attempt, as the CLI shows it. */
export interface QueueError {
  /** A closed error kind of the stage that failed (e.g. delivery's `connect`, `rcpt`, `quota`). */
  readonly kind: string;
  /** SMTP reply code (ours or the remote's); absent if none. */
  readonly code?: number;
  /** RFC 3463 enhanced status code, e.g. `4.4.1`. */
  readonly enhanced?: string;
  /** What went wrong, precise enough to act on. */
  readonly message: string;
  /** The remote host involved, if any. */
  readonly host?: string;
}

export interface QueueRecipient {
  readonly state: RecipientState;
  /** The envelope recipient this one was expanded from, when different. */
  readonly original?: string;
  readonly attempts: number;
  readonly lastError?: QueueError;
  /** When it was delivered, failed for good or was deleted. */
  readonly doneAt?: string;
  /** True once a failure (or delay) DSN for this recipient was published. */
  readonly dsnSent?: boolean;
}

/** The route of a job, as JSON (mirrors mailmesh.v1.Route). */
export interface QueueRoute {
  readonly kind: 'local' | 'remote';
  readonly domain: string;
  readonly nextHop?: string;
  readonly port?: number;
  readonly tls?: 'required' | 'opportunistic' | 'none';
  /** True: next hop is a domain whose MX records are looked up at each attempt. */
  readonly mx?: boolean;
}

export interface QueueJob {
  /** The subject the delivery job was published on. */
  readonly subject: string;
  /** One line for humans: `mailbox sh.company.local`, `smart host mail.hq.company.local:587`. */
  readonly destination: string;
  readonly route: QueueRoute;
  /** Why the router chose this route (e.g. "sh.company.local relays through its smart host"). */
  readonly reason?: string;
  readonly state: JobState;
  /** Attempts finished so far. */
  readonly attempts: number;
  readonly firstAttemptAt?: string;
  readonly lastAttemptAt?: string;
  /** When the next attempt is scheduled (deferred jobs). */
  readonly nextAttemptAt?: string;
  readonly lastError?: QueueError;
  /** True once a delay DSN was sent for this job. */
  readonly delayNotified?: boolean;
  /**
   * MAIL stream sequence of the message that holds this job, as delivery last saw
   * it; `mailmesh queue retry|delete` act on that message (queue/control.ts).
   */
  readonly seq?: number;
  /** When an operator last asked for an attempt now (`mailmesh queue retry`). */
  readonly retryRequestedAt?: string;
  readonly recipients: Readonly<Record<string, QueueRecipient>>;
}

/** A recipient the router refused; it never got a job. */
export interface QueueProblem {
  readonly recipient: string;
  readonly kind: string;
  readonly code: number;
  readonly enhanced: string;
  readonly message: string;
  /** The rule that refused it, e.g. `MailPolicy internal-only recipients.allowDomains`. */
  readonly rule?: string;
  readonly dsnSent?: boolean;
}

export interface QueueRecord {
  /** Record format version. */
  readonly v: 1;
  readonly mailId: string;
  /** Reverse-path; empty = the null sender. */
  readonly from: string;
  readonly receivedAt: string;
  readonly messageId?: string;
  readonly subject?: string;
  readonly size: number;
  /** Derived from jobs and problems by `mailStage`; stored so `ls` needs no computation. */
  readonly stage: QueueStage;
  readonly updatedAt: string;
  readonly problems: readonly QueueProblem[];
  /** Keyed by job key (`jobKey(route)`). */
  readonly jobs: Readonly<Record<string, QueueJob>>;
}

/** The key of a job within a record: `local:<domain>` or `remote:<nextHop>:<port>`. */
export function jobKey(route: QueueRoute): string {
  return route.kind === 'local'
    ? `local:${route.domain}`
    : `remote:${route.nextHop ?? route.domain}:${route.port ?? 25}`;
}

/** States after which nothing more happens to a recipient. */
export const finalRecipientStates: ReadonlySet<RecipientState> = new Set([
  'delivered',
  'failed',
  'deleted',
]);

/** A job's state from its recipients. */
export function jobState(recipients: Readonly<Record<string, QueueRecipient>>): JobState {
  const states = Object.values(recipients).map((r) => r.state);
  if (states.some((s) => s === 'deferred')) return 'deferred';
  if (states.some((s) => !finalRecipientStates.has(s))) return 'queued';
  const delivered = states.filter((s) => s === 'delivered').length;
  if (delivered === states.length) return 'delivered';
  if (states.every((s) => s === 'deleted')) return 'deleted';
  return delivered === 0 ? 'failed' : 'partial';
}

/** A mail's stage from its jobs and the recipients the router refused. */
export function mailStage(
  jobs: Readonly<Record<string, QueueJob>>,
  problems: readonly QueueProblem[],
): QueueStage {
  const states = Object.values(jobs).map((j) => j.state);
  if (states.some((s) => s === 'deferred')) return 'deferred';
  if (states.some((s) => s === 'queued')) return 'queued';
  if (states.length > 0 && problems.length === 0 && states.every((s) => s === 'deleted')) {
    return 'deleted';
  }
  const anyDelivered = states.some((s) => s === 'delivered' || s === 'partial');
  const anyFailed =
    problems.length > 0 || states.some((s) => s === 'failed' || s === 'partial' || s === 'deleted');
  if (anyDelivered && anyFailed) return 'partial';
  return anyDelivered ? 'delivered' : 'failed';
}

/** True while the mail still has work to do: what `mailmesh queue ls` lists. */
export function isPending(record: QueueRecord): boolean {
  return record.stage === 'queued' || record.stage === 'deferred';
}

/** Returns `record` with `job` replaced (or added) and stage and time recomputed. */
export function withJob(record: QueueRecord, key: string, job: QueueJob, now: Date): QueueRecord {
  const jobs = { ...record.jobs, [key]: { ...job, state: jobState(job.recipients) } };
  return { ...record, jobs, stage: mailStage(jobs, record.problems), updatedAt: now.toISOString() };
}

/** Builds a fresh job entry for a route with every recipient pending. */
export function newJob(
  subject: string,
  destination: string,
  route: QueueRoute,
  recipients: readonly { address: string; original?: string }[],
  reason?: string,
): QueueJob {
  const rs: Record<string, QueueRecipient> = {};
  for (const r of recipients) {
    rs[r.address] = {
      state: 'pending',
      attempts: 0,
      ...(r.original !== undefined && r.original !== r.address ? { original: r.original } : {}),
    };
  }
  return {
    subject,
    destination,
    route,
    ...(reason !== undefined ? { reason } : {}),
    state: 'queued',
    attempts: 0,
    recipients: rs,
  };
}
