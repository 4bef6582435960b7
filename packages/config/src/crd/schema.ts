/**
 * OpenAPI v3 structural schemas of MailDomain and MailPolicy, the single source the
 * CustomResourceDefinitions (manifests.ts) and the in-process validator (validate.ts)
 * are built from, so `mailmesh apply` refuses what the API server refuses.
 *
 * Structural-schema rules (apiextensions.k8s.io/v1): every node has a `type`, no
 * `additionalProperties` beside `properties`, no `$ref`. Unknown fields are refused by
 * the API server under `fieldValidation=Strict` (kubectl's default) and by validate.ts,
 * which adds `additionalProperties: false` to its private copy.
 *
 * Patterns are written in the common subset of RE2 (API server) and JavaScript regular
 * expressions in Unicode mode (ajv): no lookaround, no backreferences.
 *
 * CEL rules (`x-kubernetes-validations`) carry a JavaScript twin in `celTwins`, keyed by
 * the rule text; transition rules (those reading `oldSelf`) have none, since a file given
 * to `mailmesh apply` has no old object.
 */
import { isIP } from 'node:net';

/** The subset of apiextensions.k8s.io/v1 JSONSchemaProps used here. */
export interface JsonSchema {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  enum?: (string | number | boolean)[];
  pattern?: string;
  format?: string;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  default?: unknown;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-validations'?: CelRule[];
}

export interface CelRule {
  rule: string;
  message: string;
  /** JSON path (from the node holding the rule) of the field to blame. */
  fieldPath?: string;
  reason?:
    'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
}

// ---------------------------------------------------------------------------
// Patterns

const LABEL = '[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?';
/** One or more lowercase labels (`localhost`, `sh.company.local`). */
export const DNS_NAME = `${LABEL}(\\.${LABEL})*`;
/** A mail domain: at least two labels. */
export const DOMAIN_PATTERN = `^${LABEL}(\\.${LABEL})+$`;
const ATOM = "[a-z0-9!#$&'*+/=?^_`{|}~-]+";
/** RFC 5321 dot-atom local part, lowercase (no quoted local parts in configuration). */
export const LOCAL_PART = `${ATOM}(\\.${ATOM})*`;
export const LOCAL_PART_PATTERN = `^${LOCAL_PART}$`;
export const ADDRESS_PATTERN = `^${LOCAL_PART}@${DNS_NAME}$`;
/** A local part of this domain or a full address. */
export const MEMBER_PATTERN = `^${LOCAL_PART}(@${DNS_NAME})?$`;
/** Kubernetes quantity, binary or decimal suffix. */
export const QUANTITY_PATTERN = '^(0|[1-9][0-9]*)(\\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$';
export const PASSWORD_HASH_PATTERN =
  '^(\\$argon2id\\$v=[0-9]+\\$m=[0-9]+,t=[0-9]+,p=[0-9]+\\$[A-Za-z0-9+/]+\\$[A-Za-z0-9+/]+|\\$2[aby]\\$[0-9]{2}\\$[./A-Za-z0-9]{53})$';
/** Kubernetes object name (DNS subdomain). */
export const OBJECT_NAME_PATTERN =
  '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
/** DNS label: MailPolicy names become one token of the config key `policy.<name>`. */
export const DNS_LABEL_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
export const SECRET_KEY_PATTERN = '^[-._a-zA-Z0-9]+$';
export const DURATION_PATTERN = '^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$';
export const LDAP_URL_PATTERN = '^ldaps?://[^\\s/]+(/.*)?$';
export const HTTP_URL_PATTERN = '^https?://[^\\s/]+(/\\S*)?$';
export const DOMAIN_GLOB_PATTERN = `^(\\*\\.)?${DNS_NAME}$`;
export const EXTENSION_PATTERN = '^[a-z0-9]{1,16}$';

