import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { binPath } from './internal/bin.js';
import { tcpExchange } from './internal/checks.js';
import { launch } from './internal/peer.js';
import { freePort } from './internal/ports.js';
import { SingleProcessPeer } from './internal/single.js';
import { EICAR } from './strings.js';
import type { TcpServicePeer } from './types.js';

/**
 * What clamd reports for EICAR with the kit's database: ClamAV appends `.UNOFFICIAL` to every
 * signature that is not from a signed official database. libclamav 1.4 has no built-in EICAR
 * signature, and the kit never loads the official databases (no freshclam, no network), so
 * this is the only name EICAR is found under.
 */
export const EICAR_SIGNATURE = 'Mailmesh.Test.EICAR.UNOFFICIAL';

export interface StartClamdOptions {
  /** Extra lines in ClamAV `.ndb` format (`Name:Target:Offset:HexSig`), loaded beside the EICAR one. */
  readonly extraSignatures?: string;
  /** Extra database files by name (e.g. `{ 'local.hdb': 'md5:size:Name\n' }`), any format clamd loads. */
  readonly extraDatabases?: Readonly<Record<string, string>>;
  /** Default 60 s (database loading). */
  readonly readyTimeoutMs?: number;
}

/**
 * A body signature rather than a file hash: it matches EICAR anywhere, also with trailing
 * bytes, inside a MIME part or inside a zip (clamd unpacks archives and scans each member).
 */
export function eicarNdb(): string {
  return `Mailmesh.Test.EICAR:0:*:${Buffer.from(EICAR, 'latin1').toString('hex')}\n`;
}

export function clamdConfig(dir: string, port: number): string {
  return [
    'Foreground yes',
    `TCPSocket ${port}`,
    'TCPAddr 127.0.0.1',
    `DatabaseDirectory ${join(dir, 'db')}`,
    `TemporaryDirectory ${join(dir, 'tmp')}`,
    // No LogFile: in the foreground clamd logs to stdout, which is the peer's log file.
    'LogTime yes',
    'StreamMaxLength 100M',
    'MaxScanSize 100M',
    'MaxFileSize 100M',
    'ScanArchive yes',
    'ScanMail yes',
    // `User` stays unset: clamd then keeps the uid it started with, root included.
    '',
  ].join('\n');
}

class ClamdPeer extends SingleProcessPeer implements TcpServicePeer {
  readonly host = '127.0.0.1';
  constructor(
    peer: ConstructorParameters<typeof SingleProcessPeer>[0],
    readonly port: number,
  ) {
    super(peer);
  }
}

/** Starts clamd on a free loopback port with a test database that detects EICAR; ready on `zPING` -> `PONG`. */
export async function startClamd(opts: StartClamdOptions = {}): Promise<TcpServicePeer> {
  const command = binPath('clamd');
  let port = 0;
  const peer = await launch('clamd', async (dir) => {
    port = await freePort();
    const clamdPort = port;
    await mkdir(join(dir, 'db'));
    await mkdir(join(dir, 'tmp'));
    await writeFile(join(dir, 'db', 'mailmesh-test.ndb'), eicarNdb());
    if (opts.extraSignatures !== undefined) {
      await writeFile(join(dir, 'db', 'mailmesh-extra.ndb'), `${opts.extraSignatures.trimEnd()}\n`);
    }
    for (const [name, content] of Object.entries(opts.extraDatabases ?? {})) {
      await writeFile(join(dir, 'db', name), content);
    }
    const conf = join(dir, 'clamd.conf');
    await writeFile(conf, clamdConfig(dir, clamdPort));
    return [
      {
        name: 'clamd',
        command,
        args: ['-c', conf],
        readyTimeoutMs: opts.readyTimeoutMs ?? 60_000,
        ready: async (signal) =>
          (await tcpExchange('127.0.0.1', clamdPort, 'zPING\0', signal, (r) =>
            r.includes('\0'),
          )) === 'PONG\0',
      },
    ];
  });
  return new ClamdPeer(peer, port);
}
