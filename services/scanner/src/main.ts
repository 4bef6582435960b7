#!/usr/bin/env node
/**
 * `mailmesh-scanner`: consumes `mail.accepted`, publishes `mail.scanned`,
 * `mail.quarantined` or a DSN, and answers inline (before-queue) scan requests on
 * `rpc.scan.inline`. Policies come from the `mailmesh-config` KV bucket;
 * connections from the environment:
 *
 *   MAILMESH_NATS_URL        nats://127.0.0.1:4222 (comma-separated list allowed)
 *   MAILMESH_NATS_USER / MAILMESH_NATS_PASS / MAILMESH_NATS_TOKEN
 *   MAILMESH_S3_ENDPOINT     http://127.0.0.1:9000
 *   MAILMESH_S3_ACCESS_KEY / MAILMESH_S3_SECRET_KEY / MAILMESH_S3_REGION
 *   MAILMESH_CLAMD           host:port of clamd (unset: antivirus unavailable, policy onError applies)
 *   MAILMESH_SPAMD           host:port of spamd (unset: spam check unavailable, policy onError applies)
 *   MAILMESH_INSTANCE        pod name (default: host name)
 *   MAILMESH_HOSTNAME        host name in DSNs and Authentication-Results when the platform
 *                            document has none (default: host name)
 *   MAILMESH_HEALTH_PORT     /healthz /readyz /metrics (default 8026; 0 = any free port)
 *   MAILMESH_DNS_FILE        optional JSON table of DNS answers instead of the system resolver
 *   MAILMESH_SCANNER_CONCURRENCY  mails scanned at once (default 4)
 *   MAILMESH_SCANNER_INLINE  `0` = do not answer rpc.scan.inline (default: answer)
 *   MAILMESH_SCANNER_INLINE_CONCURRENCY  inline requests scanned at once (default 4)
 *   MAILMESH_LOG_LEVEL       pino level (default info)
 *   MAILMESH_SCANNER_TEST_HOLD  testing only: `scanned:<ms>` or `published:<ms>` makes each
 *                            message wait there (after the scan / after the outputs, before
 *                            the ack) so a crash test can kill the process at that point
 */
import { hostname } from 'node:os';
import { createLogger, runPlatformService } from '@mailmesh/runtime';

import { createClamdClient } from './clamd.js';
import { buildScannerConfig, type ScannerConfig } from './config.js';
import { fileResolver, systemResolver } from './dns.js';
import { ScannerConfigError } from './errors.js';
import { events } from './events.js';
import { startInlineResponder, type InlineResponder } from './inline.js';
import { startScanner } from './service.js';
import { createSpamdClient } from './spamd.js';

const env = process.env;
const instance = env['MAILMESH_INSTANCE'] ?? hostname();
const log = createLogger('scanner', { instance });

function hostPort(variable: string): { host: string; port: number } | undefined {
  const v = env[variable];
  if (v === undefined || v === '') return undefined;
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(v);
  const port = Number(m?.[2]);
  if (!m?.[1] || !(port > 0 && port < 65536))
    throw new ScannerConfigError(variable, `expected host:port, got ${JSON.stringify(v)}`);
  return { host: m[1].replace(/^\[|\]$/g, ''), port };
}

await runPlatformService<ScannerConfig>({
  name: 'scanner',
  instance,
  log,
  buildConfig: buildScannerConfig,
  healthPort: 8026,
  start: async ({ bus, store, config, registry }) => {
    const clamd = hostPort('MAILMESH_CLAMD');
    const spamd = hostPort('MAILMESH_SPAMD');
    const dnsFile = env['MAILMESH_DNS_FILE'];
    const hold = /^(scanned|published):(\d+)$/.exec(env['MAILMESH_SCANNER_TEST_HOLD'] ?? '');
    const deps = {
      clamd: clamd ? createClamdClient(clamd) : undefined,
      spamd: spamd ? createSpamdClient(spamd) : undefined,
      resolver: dnsFile !== undefined ? await fileResolver(dnsFile) : systemResolver(),
    };
    const scanner = await startScanner({
      bus,
      store,
      log,
      config,
      deps,
      instance,
      hostname: env['MAILMESH_HOSTNAME'] ?? hostname(),
      concurrency: Number(env['MAILMESH_SCANNER_CONCURRENCY'] ?? 4),
      registry,
      ...(hold
        ? {
            testHold: (point: string, mailId: string) => {
              if (point !== hold[1]) return;
              log.warn({ event: events.testHold, mailId, point }, 'test hold');
              return new Promise<void>((r) => setTimeout(r, Number(hold[2])));
            },
          }
        : {}),
    });
    let inline: InlineResponder | undefined;
    if (env['MAILMESH_SCANNER_INLINE'] !== '0') {
      inline = await startInlineResponder({
        bus,
        store,
        log,
        config,
        deps,
        instance,
        hostname: env['MAILMESH_HOSTNAME'] ?? hostname(),
        concurrency: Number(env['MAILMESH_SCANNER_INLINE_CONCURRENCY'] ?? 4),
        registry,
      });
    }
    log.info({ event: events.started, clamd, spamd }, 'scanner consuming');
    return {
      stop: async () => {
        await Promise.all([scanner.stop(), inline?.stop()]);
      },
    };
  },
});