/** What each pattern means, for messages people can act on. */
export const patternHints: ReadonlyMap<string, string> = new Map([
  [DOMAIN_PATTERN, 'a lowercase DNS name with at least two labels (sh.company.local)'],
  [LOCAL_PART_PATTERN, 'a lowercase local part (zhang.san)'],
  [ADDRESS_PATTERN, 'a lowercase address (user@domain)'],
  [MEMBER_PATTERN, 'a local part of this domain or a lowercase address'],
  [QUANTITY_PATTERN, 'a quantity such as 10Gi, 500Mi or 0'],
  [PASSWORD_HASH_PATTERN, 'an argon2id ($argon2id$...) or bcrypt ($2b$...) hash'],
  [OBJECT_NAME_PATTERN, 'a Kubernetes object name (lowercase DNS subdomain)'],
  [DNS_LABEL_PATTERN, 'a DNS label (lowercase letters, digits and inner "-")'],
  [SECRET_KEY_PATTERN, 'a Secret key (letters, digits, "-", "_", ".")'],
  [DURATION_PATTERN, 'a duration such as 5m or 1h30m'],
  [LDAP_URL_PATTERN, 'an ldap:// or ldaps:// URL'],
  [HTTP_URL_PATTERN, 'an http:// or https:// URL'],
  [DOMAIN_GLOB_PATTERN, 'a lowercase domain, optionally starting with "*."'],
  [EXTENSION_PATTERN, 'a lowercase file extension without the dot'],
  [`^${DNS_NAME}$`, 'a lowercase DNS name'],
]);

// ---------------------------------------------------------------------------
// Builders

const str = (pattern: string | undefined, maxLength: number, description?: string): JsonSchema => ({
  type: 'string',
  ...(description !== undefined ? { description } : {}),
  ...(pattern !== undefined ? { pattern } : {}),
  maxLength,
});

const strEnum = (values: string[], description?: string, dflt?: string): JsonSchema => ({
  type: 'string',
  ...(description !== undefined ? { description } : {}),
  enum: values,
  ...(dflt !== undefined ? { default: dflt } : {}),
});

const set = (items: JsonSchema, maxItems: number, description?: string): JsonSchema => ({
  type: 'array',
  ...(description !== undefined ? { description } : {}),
  items,
  maxItems,
  'x-kubernetes-list-type': 'set',
});

const obj = (
  properties: Record<string, JsonSchema>,
  required?: string[],
  description?: string,
  rules?: CelRule[],
): JsonSchema => ({
  type: 'object',
  ...(description !== undefined ? { description } : {}),
  properties,
  ...(required !== undefined ? { required } : {}),
  ...(rules !== undefined ? { 'x-kubernetes-validations': rules } : {}),
});

const secretKeySelector = (description: string): JsonSchema =>
  obj(
    {
      name: str(OBJECT_NAME_PATTERN, 253, 'Secret name, in the namespace of this object.'),
      key: str(SECRET_KEY_PATTERN, 253, 'Key inside the Secret.'),
    },
    ['name', 'key'],
    description,
  );

const secretReference = (description: string): JsonSchema =>
  obj(
    { secretRef: secretKeySelector('The Secret key holding the value.') },
    ['secretRef'],
    description,
  );

// ---------------------------------------------------------------------------
// CEL rules and their JavaScript twins

export interface CelTwin {
  /** True when `self` passes the rule. */
  readonly check: (self: unknown) => boolean;
  /** The issue reason in-process. (The API server is left at FieldValueInvalid: with
   * FieldValueDuplicate it prints "Duplicate value" and drops the rule's message.) */
  readonly reason: 'Invalid' | 'Duplicate';
}
const twins = new Map<string, CelTwin>();

function cel(
  rule: CelRule,
  twin: CelTwin['check'] | 'transition',
  reason: CelTwin['reason'] = 'Invalid',
): CelRule {
  if (twin !== 'transition') twins.set(rule.rule, { check: twin, reason });
  return rule;
}

/** JavaScript equivalents of the CEL rules (not transition rules), keyed by rule text. */
export const celTwins: ReadonlyMap<string, CelTwin> = twins;

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const names = (v: unknown): string[] =>
  arr(v).flatMap((e) => (isObj(e) && typeof e.name === 'string' ? [e.name] : []));

function isIpOrCidr(s: string): boolean {
  const slash = s.indexOf('/');
  const family = isIP(slash === -1 ? s : s.slice(0, slash));
  if (family === 0) return false;
  if (slash === -1) return true;
  const p = s.slice(slash + 1);
  return /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= (family === 4 ? 32 : 128);
}

const immutable = cel({ rule: 'self == oldSelf', message: 'domain is immutable' }, 'transition');

const aliasNotDomain = cel(
  {
    rule: '!has(self.domainAliases) || !self.domainAliases.exists(a, a == self.domain)',
    message: 'domainAliases must not repeat domain',
    fieldPath: '.domainAliases',
  },
  (s) => !isObj(s) || !arr(s.domainAliases).includes(s.domain),
  'Duplicate',
);

