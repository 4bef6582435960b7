/**
 * The `platform` document of the config bucket in dev mode: listeners on loopback at
 * the dev ports, the dev certificate, stock limits. In Kubernetes the chart writes
 * this document from Helm values; here `mailmesh dev` does.
 */
import { defaultAcceptanceDeadlineMs, defaultLimits, type PlatformConfig } from '@mailmesh/config';

import type { PublicPorts } from './ports.js';

export interface DevPlatformOptions {
  readonly ports: PublicPorts;
  readonly certFile: string;
  readonly keyFile: string;
  /** Greeting / Received name; default `localhost`. */
  readonly hostname?: string;
}

export function devPlatform(opts: DevPlatformOptions): PlatformConfig {
  const listener = (name: string, kind: 'mx' | 'submission' | 'smtps', port: number) => ({
    name,
    kind,
    addresses: [`127.0.0.1:${port}`],
    allowNetworks: [],
    proxyProtocolFrom: [],
  });
  return {
    hostname: opts.hostname ?? 'localhost',
    listeners: [
      listener('mx', 'mx', opts.ports.smtp),
      listener('submission', 'submission', opts.ports.submission),
      listener('smtps', 'smtps', opts.ports.smtps),
    ],
    tls: { certFile: opts.certFile, keyFile: opts.keyFile },
    limits: defaultLimits,
    acceptanceDeadlineMs: defaultAcceptanceDeadlineMs,
    inlineScan: { enabled: false, timeoutMs: 10_000 },
  };
}
