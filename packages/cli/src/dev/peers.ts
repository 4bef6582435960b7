/**
 * nats-server and MinIO as children of `mailmesh dev`, with their data under the data
 * dir so mail, queues and config survive a restart of `mailmesh dev`.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { httpOk, tcpExchange } from './checks.js';
import type { InternalPorts } from './ports.js';
import type { ChildSpec } from './supervisor.js';

export interface DataLayout {
  readonly root: string;
  readonly nats: string;
  readonly minio: string;
  readonly tls: string;
  readonly logs: string;
  /** Per-service working directories (Haraka's spool, ...). */
  readonly services: string;
  /** Written while `mailmesh dev` runs: pid, endpoints, credentials file. */
  readonly stateFile: string;
  readonly dnsFile: string;
  readonly clamd: string;
  /** Secrets of the config files as a Kubernetes Secret volume: `<secrets>/<name>/<key>`. */
  readonly secrets: string;
}

export function dataLayout(root: string): DataLayout {
  return {
    root,
    nats: join(root, 'nats'),
    minio: join(root, 'minio'),
    tls: join(root, 'tls'),
    logs: join(root, 'logs'),
    services: join(root, 'services'),
    stateFile: join(root, 'dev.json'),
    dnsFile: join(root, 'dns.json'),
    clamd: join(root, 'clamd'),
    secrets: join(root, 'secrets'),
  };
}

const str = (s: string): string => JSON.stringify(s);

/** nats.conf for dev: loopback only, JetStream file store under `<data>/nats/js`. */
export function natsConfig(dir: string, ports: InternalPorts): string {
  return [
    `listen: "127.0.0.1:${ports.nats}"`,
    `http: "127.0.0.1:${ports.natsMonitor}"`,
    `server_name: "mailmesh-dev"`,
    'jetstream {',
    `  store_dir: ${str(join(dir, 'js'))}`,
    '  max_memory_store: 256MB',
    '  max_file_store: 4GB',
    '}',
    '',
  ].join('\n');
}

export async function natsChild(
  command: string,
  layout: DataLayout,
  ports: InternalPorts,
): Promise<ChildSpec> {
  await mkdir(join(layout.nats, 'js'), { recursive: true });
  const conf = join(layout.nats, 'nats.conf');
  await writeFile(conf, natsConfig(layout.nats, ports));
  const health = `http://127.0.0.1:${ports.natsMonitor}/healthz`;
  return {
    name: 'nats-server',
    command,
    args: ['-c', conf],
    logFile: join(layout.logs, 'nats-server.log'),
    // js-enabled-only fails while JetStream is off; the plain check then waits for the
    // stored streams to be recovered after a restart.
    ready: async () => (await httpOk(`${health}?js-enabled-only=true`)) && (await httpOk(health)),
    readyTimeoutMs: 60_000,
  };
}

export interface S3Credentials {
  readonly accessKey: string;
  readonly secretKey: string;
}

/**
 * MinIO's root credentials for this data dir: generated once and kept (MinIO keys its
 * stored config to them, so they must not change between runs).
 */
export async function minioCredentials(layout: DataLayout): Promise<S3Credentials> {
  const file = join(layout.minio, 'credentials.json');
  if (existsSync(file)) {
    const c = JSON.parse(await readFile(file, 'utf8')) as Partial<S3Credentials>;
    if (typeof c.accessKey === 'string' && typeof c.secretKey === 'string') {
      return { accessKey: c.accessKey, secretKey: c.secretKey };
    }
  }
  await mkdir(layout.minio, { recursive: true, mode: 0o700 });
  const creds = { accessKey: 'mailmesh-dev', secretKey: randomBytes(18).toString('base64url') };
  await writeFile(file, `${JSON.stringify(creds, null, 2)}\n`, { mode: 0o600 });
  return creds;
}

export async function minioChild(
  command: string,
  layout: DataLayout,
  ports: InternalPorts,
  creds: S3Credentials,
): Promise<ChildSpec> {
  const data = join(layout.minio, 'data');
  const certs = join(layout.minio, 'certs');
  await mkdir(data, { recursive: true });
  await mkdir(certs, { recursive: true });
  return {
    name: 'minio',
    command,
    args: [
      'server',
      data,
      '--address',
      `127.0.0.1:${ports.s3}`,
      '--console-address',
      `127.0.0.1:${ports.minioConsole}`,
      '--certs-dir',
      certs,
    ],
    env: {
      ...process.env,
      // MinIO otherwise reads ~/.minio for certificates and config.
      HOME: layout.minio,
      MINIO_ROOT_USER: creds.accessKey,
      MINIO_ROOT_PASSWORD: creds.secretKey,
      MINIO_SITE_REGION: 'us-east-1',
      MINIO_BROWSER: 'off',
      MINIO_UPDATE: 'off',
      MINIO_CALLHOME_ENABLE: 'off',
      // A single drive on the root filesystem, without the production warnings.
      MINIO_CI_CD: 'on',
    },
    logFile: join(layout.logs, 'minio.log'),
    ready: () => httpOk(`http://127.0.0.1:${ports.s3}/minio/health/ready`),
    readyTimeoutMs: 90_000,
  };
}