const groupNotMailbox = cel(
  {
    rule:
      // sets.intersects keeps the estimated cost within budget; the nested
      // exists() equivalent is estimated at maxItems(mailboxes) x maxItems(groups).
      '!has(self.groups) || !has(self.mailboxes) || ' +
      '!sets.intersects(self.mailboxes.map(m, m.name), self.groups.map(g, g.name))',
    message: 'a group must not have the name of a mailbox',
    fieldPath: '.groups',
  },
  (s) => {
    if (!isObj(s)) return true;
    const mb = new Set(names(s.mailboxes));
    return !names(s.groups).some((g) => mb.has(g));
  },
  'Duplicate',
);

const catchAllExists = cel(
  {
    rule:
      '!has(self.catchAll) || ' +
      '(has(self.mailboxes) && self.mailboxes.exists(m, m.name == self.catchAll)) || ' +
      '(has(self.groups) && self.groups.exists(g, g.name == self.catchAll))',
    message: 'catchAll must name a mailbox or group of this domain',
    fieldPath: '.catchAll',
  },
  (s) =>
    !isObj(s) ||
    s.catchAll === undefined ||
    [...names(s.mailboxes), ...names(s.groups)].includes(s.catchAll as string),
);

const onePassword = cel(
  {
    rule: 'has(self.secretRef) != has(self.hash)',
    message: 'password needs exactly one of secretRef or hash',
  },
  (s) => !isObj(s) || (s.secretRef !== undefined) !== (s.hash !== undefined),
);

const ipOrCidr = cel(
  { rule: 'isIP(self) || isCIDR(self)', message: 'must be an IP address or a CIDR block' },
  (s) => typeof s !== 'string' || isIpOrCidr(s),
);

const dlpHasMatchers = cel(
  {
    rule:
      '(has(self.keywords) && size(self.keywords) > 0) || ' +
      '(has(self.patterns) && size(self.patterns) > 0) || ' +
      '(has(self.detectors) && size(self.detectors) > 0)',
    message: 'a DLP rule needs keywords, patterns or detectors',
  },
  (s) => !isObj(s) || ['keywords', 'patterns', 'detectors'].some((k) => arr(s[k]).length > 0),
);

const scoreOrder = ['tagScore', 'junkScore', 'quarantineScore', 'rejectScore'] as const;
const scoresAscending = cel(
  {
    rule: scoreOrder
      .flatMap((a, i) =>
        scoreOrder
          .slice(i + 1)
          .map((b) => `(!has(self.${a}) || !has(self.${b}) || self.${a} <= self.${b})`),
      )
      .join(' && '),
    message: 'spam scores must ascend: tagScore <= junkScore <= quarantineScore <= rejectScore',
  },
  (s) => {
    if (!isObj(s)) return true;
    const set = scoreOrder.map((k) => s[k]).filter((v): v is number => typeof v === 'number');
    return set.every((v, i) => i === 0 || (set[i - 1] as number) <= v);
  },
);

const policyName = cel(
  {
    rule: "size(self.metadata.name) <= 63 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",
    message:
      'metadata.name of a MailPolicy must be a DNS label (lowercase letters, digits, inner "-", at most 63 characters): it becomes the config key policy.<name>',
  },
  (s) => {
    if (!isObj(s) || !isObj(s.metadata) || typeof s.metadata.name !== 'string') return true;
    return s.metadata.name.length <= 63 && new RegExp(DNS_LABEL_PATTERN).test(s.metadata.name);
  },
);

// ---------------------------------------------------------------------------
// MailDomain

const MAX_MAILBOXES = 5000;
const MAX_GROUPS = 500;

const mailbox = obj(
  {
    name: str(LOCAL_PART_PATTERN, 64, 'Local part; the address is name@domain.'),
    displayName: str(undefined, 256, 'Display name shown in From: and the address book.'),
    password: obj(
      {
        secretRef: secretKeySelector(
          'Secret key holding the password in plaintext (hashed with argon2id on compile) or an argon2id/bcrypt hash.',
        ),
        hash: str(PASSWORD_HASH_PATTERN, 512, 'An argon2id or bcrypt hash.'),
      },
      undefined,
      'Exactly one of secretRef and hash.',
      [onePassword],
    ),
    quota: str(QUANTITY_PATTERN, 32, 'Mailbox quota (10Gi); absent or 0 = unlimited.'),
    sendAs: set(str(ADDRESS_PATTERN, 320), 50, 'Extra addresses this user may send as.'),
    forwardTo: set(str(ADDRESS_PATTERN, 320), 20, 'Addresses mail is forwarded to.'),
  },
  ['name', 'password'],
);

