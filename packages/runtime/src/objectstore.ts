import { AsyncLocalStorage } from 'node:async_hooks';
import * as http from 'node:http';
import * as https from 'node:https';
import type { Readable } from 'node:stream';
import { Client, S3Error } from 'minio';

import {
  ObjectNotFoundError,
  ObjectStoreAuthError,
  ObjectStoreError,
  ObjectStoreTimeoutError,
  ObjectStoreUnavailableError,
} from './errors.js';

export interface ObjectStoreOptions {
  /** `http://host:port` or `https://host:port`. */
  readonly endpoint: string;
  readonly accessKey: string;
  readonly secretKey: string;
  /** Default `us-east-1`; set it so no request is spent looking the region up. */
  readonly region?: string;
  /**
   * Bodies up to this size go in one PUT; larger (or of unknown size) ones are sent
   * as multipart parts of this size, so memory per upload stays about one part.
   * Default (and minimum, set by S3) 5 MiB.
   */
  readonly partSizeBytes?: number;
}

/** A deadline for one call: an AbortSignal, a timeout, or both (whichever fires first). */
export interface CallOptions {
  readonly signal?: AbortSignal;
  readonly timeoutMs?: number;
}

export interface PutOptions extends CallOptions {
  /** Expected size; the upload fails (and leaves no object) if the body differs. */
  readonly size?: number;
  readonly contentType?: string;
  /** User metadata (`x-amz-meta-*`). */
  readonly metadata?: Readonly<Record<string, string>>;
}

export interface PutResult {
  readonly etag: string;
  readonly size: number;
}

export interface ObjectStat {
  readonly size: number;
  readonly etag: string;
  readonly lastModified: Date;
  readonly contentType: string | undefined;
  readonly metadata: Readonly<Record<string, string>>;
}

export interface GetBufferOptions extends CallOptions {
  /** Refuse an object (or range) larger than this. */
  readonly maxBytes?: number;
  /** Read only these bytes (an HTTP Range request); `length` 0 = to the end. */
  readonly range?: { readonly offset: number; readonly length: number };
}

export interface ObjectEntry {
  readonly key: string;
  readonly size: number;
}

export interface ObjectStore {
  readonly endpoint: string;
  /** Lists buckets: proves the endpoint is reachable and the credentials work. */
  check(opts?: CallOptions): Promise<void>;
  /** Creates the buckets that do not exist yet. */
  ensureBuckets(names: readonly string[], opts?: CallOptions): Promise<void>;
  /** Streams `body` to `bucket/key`; never holds more than about one part in memory. */
  put(bucket: string, key: string, body: Readable | Buffer, opts?: PutOptions): Promise<PutResult>;
  get(bucket: string, key: string, opts?: CallOptions): Promise<Readable>;
  /** Reads a whole object; refuses one larger than `maxBytes` when given. */
  getBuffer(bucket: string, key: string, opts?: GetBufferOptions): Promise<Buffer>;
  stat(bucket: string, key: string, opts?: CallOptions): Promise<ObjectStat>;
  exists(bucket: string, key: string, opts?: CallOptions): Promise<boolean>;
  list(bucket: string, prefix?: string): AsyncIterable<ObjectEntry>;
  /** Removes an object; removing a missing one succeeds (S3 semantics). */
  delete(bucket: string, key: string, opts?: CallOptions): Promise<void>;
  /** Closes idle keep-alive sockets. */
  close(): Promise<void>;
}

const MIB = 1024 * 1024;
const AUTH_CODES = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'AccessDenied',
  'InvalidToken',
  'ExpiredToken',
]);
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EPIPE',
  'SlowDown',
  'ServiceUnavailable',
  'InternalError',
  'XMinioServerNotInitialized',
]);

/** The signal of the call in progress, read by the HTTP transport below. */
const callSignal = new AsyncLocalStorage<AbortSignal>();

interface Deadline {
  readonly signal: AbortSignal | undefined;
  readonly reason: () => 'timeout' | 'aborted';
  clear(): void;
}

function deadlineOf(opts: CallOptions | undefined): Deadline {
  if (!opts || (opts.signal === undefined && opts.timeoutMs === undefined)) {
    return { signal: undefined, reason: () => 'aborted', clear: () => undefined };
  }
  const ac = new AbortController();
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  const onAbort = (): void => ac.abort(opts.signal?.reason);
  if (opts.signal) {
    if (opts.signal.aborted) ac.abort(opts.signal.reason);
    else opts.signal.addEventListener('abort', onAbort, { once: true });
  }
  if (opts.timeoutMs !== undefined) {
    timer = setTimeout(() => {
      timedOut = true;
      ac.abort(new Error(`deadline of ${opts.timeoutMs} ms passed`));
    }, opts.timeoutMs);
  }
  return {
    signal: ac.signal,
    reason: () => (timedOut ? 'timeout' : 'aborted'),
    clear: () => {
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
    },
  };
}

function errCode(err: unknown): string {
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; cause?: unknown };
    if (typeof e.code === 'string' && e.code !== '') return e.code;
    if (e.cause) return errCode(e.cause);
  }
  return '';
}

