import { spawn } from 'node:child_process';
import { freePort, sleep, waitExit } from '../proc.js';

/** Postfix's `smtp-sink`: accepts and discards mail, printing running counters (-c). */
export interface SmtpSink {
  readonly port: number;
  readonly pid: number;
  /** Messages received so far (the sink's own `mesg=` counter). */
  messages(): number;
  waitForMessages(n: number, timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startSmtpSink(): Promise<SmtpSink> {
  const port = await freePort();
  // -c: counters on stdout; -C: no XCLIENT; 1024: listen backlog (ANCHORS.md setup).
  const child = spawn(
    'smtp-sink',
    ['-u', 'nobody', '-C', '-c', '-h', 'sink.bench', `127.0.0.1:${port}`, '1024'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let count = 0;
  let tail = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    tail = (tail + d).slice(-256);
    const all = [...tail.matchAll(/mesg=(\d+)/g)];
    const last = all.at(-1);
    if (last) count = Number(last[1]);
  });
  await sleep(200);
  if (child.exitCode !== null)
    throw new Error(`smtp-sink exited at start (code ${child.exitCode})`);
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
    async stop() {
      child.kill('SIGTERM');
      await waitExit(child);
    },
  };
}
