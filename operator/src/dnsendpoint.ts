/**
 * external-dns `DNSEndpoint` objects for a MailDomain's records, written only when the
 * CRD `dnsendpoints.externaldns.k8s.io` is installed (checked, then remembered for a while).
 */
import type { DnsRecord } from '@mailmesh/config/crd';
import { crdApiVersion } from '@mailmesh/config/crd';
import { KubeApiError } from './errors.js';
import { applyPatch, type KubeClients, statusOf } from './kube.js';
import type { MailDomainObject } from './objects.js';
import { fieldManager } from './reasons.js';

const GROUP = 'externaldns.k8s.io';
const VERSION = 'v1alpha1';
const PLURAL = 'dnsendpoints';

export class DnsEndpointSupport {
  private checked: { at: number; installed: boolean } | undefined;

  constructor(
    private readonly kube: KubeClients,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  async installed(): Promise<boolean> {
    const t = this.now();
    if (this.checked && t - this.checked.at < this.ttlMs) return this.checked.installed;
    let installed: boolean;
    try {
      await this.kube.apiext.readCustomResourceDefinition({ name: `${PLURAL}.${GROUP}` });
      installed = true;
    } catch (err) {
      if (statusOf(err) !== 404)
        throw new KubeApiError('read CRD dnsendpoints.externaldns.k8s.io', statusOf(err), {
          cause: err,
        });
      installed = false;
    }
    this.checked = { at: t, installed };
    return installed;
  }
}

export const dnsEndpointName = (maildomain: string): string => `${maildomain}-mail`;

/** The DNSEndpoint of a MailDomain (pure). */
export function buildDnsEndpoint(
  md: MailDomainObject,
  records: readonly DnsRecord[],
  ttlSeconds = 300,
): Record<string, unknown> {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'DNSEndpoint',
    metadata: {
      name: dnsEndpointName(md.metadata.name ?? ''),
      namespace: md.metadata.namespace,
      labels: { 'app.kubernetes.io/managed-by': 'mailmesh-operator' },
      ownerReferences: [
        {
          apiVersion: crdApiVersion,
          kind: 'MailDomain',
          name: md.metadata.name,
          uid: md.metadata.uid,
          controller: true,
        },
      ],
    },
    spec: {
      endpoints: records.map((r) => ({
        dnsName: r.name.replace(/\.$/, ''),
        recordType: r.type,
        targets: [r.value],
        recordTTL: ttlSeconds,
      })),
    },
  };
}

/** Server-side apply, so repeated reconciles converge on the same object. */
export async function applyDnsEndpoint(
  kube: KubeClients,
  obj: Record<string, unknown>,
): Promise<void> {
  const meta = obj.metadata as { name: string; namespace: string };
  try {
    await kube.custom.patchNamespacedCustomObject(
      {
        group: GROUP,
        version: VERSION,
        plural: PLURAL,
        namespace: meta.namespace,
        name: meta.name,
        body: obj,
        fieldManager,
        force: true,
      },
      applyPatch,
    );
  } catch (err) {
    throw new KubeApiError(`apply DNSEndpoint ${meta.namespace}/${meta.name}`, statusOf(err), {
      cause: err,
    });
  }
}
