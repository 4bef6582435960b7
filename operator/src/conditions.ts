/** metav1.Condition bookkeeping (pure). */
import type { Condition, ConditionStatus } from '@mailmesh/config/crd';

export interface ConditionInput {
  readonly type: string;
  readonly status: ConditionStatus;
  readonly reason: string;
  readonly message: string;
}

const MAX_MESSAGE = 32_768;

/**
 * The new conditions list: one entry per input, keeping `lastTransitionTime` of an
 * existing condition whose status did not change, and conditions of other types as
 * they were.
 */
export function mergeConditions(
  existing: readonly Condition[] | undefined,
  next: readonly ConditionInput[],
  generation: number | undefined,
  now: Date,
): Condition[] {
  const byType = new Map((existing ?? []).map((c) => [c.type, c]));
  const out = new Map<string, Condition>(byType);
  for (const n of next) {
    const prior = byType.get(n.type);
    out.set(n.type, {
      type: n.type,
      status: n.status,
      ...(generation !== undefined ? { observedGeneration: generation } : {}),
      lastTransitionTime:
        prior !== undefined && prior.status === n.status
          ? prior.lastTransitionTime
          : now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      reason: n.reason,
      message:
        n.message.length > MAX_MESSAGE ? `${n.message.slice(0, MAX_MESSAGE - 3)}...` : n.message,
    });
  }
  return [...out.values()];
}

export function findCondition(
  list: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return list?.find((c) => c.type === type);
}

/** Deep equality of JSON values (status comparisons). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => jsonEqual(x, bb[i]));
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const ak = Object.keys(ao).filter((k) => ao[k] !== undefined);
  const bk = Object.keys(bo).filter((k) => bo[k] !== undefined);
  return ak.length === bk.length && ak.every((k) => jsonEqual(ao[k], bo[k]));
}