const group = obj(
  {
    name: str(LOCAL_PART_PATTERN, 64, 'Local part of the group address.'),
    members: set(
      str(MEMBER_PATTERN, 320),
      1000,
      'Local parts of this domain (mailboxes or groups) or full addresses anywhere.',
    ),
  },
  ['name'],
);

export const mailDomainSpecSchema: JsonSchema = obj(
  {
    domain: {
      ...str(DOMAIN_PATTERN, 253, 'Lowercase FQDN of the mail domain; immutable.'),
      'x-kubernetes-validations': [immutable],
    },
    domainAliases: set(
      str(DOMAIN_PATTERN, 253),
      50,
      'Further names of this domain; users log in with either.',
    ),
    mailboxes: {
      type: 'array',
      description: 'Mailboxes; names are unique (and distinct from group names).',
      items: mailbox,
      maxItems: MAX_MAILBOXES,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
    },
    groups: {
      type: 'array',
      description: 'Distribution lists and aliases; may nest and may name remote addresses.',
      items: group,
      maxItems: MAX_GROUPS,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
    },
    catchAll: str(
      LOCAL_PART_PATTERN,
      64,
      'Mailbox or group receiving mail for unknown local parts.',
    ),
    directory: obj(
      {
        ldap: obj(
          {
            url: str(LDAP_URL_PATTERN, 2048),
            bindDN: str(undefined, 1024),
            bindPassword: secretReference('Password of bindDN.'),
            baseDN: str(undefined, 1024),
            userFilter: str(undefined, 1024),
            mailAttribute: str(undefined, 128),
            interval: str(DURATION_PATTERN, 32, 'Sync interval (5m).'),
          },
          ['url', 'baseDN'],
          'LDAP / Active Directory source of mailboxes.',
        ),
      },
      undefined,
      'Optional directory source of mailboxes.',
    ),
    relay: obj(
      {
        allowedNetworks: set(
          { ...str(undefined, 64), 'x-kubernetes-validations': [ipOrCidr] },
          100,
          'Clients (IP or CIDR) that may relay without AUTH, such as branch MTAs.',
        ),
      },
      undefined,
      'Relay without authentication.',
    ),
    outbound: obj(
      {
        smartHost: obj(
          {
            host: str(`^${DNS_NAME}$`, 253),
            port: { type: 'integer', minimum: 1, maximum: 65535, default: 25 },
            tls: strEnum(['required', 'opportunistic', 'none'], undefined, 'required'),
            auth: secretReference('Credentials "user:password" for AUTH at the smart host.'),
          },
          ['host'],
          'Relay all remote mail through this host; absent: MX lookup.',
        ),
        dkim: obj(
          {
            selector: str(`^${DNS_NAME}$`, 63, 'DKIM selector (default "mailmesh").'),
            key: secretReference('PEM private key; generated into a Secret when absent.'),
          },
          undefined,
          'DKIM signing of outbound mail.',
        ),
      },
      undefined,
      'Outbound delivery.',
    ),
    inbound: obj({
      requireTLS: { type: 'boolean', description: 'Refuse mail over plaintext sessions.' },
    }),
    policies: set(str(DNS_LABEL_PATTERN, 63), 50, 'MailPolicy names in the same namespace.'),
  },
  ['domain'],
  'A mail domain: its mailboxes, groups, relay and outbound settings.',
  [aliasNotDomain, groupNotMailbox, catchAllExists],
);

const conditions: JsonSchema = {
  type: 'array',
  items: obj(
    {
      type: str(
        '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$',
        316,
      ),
      status: strEnum(['True', 'False', 'Unknown']),
      observedGeneration: { type: 'integer', format: 'int64', minimum: 0 },
      lastTransitionTime: { type: 'string', format: 'date-time' },
      reason: str('^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$', 1024),
      message: str(undefined, 32768),
    },
    ['type', 'status', 'lastTransitionTime', 'reason', 'message'],
  ),
  maxItems: 16,
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['type'],
};

export const mailDomainStatusSchema: JsonSchema = obj({
  observedGeneration: { type: 'integer', format: 'int64' },
  configRevision: {
    type: 'integer',
    format: 'int64',
    description: 'KV revision holding the compiled config.',
  },
  mailboxes: { type: 'integer', format: 'int32' },
  dkimSecretName: { type: 'string' },
  dnsRecords: {
    type: 'array',
    items: obj(
      {
        type: strEnum(['MX', 'TXT', 'CNAME', 'A', 'AAAA']),
        name: { type: 'string' },
        value: { type: 'string' },
      },
      ['type', 'name', 'value'],
    ),
    'x-kubernetes-list-type': 'atomic',
  },
  conditions,
});

