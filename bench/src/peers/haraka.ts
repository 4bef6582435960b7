import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { freePort, run, waitExit } from '../proc.js';
import { waitForGreeting } from './greeting.js';

/** A stock Haraka (the npm package, its own bin) with `queue/discard`. */
export interface HarakaPeer {
  readonly port: number;
  readonly pid: number;
  readonly dir: string;
  stop(): Promise<void>;
}

export interface HarakaOptions {
  /** Haraka's log level (log.ini); default `warn` (ANCHORS.md: info costs ~30-40%). */
  readonly logLevel?: string;
  /** Domain `rcpt_to.in_host_list` accepts mail for. */
  readonly domain: string;
}

// Answers lookup_rdns locally: stock Haraka would reverse-resolve every client.
const NO_RDNS_PLUGIN = `'use strict'
exports.register = function () {
  this.register_hook('lookup_rdns', 'local')
}
exports.local = function (next) {
  next(OK, 'localhost')
}
`;

/**
 * Starts Haraka in a temp config dir (made by `haraka -i`) the way ANCHORS.md describes the peer:
 * `nodes=0` (one process), `public_ip` set (no STUN), no reverse DNS, log level
 * warn, `rcpt_to.in_host_list` + `queue/discard` with YES_REALLY_DO_DISCARD=1.
 */
export async function startHaraka(opts: HarakaOptions): Promise<HarakaPeer> {
  const dir = mkdtempSync(join(tmpdir(), 'mm-haraka-'));
  const config = join(dir, 'config');
  const require = createRequire(import.meta.url);
  const bin = join(dirname(require.resolve('Haraka/package.json')), 'bin', 'haraka');
  // `haraka -i DIR`: Haraka's own stock config dir; the files below replace its defaults.
  await run(process.execPath, [bin, '-i', dir], { timeoutMs: 60_000 });
  mkdirSync(join(dir, 'plugins'), { recursive: true });
  const port = await freePort();
  const files: Record<string, string> = {
    'smtp.ini': [
      `listen=127.0.0.1:${port}`,
      'public_ip=127.0.0.1',
      'nodes=0',
      'graceful_shutdown=false',
    ].join('\n'),
    plugins: ['bench_no_rdns', 'rcpt_to.in_host_list', 'queue/discard'].join('\n'),
    host_list: opts.domain,
    me: 'haraka.bench',
    'log.ini': ['[main]', `level=${opts.logLevel ?? 'warn'}`, 'timestamps=false'].join('\n'),
  };
  for (const [name, content] of Object.entries(files))
    writeFileSync(join(config, name), `${content}\n`);
  writeFileSync(join(dir, 'plugins', 'bench_no_rdns.js'), NO_RDNS_PLUGIN);

  const child = spawn(process.execPath, [bin, '-c', dir], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, YES_REALLY_DO_DISCARD: '1' },
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4000)));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await waitExit(child);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForGreeting(port, 30_000, () =>
      child.exitCode !== null ? `haraka exited ${child.exitCode}: ${stderr}` : undefined,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, pid: child.pid!, dir, stop };
}
