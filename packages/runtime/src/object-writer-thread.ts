/**
 * The worker thread behind objectWriterThread (object-writer.ts): one S3 client,
 * calls in, results out. Each call keeps its own AbortController so the caller's
 * signal can reach it.
 */
import { parentPort, workerData } from 'node:worker_threads';

import { serializeError, type WriterReply, type WriterRequest } from './object-writer.js';
import { connectObjectStore, type ObjectStoreOptions } from './objectstore.js';

const port = parentPort;
if (!port) throw new Error('object-writer-thread.js runs only as a worker thread');

const store = connectObjectStore(workerData as ObjectStoreOptions);
const inFlight = new Map<number, AbortController>();

function reply(message: WriterReply): void {
  port!.postMessage(message);
}

async function run(req: Extract<WriterRequest, { op: 'put' | 'delete' }>): Promise<void> {
  const ac = new AbortController();
  inFlight.set(req.id, ac);
  const call = {
    signal: ac.signal,
    ...(req.timeoutMs !== undefined ? { timeoutMs: req.timeoutMs } : {}),
  };
  try {
    if (req.op === 'put') {
      const body = Buffer.from(req.body.buffer, req.body.byteOffset, req.body.byteLength);
      const result = await store.put(req.bucket, req.key, body, {
        ...call,
        ...(req.size !== undefined ? { size: req.size } : {}),
        ...(req.contentType !== undefined ? { contentType: req.contentType } : {}),
        ...(req.metadata !== undefined ? { metadata: req.metadata } : {}),
      });
      reply({ id: req.id, ok: true, result });
    } else {
      await store.delete(req.bucket, req.key, call);
      reply({ id: req.id, ok: true });
    }
  } catch (err) {
    reply({ id: req.id, ok: false, error: serializeError(err) });
  } finally {
    inFlight.delete(req.id);
  }
}

port.on('message', (req: WriterRequest) => {
  switch (req.op) {
    case 'put':
    case 'delete':
      void run(req);
      return;
    case 'abort':
      inFlight.get(req.id)?.abort();
      return;
    case 'close':
      for (const ac of inFlight.values()) ac.abort();
      void store.close().finally(() => reply({ id: req.id, ok: true }));
      return;
  }
});
