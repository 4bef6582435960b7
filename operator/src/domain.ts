/**
 * MailDomain reconciler. Level-triggered: reads the object, its Secrets and MailPolicies
 * from the caches, compiles, publishes `domain.<fqdn>` with compare-and-set, then writes
 * status. Conditions say True only after the step they describe succeeded; any error is
 * returned (thrown) so the work queue retries with backoff.
 */
import type { CompiledDomain } from '@mailmesh/config';
import { encodeConfigValue } from '@mailmesh/config';
import {
  compileDomain,
  crdGroup,
  crdVersion,
  deleteDataAnnotation,
  dnsRecordsFor,
  type Issue,
  type MailDomainStatus,
  referencesOf,
} from '@mailmesh/config/crd';
import { configKeys } from '@mailmesh/proto';
import { type ConditionInput, jsonEqual, mergeConditions } from './conditions.js';
import { type ReconcileContext, secretData } from './context.js';
import { type DkimKey, dkimSecretName, ensureDkimKey } from './dkim.js';
import { applyDnsEndpoint, buildDnsEndpoint } from './dnsendpoint.js';
import { KubeApiError, NatsUnavailableError } from './errors.js';
import { logEvents } from './events.js';
import { mergePatch, statusOf } from './kube.js';
import { isDeleting, keyOf, type MailDomainObject, splitKey, winsOver } from './objects.js';
import { conditionTypes, configFinalizer, eventReasons, reasons } from './reasons.js';

const PLURAL = 'maildomains';

/** The names (domain + aliases) a MailDomain claims. */
export const namesOf = (md: MailDomainObject): string[] =>
  [md.spec?.domain, ...(md.spec?.domainAliases ?? [])].filter(
    (n): n is string => typeof n === 'string',
  );

/** Condition reason for a refused compile: the most fundamental problem first. */
export function refusalReason(errors: readonly Issue[]): string {
  const has = (r: Issue['reason']): boolean => errors.some((e) => e.reason === r);
  if (has('Invalid') || has('Duplicate')) return reasons.invalidSpec;
  if (has('Conflict')) return reasons.domainConflict;
  if (has('SecretMissing')) return reasons.secretMissing;
  if (has('PolicyMissing')) return reasons.policyMissing;
  return reasons.invalidSpec;
}

export const issuesText = (errors: readonly Issue[]): string =>
  errors.map((e) => `${e.path}: ${e.message}`).join('; ');

function involved(md: MailDomainObject) {
  return {
    apiVersion: `${crdGroup}/${crdVersion}`,
    kind: 'MailDomain',
    name: md.metadata.name ?? '',
    namespace: md.metadata.namespace ?? '',
    ...(md.metadata.uid !== undefined ? { uid: md.metadata.uid } : {}),
  };
}

export async function patchFinalizers(
  ctx: ReconcileContext,
  plural: string,
  obj: { metadata: { name?: string; namespace?: string; resourceVersion?: string } },
  finalizers: string[],
): Promise<void> {
  const { name = '', namespace = '' } = obj.metadata;
  try {
    await ctx.kube.custom.patchNamespacedCustomObject(
      {
        group: crdGroup,
        version: crdVersion,
        plural,
        namespace,
        name,
        // resourceVersion makes this a compare-and-set: a stale cache gets 409 and a retry.
        body: { metadata: { finalizers, resourceVersion: obj.metadata.resourceVersion } },
      },
      mergePatch,
    );
  } catch (err) {
    if (statusOf(err) === 404) return;
    throw new KubeApiError(`patch finalizers of ${plural} ${namespace}/${name}`, statusOf(err), {
      cause: err,
    });
  }
}

