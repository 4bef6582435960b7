export { scannedMail, startPlatform, type MailSpec, type Platform } from './platform.js';
export {
  branch,
  domainDoc,
  entries,
  HASH,
  internalOnly,
  policyDoc,
  type DomainDoc,
} from './fixtures.js';
