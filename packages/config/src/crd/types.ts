/**
 * The custom resources users write (INTERFACES.md): `MailDomain` and `MailPolicy`,
 * group `mailmesh.io`, version `v1alpha1`, both namespaced. These types follow the
 * OpenAPI schemas in schema.ts field by field; a spec that reaches `compileDomain`
 * is checked against the schema first, so the types describe a validated object.
 */

export const crdGroup = 'mailmesh.io';
export const crdVersion = 'v1alpha1';
export const crdApiVersion = `${crdGroup}/${crdVersion}` as const;

/** Names the API server knows the two kinds by. */
export const crdNames = {
  mailDomain: {
    kind: 'MailDomain',
    listKind: 'MailDomainList',
    plural: 'maildomains',
    singular: 'maildomain',
    shortNames: ['md'],
  },
  mailPolicy: {
    kind: 'MailPolicy',
    listKind: 'MailPolicyList',
    plural: 'mailpolicies',
    singular: 'mailpolicy',
    shortNames: ['mpol'],
  },
} as const;

/** Annotation asking the operator to delete a deleted MailDomain's mailbox data too. */
export const deleteDataAnnotation = 'mailmesh.io/delete-data';

export interface SecretKeySelector {
  readonly name: string;
  readonly key: string;
}

export interface SecretReference {
  readonly secretRef: SecretKeySelector;
}

/** Exactly one of `secretRef` (plaintext or a hash in a Secret) and `hash`. */
export interface MailboxPassword {
  readonly secretRef?: SecretKeySelector;
  /** `$argon2id$...` or bcrypt `$2b$...`. */
  readonly hash?: string;
}

export interface MailboxSpec {
  /** Local part; the address is `name@domain`. */
  readonly name: string;
  readonly displayName?: string;
  readonly password: MailboxPassword;
  /** Kubernetes quantity (`10Gi`); absent or `0` = unlimited. */
  readonly quota?: string;
  readonly sendAs?: readonly string[];
  readonly forwardTo?: readonly string[];
}

export interface GroupSpec {
  /** Local part of the group address. */
  readonly name: string;
  /** Local parts of this domain (mailboxes or groups) or full addresses anywhere. */
  readonly members?: readonly string[];
}

export interface LdapDirectorySpec {
  readonly url: string;
  readonly bindDN?: string;
  readonly bindPassword?: SecretReference;
  readonly baseDN: string;
  readonly userFilter?: string;
  readonly mailAttribute?: string;
  /** Go-style duration (`5m`, `1h30m`). */
  readonly interval?: string;
}

export type SmartHostTlsMode = 'required' | 'opportunistic' | 'none';

export interface MailDomainSpec {
  readonly domain: string;
  readonly domainAliases?: readonly string[];
  readonly mailboxes?: readonly MailboxSpec[];
  readonly groups?: readonly GroupSpec[];
  readonly catchAll?: string;
  readonly directory?: { readonly ldap?: LdapDirectorySpec };
  readonly relay?: { readonly allowedNetworks?: readonly string[] };
  readonly outbound?: {
    readonly smartHost?: {
      readonly host: string;
      readonly port?: number;
      readonly tls?: SmartHostTlsMode;
      readonly auth?: SecretReference;
    };
    readonly dkim?: {
      readonly selector?: string;
      readonly key?: SecretReference;
    };
  };
  readonly inbound?: { readonly requireTLS?: boolean };
  /** MailPolicy names in the same namespace. */
  readonly policies?: readonly string[];
}

export type ConditionStatus = 'True' | 'False' | 'Unknown';

/** metav1.Condition. */
export interface Condition {
  readonly type: string;
  readonly status: ConditionStatus;
  readonly observedGeneration?: number;
  /** RFC 3339 time of the last status change. */
  readonly lastTransitionTime: string;
  readonly reason: string;
  readonly message: string;
}

export type DnsRecordType = 'MX' | 'TXT' | 'CNAME' | 'A' | 'AAAA';

