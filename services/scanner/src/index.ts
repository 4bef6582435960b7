/**
 * @mailmesh/scanner: the checks (pure, with their outside peers as parameters), the
 * service that runs them over `mail.accepted`, and the inline (before-queue)
 * responder that runs them for ingress over `rpc.scan.inline`.
 */
export { PolicyError, ScannerConfigError } from './errors.js';
export {
  parseScanPolicy,
  parseByteQuantity,
  selectPolicies,
  mailDirections,
  isLocalSender,
  detectorNames,
  dlpScopes,
  type Action,
  type AntivirusPolicy,
  type AttachmentPolicy,
  type AuthenticationPolicy,
  type AuthMode,
  type DetectorName,
  type Direction,
  type DlpAction,
  type DlpRule,
  type DlpScope,
  type OnError,
  type PolicyDirection,
  type PolicyDocument,
  type PolicyView,
  type ScanPolicy,
  type SpamPolicy,
} from './policy.js';
export { parseMail, type MailPart, type ParsedMail, type ParseOptions } from './mime.js';
export { checkAttachments, type AttachmentFinding, type AttachmentRule } from './attachments.js';
export {
  executableKind,
  extensionOf,
  normalizeFilename,
  isZip,
  type ExecutableKind,
} from './magic.js';
export { DlpEngine, type DlpFinding, type DlpText } from './dlp/index.js';
export { foldText, squeezeText, redact } from './dlp/normalize.js';
export { detect, isValidCnIdCard, luhnValid, type DetectorHit } from './dlp/detectors.js';
export { extractText, decodeText, type PdfTextExtractor } from './dlp/extract.js';
export { unpdfExtractor } from './dlp/pdf.js';
export {
  createClamdClient,
  parseClamdReply,
  type ClamdClient,
  type ClamdOptions,
  type ClamdResult,
} from './clamd.js';
export {
  createSpamdClient,
  parseSpamdResponse,
  type SpamdClient,
  type SpamdOptions,
  type SpamdResult,
} from './spamd.js';
export { checkAuthentication, type AuthOptions, type AuthResults, type AuthWord } from './auth.js';
export { tableResolver, fileResolver, systemResolver, type DnsTable } from './dns.js';
export {
  scanMessage,
  type HeaderToAdd,
  type ScanDeps,
  type ScanOutcome,
  type ScanRequest,
} from './scan.js';
export { strictest, stricter, toVerdict, type Check, type Finding } from './verdict.js';
export { buildDsn, dsnMailId, wantsDsn, dsnRecipients, type DsnInput } from './dsn.js';
export { buildScannerConfig, scannerConfigOf, type ScannerConfig } from './config.js';
export {
  startScanner,
  scanResultOf,
  tempfailDelayMs,
  type HoldPoint,
  type Scanner,
  type ScannerOptions,
} from './service.js';
export { judgeMail, reasonsOf, headerFieldsOf, sha256Hex, type Judgement } from './judge.js';
export {
  startInlineResponder,
  type InlineOutcome,
  type InlineResponder,
  type InlineResponderOptions,
} from './inline.js';
export { events } from './events.js';
