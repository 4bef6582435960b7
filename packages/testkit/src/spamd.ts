import { chmod, copyFile, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { binPath } from './internal/bin.js';
import { tcpExchange } from './internal/checks.js';
import { launch } from './internal/peer.js';
import { freePort } from './internal/ports.js';
import { SingleProcessPeer } from './internal/single.js';
import type { TcpServicePeer } from './types.js';

export interface StartSpamdOptions {
  /** Lines appended to the site local.cf. */
  readonly extraConfig?: string;
  /** Default 120 s: the first start parses the whole rule set. */
  readonly readyTimeoutMs?: number;
  /** Site config dir to copy `*.pre` plugin loaders from. Default /etc/spamassassin. */
  readonly preDir?: string;
}

/** local.cf for a test spamd: no Bayes, no network tests of any kind. */
export function spamdLocalCf(extra?: string): string {
  return [
    'use_bayes 0',
    'bayes_auto_learn 0',
    'skip_rbl_checks 1',
    'dns_available no',
    ...(extra !== undefined ? [extra] : []),
    '',
  ].join('\n');
}

class SpamdPeer extends SingleProcessPeer implements TcpServicePeer {
  readonly host = '127.0.0.1';
  constructor(
    peer: ConstructorParameters<typeof SingleProcessPeer>[0],
    readonly port: number,
  ) {
    super(peer);
  }
}

/**
 * Starts SpamAssassin's spamd on a free loopback port with the packaged rules
 * (/usr/share/spamassassin), local tests only; ready on `PING` -> `SPAMD/1.5 0 PONG`.
 *
 * Run as root it needs no `-u`: config is read as root and each connection's child drops to
 * `nobody` (logged as a warning), which only matters for per-user prefs, and those are off.
 */
export async function startSpamd(opts: StartSpamdOptions = {}): Promise<TcpServicePeer> {
  const command = binPath('spamd');
  let port = 0;
  const peer = await launch('spamd', async (dir) => {
    port = await freePort();
    const spamdPort = port;
    // spamd, as root, reads the site config after dropping to `nobody` in places: the dir must
    // be world-readable (mkdtemp makes it 0700), else no .pre loads and it refuses to scan.
    await chmod(dir, 0o755);
    const site = join(dir, 'site');
    await mkdir(site);
    await mkdir(join(dir, 'home'));
    // --siteconfigpath replaces /etc/spamassassin, which also holds the *.pre files that load
    // plugins: copy those so scoring matches a stock install.
    const preDir = opts.preDir ?? '/etc/spamassassin';
    const pres = await readdir(preDir).catch(() => [] as string[]);
    for (const f of pres.filter((name) => name.endsWith('.pre')))
      await copyFile(join(preDir, f), join(site, f));
    await writeFile(join(site, 'local.cf'), spamdLocalCf(opts.extraConfig));
    return [
      {
        name: 'spamd',
        command,
        args: [
          `--listen=127.0.0.1:${spamdPort}`,
          '--allowed-ips=127.0.0.1',
          `--pidfile=${join(dir, 'spamd.pid')}`,
          `--siteconfigpath=${site}`,
          '--local',
          '--nouser-config',
          '--max-children=2',
          '--min-children=1',
          '--syslog=stderr',
          `--helper-home-dir=${join(dir, 'home')}`,
        ],
        env: { ...process.env, HOME: join(dir, 'home') },
        readyTimeoutMs: opts.readyTimeoutMs ?? 120_000,
        ready: async (signal) =>
          (await tcpExchange('127.0.0.1', spamdPort, 'PING SPAMC/1.5\r\n\r\n', signal)).startsWith(
            'SPAMD/1.5 0 PONG',
          ),
      },
    ];
  });
  return new SpamdPeer(peer, port);
}
