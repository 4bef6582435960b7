/** Shared helpers of the operator's integration tests (real kube-apiserver, etcd, NATS). */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadYaml, type V1CustomResourceDefinition } from '@kubernetes/client-node';
import { crdGroup, crdVersion } from '@mailmesh/config/crd';
import { createLogger, type Logger, silentLogger } from '@mailmesh/runtime';
import { type KubeClients, kubeClients, loadKubeConfig } from '../src/kube.js';
import type { MailDomainObject, MailPolicyObject } from '../src/objects.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`,
      );
    }
    await sleep(intervalMs);
  }
}

/** A logger for debugging a test run: MAILMESH_TEST_LOG=debug|info prints operator logs. */
export function testLogger(): Logger {
  const level = process.env['MAILMESH_TEST_LOG'];
  return level ? createLogger('operator-test', { level: level as 'info' }) : silentLogger();
}

export function clientsFor(kubeconfig: string): KubeClients {
  return kubeClients(loadKubeConfig({ kubeconfig }));
}

const chartCrds = join(import.meta.dirname, '..', '..', 'charts', 'mailmesh', 'crds');

/**
 * Installs the chart's CRD files (what `helm install` ships), plus `extra` YAML texts.
 * Through client-node's loadYaml: its typed serializer drops keys it does not know by
 * their model names (`x-kubernetes-validations` must arrive as `x_kubernetes_validations`).
 */
export async function installCrds(kube: KubeClients): Promise<void> {
  await installCrdTexts(
    kube,
    readdirSync(chartCrds)
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => readFileSync(join(chartCrds, f), 'utf8')),
  );
}

/** Creates CRDs from YAML texts and waits until they are Established. */
export async function installCrdTexts(kube: KubeClients, texts: readonly string[]): Promise<void> {
  const crds = texts.map((t) => loadYaml<V1CustomResourceDefinition>(t));
  for (const body of crds) await kube.apiext.createCustomResourceDefinition({ body });
  for (const c of crds) {
    await waitFor(`CRD ${c.metadata?.name} established`, async () => {
      const got = await kube.apiext.readCustomResourceDefinition({ name: c.metadata?.name ?? '' });
      return got.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True');
    });
  }
}

export async function createNamespace(kube: KubeClients, name: string): Promise<void> {
  await kube.core.createNamespace({ body: { metadata: { name } } });
}

const q = (plural: string, namespace: string) => ({
  group: crdGroup,
  version: crdVersion,
  plural,
  namespace,
});

/** Creates a custom object the way kubectl does (fieldValidation=Strict). */
export async function createCustom(
  kube: KubeClients,
  plural: string,
  namespace: string,
  body: object,
): Promise<void> {
  await kube.custom.createNamespacedCustomObject({
    ...q(plural, namespace),
    body,
    fieldValidation: 'Strict',
  });
}

export async function getDomain(
  kube: KubeClients,
  namespace: string,
  name: string,
): Promise<MailDomainObject> {
  return (await kube.custom.getNamespacedCustomObject({
    ...q('maildomains', namespace),
    name,
  })) as MailDomainObject;
}

export async function getPolicy(
  kube: KubeClients,
  namespace: string,
  name: string,
): Promise<MailPolicyObject> {
  return (await kube.custom.getNamespacedCustomObject({
    ...q('mailpolicies', namespace),
    name,
  })) as MailPolicyObject;
}

export function condition(
  obj: {
    status?: {
      conditions?: readonly { type: string; status: string; reason: string; message: string }[];
    };
  },
  type: string,
) {
  return obj.status?.conditions?.find((c) => c.type === type);
}

/** The API server's error message of a failed call. */
export function apiErrorOf(err: unknown): { status: number | undefined; message: string } {
  const e = err as { code?: number; body?: unknown };
  let message = String(err);
  try {
    const body = (typeof e.body === 'string' ? JSON.parse(e.body) : e.body) as { message?: string };
    if (body?.message) message = body.message;
  } catch {
    // keep String(err)
  }
  return { status: e.code, message };
}
