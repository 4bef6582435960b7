/** Connecting to the NATS of `--nats` / `$MAILMESH_NATS_URL` / `.mailmesh/dev.json` for a command. */
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { kvBuckets } from '@mailmesh/proto';
import { openQueueStore, type QueueStore } from '@mailmesh/queue';
import {
  connectBus,
  JetStreamUnavailableError,
  NatsAuthError,
  NatsUnavailableError,
  type Bus,
} from '@mailmesh/runtime';

import { BusUnavailableError } from '../errors.js';
import { resolveNatsUrl } from './nats-url.js';

/** Connects (5 s timeout) or throws `BusUnavailableError` naming the server. */
export async function connectCli(flag: string | undefined, name: string): Promise<Bus> {
  const { url } = resolveNatsUrl(flag);
  try {
    return await connectBus({ servers: url, name, timeoutMs: 5_000 });
  } catch (err) {
    if (
      err instanceof NatsUnavailableError ||
      err instanceof NatsAuthError ||
      err instanceof JetStreamUnavailableError
    ) {
      throw new BusUnavailableError(url, err.message, { cause: err });
    }
    throw err;
  }
}

/** Runs `fn` with a connected bus and closes it afterwards. */
export async function withBus<T>(
  flag: string | undefined,
  name: string,
  fn: (bus: Bus) => Promise<T>,
): Promise<T> {
  const bus = await connectCli(flag, name);
  try {
    return await fn(bus);
  } finally {
    await bus.close();
  }
}

/** True when stream `name` exists; false on "stream not found"; other failures propagate. */
export async function streamExists(bus: Bus, name: string): Promise<boolean> {
  try {
    await bus.jsm.streams.info(name);
    return true;
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)
      return false;
    throw err;
  }
}

/** The queue store, or undefined when the `mailmesh-queue` bucket was never provisioned. */
export async function queueStoreIfAny(bus: Bus): Promise<QueueStore | undefined> {
  if (!(await streamExists(bus, `KV_${kvBuckets.queue.bucket}`))) return undefined;
  return openQueueStore(bus);
}
