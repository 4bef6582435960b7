/**
 * The DKIM key of a MailDomain: the Secret the spec names, or one the operator
 * generates once (RSA-2048, RFC 8301 minimum 1024, 2048 recommended) into
 * `<maildomain>-dkim`, owner-referenced so it goes with the MailDomain. An existing
 * Secret is never overwritten: a key published in DNS must not change behind its back.
 */
import { generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import type { V1Secret } from '@kubernetes/client-node';
import { crdApiVersion, dkimPublicKey, type SecretKeySelector } from '@mailmesh/config/crd';
import type { ConditionInput } from './conditions.js';
import { KubeApiError } from './errors.js';
import { type KubeClients, statusOf } from './kube.js';
import type { MailDomainObject } from './objects.js';
import { conditionTypes, reasons } from './reasons.js';

export const DKIM_KEY = 'private.pem';
export const dkimSecretName = (maildomain: string): string => `${maildomain}-dkim`;

const generate = promisify(generateKeyPair);

export interface DkimKey {
  readonly ref: SecretKeySelector;
  readonly generated: boolean;
  /** Base64 SPKI for the DNS record; absent when the key is missing or unreadable. */
  readonly publicKey?: string;
  readonly condition: ConditionInput;
  /** True when this reconcile created the Secret. */
  readonly created: boolean;
}

export function secretText(secret: V1Secret | undefined, key: string): string | undefined {
  const v = secret?.data?.[key];
  return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
}

export async function generateDkimPem(): Promise<string> {
  const { privateKey } = await generate('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return privateKey;
}

function keyCondition(
  pem: string | undefined,
  ref: SecretKeySelector,
  generated: boolean,
): Pick<DkimKey, 'publicKey' | 'condition'> {
  if (pem === undefined) {
    return {
      condition: {
        type: conditionTypes.dkimReady,
        status: 'False',
        reason: reasons.secretMissing,
        message: `DKIM key Secret "${ref.name}" key "${ref.key}" not found`,
      },
    };
  }
  try {
    const publicKey = dkimPublicKey(pem);
    return {
      publicKey,
      condition: {
        type: conditionTypes.dkimReady,
        status: 'True',
        reason: generated ? reasons.dkimKeyGenerated : reasons.dkimKeyReady,
        message: `DKIM key from Secret "${ref.name}" key "${ref.key}"`,
      },
    };
  } catch (err) {
    return {
      condition: {
        type: conditionTypes.dkimReady,
        status: 'False',
        reason: reasons.dkimKeyInvalid,
        message: `Secret "${ref.name}" key "${ref.key}" is not an RSA private key in PEM: ${err instanceof Error ? err.message : String(err)}`,
      },
    };
  }
}

export async function ensureDkimKey(
  kube: KubeClients,
  md: MailDomainObject,
  cached: (name: string) => V1Secret | undefined,
): Promise<DkimKey> {
  const namespace = md.metadata.namespace ?? 'default';
  const specRef = md.spec.outbound?.dkim?.key?.secretRef;
  if (specRef !== undefined) {
    return {
      ref: specRef,
      generated: false,
      created: false,
      ...keyCondition(secretText(cached(specRef.name), specRef.key), specRef, false),
    };
  }
  const ref = { name: dkimSecretName(md.metadata.name ?? ''), key: DKIM_KEY };
  let secret = cached(ref.name);
  let created = false;
  if (secret === undefined) {
    try {
      secret = await kube.core.readNamespacedSecret({ name: ref.name, namespace });
    } catch (err) {
      if (statusOf(err) !== 404)
        throw new KubeApiError(`read Secret ${namespace}/${ref.name}`, statusOf(err), {
          cause: err,
        });
    }
  }
  if (secret === undefined) {
    const pem = await generateDkimPem();
    try {
      secret = await kube.core.createNamespacedSecret({
        namespace,
        body: {
          metadata: {
            name: ref.name,
            namespace,
            labels: {
              'app.kubernetes.io/managed-by': 'mailmesh-operator',
              'mailmesh.io/maildomain': md.metadata.name ?? '',
            },
            ownerReferences: [
              {
                apiVersion: crdApiVersion,
                kind: 'MailDomain',
                name: md.metadata.name ?? '',
                uid: md.metadata.uid ?? '',
                controller: true,
              },
            ],
          },
          type: 'Opaque',
          data: { [DKIM_KEY]: Buffer.from(pem).toString('base64') },
        },
      });
      created = true;
    } catch (err) {
      if (statusOf(err) !== 409)
        throw new KubeApiError(`create Secret ${namespace}/${ref.name}`, statusOf(err), {
          cause: err,
        });
      secret = await kube.core.readNamespacedSecret({ name: ref.name, namespace });
    }
  }
  return {
    ref,
    generated: true,
    created,
    ...keyCondition(secretText(secret, DKIM_KEY), ref, true),
  };
}
