/**
 * The autoscaler loop: every `intervalMs`, for each Deployment matching the label
 * selector with a `mailmesh.io/autoscale-metric` annotation, read its scale
 * subresource and metric, decide (decide.ts), and apply a change through the scale
 * subresource. Every decision is counted in metrics; every change is an Event.
 */
import type { V1Deployment } from '@kubernetes/client-node';
import type { Logger } from '@mailmesh/runtime';
import { AutoscaleConfigError } from '../errors.js';
import { type EventRecorder, logEvents } from '../events.js';
import { type KubeClients, mergePatch } from '../kube.js';
import type { OperatorMetrics } from '../metrics.js';
import { eventReasons } from '../reasons.js';
import { parseAutoscale } from './annotations.js';
import { decideScale, type Recommendation, type ScalePolicy } from './decide.js';
import type { MetricSource } from './source.js';

export interface AutoscalerOptions {
  readonly kube: KubeClients;
  /** Undefined: all namespaces. */
  readonly namespace?: string;
  /** Default `app.kubernetes.io/part-of=mailmesh`. */
  readonly labelSelector?: string;
  /** Default 15 s. */
  readonly intervalMs?: number;
  readonly policy?: ScalePolicy;
  readonly metrics: MetricSource;
  readonly events: EventRecorder;
  readonly registry: OperatorMetrics;
  readonly log: Logger;
  readonly now?: () => number;
}

export interface Autoscaler {
  /** One pass over the Deployments (the loop calls it; tests may too). */
  tick(): Promise<void>;
  stop(): Promise<void>;
}

interface State {
  history: readonly Recommendation[];
  /** Last annotation problem reported, so it is reported once per change. */
  problem?: string;
}

export function startAutoscaler(opts: AutoscalerOptions): Autoscaler {
  const selector = opts.labelSelector ?? 'app.kubernetes.io/part-of=mailmesh';
  const intervalMs = opts.intervalMs ?? 15_000;
  const now = opts.now ?? Date.now;
  const { kube, log } = opts;
  const state = new Map<string, State>();
  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;

  const involved = (d: V1Deployment) => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    name: d.metadata?.name ?? '',
    namespace: d.metadata?.namespace ?? '',
    ...(d.metadata?.uid !== undefined ? { uid: d.metadata.uid } : {}),
  });

  async function one(d: V1Deployment): Promise<void> {
    const name = d.metadata?.name ?? '';
    const namespace = d.metadata?.namespace ?? '';
    const key = `${namespace}/${name}`;
    const st = state.get(key) ?? { history: [] };
    state.set(key, st);
    let spec;
    try {
      spec = parseAutoscale(d.metadata?.annotations);
    } catch (err) {
      if (!(err instanceof AutoscaleConfigError)) throw err;
      if (st.problem !== err.message) {
        st.problem = err.message;
        log.warn(
          { event: logEvents.scaleError, deployment: key, err },
          'invalid autoscale annotations',
        );
        await opts.events.record(
          involved(d),
          'Warning',
          eventReasons.invalidAutoscaleAnnotations,
          err.message,
        );
      }
      return;
    }
    if (spec === undefined) return;
    delete st.problem;
    const scale = await kube.apps.readNamespacedDeploymentScale({ name, namespace });
    const current = scale.spec?.replicas ?? 0;
    const metric = await opts.metrics.read(spec.metric);
    const decision = decideScale(
      {
        current,
        metric,
        target: spec.target,
        min: spec.min,
        max: spec.max,
        now: now(),
        history: st.history,
      },
      {
        ...opts.policy,
        ...(spec.windowMs !== undefined ? { scaleDownStabilizationMs: spec.windowMs } : {}),
      },
    );
    st.history = decision.history;
    const labels = { namespace, deployment: name };
    opts.registry.scaleDecisions.inc({ ...labels, reason: decision.reason });
    opts.registry.desiredReplicas.set(labels, decision.desired);
    opts.registry.scaleMetric.set(labels, metric);
    const metricName =
      spec.metric.kind === 'consumer'
        ? `consumer:${spec.metric.consumer.durable}`
        : `sessions:${spec.metric.service}`;
    log.debug(
      {
        event: logEvents.scaleDecision,
        deployment: key,
        current,
        metric,
        ...decision,
        history: undefined,
      },
      'autoscale decision',
    );
    if (decision.desired === current) return;
    await kube.apps.patchNamespacedDeploymentScale(
      { name, namespace, body: { spec: { replicas: decision.desired } } },
      mergePatch,
    );
    const up = decision.desired > current;
    const message = `replicas ${current} -> ${decision.desired}: ${metricName} = ${metric} (target ${spec.target} per replica, bounds ${spec.min}..${spec.max}, ${decision.reason})`;
    log.info(
      {
        event: logEvents.scaleDecision,
        deployment: key,
        current,
        desired: decision.desired,
        metric,
        reason: decision.reason,
      },
      message,
    );
    await opts.events.record(
      involved(d),
      'Normal',
      up ? eventReasons.scaledUp : eventReasons.scaledDown,
      message,
    );
  }

  async function tick(): Promise<void> {
    const list = opts.namespace
      ? await kube.apps.listNamespacedDeployment({
          namespace: opts.namespace,
          labelSelector: selector,
        })
      : await kube.apps.listDeploymentForAllNamespaces({ labelSelector: selector });
    const seen = new Set<string>();
    for (const d of list.items) {
      seen.add(`${d.metadata?.namespace ?? ''}/${d.metadata?.name ?? ''}`);
      try {
        await one(d);
      } catch (err) {
        log.warn(
          {
            event: logEvents.scaleError,
            deployment: `${d.metadata?.namespace}/${d.metadata?.name}`,
            err,
          },
          'autoscale failed',
        );
      }
    }
    for (const k of state.keys()) if (!seen.has(k)) state.delete(k);
  }

  const schedule = (): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = tick()
        .catch((err: unknown) =>
          log.warn({ event: logEvents.scaleError, err }, 'autoscale pass failed'),
        )
        .finally(schedule);
    }, intervalMs);
  };
  schedule();

  return {
    tick,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
