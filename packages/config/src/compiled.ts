/**
 * The compiled configuration: the JSON documents the operator (or `mailmesh apply`)
 * writes into the `mailmesh-config` KV bucket, one per key (DESIGN rule 3). The CRD
 * compiler produces exactly these shapes; every service reads them back through
 * `buildSnapshot`, which validates each document and indexes it for fast lookups.
 *
 * Keys (names.ts `configKeys`):
 *   platform            PlatformConfig
 *   domain.<fqdn>       CompiledDomain
 *   policy.<name>       CompiledPolicy
 *
 * All addresses and domain names in these documents are lowercase; lookups
 * lowercase their argument, so `Zhang.San@SH.company.local` finds the mailbox.
 */

/** A Kubernetes Secret key reference (resolved by the service that needs the secret). */
export interface SecretRef {
  readonly name: string;
  readonly key: string;
}

/** A password hash: argon2id (`$argon2id$...`) or bcrypt (`$2a$`, `$2b$`, `$2y$`). */
export type PasswordHash = string;

export interface CompiledMailbox {
  /** Local part, lowercase (`zhang.san`). */
  readonly localPart: string;
  /** `localPart@domain`, lowercase: the login name and primary address. */
  readonly address: string;
  readonly displayName?: string;
  readonly passwordHash: PasswordHash;
  /** Mailbox quota in bytes; 0 = unlimited. */
  readonly quotaBytes: number;
  /** Extra full addresses this user may use as sender (MAIL FROM and From:). */
  readonly sendAs: readonly string[];
  /** Full addresses mail is forwarded to (in addition to the mailbox). */
  readonly forwardTo: readonly string[];
}

export interface CompiledGroup {
  /** Local part of the group address, lowercase (`sales`). */
  readonly name: string;
  /** `name@domain`, lowercase. */
  readonly address: string;
  /** Full member addresses, local or remote, lowercase; may name other groups. */
  readonly members: readonly string[];
}

export type SmartHostTls = 'required' | 'opportunistic' | 'none';

export interface SmartHost {
  readonly host: string;
  readonly port: number;
  readonly tls: SmartHostTls;
  readonly authSecretRef?: SecretRef;
}

export interface DkimSettings {
  readonly selector: string;
  readonly keySecretRef?: SecretRef;
}

export interface CompiledDomain {
  /** Lowercase FQDN; equals the `<fqdn>` of the key `domain.<fqdn>`. */
  readonly domain: string;
  /** Domain aliases: mail to `x@alias` is mail to `x@domain`; users log in with either. */
  readonly aliases: readonly string[];
  readonly mailboxes: readonly CompiledMailbox[];
  readonly groups: readonly CompiledGroup[];
  /** Local part (a mailbox or group of this domain) that receives mail for unknown local parts. */
  readonly catchAll?: string;
  readonly relay: {
    /** CIDR blocks (or single addresses) whose clients may relay without AUTH. */
    readonly allowedNetworks: readonly string[];
  };
  readonly outbound: {
    /** Absent: deliver by MX lookup. */
    readonly smartHost?: SmartHost;
    readonly dkim?: DkimSettings;
  };
  readonly inbound: {
    /** Refuse mail for this domain over a plaintext session. */
    readonly requireTLS: boolean;
  };
  /** Names of the CompiledPolicy documents that apply to this domain. */
  readonly policies: readonly string[];
}

export type PolicyDirection = 'any' | 'inbound' | 'outbound' | 'internal';

/**
 * A compiled MailPolicy. Loose for now: the policy engine (scanner, router) defines
 * the sections it reads; unknown sections are kept as they are.
 */
export interface CompiledPolicy {
  readonly name: string;
  readonly direction: PolicyDirection;
  /** The policy sections (`dlp`, `attachments`, `recipients`, ...) as compiled. */
  readonly spec: Readonly<Record<string, unknown>>;
}

/** The role of an SMTP listener. */
export type ListenerKind = 'mx' | 'submission' | 'smtps';
export const listenerKinds: readonly ListenerKind[] = ['mx', 'submission', 'smtps'];

