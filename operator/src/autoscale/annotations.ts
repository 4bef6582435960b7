/**
 * Autoscaling settings of a Deployment, from its annotations (the chart writes them):
 *
 *   mailmesh.io/autoscale-metric   sessions | sessions:<service> | consumer:<durable>
 *   mailmesh.io/autoscale-target   metric per replica (> 0)
 *   mailmesh.io/autoscale-min      default 1
 *   mailmesh.io/autoscale-max      required, >= min
 *   mailmesh.io/autoscale-window   scale-down stabilisation, seconds (default: operator's)
 *
 * `sessions` counts active sessions of the ingress load reports; `consumer:<durable>`
 * the JetStream consumer's pending + ack-pending messages.
 */
import { consumers, type ConsumerSpec, stages, type Stage } from '@mailmesh/proto';
import { AutoscaleConfigError } from '../errors.js';

export const autoscaleAnnotations = {
  metric: 'mailmesh.io/autoscale-metric',
  target: 'mailmesh.io/autoscale-target',
  min: 'mailmesh.io/autoscale-min',
  max: 'mailmesh.io/autoscale-max',
  window: 'mailmesh.io/autoscale-window',
} as const;

export type ScaleMetric =
  | { readonly kind: 'sessions'; readonly service: Stage }
  | { readonly kind: 'consumer'; readonly consumer: ConsumerSpec };

export interface AutoscaleSpec {
  readonly metric: ScaleMetric;
  readonly target: number;
  readonly min: number;
  readonly max: number;
  readonly windowMs?: number;
}

function int(
  annotations: Readonly<Record<string, string>>,
  key: string,
  fallback?: number,
): number {
  const raw = annotations[key];
  if (raw === undefined) {
    if (fallback !== undefined) return fallback;
    throw new AutoscaleConfigError(key, 'is required');
  }
  if (!/^(0|[1-9][0-9]{0,8})$/.test(raw.trim()))
    throw new AutoscaleConfigError(key, `must be a non-negative integer, got "${raw}"`);
  return Number(raw.trim());
}

export function parseMetric(raw: string): ScaleMetric {
  const [kind, arg] = raw.trim().split(':', 2) as [string, string | undefined];
  if (kind === 'sessions') {
    const service = arg ?? 'ingress';
    if (!(stages as readonly string[]).includes(service)) {
      throw new AutoscaleConfigError(autoscaleAnnotations.metric, `unknown service "${service}"`);
    }
    return { kind: 'sessions', service: service as Stage };
  }
  if (kind === 'consumer' && arg !== undefined) {
    const consumer = Object.values(consumers).find((c) => c.durable === arg);
    if (!consumer) {
      throw new AutoscaleConfigError(
        autoscaleAnnotations.metric,
        `unknown consumer "${arg}" (known: ${Object.values(consumers)
          .map((c) => c.durable)
          .join(', ')})`,
      );
    }
    return { kind: 'consumer', consumer };
  }
  throw new AutoscaleConfigError(
    autoscaleAnnotations.metric,
    `must be sessions, sessions:<service> or consumer:<durable>, got "${raw}"`,
  );
}

/** Undefined when the Deployment has no metric annotation (not autoscaled); throws AutoscaleConfigError when it is wrong. */
export function parseAutoscale(
  annotations: Readonly<Record<string, string>> | undefined,
): AutoscaleSpec | undefined {
  const a = annotations ?? {};
  const metricRaw = a[autoscaleAnnotations.metric];
  if (metricRaw === undefined) return undefined;
  const metric = parseMetric(metricRaw);
  const target = int(a, autoscaleAnnotations.target);
  if (target <= 0) throw new AutoscaleConfigError(autoscaleAnnotations.target, 'must be > 0');
  const min = int(a, autoscaleAnnotations.min, 1);
  const max = int(a, autoscaleAnnotations.max);
  if (max < min)
    throw new AutoscaleConfigError(autoscaleAnnotations.max, `must be >= min (${min}), got ${max}`);
  const window = a[autoscaleAnnotations.window];
  return {
    metric,
    target,
    min,
    max,
    ...(window !== undefined ? { windowMs: int(a, autoscaleAnnotations.window) * 1000 } : {}),
  };
}
