/** The operator's Prometheus metrics. */
import { Counter, Gauge, type Registry } from '@mailmesh/runtime';

export interface OperatorMetrics {
  readonly reconciles: Counter<'kind' | 'result'>;
  readonly configWrites: Counter<'kind'>;
  readonly leader: Gauge;
  readonly scaleDecisions: Counter<'namespace' | 'deployment' | 'reason'>;
  readonly desiredReplicas: Gauge<'namespace' | 'deployment'>;
  readonly scaleMetric: Gauge<'namespace' | 'deployment'>;
}

export function operatorMetrics(registry: Registry): OperatorMetrics {
  return {
    reconciles: new Counter({
      name: 'mailmesh_operator_reconciles_total',
      help: 'Reconciles by kind and result (ok, refused, error)',
      labelNames: ['kind', 'result'] as const,
      registers: [registry],
    }),
    configWrites: new Counter({
      name: 'mailmesh_operator_config_writes_total',
      help: 'Writes and deletes of mailmesh-config keys',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    leader: new Gauge({
      name: 'mailmesh_operator_leader',
      help: '1 while this instance holds the leader lease',
      registers: [registry],
    }),
    scaleDecisions: new Counter({
      name: 'mailmesh_operator_scale_decisions_total',
      help: 'Autoscaler decisions by reason (ScaleUp, ScaleDown, Stabilizing, WithinTolerance, ...)',
      labelNames: ['namespace', 'deployment', 'reason'] as const,
      registers: [registry],
    }),
    desiredReplicas: new Gauge({
      name: 'mailmesh_operator_desired_replicas',
      help: 'Replicas the autoscaler last decided on',
      labelNames: ['namespace', 'deployment'] as const,
      registers: [registry],
    }),
    scaleMetric: new Gauge({
      name: 'mailmesh_operator_scale_metric',
      help: 'The metric the autoscaler last read (sessions or pending messages, summed)',
      labelNames: ['namespace', 'deployment'] as const,
      registers: [registry],
    }),
  };
}
