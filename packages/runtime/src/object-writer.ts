/**
 * An S3 writer of whole buffers that runs in a worker thread. A PUT through
 * minio-js costs its caller ~1.5 ms of CPU for a small body (request signing,
 * the HTTP client, response parsing; about half is the kernel's share of the
 * loopback write; --cpu-prof in the ingress). On an event loop that also serves
 * SMTP sessions, that is CPU the sessions wait for. Here the calling thread only
 * copies the body into a message (a few µs for a small mail) and the thread does
 * the rest with its own client, on another core when one is free.
 *
 * Semantics are those of `ObjectStore.put` / `delete` with a Buffer body: the
 * promise resolves once S3 has stored (or removed) the object, deadlines and
 * abort signals apply, and failures are the same error classes. If the thread
 * dies, every call in flight fails with ObjectStoreUnavailableError (an S3 PUT
 * is atomic: a failed one leaves no object) and the next call starts a new one.
 */
import { Worker } from 'node:worker_threads';

import {
  ObjectNotFoundError,
  ObjectStoreAuthError,
  ObjectStoreError,
  ObjectStoreTimeoutError,
  ObjectStoreUnavailableError,
} from './errors.js';
import type { CallOptions, ObjectStoreOptions, PutOptions, PutResult } from './objectstore.js';

/** The part of ObjectStore a writer of whole buffers needs; ObjectStore has it too. */
export interface ObjectWriter {
  put(bucket: string, key: string, body: Buffer, opts?: PutOptions): Promise<PutResult>;
  delete(bucket: string, key: string, opts?: CallOptions): Promise<void>;
}

export interface ThreadedObjectWriter extends ObjectWriter {
  /** Fails what is in flight, closes the thread's keep-alive sockets and ends it. */
  close(): Promise<void>;
}

export interface ObjectWriterThreadOptions {
  /** Told when the thread fails or exits unexpectedly (it is restarted on the next call). */
  readonly onThreadError?: (err: Error) => void;
  /** Told of every thread started: the first at once, a replacement after one died. */
  readonly onThreadStarted?: (worker: Worker) => void;
}

/** What the calling thread sends. */
export type WriterRequest =
  | {
      readonly id: number;
      readonly op: 'put';
      readonly bucket: string;
      readonly key: string;
      readonly body: Uint8Array;
      readonly timeoutMs?: number;
      readonly size?: number;
      readonly contentType?: string;
      readonly metadata?: Readonly<Record<string, string>>;
    }
  | {
      readonly id: number;
      readonly op: 'delete';
      readonly bucket: string;
      readonly key: string;
      readonly timeoutMs?: number;
    }
  | { readonly id: number; readonly op: 'abort' }
  | { readonly id: number; readonly op: 'close' };

/** What the thread answers. */
export type WriterReply =
  | { readonly id: number; readonly ok: true; readonly result?: PutResult }
  | { readonly id: number; readonly ok: false; readonly error: SerializedError };

/** An error as it crosses threads: its class name and the fields that rebuild it. */
export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly endpoint?: string;
  readonly operation?: string;
  readonly reason?: string;
  readonly code?: string;
  readonly bucket?: string;
  readonly key?: string;
  readonly retryable?: boolean;
}

export function serializeError(err: unknown): SerializedError {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err) };
  const e = err as Error & Record<string, unknown>;
  const text = (k: string): Record<string, string> =>
    typeof e[k] === 'string' ? { [k]: e[k] } : {};
  return {
    name: e.name,
    message: e.message,
    ...text('endpoint'),
    ...text('operation'),
    ...text('reason'),
    ...text('code'),
    ...text('bucket'),
    ...text('key'),
    ...(typeof e['retryable'] === 'boolean' ? { retryable: e['retryable'] } : {}),
  };
}

/** The runtime error class the thread raised, rebuilt; anything else as a plain Error. */
export function rebuildError(s: SerializedError, endpoint: string): Error {
  const at = s.endpoint ?? endpoint;
  switch (s.name) {
    case 'ObjectStoreTimeoutError':
      return new ObjectStoreTimeoutError(
        at,
        s.operation ?? 'put',
        s.reason === 'aborted' ? 'aborted' : 'timeout',
      );
    case 'ObjectStoreUnavailableError':
      return new ObjectStoreUnavailableError(at, s.reason ?? s.message);
    case 'ObjectStoreAuthError':
      return new ObjectStoreAuthError(at, s.code ?? 'AccessDenied');
    case 'ObjectNotFoundError':
      return new ObjectNotFoundError(s.bucket ?? '', s.key ?? '');
    case 'ObjectStoreError': {
      // Its message is already the whole sentence; keep it rather than re-wrapping.
      const e = new ObjectStoreError(at, s.operation ?? 'put', s.code ?? 'Unknown', '', {
        retryable: s.retryable ?? false,
      });
      e.message = s.message;
      return e;
    }
    default: {
      const e = new Error(s.message);
      e.name = s.name;
      return e;
    }
  }
}

