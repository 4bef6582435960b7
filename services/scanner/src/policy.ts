/**
 * The scanner's compiled view of a MailPolicy (INTERFACES.md): `parseScanPolicy`
 * validates the `spec` of a compiled policy document and fills in defaults, and
 * `selectPolicies` decides which policies apply to one mail from its direction.
 * Both are pure. (To move into @mailmesh/config once the compiler owns policies.)
 */
import { Listener, Origin, type Envelope } from '@mailmesh/proto';

import { PolicyError } from './errors.js';

export type Direction = 'inbound' | 'outbound' | 'internal';
export type PolicyDirection = 'any' | Direction;

/** An action a check asks for; ordered pass < tag < quarantine < reject. */
export type Action = 'pass' | 'tag' | 'quarantine' | 'reject';

export type DlpScope = 'subject' | 'body' | 'attachments';
export const dlpScopes: readonly DlpScope[] = ['subject', 'body', 'attachments'];

export type DetectorName = 'cn-id-card' | 'bank-card' | 'cn-mobile';
export const detectorNames: readonly DetectorName[] = ['cn-id-card', 'bank-card', 'cn-mobile'];

/** `notify` lets the mail pass; the reason is recorded so notifiers can act on it. */
export type DlpAction = 'quarantine' | 'reject' | 'tag' | 'notify';

export interface DlpRule {
  readonly name: string;
  /** As configured; matched after Chinese-aware normalisation (see dlp/normalize.ts). */
  readonly keywords: readonly string[];
  /**
   * Regular expression sources as configured (validated); DlpEngine compiles them with
   * flags `giu`. Sources, not RegExp objects: configuration snapshots are deep-frozen
   * and a frozen global RegExp cannot move its `lastIndex`.
   */
  readonly patterns: readonly string[];
  readonly detectors: readonly DetectorName[];
  /** Hits (keywords + patterns + detectors, over all scopes) needed to fire; default 1. */
  readonly minMatches: number;
  /** Default: all scopes. */
  readonly scope: readonly DlpScope[];
  readonly action: DlpAction;
}

export interface AttachmentPolicy {
  /** Lowercase, without the dot. */
  readonly blockExtensions: readonly string[];
  /** Look into zip archives (default true). */
  readonly inspectArchives: boolean;
  /** Block PE/ELF/Mach-O binaries and shebang scripts whatever their name (default true). */
  readonly blockExecutableContent: boolean;
  /** Largest attachment (decoded, or an archive member uncompressed) in bytes; 0 = no limit. */
  readonly maxSizeBytes: number;
  readonly action: 'reject' | 'quarantine';
  /** Encrypted archive members cannot be inspected: block (default) or let them through. */
  readonly encryptedArchives: 'block' | 'allow';
  /** Archives nested deeper than this are blocked (a mail attachment is depth 1); default 3. */
  readonly maxArchiveDepth: number;
  /** Uncompressed/compressed size of a member above this is a zip bomb; default 200. */
  readonly maxExpansionRatio: number;
  /** Total uncompressed bytes of one archive tree above this is a zip bomb; default 256 MiB. */
  readonly maxExpandedBytes: number;
}

export type OnError = 'tempfail' | 'accept';

export interface AntivirusPolicy {
  readonly action: 'reject' | 'quarantine';
  readonly onError: OnError;
}

export interface SpamPolicy {
  /** Score from which the mail is tagged (X-Mailmesh-Spam-Score headers); default 5. */
  readonly tagScore: number;
  /** Score from which the mail goes to the Junk folder; default 8. */
  readonly junkScore: number;
  /** Score from which the mail is quarantined; default 12. */
  readonly quarantineScore: number;
  /** Score from which the mail is rejected; default 20. */
  readonly rejectScore: number;
  /** spamd down or failing; default `accept` (spam is a soft check). */
  readonly onError: OnError;
}

export type AuthMode = 'enforce' | 'report';

export interface AuthenticationPolicy {
  /** enforce: SPF fail rejects, softfail tags. */
  readonly spf: AuthMode;
  /** enforce: a DKIM signature that fails verification quarantines. */
  readonly dkim: AuthMode;
  /** enforce: a DMARC fail gets the published policy (p=/sp=): reject, quarantine or none. */
  readonly dmarc: AuthMode;
}