export async function patchStatus(
  ctx: ReconcileContext,
  plural: string,
  obj: { metadata: { name?: string; namespace?: string }; status?: object },
  status: object,
): Promise<void> {
  if (jsonEqual(obj.status ?? {}, status)) return;
  const { name = '', namespace = '' } = obj.metadata;
  // A merge patch keeps fields it does not mention: null out the ones that went away.
  const body: Record<string, unknown> = { ...status };
  for (const k of Object.keys(obj.status ?? {})) if (!(k in body)) body[k] = null;
  try {
    await ctx.kube.custom.patchNamespacedCustomObjectStatus(
      { group: crdGroup, version: crdVersion, plural, namespace, name, body: { status: body } },
      mergePatch,
    );
  } catch (err) {
    if (statusOf(err) === 404) return;
    throw new KubeApiError(`patch status of ${plural} ${namespace}/${name}`, statusOf(err), {
      cause: err,
    });
  }
}

/** Names (domain + aliases) of the document published under `domain.<fqdn>`, if any. */
async function liveNames(ctx: ReconcileContext, fqdn: string | undefined): Promise<Set<string>> {
  if (typeof fqdn !== 'string') return new Set();
  let key: string;
  try {
    key = configKeys.domain(fqdn);
  } catch {
    return new Set();
  }
  const doc = await previousOf(ctx, key);
  return new Set(doc ? [doc.domain, ...doc.aliases] : []);
}

/**
 * Names of `md` held by other MailDomains, with who holds them. What is published wins
 * (a snapshot with one name in two documents would be refused by every service, so a
 * newly added alias must never displace a live name); between unpublished claims the
 * older object wins. Objects sharing the primary domain share one key: age decides.
 */
async function claimsAgainst(
  ctx: ReconcileContext,
  md: MailDomainObject,
): Promise<Map<string, string>> {
  const claimed = new Map<string, string>();
  const mine = new Set(namesOf(md));
  let myLive: Set<string> | undefined;
  for (const other of ctx.domains.list()) {
    if (keyOf(other) === keyOf(md) || isDeleting(other)) continue;
    const overlap = namesOf(other).filter((n) => mine.has(n));
    if (overlap.length === 0) continue;
    if (other.spec?.domain === md.spec?.domain) {
      if (winsOver(other, md)) for (const n of overlap) claimed.set(n, keyOf(other));
      continue;
    }
    const theirLive = await liveNames(ctx, other.spec?.domain);
    myLive ??= await liveNames(ctx, md.spec?.domain);
    for (const n of overlap) {
      if (theirLive.has(n) || (!myLive.has(n) && winsOver(other, md))) claimed.set(n, keyOf(other));
    }
  }
  return claimed;
}

/** Every MailDomain sharing a name with `names` (so a freed or contested name is re-decided). */
export function domainsClaiming(ctx: ReconcileContext, names: readonly string[]): string[] {
  const wanted = new Set(names);
  return ctx.domains
    .list()
    .filter((d) => namesOf(d).some((n) => wanted.has(n)))
    .map(keyOf);
}

async function previousOf(ctx: ReconcileContext, key: string): Promise<CompiledDomain | undefined> {
  const v = await ctx.store.get(key);
  if (!v) return undefined;
  try {
    return JSON.parse(new TextDecoder().decode(v.value)) as CompiledDomain;
  } catch {
    return undefined;
  }
}