interface Pending {
  resolve(result: PutResult | undefined): void;
  reject(err: Error): void;
}

/**
 * Where the thread's module is. This module runs from dist/ in services; under
 * vitest it runs from src/*.ts, and a worker thread can only load the compiled file.
 */
function workerUrl(): URL {
  return import.meta.url.endsWith('.ts')
    ? new URL('../dist/object-writer-thread.js', import.meta.url)
    : new URL('./object-writer-thread.js', import.meta.url);
}

/**
 * Starts the thread at once (its client loads in the background) and returns the
 * writer. `opts` are the same connection options as connectObjectStore's.
 */
export function objectWriterThread(
  store: ObjectStoreOptions,
  opts: ObjectWriterThreadOptions = {},
): ThreadedObjectWriter {
  const endpoint = new URL(store.endpoint).origin;
  const pending = new Map<number, Pending>();
  let nextId = 1;
  let worker: Worker | undefined;
  let closed = false;

  const failAll = (why: string): void => {
    const err = new ObjectStoreUnavailableError(endpoint, why);
    const calls = [...pending.values()];
    pending.clear();
    for (const p of calls) p.reject(err);
  };

  const spawn = (): Worker => {
    const w = new Worker(workerUrl(), { workerData: store, name: 'mailmesh-object-writer' });
    w.on('message', (reply: WriterReply) => {
      const p = pending.get(reply.id);
      if (!p) return;
      pending.delete(reply.id);
      if (reply.ok) p.resolve(reply.result);
      else p.reject(rebuildError(reply.error, endpoint));
    });
    w.on('error', (err) => {
      opts.onThreadError?.(err);
    });
    w.on('exit', (code) => {
      if (worker === w) worker = undefined;
      if (closed) return;
      opts.onThreadError?.(new Error(`object writer thread exited with code ${code}`));
      failAll(`object writer thread exited (code ${code})`);
    });
    opts.onThreadStarted?.(w);
    return w;
  };
  worker = spawn();

  const call = (
    request: WriterRequest,
    signal: AbortSignal | undefined,
    transfer: ArrayBuffer[] = [],
  ): Promise<PutResult | undefined> => {
    if (closed) return Promise.reject(new ObjectStoreUnavailableError(endpoint, 'writer closed'));
    if (signal?.aborted) {
      return Promise.reject(new ObjectStoreTimeoutError(endpoint, request.op, 'aborted'));
    }
    worker ??= spawn();
    const w = worker;
    return new Promise((resolve, reject) => {
      const onAbort = (): void => w.postMessage({ id: request.id, op: 'abort' });
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = (): void => signal?.removeEventListener('abort', onAbort);
      pending.set(request.id, {
        resolve: (r) => {
          done();
          resolve(r);
        },
        reject: (e) => {
          done();
          reject(e);
        },
      });
      try {
        w.postMessage(request, transfer);
      } catch (err) {
        pending.delete(request.id);
        done();
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  };

  return {
    put: async (bucket, key, body, o = {}) => {
      // A copy the thread owns: the caller may keep using `body` (an inline copy,
      // a pooled buffer), and a view's whole underlying buffer must not be cloned.
      const copy = new Uint8Array(body.length);
      copy.set(body);
      const result = await call(
        {
          id: nextId++,
          op: 'put',
          bucket,
          key,
          body: copy,
          ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
          ...(o.size !== undefined ? { size: o.size } : {}),
          ...(o.contentType !== undefined ? { contentType: o.contentType } : {}),
          ...(o.metadata !== undefined ? { metadata: o.metadata } : {}),
        },
        o.signal,
        [copy.buffer],
      );
      if (!result) {
        throw new ObjectStoreError(
          endpoint,
          'put',
          'NoResult',
          `${bucket}/${key}: the writer thread answered without the stored object's etag`,
        );
      }
      return result;
    },
    delete: async (bucket, key, o = {}) => {
      await call(
        {
          id: nextId++,
          op: 'delete',
          bucket,
          key,
          ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
        },
        o.signal,
      );
    },
    close: async () => {
      if (closed) return;
      const w = worker;
      if (w) {
        // Its keep-alive sockets are closed before it ends; a wedged thread is ended anyway.
        const id = nextId++;
        const ended = new Promise<void>((resolve) => {
          pending.set(id, { resolve: () => resolve(), reject: () => resolve() });
          w.postMessage({ id, op: 'close' } satisfies WriterRequest);
        });
        await Promise.race([ended, new Promise((r) => setTimeout(r, 2_000).unref())]);
      }
      closed = true;
      failAll('writer closed');
      await w?.terminate();
    },
  };
}