export interface ScanPolicy {
  readonly name: string;
  readonly direction: PolicyDirection;
  readonly dlp: readonly DlpRule[];
  readonly attachments: AttachmentPolicy | undefined;
  readonly antivirus: AntivirusPolicy | undefined;
  readonly spam: SpamPolicy | undefined;
  readonly authentication: AuthenticationPolicy | undefined;
}

/** The compiled policy document as @mailmesh/config's `CompiledPolicy` holds it. */
export interface PolicyDocument {
  readonly name: string;
  readonly direction: PolicyDirection;
  readonly spec: Readonly<Record<string, unknown>>;
}

// ---------------------------------------------------------------------------
// Parsing

const MIB = 1024 * 1024;

const QUANTITY = /^(\d+(?:\.\d+)?)\s*(Ki|Mi|Gi|Ti|K|M|G|T|k)?$/;
const UNIT: Record<string, number> = {
  '': 1,
  k: 1e3,
  K: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 1024,
  Mi: MIB,
  Gi: 1024 * MIB,
  Ti: 1024 * 1024 * MIB,
};

/** A Kubernetes quantity (`25Mi`, `10M`, `1048576`) in bytes, or undefined if malformed. */
export function parseByteQuantity(value: unknown): number | undefined {
  if (typeof value === 'number')
    return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const m = QUANTITY.exec(value.trim());
  if (!m?.[1]) return undefined;
  return Math.round(Number(m[1]) * (UNIT[m[2] ?? ''] ?? 1));
}

class Reader {
  constructor(
    private readonly policy: string,
    private readonly path: string,
    private readonly obj: Readonly<Record<string, unknown>>,
    known: readonly string[],
  ) {
    for (const k of Object.keys(obj)) {
      if (!known.includes(k)) this.fail(k, `unknown field (expected one of ${known.join(', ')})`);
    }
  }

  static of(policy: string, path: string, value: unknown, known: readonly string[]): Reader {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new PolicyError(policy, path, 'must be an object');
    }
    return new Reader(policy, path, value as Record<string, unknown>, known);
  }

  at(field: string): string {
    if (field === '') return this.path;
    return this.path ? `${this.path}.${field}` : field;
  }

  fail(field: string, problem: string): never {
    throw new PolicyError(this.policy, this.at(field), problem);
  }

  has(field: string): boolean {
    return this.obj[field] !== undefined && this.obj[field] !== null;
  }

  raw(field: string): unknown {
    return this.obj[field];
  }

  child(field: string, known: readonly string[]): Reader | undefined {
    if (!this.has(field)) return undefined;
    return Reader.of(this.policy, this.at(field), this.obj[field], known);
  }

  string(field: string, fallback?: string): string {
    const v = this.obj[field];
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== 'string' || v === '') this.fail(field, 'must be a non-empty string');
    return v;
  }

  bool(field: string, fallback: boolean): boolean {
    const v = this.obj[field];
    if (v === undefined) return fallback;
    if (typeof v !== 'boolean') this.fail(field, 'must be true or false');
    return v;
  }

  number(field: string, fallback: number, min = 0): number {
    const v = this.obj[field];
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min) {
      this.fail(field, `must be a number >= ${min}`);
    }
    return v;
  }

  bytes(field: string, fallback: number): number {
    const v = this.obj[field];
    if (v === undefined) return fallback;
    const n = parseByteQuantity(v);
    if (n === undefined) this.fail(field, 'must be a byte quantity such as 25Mi, 10M or 1048576');
    return n;
  }

  oneOf<T extends string>(field: string, values: readonly T[], fallback?: T): T {
    const v = this.obj[field];
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
      this.fail(field, `must be one of ${values.join(', ')}`);
    }
    return v as T;
  }

  strings(field: string): string[] {
    const v = this.obj[field];
    if (v === undefined) return [];
    if (!Array.isArray(v)) this.fail(field, 'must be a list of strings');
    return v.map((s, i) => {
      if (typeof s !== 'string' || s === '')
        this.fail(`${field}[${i}]`, 'must be a non-empty string');
      return s;
    });
  }

  list(field: string): unknown[] {
    const v = this.obj[field];
    if (v === undefined) return [];
    if (!Array.isArray(v)) this.fail(field, 'must be a list');
    return v;
  }
}

const RULE_NAME = /^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/;

