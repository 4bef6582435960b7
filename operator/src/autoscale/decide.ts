/**
 * The autoscaler's decision, pure (after the Kubernetes HPA algorithm):
 *
 *   desired = ceil(current × (metric per replica / target))   = ceil(total / target)
 *
 * skipped while the ratio is within `tolerance` of 1; clamped to [min, max]. Scale-up
 * takes effect at once; scale-down takes the highest recommendation seen during the
 * stabilisation window, so a brief dip does not shed replicas that the next burst needs.
 */

export interface Recommendation {
  readonly at: number;
  readonly replicas: number;
}

export interface ScaleInput {
  /** Replicas the Deployment asks for now (`scale.spec.replicas`). */
  readonly current: number;
  /** The metric summed over all replicas (sessions, or pending + ack-pending messages). */
  readonly metric: number;
  /** Target value of the metric per replica (> 0). */
  readonly target: number;
  readonly min: number;
  readonly max: number;
  readonly now: number;
  /** Earlier recommendations for this Deployment (what the last decision returned). */
  readonly history: readonly Recommendation[];
}

export interface ScalePolicy {
  /** Default 0.1: no change while |ratio − 1| ≤ 10 %. */
  readonly tolerance?: number;
  /** Default 300 s, as the HPA's scale-down stabilisation. */
  readonly scaleDownStabilizationMs?: number;
}

export type ScaleReason =
  | 'ScaleUp'
  | 'ScaleDown'
  | 'WithinTolerance'
  | 'Stabilizing'
  | 'AtMin'
  | 'AtMax'
  | 'BelowMin'
  | 'AboveMax';

export interface ScaleDecision {
  readonly desired: number;
  /** The recommendation before stabilisation (clamped). */
  readonly recommended: number;
  readonly reason: ScaleReason;
  /** Metric per replica divided by target (Infinity from zero replicas). */
  readonly ratio: number;
  /** Pass back as `history` next time. */
  readonly history: readonly Recommendation[];
}

const clamp = (n: number, min: number, max: number): number => Math.min(max, Math.max(min, n));

export function decideScale(input: ScaleInput, policy: ScalePolicy = {}): ScaleDecision {
  const tolerance = policy.tolerance ?? 0.1;
  const windowMs = policy.scaleDownStabilizationMs ?? 300_000;
  const { current, metric, target, min, max, now } = input;
  if (!(target > 0)) throw new RangeError(`target must be > 0, got ${target}`);
  if (!(min >= 0 && max >= min)) throw new RangeError(`need 0 <= min <= max, got ${min}..${max}`);

  const perReplica = current > 0 ? metric / current : metric > 0 ? Infinity : 0;
  const ratio = perReplica / target;
  let raw: number;
  if (current > 0 && Math.abs(ratio - 1) <= tolerance) raw = current;
  else raw = Math.ceil(metric / target);
  const recommended = clamp(raw, min, max);

  const history = [
    ...input.history.filter((r) => r.at > now - windowMs && r.at <= now),
    { at: now, replicas: recommended },
  ];

  if (current < min) return { desired: min, recommended, reason: 'BelowMin', ratio, history };
  if (current > max) return { desired: max, recommended, reason: 'AboveMax', ratio, history };
  if (recommended > current)
    return { desired: recommended, recommended, reason: 'ScaleUp', ratio, history };
  if (recommended === current) {
    const reason: ScaleReason =
      raw !== recommended ? (raw > max ? 'AtMax' : 'AtMin') : 'WithinTolerance';
    return { desired: current, recommended, reason, ratio, history };
  }
  const stabilized = Math.min(current, Math.max(...history.map((r) => r.replicas)));
  if (stabilized < current)
    return { desired: stabilized, recommended, reason: 'ScaleDown', ratio, history };
  return { desired: current, recommended, reason: 'Stabilizing', ratio, history };
}
