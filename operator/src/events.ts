/**
 * Log event names (one catalog, STYLE.md) and the Kubernetes Event recorder.
 */
import { randomBytes } from 'node:crypto';
import type { CoreV1Api } from '@kubernetes/client-node';
import type { Logger } from '@mailmesh/runtime';

export const logEvents = {
  reconcileStart: 'reconcile.start',
  reconcileDone: 'reconcile.done',
  reconcileRefused: 'reconcile.refused',
  reconcileError: 'reconcile.error',
  configPublished: 'config.published',
  configRemoved: 'config.removed',
  dkimGenerated: 'dkim.generated',
  deleteDataRequested: 'maildomain.delete_data_requested',
  informerError: 'informer.error',
  scaleDecision: 'autoscale.decision',
  scaleError: 'autoscale.error',
  natsConnected: 'nats.connected',
  natsConnectFailed: 'nats.connect_failed',
} as const;

export interface InvolvedObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly namespace: string;
  readonly uid?: string;
}

export interface EventRecorder {
  record(
    obj: InvolvedObject,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<void>;
}

/** Writes core/v1 Events; a failure is logged, never thrown (an Event is a side note). */
export function kubeEventRecorder(core: CoreV1Api, component: string, log: Logger): EventRecorder {
  return {
    async record(obj, type, reason, message) {
      const now = new Date();
      try {
        await core.createNamespacedEvent({
          namespace: obj.namespace,
          body: {
            metadata: {
              name: `${obj.name}.${now.getTime().toString(16)}${randomBytes(3).toString('hex')}`,
              namespace: obj.namespace,
            },
            involvedObject: {
              apiVersion: obj.apiVersion,
              kind: obj.kind,
              name: obj.name,
              namespace: obj.namespace,
              ...(obj.uid !== undefined ? { uid: obj.uid } : {}),
            },
            type,
            reason,
            message: message.slice(0, 1024),
            source: { component },
            reportingComponent: component,
            firstTimestamp: now,
            lastTimestamp: now,
            count: 1,
          },
        });
      } catch (err) {
        log.warn(
          { event: 'kube.event_failed', err, reason, object: `${obj.namespace}/${obj.name}` },
          'could not record Event',
        );
      }
    },
  };
}
