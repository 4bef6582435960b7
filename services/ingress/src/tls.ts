/**
 * Certificate and key from files (a Kubernetes Secret mount), re-read when they
 * change. Polling rather than fs.watch: a Secret update swaps a symlinked
 * directory, which inotify on the file itself does not see. A pair that does not
 * load (half-written, mismatched) is refused and the previous pair stays live.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { Logger } from '@mailmesh/runtime';

export interface KeyPair {
  readonly key: Buffer;
  readonly cert: Buffer;
  readonly context: SecureContext;
  /** SHA-256 of cert + key, to tell a change. */
  readonly digest: string;
}

export class TlsFilesError extends Error {
  override readonly name = 'TlsFilesError';
  constructor(
    readonly certFile: string,
    readonly keyFile: string,
    options?: ErrorOptions,
  ) {
    const why = options?.cause instanceof Error ? options.cause.message : String(options?.cause);
    super(`cannot load TLS certificate ${certFile} with key ${keyFile}: ${why}`, options);
  }
}

export const MIN_TLS_VERSION = 'TLSv1.2';

export async function loadKeyPair(certFile: string, keyFile: string): Promise<KeyPair> {
  try {
    const [cert, key] = await Promise.all([readFile(certFile), readFile(keyFile)]);
    const context = createSecureContext({ cert, key, minVersion: MIN_TLS_VERSION });
    const digest = createHash('sha256').update(cert).update(key).digest('hex');
    return { key, cert, context, digest };
  } catch (err) {
    throw new TlsFilesError(certFile, keyFile, { cause: err });
  }
}

export interface TlsWatcher {
  current(): KeyPair;
  stop(): void;
}

export async function watchKeyPair(
  certFile: string,
  keyFile: string,
  onChange: (pair: KeyPair) => void,
  log: Logger,
  intervalMs = 2_000,
): Promise<TlsWatcher> {
  let pair = await loadKeyPair(certFile, keyFile);
  let lastError = '';
  const timer = setInterval(() => {
    loadKeyPair(certFile, keyFile).then(
      (next) => {
        lastError = '';
        if (next.digest === pair.digest) return;
        pair = next;
        log.info({ event: 'ingress.tls_reloaded', certFile }, 'TLS certificate reloaded');
        onChange(next);
      },
      (err: unknown) => {
        const msg = err instanceof Error ? err.message : String(err);
        if (msg !== lastError)
          log.warn(
            { event: 'ingress.tls_reload_failed', err },
            'keeping the previous TLS certificate',
          );
        lastError = msg;
      },
    );
  }, intervalMs);
  timer.unref();
  return { current: () => pair, stop: () => clearInterval(timer) };
}
