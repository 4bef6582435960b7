import { readFileSync } from 'node:fs';
import {
  ApiException,
  ApiextensionsV1Api,
  CustomObjectsApi,
  KubeConfig,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { KUBE_CONTEXT, startKube, type KubePeer } from '../src/index.js';

const GROUP = 'test.mailmesh.io';
const PLURAL = 'widgets';

const crd: V1CustomResourceDefinition = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `${PLURAL}.${GROUP}` },
  spec: {
    group: GROUP,
    scope: 'Namespaced',
    names: { kind: 'Widget', plural: PLURAL, singular: 'widget', listKind: 'WidgetList' },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: {
                type: 'object',
                required: ['size'],
                properties: {
                  size: { type: 'integer', minimum: 1, maximum: 10 },
                  color: { type: 'string', _enum: ['red', 'blue'] },
                },
              },
            },
          },
        },
      },
    ],
  },
};

describe('startKube', () => {
  let kube: KubePeer;
  let kc: KubeConfig;
  beforeAll(async () => {
    kube = await startKube();
    kc = new KubeConfig();
    kc.loadFromString(kube.kubeconfig);
  });
  afterAll(async () => {
    await kube?.stop();
  });

  it('writes a kubeconfig for the mailmesh-test context', () => {
    expect(kube.server).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(kc.getCurrentContext()).toBe(KUBE_CONTEXT);
    expect(kc.getCurrentCluster()?.server).toBe(kube.server);
    expect(readFileSync(kube.kubeconfigPath, 'utf8')).toBe(kube.kubeconfig);
  });

  it('serves CRDs with schema validation and custom objects', async () => {
    const ext = kc.makeApiClient(ApiextensionsV1Api);
    await ext.createCustomResourceDefinition({ body: crd });
    await vi.waitFor(
      async () => {
        const got = await ext.readCustomResourceDefinition({ name: `${PLURAL}.${GROUP}` });
        const established = got.status?.conditions?.find((c) => c.type === 'Established');
        expect(established?.status).toBe('True');
      },
      { timeout: 30_000, interval: 250 },
    );

    const objects = kc.makeApiClient(CustomObjectsApi);
    const widget = (spec: Record<string, unknown>, name: string): object => ({
      apiVersion: `${GROUP}/v1`,
      kind: 'Widget',
      metadata: { name },
      spec,
    });
    // A freshly Established CRD can take a moment to be routable for its objects.
    await vi.waitFor(
      () =>
        objects.createNamespacedCustomObject({
          group: GROUP,
          version: 'v1',
          namespace: 'default',
          plural: PLURAL,
          body: widget({ size: 3, color: 'blue' }, 'w1'),
        }),
      { timeout: 30_000, interval: 250 },
    );
    const read: unknown = await objects.getNamespacedCustomObject({
      group: GROUP,
      version: 'v1',
      namespace: 'default',
      plural: PLURAL,
      name: 'w1',
    });
    expect((read as { spec?: unknown }).spec).toEqual({ size: 3, color: 'blue' });

    const rejected: unknown = await objects
      .createNamespacedCustomObject({
        group: GROUP,
        version: 'v1',
        namespace: 'default',
        plural: PLURAL,
        body: widget({ size: 99, color: 'green' }, 'w2'),
      })
      .then(
        (): unknown => undefined,
        (e: unknown) => e,
      );
    expect(rejected).toBeInstanceOf(ApiException);
    expect((rejected as ApiException<unknown>).code).toBe(422);
  });

  it('rejects a request without the token', async () => {
    const anon = new KubeConfig();
    anon.loadFromString(kube.kubeconfig.replace(kube.token, 'not-the-token'));
    const err = await anon
      .makeApiClient(ApiextensionsV1Api)
      .listCustomResourceDefinition()
      .catch((e: unknown) => e);
    expect((err as ApiException<unknown>).code).toBe(401);
  });
});
