/**
 * `apply` end to end over an open config bucket: read what is live, compile the input
 * against it, plan the changes, and publish them — or publish nothing when any input
 * is invalid (the live configuration stays as it was).
 */
import type { KV } from '@nats-io/kv';
import { buildSnapshot, type CompiledDomain } from '@mailmesh/config';
import { configKeys } from '@mailmesh/proto';

import { compileSources, type CompiledConfig, type LiveView } from './compile.js';
import type { SourceFile } from './files.js';
import { planChanges, type Change, type LiveEntry } from './plan.js';
import { publishChanges, readLive } from './publish.js';

export interface ApplyRequest {
  readonly files: readonly SourceFile[];
  /** The input is the whole configuration: delete live domains and policies not in it. */
  readonly prune: boolean;
  /** Compile and plan only. */
  readonly dryRun?: boolean;
  /** More documents to publish as they are (`mailmesh dev` adds `platform`). */
  readonly extra?: ReadonlyMap<string, unknown>;
}

export interface ApplyOutcome {
  readonly compiled: CompiledConfig;
  readonly changes: readonly Change[];
  readonly written: readonly string[];
  /** Bucket revision after the last write. */
  readonly revision?: number;
}

/** The live documents that compiling depends on; an invalid live document is ignored. */
export function liveViewOf(live: ReadonlyMap<string, LiveEntry>): LiveView {
  const domains = new Map<string, CompiledDomain>();
  const policies = new Set<string>();
  for (const [key, entry] of live) {
    if (key.startsWith(configKeys.policyPrefix))
      policies.add(key.slice(configKeys.policyPrefix.length));
    if (!key.startsWith(configKeys.domainPrefix)) continue;
    try {
      for (const d of buildSnapshot(new Map([[key, entry.value]])).domains.values())
        domains.set(d.domain, d);
    } catch {
      // Replaced by this apply if the input has it; nothing to reuse from it.
    }
  }
  return { domains, policies };
}

export async function applyConfig(kv: KV, req: ApplyRequest): Promise<ApplyOutcome> {
  const live = await readLive(kv);
  const compiled = await compileSources(req.files, { live: liveViewOf(live), prune: req.prune });
  const desired = new Map<string, unknown>(compiled.documents);
  for (const [k, v] of req.extra ?? []) desired.set(k, v);
  const changes = planChanges(desired, live, {
    prune: req.prune,
    managed: [configKeys.domainPrefix, configKeys.policyPrefix, ...(req.extra?.keys() ?? [])],
  });
  if (req.dryRun === true) return { compiled, changes, written: [] };
  const result = await publishChanges(kv, changes);
  return { compiled, changes, ...result };
}
