/**
 * @mailmesh/queue: what router and delivery share about a mail in flight — the
 * queue record (`mailmesh-queue` KV) the CLI and API show, lifecycle events, and
 * delivery status notifications (RFC 3464) sent back to the sender.
 */
export * from './record.js';
export { openQueueStore, queueStoreOf, type QueueStore } from './store.js';
export {
  createJson,
  encodeJson,
  getJson,
  isWrongRevision,
  updateJson,
  type UpdateOptions,
  type Versioned,
} from './kv-json.js';
export { deliveryEvent, eventPart, publishEvents, type EventFields } from './events.js';
export {
  composeDsn,
  dsnIdentity,
  rfc5322Date,
  type ComposedDsn,
  type DsnInput,
  type DsnKind,
  type DsnRecipient,
} from './dsn.js';
export {
  recipientsDue,
  sendDsn,
  type BounceDeps,
  type BounceRecipient,
  type BounceRequest,
} from './bounce.js';
export {
  headerEnd,
  headerValues,
  parseHeaders,
  readHeaderSection,
  type HeaderLine,
} from './headers.js';
export {
  inlineBody,
  inlineCopy,
  readMessage,
  readMessageHeaders,
  spoolRefOf,
  type ReadMessageOptions,
  type StoredRef,
} from './message.js';
export { derivedMailId, shortHash } from './ids.js';
export { KvContentionError, KvDocumentError, MessageReadError } from './errors.js';
export {
  fileMailResolver,
  resolveMailHosts,
  staticMailResolver,
  systemResolver,
  type MailResolver,
  type MxAnswer,
  type MxRecord,
} from './dns.js';
export { parseDsn, type ParsedDsn } from './dsn-parse.js';
export {
  deleteMail,
  QueueControlError,
  retryMail,
  type ControlDeps,
  type DeleteResult,
  type QueueControlRefusal,
  type RetriedJob,
  type RetryResult,
} from './control.js';
