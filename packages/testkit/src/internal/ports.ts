import { createServer } from 'node:net';

// Ports handed out recently by this process: the OS may return the same ephemeral port to two
// quick listen(0) calls once the first probe socket is closed, before any peer has bound it.
const recent: number[] = [];
const RECENT_MAX = 256;

function probe(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('listen(0) on 127.0.0.1 returned no port'));
      });
    });
  });
}

/** A TCP port on 127.0.0.1 that was free a moment ago and was not handed out recently by this process. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await probe();
    if (!recent.includes(port)) {
      recent.push(port);
      if (recent.length > RECENT_MAX) recent.shift();
      return port;
    }
  }
  throw new Error('freePort: the OS kept returning recently used ports');
}

/** `n` distinct free ports. */
export async function freePorts(n: number): Promise<number[]> {
  const ports: number[] = [];
  for (let i = 0; i < n; i++) ports.push(await freePort());
  return ports;
}
