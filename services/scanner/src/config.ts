/**
 * The scanner's view of the `mailmesh-config` bucket: @mailmesh/config's snapshot
 * (domains, relay networks, platform) plus every policy compiled into a
 * ScanPolicy. Built whole per revision; a bad policy rejects the revision and the
 * previous snapshot stays live (DESIGN rule 3).
 */
import { buildSnapshot, type ConfigSnapshot } from '@mailmesh/config';

import { parseScanPolicy, type PolicyView, type ScanPolicy } from './policy.js';

export interface ScannerConfig {
  readonly view: PolicyView;
  readonly policies: ReadonlyMap<string, ScanPolicy>;
  /** The platform host name (DSN Reporting-MTA, authserv-id); undefined without a platform key. */
  readonly hostname: string | undefined;
}

export function scannerConfigOf(snapshot: ConfigSnapshot): ScannerConfig {
  const policies = new Map<string, ScanPolicy>();
  for (const [name, doc] of snapshot.policies) policies.set(name, parseScanPolicy(doc));
  return {
    view: {
      policiesOfDomain: (d) => snapshot.domainOf(d)?.policies,
      isTrustedClient: (ip) => snapshot.mayRelay(ip),
    },
    policies,
    hostname: snapshot.platform?.hostname,
  };
}

/** `ConfigBuild` for `watchConfig`: KV entries -> ScannerConfig. Throws on a bad document. */
export function buildScannerConfig(entries: ReadonlyMap<string, Uint8Array>): ScannerConfig {
  return scannerConfigOf(buildSnapshot(entries));
}