// ---------------------------------------------------------------------------
// MailPolicy

const dlpRule = obj(
  {
    name: str(DNS_LABEL_PATTERN, 63),
    keywords: set(str(undefined, 256), 500),
    patterns: set(str(undefined, 1024), 100, 'JavaScript regular expressions (Unicode mode).'),
    detectors: set(strEnum(['cn-id-card', 'bank-card', 'cn-mobile']), 16),
    minMatches: { type: 'integer', minimum: 1, maximum: 10000, default: 1 },
    scope: {
      ...set(strEnum(['subject', 'body', 'attachments']), 3),
      default: ['subject', 'body', 'attachments'],
    },
    action: strEnum(['quarantine', 'reject', 'tag', 'notify'], undefined, 'quarantine'),
  },
  ['name'],
  undefined,
  [dlpHasMatchers],
);

export const mailPolicySpecSchema: JsonSchema = obj(
  {
    direction: strEnum(
      ['any', 'inbound', 'outbound', 'internal'],
      'Mail this policy applies to.',
      'any',
    ),
    dlp: {
      type: 'array',
      items: dlpRule,
      maxItems: 100,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
    },
    attachments: obj({
      blockExtensions: set(str(EXTENSION_PATTERN, 16), 200),
      inspectArchives: { type: 'boolean' },
      blockExecutableContent: { type: 'boolean' },
      maxSize: str(QUANTITY_PATTERN, 32),
      action: strEnum(['reject', 'quarantine'], undefined, 'reject'),
    }),
    recipients: obj(
      { allowDomains: set(str(DOMAIN_GLOB_PATTERN, 255), 500) },
      undefined,
      'Transport rule: recipients outside these domains are refused.',
    ),
    antivirus: obj({
      action: strEnum(['reject', 'quarantine'], undefined, 'reject'),
      onError: strEnum(['tempfail', 'accept'], undefined, 'tempfail'),
    }),
    spam: obj(
      {
        tagScore: { type: 'number' },
        junkScore: { type: 'number' },
        quarantineScore: { type: 'number' },
        rejectScore: { type: 'number' },
      },
      undefined,
      undefined,
      [scoresAscending],
    ),
    authentication: obj({
      spf: strEnum(['enforce', 'report']),
      dkim: strEnum(['enforce', 'report']),
      dmarc: strEnum(['enforce', 'report']),
    }),
    anomaly: obj({
      enabled: { type: 'boolean' },
      action: strEnum(['hold', 'notify'], undefined, 'hold'),
      sensitivity: { type: 'number', minimum: 0.1, maximum: 100 },
    }),
    watermark: obj({ enabled: { type: 'boolean' }, text: { type: 'boolean' } }),
    notify: {
      type: 'array',
      maxItems: 20,
      items: obj(
        {
          webhook: obj(
            {
              url: str(HTTP_URL_PATTERN, 2048),
              format: strEnum(['wecom', 'dingtalk', 'feishu', 'slack', 'json'], undefined, 'json'),
              secretRef: secretKeySelector('Secret key holding the webhook token.'),
            },
            ['url'],
          ),
          events: set(strEnum(['quarantine', 'reject', 'bounce', 'anomaly', 'delay']), 5),
        },
        ['webhook'],
      ),
    },
  },
  undefined,
  'Group-wide mail policy: DLP, attachments, transport rules, AV, spam, authentication.',
);

export const mailPolicyStatusSchema: JsonSchema = obj({
  observedGeneration: { type: 'integer', format: 'int64' },
  configRevision: { type: 'integer', format: 'int64' },
  conditions,
});

/** The whole-object schema of a kind (what the CRD's `openAPIV3Schema` holds). */
function resource(spec: JsonSchema, status: JsonSchema, rules?: CelRule[]): JsonSchema {
  return {
    type: 'object',
    properties: {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      metadata: { type: 'object' },
      spec,
      status,
    },
    required: ['spec'],
    ...(rules !== undefined ? { 'x-kubernetes-validations': rules } : {}),
  };
}

export const mailDomainSchema: JsonSchema = resource(mailDomainSpecSchema, mailDomainStatusSchema);
export const mailPolicySchema: JsonSchema = resource(mailPolicySpecSchema, mailPolicyStatusSchema, [
  policyName,
]);
