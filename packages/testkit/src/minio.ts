import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

import { binPath } from './internal/bin.js';
import { httpStatusIs } from './internal/checks.js';
import { launch } from './internal/peer.js';
import { freePorts } from './internal/ports.js';
import { SingleProcessPeer } from './internal/single.js';
import type { ProcessPeer } from './types.js';

export interface MinioPeer extends ProcessPeer {
  /** `http://127.0.0.1:PORT` */
  readonly endpoint: string;
  /** `127.0.0.1` */
  readonly host: string;
  readonly port: number;
  readonly accessKey: string;
  readonly secretKey: string;
  readonly region: string;
  /** Where objects live; survives kill()/restart(). */
  readonly dataDir: string;
  /** What an S3 client needs: pass it to runtime's `connectObjectStore`. */
  readonly connection: {
    readonly endpoint: string;
    readonly accessKey: string;
    readonly secretKey: string;
    readonly region: string;
  };
}

export interface StartMinioOptions {
  /** Default `mailmesh-test`. */
  readonly accessKey?: string;
  /** Default `mailmesh-test-secret` (MinIO wants at least 8 characters). */
  readonly secretKey?: string;
  /** Default `us-east-1`. */
  readonly region?: string;
  /** Default 60 s. */
  readonly readyTimeoutMs?: number;
}

class MinioPeerImpl extends SingleProcessPeer implements MinioPeer {
  readonly host = '127.0.0.1';
  readonly endpoint: string;
  readonly dataDir: string;

  get connection(): MinioPeer['connection'] {
    const { endpoint, accessKey, secretKey, region } = this;
    return { endpoint, accessKey, secretKey, region };
  }

  constructor(
    peer: ConstructorParameters<typeof SingleProcessPeer>[0],
    readonly port: number,
    readonly accessKey: string,
    readonly secretKey: string,
    readonly region: string,
  ) {
    super(peer);
    this.endpoint = `http://127.0.0.1:${port}`;
    this.dataDir = join(peer.dir, 'data');
  }
}

/**
 * Starts a single-drive MinIO server on free loopback ports; resolves once
 * /minio/health/ready answers 200. Console, update checks and call-home are off.
 */
export async function startMinio(opts: StartMinioOptions = {}): Promise<MinioPeer> {
  const command = binPath('minio');
  const accessKey = opts.accessKey ?? 'mailmesh-test';
  const secretKey = opts.secretKey ?? 'mailmesh-test-secret';
  const region = opts.region ?? 'us-east-1';
  let port = 0;
  const peer = await launch('minio', async (dir) => {
    const [apiPort = 0, consolePort = 0] = await freePorts(2);
    port = apiPort;
    await mkdir(join(dir, 'data'));
    await mkdir(join(dir, 'certs'));
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      // HOME too: MinIO otherwise looks at ~/.minio for certs and config.
      HOME: dir,
      MINIO_ROOT_USER: accessKey,
      MINIO_ROOT_PASSWORD: secretKey,
      MINIO_SITE_REGION: region,
      MINIO_BROWSER: 'off',
      MINIO_UPDATE: 'off',
      MINIO_CALLHOME_ENABLE: 'off',
      // Allows a drive on the root filesystem (a tmp dir) without complaint.
      MINIO_CI_CD: 'on',
    };
    return [
      {
        name: 'minio',
        command,
        args: [
          'server',
          join(dir, 'data'),
          '--address',
          `127.0.0.1:${apiPort}`,
          '--console-address',
          `127.0.0.1:${consolePort}`,
          '--certs-dir',
          join(dir, 'certs'),
        ],
        env,
        readyTimeoutMs: opts.readyTimeoutMs ?? 60_000,
        ready: (signal) =>
          httpStatusIs(`http://127.0.0.1:${apiPort}/minio/health/ready`, 200, signal),
      },
    ];
  });
  return new MinioPeerImpl(peer, port, accessKey, secretKey, region);
}