/**
 * The dev antivirus signature: the EICAR test file (assembled from parts so this
 * source file itself does not trip a scanner). Dev mode loads no official database:
 * those come from the internet (freshclam), and EICAR is what a walkthrough sends.
 */
const EICAR = [
  'X5O!P%@AP[4\\PZX54(P^)7CC)7}$',
  'EICAR-STANDARD-ANTIVIRUS',
  '-TEST-FILE!$H+H*',
].join('');
export const DEV_EICAR_SIGNATURE = 'Mailmesh.Dev.EICAR.UNOFFICIAL';

export async function clamdChild(
  command: string,
  layout: DataLayout,
  ports: InternalPorts,
): Promise<ChildSpec> {
  const db = join(layout.clamd, 'db');
  const tmp = join(layout.clamd, 'tmp');
  await mkdir(db, { recursive: true });
  await mkdir(tmp, { recursive: true });
  await writeFile(
    join(db, 'mailmesh-dev.ndb'),
    `Mailmesh.Dev.EICAR:0:*:${Buffer.from(EICAR, 'latin1').toString('hex')}\n`,
  );
  const conf = join(layout.clamd, 'clamd.conf');
  await writeFile(
    conf,
    [
      'Foreground yes',
      `TCPSocket ${ports.clamd}`,
      'TCPAddr 127.0.0.1',
      `DatabaseDirectory ${db}`,
      `TemporaryDirectory ${tmp}`,
      'LogTime yes',
      'StreamMaxLength 100M',
      'MaxScanSize 100M',
      'MaxFileSize 100M',
      'ScanArchive yes',
      'ScanMail yes',
      '',
    ].join('\n'),
  );
  return {
    name: 'clamd',
    command,
    args: ['-c', conf],
    logFile: join(layout.logs, 'clamd.log'),
    ready: async () =>
      (await tcpExchange('127.0.0.1', ports.clamd, 'zPING\0', (r) => r.includes('\0'))) ===
      'PONG\0',
    readyTimeoutMs: 90_000,
  };
}

/**
 * spamd with local rules only. Its site config lives in its own world-readable temp dir
 * (removed by the caller on stop): spamd started as root reads it after dropping to
 * `nobody`, and the data dir may well be private (0700).
 */
export async function spamdChild(
  command: string,
  layout: DataLayout,
  ports: InternalPorts,
): Promise<ChildSpec & { readonly tempDir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'mailmesh-dev-spamd-'));
  await chmod(dir, 0o755);
  const site = join(dir, 'site');
  const home = join(dir, 'home');
  await mkdir(site, { mode: 0o755 });
  await mkdir(home);
  // --siteconfigpath replaces /etc/spamassassin, which holds the *.pre files that load plugins.
  for (const f of (await readdir('/etc/spamassassin').catch(() => [] as string[])).filter((n) =>
    n.endsWith('.pre'),
  )) {
    await copyFile(join('/etc/spamassassin', f), join(site, f));
  }
  // No network tests: dev mode sends no query off the machine.
  await writeFile(
    join(site, 'local.cf'),
    ['use_bayes 0', 'bayes_auto_learn 0', 'skip_rbl_checks 1', 'dns_available no', ''].join('\n'),
  );
  return {
    name: 'spamd',
    tempDir: dir,
    command,
    args: [
      `--listen=127.0.0.1:${ports.spamd}`,
      '--allowed-ips=127.0.0.1',
      `--pidfile=${join(dir, 'spamd.pid')}`,
      `--siteconfigpath=${site}`,
      '--local',
      '--nouser-config',
      '--max-children=2',
      '--min-children=1',
      '--syslog=stderr',
      `--helper-home-dir=${home}`,
    ],
    env: { ...process.env, HOME: home },
    logFile: join(layout.logs, 'spamd.log'),
    ready: async () =>
      (await tcpExchange('127.0.0.1', ports.spamd, 'PING SPAMC/1.5\r\n\r\n')).startsWith(
        'SPAMD/1.5 0 PONG',
      ),
    readyTimeoutMs: 180_000,
  };
}
