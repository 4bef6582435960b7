/**
 * The operator's NATS connection, made in the background and retried until it works,
 * so the operator runs (and reports NatsUnavailable in status) while NATS is down.
 */
import { kvBuckets } from '@mailmesh/proto';
import { type Bus, connectBus, type Logger, provision } from '@mailmesh/runtime';
import { logEvents } from './events.js';

export interface BusHolder {
  current(): Bus | undefined;
  close(): Promise<void>;
}

export function connectInBackground(opts: {
  servers: string;
  name: string;
  log: Logger;
  retryMs?: number;
  /** Create the config and load buckets if missing; default true. */
  provision?: boolean;
}): BusHolder {
  let bus: Bus | undefined;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  const retryMs = opts.retryMs ?? 2_000;
  const attempt = async (): Promise<void> => {
    if (closed) return;
    let b: Bus | undefined;
    try {
      b = await connectBus({ servers: opts.servers, name: opts.name, log: opts.log });
      if (opts.provision !== false) {
        await provision(b, { streams: [], consumers: [], kv: [kvBuckets.config, kvBuckets.load] });
      }
      if (closed) {
        await b.close();
        return;
      }
      bus = b;
      opts.log.info({ event: logEvents.natsConnected, server: b.server }, 'connected to NATS');
    } catch (err) {
      await b?.close().catch(() => undefined);
      opts.log.warn({ event: logEvents.natsConnectFailed, err }, 'NATS not reachable; retrying');
      timer = setTimeout(() => void attempt(), retryMs);
    }
  };
  void attempt();
  return {
    current: () => bus,
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      await bus?.close();
      bus = undefined;
    },
  };
}