function parseDlpRule(policy: string, path: string, value: unknown): DlpRule {
  const r = Reader.of(policy, path, value, [
    'name',
    'keywords',
    'patterns',
    'detectors',
    'minMatches',
    'scope',
    'action',
  ]);
  const name = r.string('name');
  if (!RULE_NAME.test(name)) r.fail('name', 'must be a lowercase name of [a-z0-9._-]');
  const patterns = r.strings('patterns').map((src, i) => {
    try {
      new RegExp(src, 'giu');
      return src;
    } catch (err) {
      return r.fail(
        `patterns[${i}]`,
        `is not a valid regular expression: ${(err as Error).message}`,
      );
    }
  });
  const detectors = r.strings('detectors').map((d, i) => {
    if (!(detectorNames as readonly string[]).includes(d)) {
      r.fail(`detectors[${i}]`, `must be one of ${detectorNames.join(', ')}`);
    }
    return d as DetectorName;
  });
  const keywords = r.strings('keywords');
  if (keywords.length + patterns.length + detectors.length === 0) {
    r.fail('', 'needs at least one keyword, pattern or detector');
  }
  const scope = r.strings('scope').map((s, i) => {
    if (!(dlpScopes as readonly string[]).includes(s)) {
      r.fail(`scope[${i}]`, `must be one of ${dlpScopes.join(', ')}`);
    }
    return s as DlpScope;
  });
  const minMatches = r.number('minMatches', 1, 1);
  if (!Number.isInteger(minMatches)) r.fail('minMatches', 'must be a whole number');
  return {
    name,
    keywords,
    patterns,
    detectors,
    minMatches,
    scope: scope.length > 0 ? [...new Set(scope)] : dlpScopes,
    action: r.oneOf<DlpAction>('action', ['quarantine', 'reject', 'tag', 'notify'], 'quarantine'),
  };
}

function parseAttachments(r: Reader): AttachmentPolicy {
  const blockExtensions = r
    .strings('blockExtensions')
    .map((e) => e.replace(/^\.+/, '').toLowerCase());
  return {
    blockExtensions: [...new Set(blockExtensions)],
    inspectArchives: r.bool('inspectArchives', true),
    blockExecutableContent: r.bool('blockExecutableContent', true),
    maxSizeBytes: r.bytes('maxSize', 0),
    action: r.oneOf('action', ['reject', 'quarantine'] as const, 'reject'),
    encryptedArchives: r.oneOf('encryptedArchives', ['block', 'allow'] as const, 'block'),
    maxArchiveDepth: r.number('maxArchiveDepth', 3, 1),
    maxExpansionRatio: r.number('maxExpansionRatio', 200, 1),
    maxExpandedBytes: r.bytes('maxExpandedBytes', 256 * MIB),
  };
}

function parseSpam(r: Reader): SpamPolicy {
  const p: SpamPolicy = {
    tagScore: r.number('tagScore', 5, -1000),
    junkScore: r.number('junkScore', 8, -1000),
    quarantineScore: r.number('quarantineScore', 12, -1000),
    rejectScore: r.number('rejectScore', 20, -1000),
    onError: r.oneOf<OnError>('onError', ['tempfail', 'accept'], 'accept'),
  };
  if (!(
    p.tagScore <= p.junkScore &&
    p.junkScore <= p.quarantineScore &&
    p.quarantineScore <= p.rejectScore
  )) {
    r.fail('', 'scores must satisfy tagScore <= junkScore <= quarantineScore <= rejectScore');
  }
  return p;
}

