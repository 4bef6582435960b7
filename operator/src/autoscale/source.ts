/**
 * Reads autoscaling metrics: active sessions summed over a service's load reports in
 * the `mailmesh-load` bucket (LoadReport protobuf under `loadKey(service, instance)`),
 * or a JetStream consumer's pending + ack-pending messages.
 */
import { fromBinary } from '@bufbuild/protobuf';
import { timestampMs } from '@bufbuild/protobuf/wkt';
import { kvBuckets, LoadReportSchema } from '@mailmesh/proto';
import type { Bus } from '@mailmesh/runtime';
import { NatsUnavailableError } from '../errors.js';
import type { ScaleMetric } from './annotations.js';

export interface MetricSource {
  read(metric: ScaleMetric): Promise<number>;
}

export interface BusMetricSourceOptions {
  /** Reports older than this are ignored (the bucket's TTL also expires them); default 30 s. */
  readonly staleMs?: number;
  readonly now?: () => number;
}

export function busMetricSource(
  getBus: () => Bus | undefined,
  opts: BusMetricSourceOptions = {},
): MetricSource {
  const staleMs = opts.staleMs ?? kvBuckets.load.ttlMs;
  const now = opts.now ?? Date.now;
  return {
    async read(metric) {
      const bus = getBus();
      if (bus === undefined)
        throw new NatsUnavailableError('read metric', { cause: new Error('not connected') });
      try {
        if (metric.kind === 'consumer') {
          const info = await bus.jsm.consumers.info(
            metric.consumer.stream,
            metric.consumer.durable,
          );
          return info.num_pending + info.num_ack_pending;
        }
        const kv = await bus.kv(kvBuckets.load);
        let total = 0;
        const t = now();
        for await (const key of await kv.keys(`${metric.service}.>`)) {
          const e = await kv.get(key);
          if (!e || e.operation !== 'PUT' || e.value.length === 0) continue;
          let report;
          try {
            report = fromBinary(LoadReportSchema, e.value);
          } catch {
            continue; // a malformed report counts as none
          }
          if (report.at !== undefined && t - timestampMs(report.at) > staleMs) continue;
          total += report.activeSessions;
        }
        return total;
      } catch (err) {
        throw new NatsUnavailableError(`read metric ${metric.kind}`, { cause: err });
      }
    },
  };
}
