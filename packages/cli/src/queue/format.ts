/**
 * How `mailmesh queue` and `mailmesh trace` print queue records and lifecycle events.
 * Pure: records and events in, lines out.
 */
import { timestampDate } from '@bufbuild/protobuf/wkt';
import { type DeliveryEvent, Outcome } from '@mailmesh/proto';
import type { QueueError, QueueJob, QueueRecord } from '@mailmesh/queue';

/** A lifecycle event as `mailmesh trace --json` prints it. */
export interface TraceEvent {
  readonly at: string;
  readonly stage: string;
  /** Lower-case outcome name: `accepted`, `delivered`, `tempfail`... */
  readonly outcome: string;
  readonly recipient?: string;
  readonly smtpCode?: number;
  readonly enhancedCode?: string;
  readonly message?: string;
  readonly attempt?: number;
  readonly nextAttemptAt?: string;
  readonly remoteHost?: string;
  readonly detail?: string;
  /** Sequence of the event in the EVENTS stream. */
  readonly seq: number;
}

export function outcomeName(o: Outcome): string {
  const name = (Outcome as unknown as Record<number, string | undefined>)[o];
  return name === undefined ? `outcome-${o}` : name.toLowerCase();
}

/** Plain JSON of a decoded event (empty proto fields left out). */
export function traceEvent(e: DeliveryEvent, seq: number): TraceEvent {
  return {
    at: e.at ? timestampDate(e.at).toISOString() : '',
    stage: e.stage,
    outcome: outcomeName(e.outcome),
    ...(e.recipient !== '' ? { recipient: e.recipient } : {}),
    ...(e.smtpCode !== 0 ? { smtpCode: e.smtpCode } : {}),
    ...(e.enhancedCode !== '' ? { enhancedCode: e.enhancedCode } : {}),
    ...(e.message !== '' ? { message: e.message } : {}),
    ...(e.attempt !== 0 ? { attempt: e.attempt } : {}),
    ...(e.nextAttemptAt ? { nextAttemptAt: timestampDate(e.nextAttemptAt).toISOString() } : {}),
    ...(e.remoteHost !== '' ? { remoteHost: e.remoteHost } : {}),
    ...(e.detail !== '' ? { detail: e.detail } : {}),
    seq,
  };
}

/** Chronological, stream order among events of the same instant. */
export function sortEvents(events: readonly TraceEvent[]): TraceEvent[] {
  return [...events].sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.seq - b.seq));
}

/**
 * One event on one line:
 * `<time>  <stage>  <outcome>  <recipient|->  <code enhanced|->  <message> [attempt N, next T, host H] (detail)`.
 */
export function eventLine(e: TraceEvent): string {
  const code = [e.smtpCode, e.enhancedCode].filter((x) => x !== undefined).join(' ');
  const extra = [
    e.attempt !== undefined ? `attempt ${e.attempt}` : undefined,
    e.nextAttemptAt !== undefined ? `next ${e.nextAttemptAt}` : undefined,
    e.remoteHost !== undefined ? `host ${e.remoteHost}` : undefined,
  ].filter((x) => x !== undefined);
  const text = [
    e.message ?? '',
    extra.length > 0 ? `[${extra.join(', ')}]` : '',
    e.detail !== undefined ? `(${e.detail})` : '',
  ]
    .filter((s) => s !== '')
    .join(' ');
  return [
    e.at.padEnd(24),
    e.stage.padEnd(9),
    e.outcome.padEnd(11),
    (e.recipient ?? '-').padEnd(30),
    (code === '' ? '-' : code).padEnd(9),
    text,
  ]
    .join(' ')
    .trimEnd();
}

export function errorText(e: QueueError): string {
  const code = [e.code, e.enhanced].filter((x) => x !== undefined).join(' ');
  return `${e.kind}${code === '' ? '' : ` ${code}`}: ${e.message}${e.host !== undefined ? ` (host ${e.host})` : ''}`;
}