/** Compiles one policy document; throws PolicyError naming the first bad field. */
export function parseScanPolicy(doc: PolicyDocument): ScanPolicy {
  const policy = doc.name;
  const r = Reader.of(policy, '', doc.spec, [
    'direction',
    'dlp',
    'attachments',
    'recipients',
    'antivirus',
    'spam',
    'authentication',
    'anomaly',
    'watermark',
    'notify',
  ]);
  const modes = ['enforce', 'report'] as const;
  const att = r.child('attachments', [
    'blockExtensions',
    'inspectArchives',
    'blockExecutableContent',
    'maxSize',
    'action',
    'encryptedArchives',
    'maxArchiveDepth',
    'maxExpansionRatio',
    'maxExpandedBytes',
  ]);
  const av = r.child('antivirus', ['action', 'onError']);
  const spam = r.child('spam', [
    'tagScore',
    'junkScore',
    'quarantineScore',
    'rejectScore',
    'onError',
  ]);
  const auth = r.child('authentication', ['spf', 'dkim', 'dmarc']);
  const dlp = r.list('dlp').map((v, i) => parseDlpRule(policy, `dlp[${i}]`, v));
  const names = new Set<string>();
  dlp.forEach((rule, i) => {
    if (names.has(rule.name)) r.fail(`dlp[${i}].name`, `duplicate rule name ${rule.name}`);
    names.add(rule.name);
  });
  return {
    name: policy,
    // The document's direction wins; the spec's is the CRD field before compilation.
    direction: r.has('direction')
      ? r.oneOf<PolicyDirection>('direction', ['any', 'inbound', 'outbound', 'internal'])
      : doc.direction,
    dlp,
    attachments: att ? parseAttachments(att) : undefined,
    antivirus: av
      ? {
          action: av.oneOf('action', ['reject', 'quarantine'] as const, 'reject'),
          onError: av.oneOf<OnError>('onError', ['tempfail', 'accept'], 'tempfail'),
        }
      : undefined,
    spam: spam ? parseSpam(spam) : undefined,
    authentication: auth
      ? {
          spf: auth.oneOf('spf', modes, 'report'),
          dkim: auth.oneOf('dkim', modes, 'report'),
          dmarc: auth.oneOf('dmarc', modes, 'report'),
        }
      : undefined,
  };
}

// ---------------------------------------------------------------------------
// Which policies apply

/** What `selectPolicies` needs to know of the configuration. */
export interface PolicyView {
  /** Names of the policies of a local domain (primary or alias), undefined if not local. */
  policiesOfDomain(domain: string): readonly string[] | undefined;
  /** True when the client may relay without AUTH (a branch MTA): its mail counts as ours. */
  isTrustedClient?(ip: string): boolean;
}

function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? '' : address.slice(at + 1).toLowerCase();
}

/**
 * True when the mail was sent by one of our users: authenticated, submitted over a
 * submission listener or the API, generated by Mailmesh, or relayed by a trusted
 * network with a local sender domain. A local MAIL FROM alone proves nothing on MX.
 */
export function isLocalSender(env: Envelope, view: PolicyView): boolean {
  if (env.origin === Origin.DSN || env.listener === Listener.INTERNAL) return true;
  if (env.auth !== undefined) return true;
  if (env.listener === Listener.API) return true;
  const ip = env.client?.ip;
  return (
    env.mailFrom !== '' &&
    view.policiesOfDomain(domainOf(env.mailFrom)) !== undefined &&
    ip !== undefined &&
    view.isTrustedClient?.(ip) === true
  );
}

/**
 * The directions of a mail, one per kind of recipient: local sender to a local
 * recipient is internal, to a remote one outbound; a remote sender is inbound.
 */
export function mailDirections(env: Envelope, view: PolicyView): ReadonlySet<Direction> {
  const local = isLocalSender(env, view);
  const out = new Set<Direction>();
  for (const r of env.recipients) {
    const rcptLocal = view.policiesOfDomain(domainOf(r.address)) !== undefined;
    out.add(local ? (rcptLocal ? 'internal' : 'outbound') : 'inbound');
  }
  return out;
}

/**
 * The policies that apply to a mail, in a stable order: those of the local sender's
 * domain and of every local recipient domain, kept when their direction is `any` or
 * one of the mail's directions. Names without a policy document are skipped.
 */
export function selectPolicies(
  env: Envelope,
  view: PolicyView,
  policies: ReadonlyMap<string, ScanPolicy>,
): ScanPolicy[] {
  const directions = mailDirections(env, view);
  const names = new Set<string>();
  if (isLocalSender(env, view) && env.mailFrom !== '') {
    for (const n of view.policiesOfDomain(domainOf(env.mailFrom)) ?? []) names.add(n);
  }
  for (const r of env.recipients) {
    for (const n of view.policiesOfDomain(domainOf(r.address)) ?? []) names.add(n);
  }
  const out: ScanPolicy[] = [];
  for (const n of [...names].sort()) {
    const p = policies.get(n);
    if (p && (p.direction === 'any' || directions.has(p.direction))) out.push(p);
  }
  return out;
}
