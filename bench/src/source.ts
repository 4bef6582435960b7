import { run } from './proc.js';

export interface SourceOptions {
  readonly port: number;
  readonly sessions: number;
  readonly messages: number;
  /** Message body size in bytes (`-l`); 5120 matches ANCHORS.md. */
  readonly size?: number;
  readonly from?: string;
  readonly to?: string;
  /** Keep connections open for several messages (`-d`); default one message per connection. */
  readonly reuseConnections?: boolean;
  /** Kill smtp-source (and reject) after this long; default no limit. */
  readonly timeoutMs?: number;
}

/** Drives load with Postfix's `smtp-source`; resolves when every message got a reply. */
export async function smtpSource(o: SourceOptions): Promise<{ elapsedMs: number }> {
  const args = ['-s', String(o.sessions), '-m', String(o.messages), '-l', String(o.size ?? 5120)];
  // -r 1: one recipient per transaction; without -d, one message per connection.
  args.push('-r', '1');
  if (o.reuseConnections) args.push('-d');
  args.push(
    '-f',
    o.from ?? 'load@bench.local',
    '-t',
    o.to ?? 'sink@example.com',
    `127.0.0.1:${o.port}`,
  );
  const t0 = performance.now();
  await run('smtp-source', args, o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs });
  return { elapsedMs: performance.now() - t0 };
}