/** The soonest scheduled attempt of a record's jobs, if any. */
export function nextAttemptOf(r: QueueRecord): string | undefined {
  const times = Object.values(r.jobs)
    .map((j) => j.nextAttemptAt)
    .filter((t): t is string => t !== undefined)
    .sort();
  return times[0];
}

export function attemptsOf(r: QueueRecord): number {
  return Object.values(r.jobs).reduce((n, j) => n + j.attempts, 0);
}

export function destinationsOf(r: QueueRecord): string[] {
  return Object.values(r.jobs).map((j) => j.destination);
}

/** Header and one row per record for `mailmesh queue ls`. */
export function listLines(records: readonly QueueRecord[]): string[] {
  const rows = records.map((r) => [
    r.mailId,
    r.stage,
    String(attemptsOf(r)),
    nextAttemptOf(r) ?? '-',
    r.from === '' ? '<>' : r.from,
    destinationsOf(r).join(', ') || '-',
  ]);
  const header = ['MAIL ID', 'STAGE', 'ATTEMPTS', 'NEXT ATTEMPT', 'FROM', 'DESTINATIONS'];
  const widths = header.map((h, i) =>
    Math.max(h.length, ...rows.map((row) => row[i]?.length ?? 0)),
  );
  return [header, ...rows].map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

function jobLines(key: string, j: QueueJob, indent: string): string[] {
  const lines = [`${indent}job ${key}: ${j.state}, ${j.destination}`];
  const i2 = `${indent}  `;
  if (j.reason !== undefined) lines.push(`${i2}reason        ${j.reason}`);
  lines.push(`${i2}attempts      ${j.attempts}`);
  if (j.firstAttemptAt !== undefined) lines.push(`${i2}first attempt ${j.firstAttemptAt}`);
  if (j.lastAttemptAt !== undefined) lines.push(`${i2}last attempt  ${j.lastAttemptAt}`);
  if (j.nextAttemptAt !== undefined) lines.push(`${i2}next attempt  ${j.nextAttemptAt}`);
  if (j.lastError !== undefined) lines.push(`${i2}last error    ${errorText(j.lastError)}`);
  for (const [address, r] of Object.entries(j.recipients)) {
    const parts = [
      `${i2}rcpt ${address}: ${r.state}`,
      r.original !== undefined ? `(from ${r.original})` : '',
      `attempts ${r.attempts}`,
      r.doneAt !== undefined ? `at ${r.doneAt}` : '',
      r.lastError !== undefined ? `- ${errorText(r.lastError)}` : '',
      r.dsnSent === true ? '[dsn sent]' : '',
    ];
    lines.push(parts.filter((s) => s !== '').join(' '));
  }
  return lines;
}

/** Every field of a record, for `mailmesh queue show` (and the tail of `mailmesh trace`). */
export function showLines(r: QueueRecord, indent = ''): string[] {
  const lines = [
    `${indent}mail id       ${r.mailId}`,
    `${indent}stage         ${r.stage}`,
    `${indent}from          ${r.from === '' ? '<>' : r.from}`,
    `${indent}received      ${r.receivedAt}`,
  ];
  if (r.messageId !== undefined) lines.push(`${indent}message-id    ${r.messageId}`);
  if (r.subject !== undefined) lines.push(`${indent}subject       ${r.subject}`);
  lines.push(`${indent}size          ${r.size}`, `${indent}updated       ${r.updatedAt}`);
  const next = nextAttemptOf(r);
  if (next !== undefined) lines.push(`${indent}next attempt  ${next}`);
  for (const [key, job] of Object.entries(r.jobs)) lines.push(...jobLines(key, job, indent));
  for (const p of r.problems) {
    lines.push(
      `${indent}refused ${p.recipient}: ${p.kind} ${p.code} ${p.enhanced}: ${p.message}${
        p.rule !== undefined ? ` (${p.rule})` : ''
      }${p.dsnSent === true ? ' [dsn sent]' : ''}`,
    );
  }
  return lines;
}
