/**
 * Every condition type, condition reason, Event reason and finalizer the operator
 * writes, in one place (STYLE.md: reason strings in one file). Users match on these
 * (`kubectl wait --for=condition=Ready`), so they change only additively.
 */

export const conditionTypes = {
  ready: 'Ready',
  configPublished: 'ConfigPublished',
  dkimReady: 'DkimReady',
  directorySynced: 'DirectorySynced',
} as const;

export const reasons = {
  /** Ready=True / ConfigPublished=True. */
  ready: 'Ready',
  published: 'Published',
  /** The spec is refused by the compiler (the API server let it through). */
  invalidSpec: 'InvalidSpec',
  secretMissing: 'SecretMissing',
  policyMissing: 'PolicyMissing',
  /** Another MailDomain (MailPolicy) already serves this domain (policy name). */
  domainConflict: 'DomainConflict',
  policyConflict: 'PolicyConflict',
  natsUnavailable: 'NatsUnavailable',
  /** DkimReady. */
  dkimKeyReady: 'KeyReady',
  dkimKeyGenerated: 'KeyGenerated',
  dkimKeyInvalid: 'DkimKeyInvalid',
  dkimNotReady: 'DkimNotReady',
  /** DirectorySynced: LDAP sync is not built yet. */
  directoryNotImplemented: 'NotImplemented',
} as const;
export type Reason = (typeof reasons)[keyof typeof reasons];

/** Kubernetes Event reasons. */
export const eventReasons = {
  published: 'ConfigPublished',
  refused: 'ConfigRefused',
  dkimKeyGenerated: 'DkimKeyGenerated',
  configRemoved: 'ConfigRemoved',
  mailboxDataDeletionRequested: 'MailboxDataDeletionRequested',
  scaledUp: 'ScaledUp',
  scaledDown: 'ScaledDown',
  invalidAutoscaleAnnotations: 'InvalidAutoscaleAnnotations',
  metricUnavailable: 'MetricUnavailable',
} as const;

/** Held by MailDomains and MailPolicies until their KV key is removed. */
export const configFinalizer = 'mailmesh.io/config';

export const fieldManager = 'mailmesh-operator';
