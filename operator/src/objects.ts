/** The custom objects as the API returns them (client-node metadata, Mailmesh spec/status). */
import type { KubernetesObject, V1ObjectMeta } from '@kubernetes/client-node';
import type {
  MailDomainSpec,
  MailDomainStatus,
  MailPolicySpec,
  MailPolicyStatus,
} from '@mailmesh/config/crd';

export interface MailDomainObject extends KubernetesObject {
  metadata: V1ObjectMeta;
  spec: MailDomainSpec;
  status?: MailDomainStatus;
}

export interface MailPolicyObject extends KubernetesObject {
  metadata: V1ObjectMeta;
  spec: MailPolicySpec;
  status?: MailPolicyStatus;
}

export const keyOf = (o: KubernetesObject): string =>
  `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

export function splitKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf('/');
  return { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

/** Milliseconds of creationTimestamp (a string in custom objects, a Date in typed ones). */
export function createdAt(o: KubernetesObject): number {
  const t = o.metadata?.creationTimestamp as unknown;
  if (t instanceof Date) return t.getTime();
  return typeof t === 'string' ? Date.parse(t) : 0;
}

/**
 * Between two objects claiming the same name, the older wins; equal times (one-second
 * resolution) fall back to namespace/name order, so every replica decides the same.
 */
export function winsOver(a: KubernetesObject, b: KubernetesObject): boolean {
  const ta = createdAt(a);
  const tb = createdAt(b);
  if (ta !== tb) return ta < tb;
  return keyOf(a) < keyOf(b);
}

export const isDeleting = (o: KubernetesObject): boolean => o.metadata?.deletionTimestamp != null;
