/**
 * Retry schedules. A temporary failure is redelivered by JetStream after
 * `nak(delay)`: no timer is held in memory, a restarted process loses nothing.
 */
const MIN = 60_000;
const HOUR = 60 * MIN;

export interface RetrySchedule {
  /** Delay after the n-th failed attempt (index n-1); the last value repeats. */
  readonly delaysMs: readonly number[];
  /** Give up (failure DSN) once the mail has been queued this long. */
  readonly maxAgeMs: number;
  /** Send one delay DSN once the mail has been queued this long (0 = never). */
  readonly delayDsnAfterMs: number;
}

/** About Postfix's behaviour: 1m, 5m, 15m, 30m, 1h, 2h, then every 4h, for 5 days; delay DSN after 4h. */
export const defaultRetrySchedule: RetrySchedule = {
  delaysMs: [1 * MIN, 5 * MIN, 15 * MIN, 30 * MIN, 1 * HOUR, 2 * HOUR, 4 * HOUR],
  maxAgeMs: 5 * 24 * HOUR,
  delayDsnAfterMs: 4 * HOUR,
};

/** The schedule for a destination domain: a per-domain one, else the default. */
export interface RetryPolicy {
  readonly default: RetrySchedule;
  /** Destination domain (lowercase) -> its schedule. */
  readonly domains?: Readonly<Record<string, RetrySchedule>>;
}

export function scheduleFor(policy: RetryPolicy, domain: string): RetrySchedule {
  return policy.domains?.[domain.toLowerCase()] ?? policy.default;
}

/** Delay before the attempt after `failedAttempts` failures (1-based count). */
export function retryDelayMs(s: RetrySchedule, failedAttempts: number): number {
  const i = Math.min(Math.max(failedAttempts, 1), s.delaysMs.length) - 1;
  return s.delaysMs[i] ?? defaultRetrySchedule.delaysMs[0] ?? MIN;
}

export type RetryDecision =
  | {
      readonly kind: 'retry';
      readonly delayMs: number;
      readonly nextAttemptAt: Date;
      readonly sendDelayDsn: boolean;
    }
  | { readonly kind: 'expire' };

/**
 * What to do after a temporary failure: retry after the scheduled delay, or give up
 * when the next attempt would fall past the queue lifetime. A delay DSN is due once,
 * when the mail has waited `delayDsnAfterMs`.
 */
export function decideRetry(
  s: RetrySchedule,
  receivedAt: Date,
  now: Date,
  failedAttempts: number,
  delayNotified: boolean,
): RetryDecision {
  const age = now.getTime() - receivedAt.getTime();
  if (age >= s.maxAgeMs) return { kind: 'expire' };
  const delayMs = Math.min(retryDelayMs(s, failedAttempts), Math.max(1, s.maxAgeMs - age));
  return {
    kind: 'retry',
    delayMs,
    nextAttemptAt: new Date(now.getTime() + delayMs),
    sendDelayDsn: !delayNotified && s.delayDsnAfterMs > 0 && age >= s.delayDsnAfterMs,
  };
}

/** Parses `"50,100,200"` (milliseconds) into delays; throws on anything else. */
export function parseDelays(text: string): number[] {
  const out = text.split(',').map((s) => Number(s.trim()));
  if (out.length === 0 || out.some((n) => !Number.isInteger(n) || n <= 0)) {
    throw new Error(
      `retry schedule ${JSON.stringify(text)} must be comma-separated positive milliseconds`,
    );
  }
  return out;
}
