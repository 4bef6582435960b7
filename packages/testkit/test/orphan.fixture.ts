// Starts a peer, prints its pid and dir, then idles until it is killed from outside.
import { startNats } from '../src/index.js';

const nats = await startNats({ jetstream: false });
process.stdout.write(`${JSON.stringify({ pid: nats.pid, dir: nats.dir })}\n`);
setInterval(() => {}, 60_000);
