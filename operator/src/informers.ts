/**
 * List-watch caches of the objects the reconcilers read, restarted with backoff after
 * a watch error (client-node's ListWatch stops on errors other than expiry).
 */
import {
  type CoreV1Api,
  type CustomObjectsApi,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  ListWatch,
  type ObjectCache,
  type V1Secret,
  Watch,
} from '@kubernetes/client-node';
import { crdGroup, crdVersion } from '@mailmesh/config/crd';
import type { Logger } from '@mailmesh/runtime';
import { logEvents } from './events.js';
import type { MailDomainObject as MailDomain, MailPolicyObject as MailPolicy } from './objects.js';

export interface Handlers<T> {
  readonly add?: (obj: T) => void;
  readonly update?: (obj: T) => void;
  readonly delete?: (obj: T) => void;
}

export interface Store<T> extends ObjectCache<T> {
  stop(): Promise<void>;
}

async function startStore<T extends KubernetesObject>(
  kc: KubeConfig,
  what: string,
  path: string,
  list: () => Promise<KubernetesListObject<T>>,
  handlers: Handlers<T>,
  log: Logger,
): Promise<Store<T>> {
  const lw = new ListWatch<T>(path, new Watch(kc), list, false);
  let stopped = false;
  let delay = 200;
  let timer: NodeJS.Timeout | undefined;
  const { add, update, delete: remove } = handlers;
  if (add) lw.on('add', (o) => add(o));
  if (update) lw.on('update', (o) => update(o));
  if (remove) lw.on('delete', (o) => remove(o));
  lw.on('connect', () => {
    delay = 200;
  });
  const restart = (): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      lw.start().catch((err: unknown) => {
        log.warn({ event: logEvents.informerError, what, err }, 'watch restart failed');
        restart();
      });
    }, delay);
    delay = Math.min(delay * 2, 30_000);
  };
  lw.on('error', (err: unknown) => {
    if (stopped) return;
    log.warn({ event: logEvents.informerError, what, err }, 'watch failed; restarting');
    restart();
  });
  await lw.start();
  return {
    get: (name, namespace) => lw.get(name, namespace),
    list: (namespace) => lw.list(namespace),
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await lw.stop();
    },
  };
}

const nsPath = (namespace: string | undefined): string =>
  namespace ? `/namespaces/${namespace}` : '';

export function mailDomainStore(
  kc: KubeConfig,
  custom: CustomObjectsApi,
  namespace: string | undefined,
  handlers: Handlers<MailDomain>,
  log: Logger,
): Promise<Store<MailDomain>> {
  const q = { group: crdGroup, version: crdVersion, plural: 'maildomains' };
  return startStore<MailDomain>(
    kc,
    'maildomains',
    `/apis/${crdGroup}/${crdVersion}${nsPath(namespace)}/maildomains`,
    async () =>
      (namespace
        ? await custom.listNamespacedCustomObject({ ...q, namespace })
        : await custom.listClusterCustomObject(q)) as KubernetesListObject<MailDomain>,
    handlers,
    log,
  );
}

export function mailPolicyStore(
  kc: KubeConfig,
  custom: CustomObjectsApi,
  namespace: string | undefined,
  handlers: Handlers<MailPolicy>,
  log: Logger,
): Promise<Store<MailPolicy>> {
  const q = { group: crdGroup, version: crdVersion, plural: 'mailpolicies' };
  return startStore<MailPolicy>(
    kc,
    'mailpolicies',
    `/apis/${crdGroup}/${crdVersion}${nsPath(namespace)}/mailpolicies`,
    async () =>
      (namespace
        ? await custom.listNamespacedCustomObject({ ...q, namespace })
        : await custom.listClusterCustomObject(q)) as KubernetesListObject<MailPolicy>,
    handlers,
    log,
  );
}

export function secretStore(
  kc: KubeConfig,
  core: CoreV1Api,
  namespace: string | undefined,
  handlers: Handlers<V1Secret>,
  log: Logger,
): Promise<Store<V1Secret>> {
  return startStore<V1Secret>(
    kc,
    'secrets',
    `/api/v1${nsPath(namespace)}/secrets`,
    () =>
      namespace ? core.listNamespacedSecret({ namespace }) : core.listSecretForAllNamespaces(),
    handlers,
    log,
  );
}
