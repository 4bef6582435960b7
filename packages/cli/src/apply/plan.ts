/**
 * What publishing a compiled configuration changes, key by key. Pure: compares the
 * documents to publish with the live entries, by JSON value (key order and spacing
 * of another writer do not count as a change).
 */
import { configKeys } from '@mailmesh/proto';

export type ChangeAction = 'created' | 'updated' | 'unchanged' | 'deleted' | 'kept';

export interface LiveEntry {
  readonly value: Uint8Array;
  readonly revision: number;
}

export interface Change {
  readonly key: string;
  readonly action: ChangeAction;
  /** Live revision the write is conditional on (absent for a create). */
  readonly revision?: number;
  /** The bytes to write for `created` / `updated`. */
  readonly value?: Uint8Array;
}

export interface PlanOptions {
  /** Delete live keys under the managed prefixes that are not in `desired`. */
  readonly prune: boolean;
  /** Key prefixes this apply owns; default domains and policies. `platform` is exact. */
  readonly managed?: readonly string[];
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** JSON with object keys sorted, so equal values give equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) =>
            a < b ? -1 : a > b ? 1 : 0,
          ),
        )
      : v,
  );
}

function sameJson(a: Uint8Array, b: Uint8Array): boolean {
  try {
    return (
      canonicalJson(JSON.parse(decoder.decode(a))) === canonicalJson(JSON.parse(decoder.decode(b)))
    );
  } catch {
    return false;
  }
}

/** Writes and deletes in a safe order: policies before the domains that name them, deletes of domains before their policies. */
function rank(c: Change): number {
  const isPolicy = c.key.startsWith(configKeys.policyPrefix);
  const isDomain = c.key.startsWith(configKeys.domainPrefix);
  if (c.action === 'deleted') return isDomain ? 3 : isPolicy ? 4 : 5;
  if (c.action === 'kept') return 6;
  return isPolicy ? 0 : c.key === configKeys.platform ? 1 : 2;
}

export function planChanges(
  desired: ReadonlyMap<string, unknown>,
  live: ReadonlyMap<string, LiveEntry>,
  opts: PlanOptions,
): Change[] {
  const managed = opts.managed ?? [configKeys.domainPrefix, configKeys.policyPrefix];
  const changes: Change[] = [];
  for (const [key, doc] of desired) {
    const value = encoder.encode(JSON.stringify(doc));
    const current = live.get(key);
    if (current === undefined) changes.push({ key, action: 'created', value });
    else if (sameJson(current.value, value))
      changes.push({ key, action: 'unchanged', revision: current.revision });
    else changes.push({ key, action: 'updated', revision: current.revision, value });
  }
  for (const [key, entry] of live) {
    if (desired.has(key)) continue;
    if (!managed.some((m) => (m.endsWith('.') ? key.startsWith(m) : key === m))) continue;
    changes.push({ key, action: opts.prune ? 'deleted' : 'kept', revision: entry.revision });
  }
  return changes.sort((a, b) => rank(a) - rank(b) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** `2 created, 1 updated, 3 unchanged` (only the actions that occur). */
export function summarize(changes: readonly Change[]): string {
  const order: ChangeAction[] = ['created', 'updated', 'deleted', 'unchanged', 'kept'];
  const parts = order
    .map((a) => [a, changes.filter((c) => c.action === a).length] as const)
    .filter(([, n]) => n > 0)
    .map(([a, n]) => `${n} ${a}`);
  return parts.length === 0 ? 'nothing to apply' : parts.join(', ');
}