export interface DnsRecord {
  readonly type: DnsRecordType;
  /** Absolute name with the trailing dot (`sh.company.local.`). */
  readonly name: string;
  /** Record data as in a zone file, without quotes for TXT (`10 mx.sh.company.local.`). */
  readonly value: string;
}

export interface MailDomainStatus {
  readonly observedGeneration?: number;
  /** KV revision holding this domain's compiled config. */
  readonly configRevision?: number;
  readonly mailboxes?: number;
  readonly dnsRecords?: readonly DnsRecord[];
  readonly conditions?: readonly Condition[];
  /** The Secret holding the DKIM private key in use (referenced or generated). */
  readonly dkimSecretName?: string;
}

export type PolicyDirectionSpec = 'any' | 'inbound' | 'outbound' | 'internal';
export type DlpDetector = 'cn-id-card' | 'bank-card' | 'cn-mobile';
export type DlpScope = 'subject' | 'body' | 'attachments';
export type DlpAction = 'quarantine' | 'reject' | 'tag' | 'notify';
export type NotifyFormat = 'wecom' | 'dingtalk' | 'feishu' | 'slack' | 'json';
export type NotifyEvent = 'quarantine' | 'reject' | 'bounce' | 'anomaly' | 'delay';
export type AuthCheckMode = 'enforce' | 'report';

export interface DlpRuleSpec {
  readonly name: string;
  readonly keywords?: readonly string[];
  /** JavaScript regular expressions (Unicode mode). */
  readonly patterns?: readonly string[];
  readonly detectors?: readonly DlpDetector[];
  readonly minMatches?: number;
  readonly scope?: readonly DlpScope[];
  readonly action?: DlpAction;
}

export interface MailPolicySpec {
  readonly direction?: PolicyDirectionSpec;
  readonly dlp?: readonly DlpRuleSpec[];
  readonly attachments?: {
    readonly blockExtensions?: readonly string[];
    readonly inspectArchives?: boolean;
    readonly blockExecutableContent?: boolean;
    readonly maxSize?: string;
    readonly action?: 'reject' | 'quarantine';
  };
  readonly recipients?: { readonly allowDomains?: readonly string[] };
  readonly antivirus?: {
    readonly action?: 'reject' | 'quarantine';
    readonly onError?: 'tempfail' | 'accept';
  };
  readonly spam?: {
    readonly tagScore?: number;
    readonly junkScore?: number;
    readonly quarantineScore?: number;
    readonly rejectScore?: number;
  };
  readonly authentication?: {
    readonly spf?: AuthCheckMode;
    readonly dkim?: AuthCheckMode;
    readonly dmarc?: AuthCheckMode;
  };
  readonly anomaly?: {
    readonly enabled?: boolean;
    readonly action?: 'hold' | 'notify';
    readonly sensitivity?: number;
  };
  readonly watermark?: { readonly enabled?: boolean; readonly text?: boolean };
  readonly notify?: readonly {
    readonly webhook: {
      readonly url: string;
      readonly format?: NotifyFormat;
      readonly secretRef?: SecretKeySelector;
    };
    readonly events?: readonly NotifyEvent[];
  }[];
}

export interface MailPolicyStatus {
  readonly observedGeneration?: number;
  readonly configRevision?: number;
  readonly conditions?: readonly Condition[];
}

export interface ObjectMeta {
  readonly name?: string;
  readonly namespace?: string;
  readonly uid?: string;
  readonly generation?: number;
  readonly resourceVersion?: string;
  readonly creationTimestamp?: string;
  readonly deletionTimestamp?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly finalizers?: readonly string[];
}

export interface MailDomain {
  readonly apiVersion: typeof crdApiVersion;
  readonly kind: 'MailDomain';
  readonly metadata: ObjectMeta;
  readonly spec: MailDomainSpec;
  readonly status?: MailDomainStatus;
}

export interface MailPolicy {
  readonly apiVersion: typeof crdApiVersion;
  readonly kind: 'MailPolicy';
  readonly metadata: ObjectMeta;
  readonly spec: MailPolicySpec;
  readonly status?: MailPolicyStatus;
}
