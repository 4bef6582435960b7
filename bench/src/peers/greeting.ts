import { connect } from 'node:net';
import { sleep } from '../proc.js';

/** Resolves with the first line an SMTP server sends on 127.0.0.1:port, or rejects. */
export function greeting(port: number, timeoutMs = 2_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port });
    let buf = '';
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`no greeting on port ${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    s.setEncoding('latin1');
    s.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(t);
      s.end('QUIT\r\n');
      resolve(buf.slice(0, nl).trim());
    });
    s.once('error', (err) => {
      clearTimeout(t);
      reject(err);
    });
  });
}

/**
 * Polls until the server on `port` greets with 220. `crashed` reports why the
 * server cannot come up any more (it exited), which ends the wait at once.
 */
export async function waitForGreeting(
  port: number,
  timeoutMs: number,
  crashed: () => string | undefined = () => undefined,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const why = crashed();
    if (why !== undefined) throw new Error(why);
    try {
      last = await greeting(port);
      if (last.startsWith('220')) return;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > until) throw new Error(`port ${port} not ready in ${timeoutMs} ms: ${last}`);
    await sleep(100);
  }
}