export async function reconcileDomain(ctx: ReconcileContext, key: string): Promise<void> {
  const { namespace, name } = splitKey(key);
  const md = ctx.domains.get(name, namespace);
  if (md === undefined) return;
  const log = ctx.log.child({ maildomain: key });
  const fqdn = md.spec?.domain;
  const finalizers = md.metadata.finalizers ?? [];

  if (isDeleting(md)) {
    if (!finalizers.includes(configFinalizer)) return;
    const rivals = ctx.domains
      .list()
      .filter(
        (o) => keyOf(o) !== key && !isDeleting(o) && o.spec?.domain === fqdn && winsOver(o, md),
      );
    if (typeof fqdn === 'string' && rivals.length === 0) {
      const removed = await ctx.store.remove(configKeys.domain(fqdn));
      if (removed) {
        ctx.metrics.configWrites.inc({ kind: 'MailDomain' });
        log.info(
          { event: logEvents.configRemoved, key: configKeys.domain(fqdn) },
          'removed compiled domain',
        );
        await ctx.events.record(
          involved(md),
          'Normal',
          eventReasons.configRemoved,
          `removed ${configKeys.domain(fqdn)} from the config bucket`,
        );
      }
    }
    if (md.metadata.annotations?.[deleteDataAnnotation] === 'true') {
      // TODO(mailstore): delete the domain's mailbox index and objects once the mailbox
      // store exposes a per-domain purge; until then the request is recorded only.
      log.warn(
        { event: logEvents.deleteDataRequested, domain: fqdn },
        'mailbox data deletion requested',
      );
      await ctx.events.record(
        involved(md),
        'Warning',
        eventReasons.mailboxDataDeletionRequested,
        `annotation ${deleteDataAnnotation}=true: mailbox data of ${String(fqdn)} is to be deleted (not automated yet; delete it from the mailbox store)`,
      );
    }
    await patchFinalizers(
      ctx,
      PLURAL,
      md,
      finalizers.filter((f) => f !== configFinalizer),
    );
    for (const k of domainsClaiming(ctx, namesOf(md))) if (k !== key) ctx.enqueueDomain(k);
    return;
  }

  if (!finalizers.includes(configFinalizer)) {
    await patchFinalizers(ctx, PLURAL, md, [...finalizers, configFinalizer]);
  }

  const generation = md.metadata.generation;
  const now = ctx.now();
  const status = (conds: ConditionInput[], extra: Partial<MailDomainStatus>): MailDomainStatus => ({
    ...md.status,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    ...extra,
    conditions: mergeConditions(md.status?.conditions, conds, generation, now),
  });
  const notReady = (reason: string, message: string): ConditionInput => ({
    type: conditionTypes.ready,
    status: 'False',
    reason,
    message,
  });
  const directory: ConditionInput[] = md.spec?.directory?.ldap
    ? [
        {
          type: conditionTypes.directorySynced,
          status: 'Unknown',
          reason: reasons.directoryNotImplemented,
          message: 'LDAP directory sync is not implemented yet; mailboxes come from spec.mailboxes',
        },
      ]
    : [];

  let dkim: DkimKey;
  try {
    dkim = await ensureDkimKey(ctx.kube, md, (n) => ctx.secrets.get(n, namespace));
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    await patchStatus(
      ctx,
      PLURAL,
      md,
      status(
        [
          {
            type: conditionTypes.dkimReady,
            status: 'False',
            reason: reasons.dkimNotReady,
            message: msg,
          },
          notReady(reasons.dkimNotReady, msg),
        ],
        {},
      ),
    );
    throw err;
  }
  if (dkim.created) {
    log.info({ event: logEvents.dkimGenerated, secret: dkim.ref.name }, 'generated DKIM key');
    await ctx.events.record(
      involved(md),
      'Normal',
      eventReasons.dkimKeyGenerated,
      `generated an RSA-2048 DKIM key into Secret ${dkim.ref.name}`,
    );
  }

  const refs =
    typeof md.spec === 'object' && md.spec !== null
      ? referencesOf(md.spec)
      : { secrets: [], policies: [] };
  const secrets = secretData(ctx, namespace, [...refs.secrets, dkimSecretName(name)]);
  const policies = new Set(
    ctx.policies
      .list(namespace)
      .filter((p) => !isDeleting(p))
      .map((p) => p.metadata.name ?? ''),
  );

  let previous: CompiledDomain | undefined;
  let storeError: NatsUnavailableError | undefined;
  if (typeof fqdn === 'string') {
    try {
      previous = await previousOf(ctx, configKeys.domain(fqdn));
    } catch (err) {
      if (!(err instanceof NatsUnavailableError)) throw err;
      storeError = err;
    }
  }

  let claimed = new Map<string, string>();
  if (!storeError) {
    try {
      claimed = await claimsAgainst(ctx, md);
    } catch (err) {
      if (!(err instanceof NatsUnavailableError)) throw err;
      storeError = err;
    }
  }
  const result = await compileDomain(md.spec, {
    secrets,
    policies,
    claimed,
    hasher: ctx.hasher,
    ...(dkim.generated ? { dkimKey: dkim.ref } : {}),
    ...(previous ? { previous } : {}),
  });

  if (!result.ok) {
    const reason = refusalReason(result.errors);
    const message = issuesText(result.errors);
    const live =
      md.status?.configRevision !== undefined
        ? ` (revision ${md.status.configRevision} stays live)`
        : '';
    log.warn(
      { event: logEvents.reconcileRefused, reason, errors: result.errors },
      'MailDomain refused',
    );
    await patchStatus(
      ctx,
      PLURAL,
      md,
      status(
        [
          {
            type: conditionTypes.configPublished,
            status: 'False',
            reason,
            message: `not published${live}: ${message}`,
          },
          dkim.condition,
          ...directory,
          notReady(reason, message),
        ],
        { dkimSecretName: dkim.ref.name },
      ),
    );
    if (md.status?.conditions?.find((c) => c.type === conditionTypes.ready)?.reason !== reason) {
      await ctx.events.record(
        involved(md),
        'Warning',
        eventReasons.refused,
        `${reason}: ${message}`,
      );
    }
    ctx.metrics.reconciles.inc({ kind: 'MailDomain', result: 'refused' });
    return;
  }

  const compiled = result.compiled;
  const kvKey = configKeys.domain(compiled.domain);
  let revision: number;
  try {
    if (storeError) throw storeError;
    const put = await ctx.store.put(kvKey, encodeConfigValue(compiled));
    revision = put.revision;
    if (put.changed) {
      ctx.metrics.configWrites.inc({ kind: 'MailDomain' });
      log.info(
        { event: logEvents.configPublished, key: kvKey, revision },
        'published compiled domain',
      );
    }
  } catch (err) {
    if (err instanceof NatsUnavailableError) {
      await patchStatus(
        ctx,
        PLURAL,
        md,
        status(
          [
            {
              type: conditionTypes.configPublished,
              status: 'False',
              reason: reasons.natsUnavailable,
              message: err.message,
            },
            dkim.condition,
            ...directory,
            notReady(reasons.natsUnavailable, err.message),
          ],
          { dkimSecretName: dkim.ref.name },
        ),
      );
    }
    throw err;
  }

  const records = dnsRecordsFor(compiled, {
    mxHost: ctx.mxHost?.(compiled.domain) ?? `mx.${compiled.domain}`,
    ...(dkim.publicKey !== undefined ? { dkimPublicKey: dkim.publicKey } : {}),
  });
  if (await ctx.dnsEndpoints.installed())
    await applyDnsEndpoint(ctx.kube, buildDnsEndpoint(md, records));

  const dkimOk = dkim.condition.status === 'True';
  await patchStatus(
    ctx,
    PLURAL,
    md,
    status(
      [
        {
          type: conditionTypes.configPublished,
          status: 'True',
          reason: reasons.published,
          message: `${kvKey} at revision ${revision}`,
        },
        dkim.condition,
        ...directory,
        dkimOk
          ? {
              type: conditionTypes.ready,
              status: 'True',
              reason: reasons.ready,
              message: `${compiled.mailboxes.length} mailboxes published`,
            }
          : notReady(reasons.dkimNotReady, dkim.condition.message),
      ],
      {
        configRevision: revision,
        mailboxes: compiled.mailboxes.length,
        dnsRecords: records,
        dkimSecretName: dkim.ref.name,
      },
    ),
  );
  ctx.metrics.reconciles.inc({ kind: 'MailDomain', result: 'ok' });
}