export interface ListenerConfig {
  /** Unique listener name, one lowercase token (`mx`, `submission`, `mx-branch`). */
  readonly name: string;
  /**
   * `mx`: port-25 style, STARTTLS offered, AUTH after STARTTLS;
   * `submission`: STARTTLS, AUTH required before MAIL;
   * `smtps`: implicit TLS (RFC 8314), AUTH required before MAIL.
   */
  readonly kind: ListenerKind;
  /** `host:port` pairs to bind (`127.0.0.1:2525`, `[::1]:2525`). */
  readonly addresses: readonly string[];
  /** CIDR blocks allowed to connect; empty = everyone. */
  readonly allowNetworks: readonly string[];
  /** Load-balancer addresses (CIDR) that must send a PROXY v1/v2 header first. */
  readonly proxyProtocolFrom: readonly string[];
}

export interface TlsFiles {
  /** PEM certificate chain file (a Kubernetes Secret mount); re-read when it changes. */
  readonly certFile: string;
  /** PEM private key file. */
  readonly keyFile: string;
}

export interface Limits {
  /** Largest message accepted, in bytes (advertised as EHLO SIZE). */
  readonly maxMessageBytes: number;
  /** Recipients per transaction. */
  readonly maxRecipients: number;
  /** Concurrent sessions per process. */
  readonly maxConnections: number;
  /** Concurrent sessions per client IP. */
  readonly perIpConnections: number;
  /** New connections per client IP per minute. */
  readonly perIpRatePerMinute: number;
  /** Idle time allowed between commands. */
  readonly commandTimeoutMs: number;
  /** Time allowed for the whole DATA phase (354 to the final dot). */
  readonly dataTimeoutMs: number;
  /** Failed AUTH attempts per client IP before the IP is cooled down. */
  readonly authFailuresPerIp: number;
  /** Failed AUTH attempts per account before the account is cooled down. */
  readonly authFailuresPerAccount: number;
  /** How long a cooled-down IP or account is refused. */
  readonly authCooldownMs: number;
}

/**
 * What ingress does when an inline scan gives no verdict in time (timeout, no
 * scanner answering, or the scanner could not decide): `accept` publishes the
 * envelope as usual and the after-queue scan judges the mail; `tempfail` answers
 * 451 4.3.0 and keeps nothing, so the client retries later.
 */
export type InlineScanFallback = 'accept' | 'tempfail';
export const inlineScanFallbacks: readonly InlineScanFallback[] = ['accept', 'tempfail'];

/**
 * The before-queue scan (rpc.scan.inline, Postfix's before-queue content filter):
 * after the body is stored and before the envelope is published, ingress asks the
 * scanner for a verdict, so a rejected mail gets `550 5.7.1` in the SMTP session
 * instead of a DSN later. The after-queue scan still runs for every accepted mail.
 */
export interface InlineScanSettings {
  readonly enabled: boolean;
  /** How long ingress waits for the verdict; counted on top of `acceptanceDeadlineMs`. */
  readonly timeoutMs: number;
  /** No verdict within `timeoutMs`; absent = `accept`. */
  readonly onTimeout?: InlineScanFallback;
  /** The listener kinds that scan inline; absent or empty = every kind. */
  readonly listenerKinds?: readonly ListenerKind[];
}

export interface PlatformConfig {
  /** Name this platform's MTAs use in greetings and Received headers. */
  readonly hostname: string;
  readonly listeners: readonly ListenerConfig[];
  readonly tls: TlsFiles;
  readonly limits: Limits;
  /** Longest time between end of DATA and the reply: storing the body plus the publish ack. */
  readonly acceptanceDeadlineMs: number;
  readonly inlineScan: InlineScanSettings;
}

/** Limits used where a platform document leaves one out. */
export const defaultLimits: Limits = {
  maxMessageBytes: 25 * 1024 * 1024,
  maxRecipients: 100,
  maxConnections: 1_000,
  perIpConnections: 20,
  perIpRatePerMinute: 120,
  commandTimeoutMs: 300_000,
  dataTimeoutMs: 600_000,
  authFailuresPerIp: 10,
  authFailuresPerAccount: 5,
  authCooldownMs: 15 * 60_000,
};

export const defaultAcceptanceDeadlineMs = 30_000;
