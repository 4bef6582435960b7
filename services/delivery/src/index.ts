/**
 * @mailmesh/delivery: delivers jobs to local mailboxes (the mailbox store, see
 * MAILSTORE.md) and to remote SMTP servers (pooled, TLS per route, AUTH, DKIM),
 * with retries from a schedule and DSNs.
 */
export { startDelivery, type DeliveryOptions, type DeliveryService } from './service.js';
export { processJob, queueRouteOf, updateRecord, type JobDeps } from './job.js';
export { deliverLocal, recipientPrefix, type LocalDeps } from './local.js';
export { composeOutgoing, deliverRemote, type RemoteDeps } from './remote/deliver.js';
export {
  attemptDelivery,
  classifyError,
  outcomesOfInfo,
  type AttemptDeps,
  type AttemptInput,
} from './remote/smtp.js';
export { TransportPool, type Destination, type PoolOptions, type TlsMode } from './remote/pool.js';
export {
  defaultDkimSecret,
  DkimSignError,
  signerFor,
  signMessage,
  type Signer,
} from './remote/dkim.js';
export {
  enhancedFromReply,
  enhancedOf,
  errorKinds,
  type DeliveryOutcome,
  type ErrorKind,
  type FailureDetail,
} from './outcome.js';
export {
  decideRetry,
  defaultRetrySchedule,
  parseDelays,
  retryDelayMs,
  scheduleFor,
  type RetryDecision,
  type RetryPolicy,
  type RetrySchedule,
} from './schedule.js';
export {
  DEFAULT_CREDENTIALS_KEY,
  fileSecrets,
  parseCredentials,
  staticSecrets,
  type Credentials,
  type SecretSource,
} from './secrets.js';
export { settingsFromEnv, SettingsError, type DeliverySettings } from './settings.js';
export { headerBlock, headerLine } from './message.js';
export * from './mailstore/layout.js';
export {
  MailStore,
  openMailStore,
  type AppendInput,
  type AppendResult,
  type BodyRef,
} from './mailstore/store.js';
export { deliveryEvents } from './events.js';
