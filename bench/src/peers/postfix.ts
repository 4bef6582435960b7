import {
  chownSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  writeFileSync,
  readFileSync,
  chmodSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { freePort, run, sleep } from '../proc.js';

/**
 * A throwaway Postfix instance in a temp dir (`postfix -c DIR`), configured as a
 * loopback relay the way ANCHORS.md describes; the system instance is untouched.
 * Modes: `relay` forwards everything to a sink; `accept` queues and defers
 * (`defer_transports`), which measures acceptance into Postfix's queue only.
 */
export interface PostfixPeer {
  readonly port: number;
  readonly dir: string;
  /** Pid of the master process (for CPU accounting of the whole instance). */
  masterPid(): number;
  queueEmpty(): Promise<boolean>;
  /** Messages in the queue (every queue: incoming, active, deferred, ...). */
  queued(): Promise<number>;
  /** Deletes every queued message (`postsuper -d ALL`). */
  purge(): Promise<void>;
  stop(): Promise<void>;
}

export async function startPostfix(
  opts: { mode: 'relay'; sinkPort: number } | { mode: 'accept' },
): Promise<PostfixPeer> {
  const dir = mkdtempSync(join(tmpdir(), 'mm-postfix-'));
  const conf = join(dir, 'conf');
  const data = join(dir, 'data');
  mkdirSync(conf);
  mkdirSync(join(dir, 'queue'));
  mkdirSync(data);
  chmodSync(dir, 0o755);
  const { uid, gid } = postfixUser();
  chownSync(data, uid, gid);
  for (const f of ['postfix-files', 'dynamicmaps.cf'])
    copyFileSync(join('/etc/postfix', f), join(conf, f));
  const port = await freePort();
  const main = [
    'compatibility_level = 3.6',
    `queue_directory = ${dir}/queue`,
    `data_directory = ${data}`,
    'inet_interfaces = 127.0.0.1',
    'inet_protocols = ipv4',
    'mydestination = localhost',
    'myhostname = postfix.bench',
    'mynetworks = 127.0.0.0/8',
    'default_transport = smtp',
    'relay_transport = relay',
    'smtp_dns_support_level = disabled',
    'smtpd_peername_lookup = no',
    `maillog_file = ${dir}/maillog`,
    `maillog_file_prefixes = ${dir}`,
    'alias_maps =',
    'alias_database =',
    opts.mode === 'relay'
      ? `relayhost = [127.0.0.1]:${opts.sinkPort}`
      : 'relayhost = [127.0.0.1]:9',
    opts.mode === 'accept' ? 'defer_transports = smtp relay' : '',
  ];
  writeFileSync(join(conf, 'main.cf'), main.filter(Boolean).join('\n') + '\n');
  // Stock master.cf with chroot off and smtpd on our loopback port only.
  const master = readFileSync('/etc/postfix/master.cf', 'utf8')
    .split('\n')
    .map((l) => (l.startsWith('smtp      inet') ? `127.0.0.1:${port} inet n - n - - smtpd` : l))
    .map((l) =>
      l.replace(
        /^([a-z0-9]+\s+(?:unix|inet|fifo|pass|unix-dgram)\s+[-ny]\s+[-ny]\s+)y(\s)/,
        '$1n$2',
      ),
    )
    .join('\n');
  writeFileSync(join(conf, 'master.cf'), master);
  try {
    await run('postfix', ['-c', conf, 'start']);
  } catch (err) {
    const log = safeRead(join(dir, 'maillog'));
    throw new Error(
      `postfix failed to start in ${dir}: ${(err as Error).message}\n${log.slice(-2000)}`,
    );
  }
  for (let i = 0; i < 100 && !safeRead(join(data, 'master.lock')); i++) await sleep(50);
  // Postfix's master daemonizes, so it is no child of ours: stop it when this
  // process exits without calling stop() (a failed test, an interrupted bench).
  const stopOnExit = (): void => {
    try {
      execFileSync('postfix', ['-c', conf, 'stop'], { stdio: 'ignore' });
    } catch {
      // already stopped
    }
  };
  process.once('exit', stopOnExit);
  return {
    port,
    dir,
    masterPid: () => Number(safeRead(join(dir, 'queue', 'pid', 'master.pid')).trim()),
    async queueEmpty() {
      const { stdout } = await run('postqueue', ['-c', conf, '-p']);
      return stdout.includes('Mail queue is empty');
    },
    async queued() {
      // One JSON object per queued message (postqueue(1) -j).
      const { stdout } = await run('postqueue', ['-c', conf, '-j']);
      return stdout.split('\n').filter((l) => l.startsWith('{')).length;
    },
    async purge() {
      await run('postsuper', ['-c', conf, '-d', 'ALL']);
    },
    async stop() {
      process.removeListener('exit', stopOnExit);
      await run('postfix', ['-c', conf, 'stop']).catch(() => undefined);
      for (let i = 0; i < 100; i++) {
        if (!isRunning(Number(safeRead(join(dir, 'queue', 'pid', 'master.pid')).trim()))) break;
        await sleep(50);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function postfixUser(): { uid: number; gid: number } {
  const uid = Number(execFileSync('id', ['-u', 'postfix'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postfix'], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function isRunning(pid: number): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
