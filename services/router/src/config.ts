import { buildSnapshot, type ConfigSnapshot } from '@mailmesh/config';

import { transportRuleOf, type TransportRule } from './rules.js';

/** What the router needs from the configuration bucket, built once per revision. */
export interface RouterConfig {
  readonly snapshot: ConfigSnapshot;
  /** Policy name -> its transport rule (policies without `recipients.allowDomains` are absent). */
  readonly rules: ReadonlyMap<string, TransportRule>;
}

/** `watchConfig` build function: validates every document and compiles transport rules. */
export function buildRouterConfig(entries: ReadonlyMap<string, Uint8Array>): RouterConfig {
  const snapshot = buildSnapshot(entries);
  const rules = new Map<string, TransportRule>();
  for (const p of snapshot.policies.values()) {
    const rule = transportRuleOf(p);
    if (rule) rules.set(p.name, rule);
  }
  return { snapshot, rules };
}
