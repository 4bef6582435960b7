/**
 * @mailmesh/config/crd: the MailDomain / MailPolicy custom resources — types, OpenAPI
 * schemas, CustomResourceDefinitions, in-process validation, the compiler to the
 * `mailmesh-config` documents, DNS records and YAML loading with positions.
 */
export * from './types.js';
export {
  celTwins,
  DOMAIN_PATTERN,
  LOCAL_PART_PATTERN,
  mailDomainSchema,
  mailDomainSpecSchema,
  mailDomainStatusSchema,
  mailPolicySchema,
  mailPolicySpecSchema,
  mailPolicyStatusSchema,
  patternHints,
  type CelRule,
  type JsonSchema,
} from './schema.js';
export {
  crdManifests,
  crdYaml,
  mailDomainCrd,
  mailPolicyCrd,
  type CustomResourceDefinition,
} from './manifests.js';
export {
  joinPath,
  validateResource,
  validateSpec,
  type Issue,
  type IssueReason,
  type ResourceKind,
  type Validated,
} from './validate.js';
export {
  compileDomain,
  compilePolicy,
  DEFAULT_DKIM_SELECTOR,
  policyReferencesOf,
  referencesOf,
  type CompileResult,
  type DomainCompileContext,
  type PolicyCompileContext,
  type SecretData,
} from '../compile.js';
export {
  argon2idHasher,
  defaultHasher,
  PASSWORD_HASH,
  type Argon2Options,
  type PasswordHasher,
} from './password.js';
export { parseQuantity } from './quantity.js';
export { dkimPublicKey, dnsRecordsFor, zoneFile, type DnsRecordOptions } from './dns.js';
export {
  compileBundle,
  secretDataOf,
  type BundleOptions,
  type CompiledBundle,
  type ResourceIssues,
} from './bundle.js';
export {
  loadYaml,
  parsePath,
  type LoadedDocument,
  type LoadedYaml,
  type Position,
  type YamlIssue,
} from '../yaml.js';
