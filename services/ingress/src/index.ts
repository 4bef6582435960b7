/**
 * @mailmesh/ingress: the SMTP ingress. `startIngress` runs Haraka with the
 * Mailmesh plugins in this process; the decision functions are exported for
 * tests and for other edges that must answer the same way.
 */
export {
  startIngress,
  instanceToken,
  IngressConfigError,
  type Ingress,
  type IngressOptions,
} from './start.js';
export {
  IngressHost,
  listenerFor,
  fromAddresses,
  DSN,
  QueuedReply,
  storedMessage,
} from './host.js';
export { replies, type Reply, type Refusal, type Verdict } from './reply.js';
export { pathProblem } from './policy/address.js';
export {
  decideMailFrom,
  decideRecipient,
  decideFromHeader,
  requiresAuth,
  type SessionFacts,
} from './policy/envelope.js';
export { decideConnect, ConnectionTracker, type ConnectFacts } from './policy/connection.js';
export {
  saslStart,
  saslContinue,
  decodeBase64,
  type SaslState,
  type SaslStep,
  type Credentials,
} from './auth/sasl.js';
export { AuthLimiter, type AuthGate } from './auth/limiter.js';
export { verifyPassword, type PasswordVerifier } from './auth/password.js';
export {
  acceptDurably,
  AcceptanceError,
  HashingCounter,
  type Accepted,
  type AcceptRequest,
} from './accept/store.js';
export { buildEnvelope, receivedHeader, parseNotify, decodeXtext } from './accept/envelope.js';
export { sessionRecord, AuditChain } from './audit.js';
export { loadReport, startLoadReporter } from './load.js';
export { harakaFiles, pluginList, ListenerConfigError } from './haraka/files.js';
export {
  spfChecker,
  staticResolver,
  fileResolver,
  systemResolver,
  type DnsResolver,
  type SpfChecker,
} from './spf.js';
export { loadKeyPair, watchKeyPair, TlsFilesError, MIN_TLS_VERSION } from './tls.js';
export {
  parseProxyV2,
  proxyV1Line,
  PROXY_V2_SIGNATURE,
  PROXY_V2_MAX_BYTES,
  type Endpoint,
  type ProxyV2Header,
  type ProxyV2Parse,
} from './proxy/v2.js';
export { interceptProxyV2, type ProxyShimOptions } from './haraka/proxy-shim.js';
export {
  decideInline,
  inlineGate,
  inlineRefusalOf,
  inlineScanApplies,
  requestInlineScan,
  InlineScanRefusal,
  type AcceptGate,
  type InlineDecision,
  type InlineGateDeps,
  type InlineScanOutcome,
  type NoVerdictReason,
} from './accept/inline.js';
