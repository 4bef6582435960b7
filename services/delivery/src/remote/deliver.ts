/**
 * Remote delivery of one job: read the mail from the spool, prepend the job's
 * header fields, DKIM-sign it with the sender domain's key (the last change), and
 * hand it to the SMTP attempt with the route's TLS policy and AUTH credentials.
 */
import type { ConfigSnapshot } from '@mailmesh/config';
import { type DeliveryJob, TlsPolicy } from '@mailmesh/proto';
import type { ObjectStore } from '@mailmesh/runtime';
import { type MailResolver, readMessage } from '@mailmesh/queue';

import { headerBlock } from '../message.js';
import type { DeliveryOutcome, FailureDetail } from '../outcome.js';
import {
  DEFAULT_CREDENTIALS_KEY,
  parseCredentials,
  type Credentials,
  type SecretSource,
} from '../secrets.js';
import { defaultDkimSecret, DkimSignError, signerFor, signMessage } from './dkim.js';
import type { TlsMode, TransportPool } from './pool.js';
import { attemptDelivery } from './smtp.js';

export interface RemoteDeps {
  readonly store: ObjectStore;
  readonly pool: TransportPool;
  readonly resolver: MailResolver;
  readonly secrets: SecretSource;
  readonly snapshot: () => ConfigSnapshot;
  readonly now: () => Date;
  /** Port used for MX hosts; 25 except in tests, which cannot bind it. */
  readonly mxPort?: number;
  /** Largest message read into memory for signing and sending; default 64 MiB. */
  readonly maxMessageBytes?: number;
}

const TLS_MODE: Partial<Record<TlsPolicy, TlsMode>> = {
  [TlsPolicy.REQUIRED]: 'required',
  [TlsPolicy.OPPORTUNISTIC]: 'opportunistic',
  [TlsPolicy.NONE]: 'none',
};

function failAll(recipients: readonly string[], error: FailureDetail): DeliveryOutcome[] {
  return recipients.map((recipient) => ({ kind: 'tempfail', recipient, error }));
}

/** The bytes to send: job headers, then the stored message, then the DKIM signature in front. */
export async function composeOutgoing(
  deps: Pick<RemoteDeps, 'store' | 'secrets' | 'snapshot' | 'now' | 'maxMessageBytes'>,
  job: DeliveryJob,
): Promise<{ message: Buffer } | { error: FailureDetail }> {
  const env = job.envelope;
  if (!env) throw new Error('delivery job without envelope');
  const original = await readMessage(deps.store, env, {
    maxBytes: deps.maxMessageBytes ?? 64 * 1024 * 1024,
  });
  let message: Buffer = Buffer.concat([
    Buffer.from(headerBlock(job.headersToAdd), 'utf8'),
    original,
  ]);
  const signer = signerFor(deps.snapshot(), env.fromHeader, env.mailFrom);
  if (signer) {
    const ref = signer.dkim.keySecretRef ?? defaultDkimSecret(signer.domain.domain);
    const pem = await deps.secrets.get(ref.name, ref.key);
    if (pem === undefined) {
      return {
        error: {
          kind: 'config',
          enhanced: '4.7.5',
          message: `DKIM key of ${signer.domain.domain} (Secret ${ref.name}, key ${ref.key}) not found; not sending unsigned`,
        },
      };
    }
    try {
      message = await signMessage(
        message,
        signer.domain.domain,
        signer.dkim.selector,
        pem,
        deps.now(),
      );
    } catch (err) {
      if (err instanceof DkimSignError)
        return { error: { kind: 'config', enhanced: '4.7.5', message: err.message } };
      throw err;
    }
  }
  return { message };
}

export async function deliverRemote(
  deps: RemoteDeps,
  job: DeliveryJob,
  recipients: readonly string[],
): Promise<DeliveryOutcome[]> {
  const env = job.envelope;
  const route = job.route;
  if (!env || !route) throw new Error('delivery job without envelope or route');
  const tls = TLS_MODE[route.tls] ?? 'opportunistic';

  let auth: Credentials | undefined;
  if (route.authSecretRef !== '') {
    const key = route.authSecretKey || DEFAULT_CREDENTIALS_KEY;
    const value = await deps.secrets.get(route.authSecretRef, key);
    auth = value === undefined ? undefined : parseCredentials(value);
    if (!auth) {
      return failAll(recipients, {
        kind: 'auth',
        enhanced: '4.7.0',
        message: `AUTH credentials for ${route.nextHop} (Secret ${route.authSecretRef}, key ${key}) ${value === undefined ? 'not found' : 'are not user:password'}`,
      });
    }
    if (tls === 'none') {
      // DESIGN rule 6: credentials never cross the wire in plaintext.
      return failAll(recipients, {
        kind: 'config',
        enhanced: '4.7.0',
        message: `route to ${route.nextHop} has AUTH but tls none; AUTH needs TLS`,
      });
    }
  }

  const out = await composeOutgoing(deps, job);
  if ('error' in out) return failAll(recipients, out.error);

  return attemptDelivery(
    { resolver: deps.resolver, pool: deps.pool },
    {
      mailFrom: env.mailFrom,
      recipients,
      message: out.message,
      nextHop: route.nextHop,
      mx: route.mx,
      port: route.mx ? (deps.mxPort ?? 25) : route.port || 25,
      // With credentials, TLS is not optional.
      tls: auth && tls === 'opportunistic' ? 'required' : tls,
      ...(auth ? { auth } : {}),
    },
  );
}
