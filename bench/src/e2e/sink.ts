import { spawn } from 'node:child_process';
import { chmod, mkdtemp, open, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, sleep, waitExit } from '../proc.js';

/**
 * Postfix's `smtp-sink` as in the harness (`-u nobody -C -c`, backlog 1024), plus
 * `-d`: every mail is also written to its own file, whose modification time is the
 * arrival time (smtp-sink itself timestamps nothing). Both systems under test relay
 * to this one sink, so they pay the same for it.
 */
export interface DumpSink {
  readonly port: number;
  readonly pid: number;
  /** Messages received so far (the sink's own `mesg=` counter). */
  messages(): number;
  waitForMessages(n: number, timeoutMs: number): Promise<void>;
  /**
   * Reads and removes every dump file: the arrival time (ms since the epoch) of each
   * mail by the Mailmesh mail id in its `Received` field, and how many files there were.
   */
  collect(): Promise<{ files: number; arrivals: Map<string, number> }>;
  stop(): Promise<void>;
}

/** `by <host> (Mailmesh) with ESMTP id <mailId>` of ingress's Received field. */
const MAILMESH_ID = /\(Mailmesh\) with [A-Z]+ id ([0-7][0-9A-HJKMNP-TV-Z]{25})/;

export async function startDumpSink(): Promise<DumpSink> {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'mm-bench-sink-'));
  const dumps = join(dir, 'dump');
  // smtp-sink drops to `nobody` before it writes.
  await chmod(dir, 0o777);
  const child = spawn(
    'smtp-sink',
    [
      '-u',
      'nobody',
      '-C',
      '-c',
      '-d',
      `${dumps}/%H%M%S.`,
      '-h',
      'sink.bench',
      `127.0.0.1:${port}`,
      '1024',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let count = 0;
  let tail = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    tail = (tail + d).slice(-256);
    const last = [...tail.matchAll(/mesg=(\d+)/g)].at(-1);
    if (last) count = Number(last[1]);
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-2000)));
  await sleep(200);
  if (child.exitCode !== null)
    throw new Error(`smtp-sink exited at start (code ${child.exitCode}): ${stderr}`);

  const listFiles = async (): Promise<string[]> => {
    const out: string[] = [];
    const walk = async (d: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(d, { withFileTypes: true });
      } catch {
        return; // nothing dumped yet
      }
      for (const e of entries) {
        const p = join(d, e.name);
        if (e.isDirectory()) await walk(p);
        else out.push(p);
      }
    };
    await walk(dumps);
    return out;
  };

  const readOne = async (file: string): Promise<{ mailId?: string; mtimeMs: number }> => {
    const st = await stat(file);
    const fh = await open(file, 'r');
    try {
      const buf = Buffer.alloc(4096);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      const m = MAILMESH_ID.exec(buf.subarray(0, bytesRead).toString('latin1'));
      return m?.[1] ? { mailId: m[1], mtimeMs: st.mtimeMs } : { mtimeMs: st.mtimeMs };
    } finally {
      await fh.close();
    }
  };

  return {
    port,
    pid: child.pid!,
    messages: () => count,
    async waitForMessages(n, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (count < n) {
        if (Date.now() > deadline)
          throw new Error(`smtp-sink saw ${count} of ${n} messages in ${timeoutMs} ms`);
        await sleep(20);
      }
    },
    async collect() {
      const files = await listFiles();
      const arrivals = new Map<string, number>();
      for (let i = 0; i < files.length; i += 64) {
        const batch = files.slice(i, i + 64);
        for (const r of await Promise.all(batch.map(readOne)))
          if (r.mailId) arrivals.set(r.mailId, r.mtimeMs);
      }
      await rm(dumps, { recursive: true, force: true });
      return { files: files.length, arrivals };
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await waitExit(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
