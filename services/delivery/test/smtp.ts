/** Real SMTP servers on loopback (node smtp-server) standing in for remote MTAs, and a test CA. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer, type SMTPServerAuthentication, type SMTPServerSession } from 'smtp-server';

export interface TestCa {
  readonly ca: string;
  /** Key and certificate for `host`, signed by `ca`. */
  issue(host: string): { key: string; cert: string };
  cleanup(): void;
}

/** A throwaway CA made with the openssl CLI. */
export function createCa(): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'mailmesh-ca-'));
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=Mailmesh Test CA',
  );
  let n = 0;
  return {
    ca: readFileSync(join(dir, 'ca.pem'), 'utf8'),
    issue(host) {
      const b = `h${n++}`;
      writeFileSync(
        join(dir, `${b}.ext`),
        `subjectAltName=DNS:${host}\nextendedKeyUsage=serverAuth\n`,
      );
      run(
        'req',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        `${b}.key`,
        '-out',
        `${b}.csr`,
        '-subj',
        `/CN=${host}`,
      );
      run(
        'x509',
        '-req',
        '-in',
        `${b}.csr`,
        '-CA',
        'ca.pem',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-out',
        `${b}.pem`,
        '-days',
        '2',
        '-extfile',
        `${b}.ext`,
      );
      return {
        key: readFileSync(join(dir, `${b}.key`), 'utf8'),
        cert: readFileSync(join(dir, `${b}.pem`), 'utf8'),
      };
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface Received {
  readonly from: string;
  readonly to: string[];
  readonly data: Buffer;
  readonly secure: boolean;
  readonly user?: string;
}

export interface ServerBehaviour {
  /** STARTTLS with this key/cert; absent = no STARTTLS offered. */
  readonly tls?: { key: string; cert: string };
  /** Require AUTH with this user/password (only after STARTTLS). */
  readonly auth?: { user: string; pass: string };
  /** Reply to RCPT TO: undefined = 250; a code = that reply. */
  readonly rcpt?: (address: string) => number | undefined;
  /** Reply to the end of DATA (n = 1-based count of DATA so far): undefined = 250. */
  readonly data?: (n: number) => number | undefined;
}

export interface TestSmtp {
  readonly port: number;
  readonly received: Received[];
  dataCount: number;
  readonly sessions: number;
  stop(): Promise<void>;
}

function reply(code: number, text: string): Error {
  return Object.assign(new Error(text), { responseCode: code });
}

export async function startSmtp(b: ServerBehaviour = {}): Promise<TestSmtp> {
  const received: Received[] = [];
  let sessions = 0;
  const state = { dataCount: 0 };
  const server = new SMTPServer({
    disableReverseLookup: true,
    logger: false,
    banner: 'test mta',
    ...(b.tls ? { key: b.tls.key, cert: b.tls.cert } : { disabledCommands: ['STARTTLS'] }),
    ...(b.auth
      ? { authMethods: ['PLAIN', 'LOGIN'], authOptional: false }
      : { authOptional: true, disabledCommands: b.tls ? ['AUTH'] : ['STARTTLS', 'AUTH'] }),
    onConnect(_s, cb) {
      sessions++;
      cb();
    },
    onAuth(auth: SMTPServerAuthentication, session: SMTPServerSession, cb) {
      if (!session.secure)
        return cb(reply(538, '5.7.11 Encryption required for requested authentication mechanism'));
      if (b.auth && auth.username === b.auth.user && auth.password === b.auth.pass)
        return cb(null, { user: auth.username });
      return cb(reply(535, '5.7.8 Authentication credentials invalid'));
    },
    onRcptTo(address, _s, cb) {
      const code = b.rcpt?.(address.address);
      if (code === undefined || code < 400) return cb();
      return cb(
        reply(
          code,
          `${code >= 500 ? '5.1.1' : '4.2.1'} <${address.address}>: ${code >= 500 ? 'no such user here' : 'try again later'}`,
        ),
      );
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        state.dataCount++;
        const code = b.data?.(state.dataCount);
        if (code !== undefined && code >= 400) {
          return cb(
            reply(
              code,
              code >= 500 ? '5.6.0 message refused' : '4.3.0 temporary failure, try again',
            ),
          );
        }
        received.push({
          from: session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address,
          to: session.envelope.rcptTo.map((r) => r.address),
          data: Buffer.concat(chunks),
          secure: session.secure,
          ...(session.user !== undefined ? { user: String(session.user) } : {}),
        });
        cb();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    received,
    get dataCount() {
      return state.dataCount;
    },
    set dataCount(n: number) {
      state.dataCount = n;
    },
    get sessions() {
      return sessions;
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