function isAbort(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || errCode(err) === 'ABORT_ERR');
}

/**
 * Opens an S3 client (MinIO or any S3). No request is made until the first call;
 * use `check()` at start to fail fast on a wrong endpoint or credentials.
 */
export function connectObjectStore(opts: ObjectStoreOptions): ObjectStore {
  const url = new URL(opts.endpoint);
  const useSSL = url.protocol === 'https:';
  const endpoint = `${url.protocol}//${url.host}`;
  const partSize = Math.max(5 * MIB, opts.partSizeBytes ?? 5 * MIB);
  const agent = useSSL ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
  const base = useSSL ? https : http;
  // minio takes a `transport` module; this one adds the current call's AbortSignal
  // so a deadline cancels the HTTP request itself, not just the promise.
  const transport = {
    request(options: http.RequestOptions, cb?: (res: http.IncomingMessage) => void) {
      const signal = callSignal.getStore();
      return base.request(signal ? { ...options, signal } : options, cb);
    },
  } as unknown as typeof http;
  const client = new Client({
    endPoint: url.hostname,
    port: url.port ? Number(url.port) : useSSL ? 443 : 80,
    useSSL,
    accessKey: opts.accessKey,
    secretKey: opts.secretKey,
    region: opts.region ?? 'us-east-1',
    pathStyle: true,
    partSize,
    transport,
    transportAgent: agent,
  });

  const mapError = (op: string, err: unknown, d: Deadline, bucket = '', key = ''): Error => {
    if (d.signal?.aborted && (isAbort(err) || err === d.signal.reason)) {
      return new ObjectStoreTimeoutError(endpoint, op, d.reason(), { cause: err });
    }
    const code = errCode(err);
    if (AUTH_CODES.has(code)) return new ObjectStoreAuthError(endpoint, code, { cause: err });
    if (code === 'NoSuchKey' || code === 'NotFound' || code === 'NoSuchBucket') {
      return new ObjectNotFoundError(bucket, key, { cause: err });
    }
    const detail = err instanceof Error ? err.message : String(err);
    if (UNAVAILABLE_CODES.has(code) || /Retryable HTTP status|Request failed after/.test(detail)) {
      return new ObjectStoreUnavailableError(
        endpoint,
        code === 'ECONNREFUSED' ? 'connection refused' : detail,
        {
          cause: err,
        },
      );
    }
    return new ObjectStoreError(
      endpoint,
      op,
      code || (err instanceof S3Error ? 'S3Error' : 'Error'),
      detail,
      {
        cause: err,
        retryable: false,
      },
    );
  };

  /** Runs `fn` under the call's deadline; the returned promise settles at the deadline at the latest. */
  async function call<R>(
    op: string,
    opts: CallOptions | undefined,
    fn: (d: Deadline) => Promise<R>,
    bucket?: string,
    key?: string,
  ): Promise<R> {
    const d = deadlineOf(opts);
    try {
      if (!d.signal) return await fn(d);
      const signal = d.signal;
      signal.throwIfAborted();
      return await callSignal.run(signal, () =>
        Promise.race([
          fn(d),
          new Promise<never>((_, reject) => {
            signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
          }),
        ]),
      );
    } catch (err) {
      throw mapError(op, err, d, bucket, key);
    } finally {
      d.clear();
    }
  }

  async function putStream(
    bucket: string,
    key: string,
    body: Readable,
    meta: Record<string, string>,
    d: Deadline,
  ): Promise<PutResult> {
    let size = 0;
    const chunks = body[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
    const abort = (): void => {
      body.destroy();
    };
    d.signal?.addEventListener('abort', abort, { once: true });
    try {
      // Read up to one part: a body that ends within it goes in a single PUT.
      const head: Buffer[] = [];
      let headBytes = 0;
      let ended = false;
      while (headBytes < partSize) {
        const r = await chunks.next();
        if (r.done) {
          ended = true;
          break;
        }
        const buf = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
        head.push(buf);
        headBytes += buf.length;
      }
      if (ended) {
        const buf = Buffer.concat(head);
        size = buf.length;
        const info = await client.putObject(bucket, key, buf, buf.length, meta);
        return { etag: info.etag, size };
      }
      // Unknown size: a multipart upload driven part by part, so at most one
      // part is held in memory and the source is read only as fast as S3 takes
      // it. (minio's own stream path buffers up to 16 parts ahead of the upload.)
      const headers = amzHeaders(meta);
      const uploadId = await client.initiateNewMultipartUpload(bucket, key, headers);
      try {
        const etags: { part: number; etag: string }[] = [];
        let part: Buffer[] = head;
        let partBytes = headBytes;
        size = 0;
        for (;;) {
          if (partBytes >= partSize || (part.length > 0 && ended)) {
            const payload = Buffer.concat(part);
            part = [];
            partBytes = 0;
            const partNumber = etags.length + 1;
            const r = await client.uploadPart(
              { bucketName: bucket, objectName: key, uploadID: uploadId, partNumber, headers: {} },
              payload,
            );
            etags.push({ part: partNumber, etag: r.etag });
            size += payload.length;
          }
          if (ended) break;
          const r = await chunks.next();
          if (r.done) {
            ended = true;
            continue;
          }
          const buf = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
          part.push(buf);
          partBytes += buf.length;
        }
        d.signal?.throwIfAborted();
        const info = await client.completeMultipartUpload(bucket, key, uploadId, etags);
        return { etag: info.etag, size };
      } catch (err) {
        await client.abortMultipartUpload(bucket, key, uploadId).catch(() => undefined);
        throw err;
      }
    } finally {
      d.signal?.removeEventListener('abort', abort);
    }
  }

  const store: ObjectStore = {
    endpoint,

    check: (o) =>
      call('check', o, async () => {
        await client.listBuckets();
      }),

    ensureBuckets: (names, o) =>
      call('ensureBuckets', o, async () => {
        for (const name of names) {
          try {
            await client.makeBucket(name, opts.region ?? 'us-east-1');
          } catch (err) {
            const code = errCode(err);
            if (code !== 'BucketAlreadyOwnedByYou' && code !== 'BucketAlreadyExists') throw err;
          }
        }
      }),

    put: (bucket, key, body, o = {}) =>
      call(
        'put',
        o,
        async (d) => {
          const meta: Record<string, string> = { ...(o.metadata ?? {}) };
          if (o.contentType) meta['Content-Type'] = o.contentType;
          let result: PutResult;
          if (Buffer.isBuffer(body)) {
            const info = await client.putObject(bucket, key, body, body.length, meta);
            result = { etag: info.etag, size: body.length };
          } else {
            result = await putStream(bucket, key, body, meta, d);
          }
          if (o.size !== undefined && o.size !== result.size) {
            await client.removeObject(bucket, key).catch(() => undefined);
            throw new ObjectStoreError(
              endpoint,
              'put',
              'SizeMismatch',
              `${bucket}/${key}: expected ${o.size} bytes, body had ${result.size}; object removed`,
            );
          }
          return result;
        },
        bucket,
        key,
      ).catch((err: unknown) => {
        if (!Buffer.isBuffer(body) && !body.destroyed) body.destroy();
        throw err;
      }),

    get: (bucket, key, o) => call('get', o, () => client.getObject(bucket, key), bucket, key),

    getBuffer: (bucket, key, o = {}) =>
      call(
        'getBuffer',
        o,
        async () => {
          const range = o.range;
          const stream =
            range && (range.offset > 0 || range.length > 0)
              ? await client.getPartialObject(bucket, key, range.offset, range.length || undefined)
              : await client.getObject(bucket, key);
          const parts: Buffer[] = [];
          let n = 0;
          for await (const chunk of stream as AsyncIterable<Buffer>) {
            n += chunk.length;
            if (o.maxBytes !== undefined && n > o.maxBytes) {
              stream.destroy();
              throw new ObjectStoreError(
                endpoint,
                'getBuffer',
                'TooLarge',
                `${bucket}/${key} is larger than ${o.maxBytes} bytes`,
              );
            }
            parts.push(chunk);
          }
          return Buffer.concat(parts, n);
        },
        bucket,
        key,
      ),

    stat: (bucket, key, o) =>
      call(
        'stat',
        o,
        async () => {
          const s = await client.statObject(bucket, key);
          const meta: Record<string, string> = {};
          let contentType: string | undefined;
          for (const [k, v] of Object.entries(s.metaData)) {
            if (k.toLowerCase() === 'content-type') contentType = String(v);
            else meta[k.toLowerCase()] = String(v);
          }
          return {
            size: s.size,
            etag: s.etag,
            lastModified: s.lastModified,
            contentType,
            metadata: meta,
          };
        },
        bucket,
        key,
      ),

    exists: async (bucket, key, o) => {
      try {
        await store.stat(bucket, key, o);
        return true;
      } catch (err) {
        if (err instanceof ObjectNotFoundError) return false;
        throw err;
      }
    },

    list: (bucket, prefix = '') => ({
      async *[Symbol.asyncIterator]() {
        const d = deadlineOf(undefined);
        try {
          const stream = client.listObjectsV2(bucket, prefix, true);
          for await (const item of stream as AsyncIterable<{ name?: string; size: number }>) {
            if (item.name !== undefined) yield { key: item.name, size: item.size };
          }
        } catch (err) {
          throw mapError('list', err, d, bucket, prefix);
        }
      },
    }),

    delete: (bucket, key, o) =>
      call('delete', o, () => client.removeObject(bucket, key), bucket, key),

    close: () => {
      agent.destroy();
      return Promise.resolve();
    },
  };
  return store;
}

/** Request headers for user metadata, as putObject would send them. */
function amzHeaders(meta: Record<string, string>): Record<string, string> {
  const standard = new Set([
    'content-type',
    'cache-control',
    'content-disposition',
    'content-encoding',
    'content-language',
    'expires',
  ]);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(meta)) {
    const lower = k.toLowerCase();
    out[standard.has(lower) || lower.startsWith('x-amz-') ? k : `x-amz-meta-${k}`] = v;
  }
  return out;
}
