/**
 * @mailmesh/operator: MailDomain / MailPolicy reconcilers and the autoscaler. The
 * process entry is main.ts (`mailmesh-operator`); this module exports the pieces for
 * embedding and tests.
 */
export { startOperator, type Operator, type OperatorOptions } from './operator.js';
export {
  decideScale,
  type Recommendation,
  type ScaleDecision,
  type ScaleInput,
  type ScalePolicy,
  type ScaleReason,
} from './autoscale/decide.js';
export {
  autoscaleAnnotations,
  parseAutoscale,
  parseMetric,
  type AutoscaleSpec,
  type ScaleMetric,
} from './autoscale/annotations.js';
export {
  startAutoscaler,
  type Autoscaler,
  type AutoscalerOptions,
} from './autoscale/controller.js';
export { busMetricSource, type MetricSource } from './autoscale/source.js';
export { WorkQueue, type WorkQueueOptions } from './queue.js';
export { startLeaderElection, type LeaderElector, type LeaderElectionOptions } from './leader.js';
export { mergeConditions, type ConditionInput } from './conditions.js';
export { conditionTypes, configFinalizer, eventReasons, reasons } from './reasons.js';
export { dkimSecretName, DKIM_KEY } from './dkim.js';
export { buildDnsEndpoint, dnsEndpointName } from './dnsendpoint.js';
export { kubeClients, loadKubeConfig, type KubeClients } from './kube.js';
export * from './errors.js';
