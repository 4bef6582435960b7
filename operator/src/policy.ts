/**
 * MailPolicy reconciler: compile, publish `policy.<name>` with compare-and-set, status.
 * Deleting a MailPolicy removes its key (finalizer) and re-reconciles the MailDomains
 * naming it, which then report PolicyMissing.
 */
import { encodeConfigValue } from '@mailmesh/config';
import {
  compilePolicy,
  crdGroup,
  crdVersion,
  type MailPolicyStatus,
  policyReferencesOf,
} from '@mailmesh/config/crd';
import { configKeys } from '@mailmesh/proto';
import { type ConditionInput, mergeConditions } from './conditions.js';
import { type ReconcileContext, secretData } from './context.js';
import { issuesText, patchFinalizers, patchStatus, refusalReason } from './domain.js';
import { NatsUnavailableError } from './errors.js';
import { logEvents } from './events.js';
import { isDeleting, keyOf, type MailPolicyObject, splitKey, winsOver } from './objects.js';
import { conditionTypes, configFinalizer, eventReasons, reasons } from './reasons.js';

const PLURAL = 'mailpolicies';

/** MailDomains of a namespace that name a policy. */
export function domainsUsingPolicy(
  ctx: ReconcileContext,
  namespace: string,
  policy: string,
): string[] {
  return ctx.domains
    .list(namespace)
    .filter((d) => (d.spec?.policies ?? []).includes(policy))
    .map(keyOf);
}

function involved(mp: MailPolicyObject) {
  return {
    apiVersion: `${crdGroup}/${crdVersion}`,
    kind: 'MailPolicy',
    name: mp.metadata.name ?? '',
    namespace: mp.metadata.namespace ?? '',
    ...(mp.metadata.uid !== undefined ? { uid: mp.metadata.uid } : {}),
  };
}

/** The config key of a policy name, or undefined when the name cannot be one. */
function policyKey(name: string): string | undefined {
  try {
    return configKeys.policy(name);
  } catch {
    return undefined;
  }
}

export async function reconcilePolicy(ctx: ReconcileContext, key: string): Promise<void> {
  const { namespace, name } = splitKey(key);
  const mp = ctx.policies.get(name, namespace);
  if (mp === undefined) return;
  const log = ctx.log.child({ mailpolicy: key });
  const finalizers = mp.metadata.finalizers ?? [];
  const kvKey = policyKey(name);
  const rival = ctx.policies
    .list()
    .find((o) => keyOf(o) !== key && o.metadata.name === name && !isDeleting(o) && winsOver(o, mp));

  if (isDeleting(mp)) {
    if (!finalizers.includes(configFinalizer)) return;
    if (kvKey !== undefined && rival === undefined && (await ctx.store.remove(kvKey))) {
      ctx.metrics.configWrites.inc({ kind: 'MailPolicy' });
      log.info({ event: logEvents.configRemoved, key: kvKey }, 'removed compiled policy');
      await ctx.events.record(
        involved(mp),
        'Normal',
        eventReasons.configRemoved,
        `removed ${kvKey} from the config bucket`,
      );
    }
    await patchFinalizers(
      ctx,
      PLURAL,
      mp,
      finalizers.filter((f) => f !== configFinalizer),
    );
    for (const d of domainsUsingPolicy(ctx, namespace, name)) ctx.enqueueDomain(d);
    for (const p of ctx.policies.list())
      if (p.metadata.name === name && keyOf(p) !== key) ctx.enqueuePolicy(keyOf(p));
    return;
  }
  if (!finalizers.includes(configFinalizer)) {
    await patchFinalizers(ctx, PLURAL, mp, [...finalizers, configFinalizer]);
  }

  const generation = mp.metadata.generation;
  const now = ctx.now();
  const status = (
    conds: ConditionInput[],
    extra: Partial<MailPolicyStatus> = {},
  ): MailPolicyStatus => ({
    ...mp.status,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    ...extra,
    conditions: mergeConditions(mp.status?.conditions, conds, generation, now),
  });
  const refuse = async (reason: string, message: string): Promise<void> => {
    log.warn({ event: logEvents.reconcileRefused, reason, message }, 'MailPolicy refused');
    await patchStatus(
      ctx,
      PLURAL,
      mp,
      status([
        { type: conditionTypes.configPublished, status: 'False', reason, message },
        { type: conditionTypes.ready, status: 'False', reason, message },
      ]),
    );
    ctx.metrics.reconciles.inc({ kind: 'MailPolicy', result: 'refused' });
  };

  if (rival !== undefined) {
    await refuse(
      reasons.policyConflict,
      `policy ${name} is already published by MailPolicy ${keyOf(rival)}`,
    );
    return;
  }
  const refs =
    typeof mp.spec === 'object' && mp.spec !== null ? policyReferencesOf(mp.spec) : { secrets: [] };
  const result = compilePolicy(mp.spec, {
    name,
    secrets: secretData(ctx, namespace, refs.secrets),
  });
  if (!result.ok || kvKey === undefined) {
    const errors = result.ok ? [] : result.errors;
    await refuse(refusalReason(errors), issuesText(errors));
    return;
  }
  let revision: number;
  try {
    const put = await ctx.store.put(kvKey, encodeConfigValue(result.compiled));
    revision = put.revision;
    if (put.changed) {
      ctx.metrics.configWrites.inc({ kind: 'MailPolicy' });
      log.info(
        { event: logEvents.configPublished, key: kvKey, revision },
        'published compiled policy',
      );
    }
  } catch (err) {
    if (err instanceof NatsUnavailableError) {
      await patchStatus(
        ctx,
        PLURAL,
        mp,
        status([
          {
            type: conditionTypes.configPublished,
            status: 'False',
            reason: reasons.natsUnavailable,
            message: err.message,
          },
          {
            type: conditionTypes.ready,
            status: 'False',
            reason: reasons.natsUnavailable,
            message: err.message,
          },
        ]),
      );
    }
    throw err;
  }
  await patchStatus(
    ctx,
    PLURAL,
    mp,
    status(
      [
        {
          type: conditionTypes.configPublished,
          status: 'True',
          reason: reasons.published,
          message: `${kvKey} at revision ${revision}`,
        },
        {
          type: conditionTypes.ready,
          status: 'True',
          reason: reasons.ready,
          message: 'policy published',
        },
      ],
      { configRevision: revision },
    ),
  );
  ctx.metrics.reconciles.inc({ kind: 'MailPolicy', result: 'ok' });
}
