/** Kubernetes clients and small helpers over @kubernetes/client-node. */
import {
  ApiextensionsV1Api,
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';

export interface KubeClients {
  readonly kc: KubeConfig;
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;
  readonly custom: CustomObjectsApi;
  readonly coordination: CoordinationV1Api;
  readonly apiext: ApiextensionsV1Api;
}

export interface KubeConfigSource {
  /** kubeconfig YAML text. */
  readonly kubeconfig?: string;
  /** Path of a kubeconfig file (KUBECONFIG). */
  readonly kubeconfigPath?: string;
}

/** kubeconfig text, else a file, else in-cluster (service account), else ~/.kube/config. */
export function loadKubeConfig(src: KubeConfigSource = {}): KubeConfig {
  const kc = new KubeConfig();
  if (src.kubeconfig !== undefined) kc.loadFromString(src.kubeconfig);
  else if (src.kubeconfigPath !== undefined) kc.loadFromFile(src.kubeconfigPath);
  else kc.loadFromDefault();
  return kc;
}

export function kubeClients(kc: KubeConfig): KubeClients {
  return {
    kc,
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    custom: kc.makeApiClient(CustomObjectsApi),
    coordination: kc.makeApiClient(CoordinationV1Api),
    apiext: kc.makeApiClient(ApiextensionsV1Api),
  };
}

/** HTTP status of a failed client-node call (ApiException.code), if any. */
export function statusOf(err: unknown): number | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const c = err.code;
    if (typeof c === 'number') return c;
  }
  return undefined;
}

/** The API server's message from a failed call (Status.message), else the error text. */
export function apiMessage(err: unknown): string {
  if (typeof err === 'object' && err !== null && 'body' in err) {
    const b = err.body;
    try {
      const s = (typeof b === 'string' ? JSON.parse(b) : b) as { message?: unknown };
      if (typeof s.message === 'string') return s.message;
    } catch {
      // not JSON: fall through
    }
  }
  return err instanceof Error ? err.message : String(err);
}

export const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
export const jsonPatch = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);
export const applyPatch = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);
