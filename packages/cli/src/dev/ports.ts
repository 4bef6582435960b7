/**
 * Which port every part of `mailmesh dev` listens on (INTERFACES.md, `mailmesh dev`).
 * Public endpoints follow the contract; internal ones (NATS, MinIO, each service's
 * health server) are fixed too, so a second terminal can reach them and a port clash
 * is reported up front instead of as a child crash.
 */
import { UsageError } from '../errors.js';

export interface PublicPorts {
  readonly smtp: number;
  readonly submission: number;
  readonly smtps: number;
  readonly imap: number;
  readonly imaps: number;
  readonly pop3: number;
  readonly api: number;
}

export interface InternalPorts {
  readonly nats: number;
  readonly natsMonitor: number;
  readonly s3: number;
  readonly minioConsole: number;
  /** clamd (antivirus for the scanner), with a dev signature database. */
  readonly clamd: number;
  readonly spamd: number;
  /** First health port; service i (in start order) listens on `healthBase + i`. */
  readonly healthBase: number;
}

export interface DevPorts {
  readonly public: PublicPorts;
  readonly internal: InternalPorts;
}

/** The highest offset used from a port base, so `base + MAX_OFFSET` must be a port. */
export const MAX_OFFSET = 999;
/** Health ports reserved per base for services (`healthBase .. healthBase + 9`). */
export const HEALTH_SLOTS = 10;

/**
 * Without `--port-base`: the contract's defaults (2525, 2587, 2465, 2143, 2993, 2110,
 * 8025) and the peers' usual ports. With `--port-base N`: every port within N..N+999.
 */
export function devPorts(portBase?: number): DevPorts {
  if (portBase === undefined) {
    return {
      public: {
        smtp: 2525,
        submission: 2587,
        smtps: 2465,
        imap: 2143,
        imaps: 2993,
        pop3: 2110,
        api: 8025,
      },
      internal: {
        nats: 4222,
        natsMonitor: 8222,
        s3: 9000,
        minioConsole: 9001,
        clamd: 3310,
        spamd: 7783,
        healthBase: 8101,
      },
    };
  }
  if (!Number.isInteger(portBase) || portBase < 1 || portBase + MAX_OFFSET > 65_535) {
    throw new UsageError(
      `--port-base must be an integer from 1 to ${65_535 - MAX_OFFSET} (it uses N..N+${MAX_OFFSET}); got ${portBase}`,
    );
  }
  const n = portBase;
  return {
    public: {
      smtp: n + 25,
      submission: n + 587,
      smtps: n + 465,
      imap: n + 143,
      imaps: n + 993,
      pop3: n + 110,
      api: n + 80,
    },
    internal: {
      nats: n + 422,
      natsMonitor: n + 822,
      s3: n + 900,
      minioConsole: n + 901,
      clamd: n + 310,
      spamd: n + 783,
      healthBase: n + 810,
    },
  };
}

/** Every port with what it is for, for the up-front availability check. */
export function allPorts(
  ports: DevPorts,
  healthCount: number,
): { port: number; purpose: string }[] {
  const p = ports.public;
  const i = ports.internal;
  const list = [
    { port: i.nats, purpose: 'NATS' },
    { port: i.natsMonitor, purpose: 'NATS monitoring' },
    { port: i.s3, purpose: 'MinIO S3' },
    { port: i.minioConsole, purpose: 'MinIO console' },
    { port: i.clamd, purpose: 'clamd' },
    { port: i.spamd, purpose: 'spamd' },
    { port: p.smtp, purpose: 'SMTP' },
    { port: p.submission, purpose: 'submission' },
    { port: p.smtps, purpose: 'SMTPS' },
    { port: p.imap, purpose: 'IMAP' },
    { port: p.imaps, purpose: 'IMAPS' },
    { port: p.pop3, purpose: 'POP3' },
    { port: p.api, purpose: 'HTTP API' },
  ];
  for (let k = 0; k < Math.min(healthCount, HEALTH_SLOTS); k++) {
    list.push({ port: i.healthBase + k, purpose: `service health #${k + 1}` });
  }
  return list;
}
