import { create, toBinary } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { kvBuckets, loadKey, LoadReportSchema } from '@mailmesh/proto';
import type { Bus, Logger } from '@mailmesh/runtime';

/** The LoadReport bytes for one instance. Pure. */
export function loadReport(instance: string, activeSessions: number, atMs: number): Uint8Array {
  return toBinary(
    LoadReportSchema,
    create(LoadReportSchema, {
      service: 'ingress',
      instance,
      activeSessions,
      at: timestampFromMs(atMs),
    }),
  );
}

export interface LoadReporter {
  /** Writes one report now. */
  report(): Promise<void>;
  stop(): void;
}

/**
 * Writes `mailmesh-load` key `ingress.<instance>` every `intervalMs` (the bucket's
 * TTL removes the key of an instance that died). Failures are logged, never thrown.
 */
export function startLoadReporter(
  bus: Bus,
  log: Logger,
  instance: string,
  active: () => number,
  intervalMs: number,
  clock: () => number = Date.now,
): LoadReporter {
  const key = loadKey('ingress', instance);
  const report = async (): Promise<void> => {
    try {
      const kv = await bus.kv(kvBuckets.load);
      await kv.put(key, loadReport(instance, active(), clock()));
    } catch (err) {
      log.warn({ event: 'ingress.load_report_failed', err }, 'could not write load report');
    }
  };
  const timer = setInterval(() => void report(), intervalMs);
  timer.unref();
  void report();
  return { report, stop: () => clearInterval(timer) };
}
