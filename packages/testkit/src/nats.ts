import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { binPath } from './internal/bin.js';
import { httpStatusIs } from './internal/checks.js';
import { launch } from './internal/peer.js';
import { freePorts } from './internal/ports.js';
import { SingleProcessPeer } from './internal/single.js';
import type { ProcessPeer } from './types.js';

export interface NatsPeer extends ProcessPeer {
  /** `nats://127.0.0.1:PORT` */
  readonly url: string;
  readonly port: number;
  /** `http://127.0.0.1:MONITOR_PORT` (/healthz, /varz, /jsz ...) */
  readonly monitorUrl: string;
  /** Path of the generated nats.conf. */
  readonly configFile: string;
}

export interface NatsUser {
  readonly user: string;
  readonly password: string;
  /** Raw NATS `permissions` block body, e.g. `publish: ">"\nsubscribe: ">"`. */
  readonly permissions?: string;
}

export interface StartNatsOptions {
  /** Default true: a file store under `<dir>/js` that survives kill()/restart(). */
  readonly jetstream?: boolean;
  /** Appended verbatim to nats.conf. */
  readonly extraConfig?: string;
  /** When given, clients must authenticate as one of these (except as `noAuthUser`). */
  readonly users?: readonly NatsUser[];
  /** Connections without credentials act as this user (must be one of `users`). */
  readonly noAuthUser?: string;
  /** Default 30 s. */
  readonly readyTimeoutMs?: number;
}

const str = (s: string): string => JSON.stringify(s);

/** The nats.conf text; exported for tests of option handling. */
export function natsConfig(
  dir: string,
  port: number,
  monitorPort: number,
  opts: StartNatsOptions,
): string {
  const lines = [
    `listen: "127.0.0.1:${port}"`,
    `http: "127.0.0.1:${monitorPort}"`,
    `server_name: ${str(`mailmesh-test-${port}`)}`,
  ];
  if (opts.jetstream ?? true) {
    lines.push(
      `jetstream {`,
      `  store_dir: ${str(join(dir, 'js'))}`,
      `  max_memory_store: 256MB`,
      `  max_file_store: 2GB`,
      `}`,
    );
  }
  if (opts.users !== undefined && opts.users.length > 0) {
    lines.push('authorization {', '  users: [');
    for (const u of opts.users) {
      const perms = u.permissions !== undefined ? `, permissions: { ${u.permissions} }` : '';
      lines.push(`    { user: ${str(u.user)}, password: ${str(u.password)}${perms} }`);
    }
    lines.push('  ]', '}');
  }
  if (opts.noAuthUser !== undefined) lines.push(`no_auth_user: ${str(opts.noAuthUser)}`);
  if (opts.extraConfig !== undefined) lines.push(opts.extraConfig);
  return `${lines.join('\n')}\n`;
}

class NatsPeerImpl extends SingleProcessPeer implements NatsPeer {
  readonly port: number;
  readonly url: string;
  readonly monitorUrl: string;
  readonly configFile: string;

  constructor(
    peer: ConstructorParameters<typeof SingleProcessPeer>[0],
    port: number,
    monitorPort: number,
  ) {
    super(peer);
    this.port = port;
    this.url = `nats://127.0.0.1:${port}`;
    this.monitorUrl = `http://127.0.0.1:${monitorPort}`;
    this.configFile = join(peer.dir, 'nats.conf');
  }
}

/** Starts nats-server on free loopback ports; resolves once /healthz (JetStream included) answers 200. */
export async function startNats(opts: StartNatsOptions = {}): Promise<NatsPeer> {
  const command = binPath('nats-server');
  let port = 0;
  let monitorPort = 0;
  const peer = await launch('nats', async (dir) => {
    [port = 0, monitorPort = 0] = await freePorts(2);
    const jetstream = opts.jetstream ?? true;
    if (jetstream) await mkdir(join(dir, 'js'));
    const conf = join(dir, 'nats.conf');
    await writeFile(conf, natsConfig(dir, port, monitorPort, opts));
    // js-enabled-only fails while JetStream is off; the plain check then waits for stored
    // streams to be recovered, which matters after restart().
    const base = `http://127.0.0.1:${monitorPort}/healthz`;
    const checks = jetstream ? [`${base}?js-enabled-only=true`, base] : [base];
    return [
      {
        name: 'nats',
        command,
        args: ['-c', conf],
        readyTimeoutMs: opts.readyTimeoutMs ?? 30_000,
        ready: async (signal) => {
          for (const url of checks) if (!(await httpStatusIs(url, 200, signal))) return false;
          return true;
        },
      },
    ];
  });
  return new NatsPeerImpl(peer, port, monitorPort);
}
