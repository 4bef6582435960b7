/**
 * The autoscaler against a real kube-apiserver (Deployments and their scale
 * subresource; no controller-manager, so no pods) and a real nats-server: a burst on
 * mail.accepted with no scanner consuming scales the scanner Deployment to its bound,
 * draining brings it back to min after the (shortened) stabilisation window; the same
 * for ingress with synthetic load reports.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { timestampNow } from '@bufbuild/protobuf/wkt';
import type { V1Deployment } from '@kubernetes/client-node';
import { kvBuckets, loadKey, LoadReportSchema, streams, subjects } from '@mailmesh/proto';
import { type Bus, connectBus, provision } from '@mailmesh/runtime';
import { type KubePeer, type NatsPeer, startKube, startNats } from '@mailmesh/testkit';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { KubeClients } from '../src/kube.js';
import { type Operator, startOperator } from '../src/operator.js';
import { clientsFor, createNamespace, installCrds, testLogger, waitFor } from './helpers.js';

const ns = 'mail';
let kube: KubePeer;
let nats: NatsPeer;
let api: KubeClients;
let operator: Operator;
let bus: Bus;

function deployment(name: string, annotations: Record<string, string>): V1Deployment {
  return {
    metadata: {
      name,
      namespace: ns,
      labels: { 'app.kubernetes.io/part-of': 'mailmesh', app: name },
      annotations,
    },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name, image: `mailmesh/${name}:test` }] },
      },
    },
  };
}

const replicas = async (name: string): Promise<number> =>
  (await api.apps.readNamespacedDeploymentScale({ name, namespace: ns })).spec?.replicas ?? -1;

async function decisions(deployment: string, reason: string): Promise<number> {
  const m = await operator.registry
    .getSingleMetric('mailmesh_operator_scale_decisions_total')
    ?.get();
  return (
    m?.values.find((v) => v.labels.deployment === deployment && v.labels.reason === reason)
      ?.value ?? 0
  );
}

beforeAll(async () => {
  [kube, nats] = await Promise.all([startKube(), startNats()]);
  api = clientsFor(kube.kubeconfig);
  await installCrds(api);
  await createNamespace(api, ns);
  bus = await connectBus({ servers: nats.url, name: 'autoscale-test' });
  await provision(bus);
  const window = { 'mailmesh.io/autoscale-min': '1', 'mailmesh.io/autoscale-window': '2' };
  await api.apps.createNamespacedDeployment({
    namespace: ns,
    body: deployment('scanner', {
      ...window,
      'mailmesh.io/autoscale-metric': 'consumer:scanner',
      'mailmesh.io/autoscale-target': '100',
      'mailmesh.io/autoscale-max': '5',
    }),
  });
  await api.apps.createNamespacedDeployment({
    namespace: ns,
    body: deployment('ingress', {
      ...window,
      'mailmesh.io/autoscale-metric': 'sessions',
      'mailmesh.io/autoscale-target': '50',
      'mailmesh.io/autoscale-max': '4',
    }),
  });
  // Not autoscaled: no metric annotation.
  await api.apps.createNamespacedDeployment({ namespace: ns, body: deployment('api', {}) });
  operator = await startOperator({
    kubeconfig: kube.kubeconfig,
    namespace: ns,
    leaseNamespace: ns,
    leaseDurationMs: 3_000,
    renewDeadlineMs: 2_000,
    retryPeriodMs: 300,
    natsServers: nats.url,
    autoscale: { intervalMs: 250 },
    log: testLogger(),
  });
  await waitFor('operator leads', () => operator.isLeader() && operator.natsConnected());
});

afterAll(async () => {
  await operator?.stop();
  await bus?.close();
  await Promise.all([kube?.stop(), nats?.stop()]);
});

test('5,000 accepted mails with no scanner consuming scale the scanner to max; draining returns it to min', async () => {
  const payload = new TextEncoder().encode('burst');
  for (let batch = 0; batch < 10; batch++) {
    await Promise.all(
      Array.from({ length: 500 }, () => bus.js.publish(subjects.accepted, payload)),
    );
  }
  const info = await bus.jsm.consumers.info(streams.mail.name, 'scanner');
  expect(info.num_pending).toBe(5000);

  await waitFor('scanner at max', async () => (await replicas('scanner')) === 5, 30_000, 200);
  expect(await decisions('scanner', 'ScaleUp')).toBeGreaterThan(0);
  const events = await api.core.listNamespacedEvent({
    namespace: ns,
    fieldSelector: 'involvedObject.name=scanner',
  });
  const up = events.items.find((e) => e.reason === 'ScaledUp');
  // The operator may have read the backlog while the burst was still arriving.
  const seen = /replicas 1 -> 5: consumer:scanner = (\d+)/.exec(up?.message ?? '');
  expect(seen, up?.message).not.toBeNull();
  expect(Number(seen![1])).toBeGreaterThan(0);
  expect(Number(seen![1])).toBeLessThanOrEqual(5000);

  await bus.jsm.streams.purge(streams.mail.name, { filter: subjects.accepted });
  await waitFor('scanner back at min', async () => (await replicas('scanner')) === 1, 30_000, 200);
  // The drop waited out the window instead of following the metric at once.
  expect(await decisions('scanner', 'Stabilizing')).toBeGreaterThan(0);
  const after = await api.core.listNamespacedEvent({
    namespace: ns,
    fieldSelector: 'involvedObject.name=scanner',
  });
  expect(
    after.items.some((e) => e.reason === 'ScaledDown' && /replicas 5 -> 1/.test(e.message ?? '')),
  ).toBe(true);
  // A Deployment without the annotations is left alone.
  expect(await replicas('api')).toBe(1);
});

test('ingress follows active sessions from the load reports', async () => {
  const kv = await bus.kv(kvBuckets.load);
  const report = (instance: string, activeSessions: number) =>
    kv.put(
      loadKey('ingress', instance),
      toBinary(
        LoadReportSchema,
        create(LoadReportSchema, {
          service: 'ingress',
          instance,
          activeSessions,
          at: timestampNow(),
        }),
      ),
    );
  await report('ingress-a', 150);
  await report('ingress-b', 150);
  await waitFor('ingress at max', async () => (await replicas('ingress')) === 4, 30_000, 200);
  await report('ingress-a', 0);
  await report('ingress-b', 0);
  await waitFor('ingress back at min', async () => (await replicas('ingress')) === 1, 30_000, 200);
  expect(await decisions('ingress', 'ScaleDown')).toBeGreaterThan(0);
});

test('contradictory annotations are reported as a Warning Event, and the Deployment is not scaled', async () => {
  await api.apps.createNamespacedDeployment({
    namespace: ns,
    body: deployment('router', {
      'mailmesh.io/autoscale-metric': 'consumer:router',
      'mailmesh.io/autoscale-target': '10',
      'mailmesh.io/autoscale-min': '3',
      'mailmesh.io/autoscale-max': '2',
    }),
  });
  const ev = await waitFor('warning event', async () => {
    const list = await api.core.listNamespacedEvent({
      namespace: ns,
      fieldSelector: 'involvedObject.name=router',
    });
    return list.items.find((e) => e.reason === 'InvalidAutoscaleAnnotations');
  });
  expect(ev.type).toBe('Warning');
  expect(ev.message).toContain('mailmesh.io/autoscale-max: must be >= min (3), got 2');
  expect(await replicas('router')).toBe(1);
});
