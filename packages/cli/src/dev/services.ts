/**
 * How `mailmesh dev` runs each Mailmesh service: `node services/<name>/dist/main.js`
 * with the environment every service reads (services/<name>/src/main.ts documents
 * it), its own health port, and a readiness probe.
 */
import { join } from 'node:path';

import { httpOk, smtpGreets } from './checks.js';
import type { DataLayout, S3Credentials } from './peers.js';
import type { DevPorts } from './ports.js';
import type { ChildSpec } from './supervisor.js';
import type { ServiceInfo, ServiceName } from './workspace.js';

export interface ServiceEnvironment {
  readonly natsUrl: string;
  readonly s3Endpoint: string;
  readonly s3: S3Credentials;
  readonly layout: DataLayout;
  readonly ports: DevPorts;
  /** Greeting / Received / DSN host name (the platform document's). */
  readonly hostname: string;
  /** `host:port` of clamd / spamd when `mailmesh dev` runs them. */
  readonly clamd?: string;
  readonly spamd?: string;
  /** Inherited environment (PATH, MAILMESH_LOG_LEVEL, ...). */
  readonly base?: NodeJS.ProcessEnv;
}

/** What the endpoint table shows for a service. */
export interface Endpoint {
  readonly label: string;
  readonly url: string;
  readonly service: ServiceName;
}

export function endpointsOf(ports: DevPorts): Endpoint[] {
  const p = ports.public;
  return [
    { label: 'SMTP (MX)', url: `smtp://127.0.0.1:${p.smtp}`, service: 'ingress' },
    {
      label: 'submission',
      url: `smtp://127.0.0.1:${p.submission} (STARTTLS + AUTH)`,
      service: 'ingress',
    },
    {
      label: 'SMTPS',
      url: `smtps://127.0.0.1:${p.smtps} (implicit TLS + AUTH)`,
      service: 'ingress',
    },
    { label: 'IMAP', url: `imap://127.0.0.1:${p.imap}`, service: 'mailstore' },
    { label: 'IMAPS', url: `imaps://127.0.0.1:${p.imaps}`, service: 'mailstore' },
    { label: 'POP3', url: `pop3://127.0.0.1:${p.pop3}`, service: 'mailstore' },
    { label: 'HTTP API', url: `http://127.0.0.1:${p.api}/v1`, service: 'api' },
  ];
}

/** The child spec of one built service; `slot` picks its health port. */
export function serviceChild(
  info: ServiceInfo & { main: string },
  slot: number,
  env: ServiceEnvironment,
): ChildSpec {
  const healthPort = env.ports.internal.healthBase + slot;
  const p = env.ports.public;
  const vars: NodeJS.ProcessEnv = {
    ...(env.base ?? process.env),
    MAILMESH_NATS_URL: env.natsUrl,
    MAILMESH_S3_ENDPOINT: env.s3Endpoint,
    MAILMESH_S3_ACCESS_KEY: env.s3.accessKey,
    MAILMESH_S3_SECRET_KEY: env.s3.secretKey,
    MAILMESH_S3_REGION: 'us-east-1',
    MAILMESH_INSTANCE: `dev-${info.name}`,
    MAILMESH_HEALTH_PORT: String(healthPort),
    // No DNS query leaves the machine for the dev domains: SPF/MX answers come from here.
    MAILMESH_DNS_FILE: env.layout.dnsFile,
    MAILMESH_HOSTNAME: env.hostname,
    // The config's Secrets, laid out as Kubernetes mounts them (smart-host AUTH, DKIM keys).
    MAILMESH_SECRETS_DIR: env.layout.secrets,
    // Trust the dev certificate when one service talks TLS to another.
    MAILMESH_SMTP_CA_FILE: join(env.layout.tls, 'cert.pem'),
    ...(env.clamd !== undefined ? { MAILMESH_CLAMD: env.clamd } : {}),
    ...(env.spamd !== undefined ? { MAILMESH_SPAMD: env.spamd } : {}),
  };
  const workDir = join(env.layout.services, info.name);
  switch (info.name) {
    case 'ingress':
      vars['MAILMESH_INGRESS_DIR'] = workDir;
      break;
    case 'mailstore':
      vars['MAILMESH_IMAP_PORT'] = String(p.imap);
      vars['MAILMESH_IMAPS_PORT'] = String(p.imaps);
      vars['MAILMESH_POP3_PORT'] = String(p.pop3);
      vars['MAILMESH_TLS_CERT'] = join(env.layout.tls, 'cert.pem');
      vars['MAILMESH_TLS_KEY'] = join(env.layout.tls, 'key.pem');
      break;
    case 'api':
      vars['MAILMESH_API_PORT'] = String(p.api);
      break;
    default:
      break;
  }
  const readyz = `http://127.0.0.1:${healthPort}/readyz`;
  return {
    name: info.name,
    command: process.execPath,
    args: [info.main],
    cwd: info.dir,
    env: vars,
    logFile: join(env.layout.logs, `${info.name}.log`),
    ready:
      info.name === 'ingress'
        ? async () => (await httpOk(readyz)) && (await smtpGreets('127.0.0.1', p.smtp))
        : () => httpOk(readyz),
    readyTimeoutMs: 90_000,
    stopGraceMs: 15_000,
  };
}
