/** What the reconcilers share: caches, clients, the config store, recorders. */
import type { ObjectCache, V1Secret } from '@kubernetes/client-node';
import type { PasswordHasher, SecretData } from '@mailmesh/config/crd';
import type { Logger } from '@mailmesh/runtime';
import type { ConfigStore } from './configstore.js';
import type { DnsEndpointSupport } from './dnsendpoint.js';
import { secretText } from './dkim.js';
import type { EventRecorder } from './events.js';
import type { KubeClients } from './kube.js';
import type { OperatorMetrics } from './metrics.js';
import type { MailDomainObject, MailPolicyObject } from './objects.js';

export interface ReconcileContext {
  readonly kube: KubeClients;
  readonly domains: ObjectCache<MailDomainObject>;
  readonly policies: ObjectCache<MailPolicyObject>;
  readonly secrets: ObjectCache<V1Secret>;
  readonly store: ConfigStore;
  readonly events: EventRecorder;
  readonly log: Logger;
  readonly hasher: PasswordHasher;
  readonly dnsEndpoints: DnsEndpointSupport;
  /** MX host of a domain; default `mx.<domain>`. */
  readonly mxHost?: (domain: string) => string;
  readonly metrics: OperatorMetrics;
  readonly now: () => Date;
  enqueueDomain(key: string): void;
  enqueuePolicy(key: string): void;
}

/** Secret data (base64-decoded) of the named Secrets of a namespace that exist in the cache. */
export function secretData(
  ctx: ReconcileContext,
  namespace: string,
  names: readonly string[],
): SecretData {
  const out = new Map<string, Record<string, string>>();
  for (const name of names) {
    const s = ctx.secrets.get(name, namespace);
    if (s === undefined) continue;
    const data: Record<string, string> = {};
    for (const k of Object.keys(s.data ?? {})) data[k] = secretText(s, k) ?? '';
    out.set(name, data);
  }
  return out;
}
