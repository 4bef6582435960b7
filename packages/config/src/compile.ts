/**
 * The CRD compiler: MailDomain / MailPolicy specs (plus the Secrets and MailPolicies they
 * reference) -> the documents of the `mailmesh-config` bucket (compiled.ts). Pure apart
 * from password hashing; the operator and `mailmesh apply` both call it, so a file is
 * refused by `apply` with the same field paths the API server and the operator report.
 *
 * A result is either `{ ok: true, compiled }` or `{ ok: false, errors }` with every
 * defect found; nothing partial is ever returned.
 */
import { configKeys } from '@mailmesh/proto';
import type {
  CompiledDomain,
  CompiledGroup,
  CompiledMailbox,
  CompiledPolicy,
  SecretRef,
} from './compiled.js';
import { ConfigError } from './errors.js';
import { parseDomain, parsePolicy } from './internal/parse.js';
import { defaultHasher, PASSWORD_HASH, type PasswordHasher } from './crd/password.js';
import { parseQuantity } from './crd/quantity.js';
import { DNS_LABEL_PATTERN } from './crd/schema.js';
import type { MailDomainSpec, MailPolicySpec, SecretKeySelector } from './crd/types.js';
import { type Issue, joinPath, validateSpec } from './crd/validate.js';

/** Secret data by Secret name (the namespace of the object compiled), values as UTF-8 text. */
export type SecretData = ReadonlyMap<string, Readonly<Record<string, string>>>;

export type CompileResult<T> =
  | { readonly ok: true; readonly compiled: T }
  | { readonly ok: false; readonly errors: readonly Issue[] };

export interface DomainCompileContext {
  readonly secrets: SecretData;
  /** The MailPolicies that exist in the namespace (a Set of names, or a Map by name). */
  readonly policies: { has(name: string): boolean };
  /** The domain's currently published document: its password hashes are kept while they verify. */
  readonly previous?: CompiledDomain;
  /** The DKIM key to use when the spec names none (the operator's generated Secret). */
  readonly dkimKey?: SecretRef;
  /** Domain names served elsewhere -> who serves them (`mail/hq`), to refuse a second claim. */
  readonly claimed?: ReadonlyMap<string, string>;
  readonly hasher?: PasswordHasher;
}

export interface PolicyCompileContext {
  /** metadata.name of the MailPolicy; becomes the key `policy.<name>`. */
  readonly name: string;
  readonly secrets: SecretData;
}

/** DKIM selector used when the spec names none. */
export const DEFAULT_DKIM_SELECTOR = 'mailmesh';

/** The Secrets and MailPolicies a MailDomain spec reads, for watches and indexes. */
export function referencesOf(spec: MailDomainSpec): { secrets: string[]; policies: string[] } {
  const secrets = new Set<string>();
  for (const m of spec.mailboxes ?? [])
    if (m.password.secretRef) secrets.add(m.password.secretRef.name);
  const refs = [
    spec.outbound?.smartHost?.auth?.secretRef,
    spec.outbound?.dkim?.key?.secretRef,
    spec.directory?.ldap?.bindPassword?.secretRef,
  ];
  for (const r of refs) if (r) secrets.add(r.name);
  return { secrets: [...secrets].sort(), policies: [...new Set(spec.policies ?? [])].sort() };
}

/** The Secrets a MailPolicy spec reads. */
export function policyReferencesOf(spec: MailPolicySpec): { secrets: string[] } {
  const secrets = new Set<string>();
  for (const n of spec.notify ?? []) if (n.webhook.secretRef) secrets.add(n.webhook.secretRef.name);
  return { secrets: [...secrets].sort() };
}

function secretValue(
  secrets: SecretData,
  ref: SecretKeySelector,
  path: string,
  issues: Issue[],
): string | undefined {
  const data = secrets.get(ref.name);
  if (data === undefined) {
    issues.push({
      path: `${path}.name`,
      reason: 'SecretMissing',
      message: `Secret "${ref.name}" not found`,
    });
    return undefined;
  }
  const v = data[ref.key];
  if (v === undefined) {
    issues.push({
      path: `${path}.key`,
      reason: 'SecretMissing',
      message: `Secret "${ref.name}" has no key "${ref.key}"`,
    });
    return undefined;
  }
  return v;
}

/** A trailing newline is what `kubectl create secret --from-file` of a text file leaves. */
const chompNewline = (s: string): string => s.replace(/\r?\n$/, '');

function selfCheck<T>(check: () => T, issues: Issue[]): T | undefined {
  try {
    return check();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    issues.push({
      path: err.path === '' ? 'spec' : `compiled.${err.path}`,
      reason: 'Invalid',
      message: `compiled document refused: ${err.problem}`,
    });
    return undefined;
  }
}

/** Compiles one MailDomain spec into the document stored under `domain.<fqdn>`. */
export async function compileDomain(
  spec: unknown,
  ctx: DomainCompileContext,
): Promise<CompileResult<CompiledDomain>> {
  const v = validateSpec<MailDomainSpec>('MailDomain', spec);
  if (v.issues.length > 0) return { ok: false, errors: v.issues };
  const s = v.value;
  const domain = s.domain;
  const issues: Issue[] = [];

  for (const [i, name] of [domain, ...(s.domainAliases ?? [])].entries()) {
    const owner = ctx.claimed?.get(name);
    if (owner !== undefined) {
      issues.push({
        path: i === 0 ? 'spec.domain' : `spec.domainAliases[${i - 1}]`,
        reason: 'Conflict',
        message: `${name} is already served by MailDomain ${owner}`,
      });
    }
  }

  const mailboxSpecs = s.mailboxes ?? [];
  const groupSpecs = s.groups ?? [];
  const localNames = new Set([
    ...mailboxSpecs.map((m) => m.name),
    ...groupSpecs.map((g) => g.name),
  ]);
  const groupNames = new Set(groupSpecs.map((g) => g.name));
  const ownDomains = new Set([domain, ...(s.domainAliases ?? [])]);

  // Passwords: resolve every reference first; hash only once the whole spec is sound.
  const plain: (string | undefined)[] = [];
  mailboxSpecs.forEach((m, i) => {
    const base = `spec.mailboxes[${i}].password`;
    if (m.password.hash !== undefined) {
      plain.push(undefined);
      return;
    }
    const ref = m.password.secretRef as SecretKeySelector;
    const raw = secretValue(ctx.secrets, ref, `${base}.secretRef`, issues);
    const value = raw === undefined ? undefined : chompNewline(raw);
    if (value === '') {
      issues.push({
        path: `${base}.secretRef.key`,
        reason: 'Invalid',
        message: `Secret "${ref.name}" key "${ref.key}" is empty`,
      });
    }
    plain.push(value);
  });

  const quotas = mailboxSpecs.map((m, i) => {
    if (m.quota === undefined) return 0;
    const q = parseQuantity(m.quota);
    if (q === undefined) {
      issues.push({
        path: `spec.mailboxes[${i}].quota`,
        reason: 'Invalid',
        message: `quota ${m.quota} is too large`,
      });
    }
    return q ?? 0;
  });

  const groups: CompiledGroup[] = groupSpecs.map((g, i) => ({
    name: g.name,
    address: `${g.name}@${domain}`,
    members: (g.members ?? []).map((member, j) => {
      if (member.includes('@')) return member;
      if (!localNames.has(member)) {
        issues.push({
          path: `spec.groups[${i}].members[${j}]`,
          reason: 'Invalid',
          message: `${member} is not a mailbox or group of ${domain}; write a full address for a remote member`,
        });
      }
      return `${member}@${domain}`;
    }),
  }));
  const cycle = findGroupCycle(groups, groupNames, ownDomains);
  if (cycle !== undefined) {
    issues.push({
      path: `spec.groups[${cycle.index}].members`,
      reason: 'Invalid',
      message: `groups form a cycle: ${cycle.names.join(' -> ')}`,
    });
  }

  (s.policies ?? []).forEach((p, i) => {
    if (!ctx.policies.has(p)) {
      issues.push({
        path: `spec.policies[${i}]`,
        reason: 'PolicyMissing',
        message: `MailPolicy "${p}" not found`,
      });
    }
  });

  const sh = s.outbound?.smartHost;
  if (sh?.auth)
    secretValue(ctx.secrets, sh.auth.secretRef, 'spec.outbound.smartHost.auth.secretRef', issues);
  const dkimSpec = s.outbound?.dkim;
  if (dkimSpec?.key)
    secretValue(ctx.secrets, dkimSpec.key.secretRef, 'spec.outbound.dkim.key.secretRef', issues);
  const ldap = s.directory?.ldap;
  if (ldap?.bindPassword) {
    secretValue(
      ctx.secrets,
      ldap.bindPassword.secretRef,
      'spec.directory.ldap.bindPassword.secretRef',
      issues,
    );
  }

  if (issues.length > 0) return { ok: false, errors: issues };

  const hasher = ctx.hasher ?? defaultHasher();
  const previous = new Map(
    (ctx.previous?.mailboxes ?? []).map((m) => [m.localPart, m.passwordHash]),
  );
  const mailboxes: CompiledMailbox[] = [];
  for (const [i, m] of mailboxSpecs.entries()) {
    const p = plain[i];
    let passwordHash: string;
    if (p === undefined) passwordHash = m.password.hash as string;
    else if (PASSWORD_HASH.test(p)) passwordHash = p;
    else {
      const prior = previous.get(m.name);
      passwordHash =
        prior !== undefined && (await hasher.verify(prior, p)) ? prior : await hasher.hash(p);
    }
    mailboxes.push({
      localPart: m.name,
      address: `${m.name}@${domain}`,
      ...(m.displayName !== undefined ? { displayName: m.displayName } : {}),
      passwordHash,
      quotaBytes: quotas[i] ?? 0,
      sendAs: [...(m.sendAs ?? [])],
      forwardTo: [...(m.forwardTo ?? [])],
    });
  }

  const dkimKey = dkimSpec?.key?.secretRef ?? ctx.dkimKey;
  const compiled: CompiledDomain = {
    domain,
    aliases: [...(s.domainAliases ?? [])],
    mailboxes,
    groups,
    ...(s.catchAll !== undefined ? { catchAll: s.catchAll } : {}),
    relay: { allowedNetworks: [...(s.relay?.allowedNetworks ?? [])] },
    outbound: {
      ...(sh !== undefined
        ? {
            smartHost: {
              host: sh.host,
              port: sh.port ?? 25,
              tls: sh.tls ?? 'required',
              ...(sh.auth
                ? { authSecretRef: { name: sh.auth.secretRef.name, key: sh.auth.secretRef.key } }
                : {}),
            },
          }
        : {}),
      ...(dkimSpec !== undefined || dkimKey !== undefined
        ? {
            dkim: {
              selector: dkimSpec?.selector ?? DEFAULT_DKIM_SELECTOR,
              ...(dkimKey ? { keySecretRef: { name: dkimKey.name, key: dkimKey.key } } : {}),
            },
          }
        : {}),
    },
    inbound: { requireTLS: s.inbound?.requireTLS ?? false },
    policies: [...(s.policies ?? [])],
  };
  const key = configKeys.domain(domain);
  const checked = selfCheck(
    () => parseDomain(key, domain, JSON.parse(JSON.stringify(compiled))),
    issues,
  );
  if (checked === undefined) return { ok: false, errors: issues };
  return { ok: true, compiled };
}

function findGroupCycle(
  groups: readonly CompiledGroup[],
  groupNames: ReadonlySet<string>,
  ownDomains: ReadonlySet<string>,
): { index: number; names: string[] } | undefined {
  const edges = new Map<string, string[]>();
  for (const g of groups) {
    edges.set(
      g.name,
      g.members.flatMap((m) => {
        const at = m.lastIndexOf('@');
        const local = m.slice(0, at);
        return ownDomains.has(m.slice(at + 1)) && groupNames.has(local) ? [local] : [];
      }),
    );
  }
  const state = new Map<string, 'active' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string): string[] | undefined => {
    if (state.get(n) === 'done') return undefined;
    if (state.get(n) === 'active') return [...stack.slice(stack.indexOf(n)), n];
    state.set(n, 'active');
    stack.push(n);
    for (const next of edges.get(n) ?? []) {
      const c = visit(next);
      if (c) return c;
    }
    stack.pop();
    state.set(n, 'done');
    return undefined;
  };
  for (const [index, g] of groups.entries()) {
    const c = visit(g.name);
    if (c) {
      const first = groups.findIndex((x) => x.name === c[0]);
      return { index: first === -1 ? index : first, names: c };
    }
  }
  return undefined;
}

const DNS_LABEL = new RegExp(DNS_LABEL_PATTERN);

/** Compiles one MailPolicy spec into the document stored under `policy.<name>`. */
export function compilePolicy(
  spec: unknown,
  ctx: PolicyCompileContext,
): CompileResult<CompiledPolicy> {
  const issues: Issue[] = [];
  if (ctx.name.length > 63 || !DNS_LABEL.test(ctx.name)) {
    issues.push({
      path: 'metadata.name',
      reason: 'Invalid',
      message: `Invalid value ${JSON.stringify(ctx.name)}: a MailPolicy name must be a DNS label`,
    });
  }
  const v = validateSpec<MailPolicySpec>('MailPolicy', spec);
  issues.push(...v.issues);
  if (issues.length > 0) return { ok: false, errors: issues };
  const s = v.value;

  (s.dlp ?? []).forEach((rule, i) =>
    (rule.patterns ?? []).forEach((p, j) => {
      try {
        new RegExp(p, 'u');
      } catch (err) {
        issues.push({
          path: joinPath('spec', ['dlp', i, 'patterns', j]),
          reason: 'Invalid',
          message: `not a valid regular expression: ${err instanceof Error ? err.message : String(err)}`,
        });
      }
    }),
  );
  (s.notify ?? []).forEach((n, i) => {
    if (n.webhook.secretRef) {
      secretValue(ctx.secrets, n.webhook.secretRef, `spec.notify[${i}].webhook.secretRef`, issues);
    }
  });
  if (s.attachments?.maxSize !== undefined && parseQuantity(s.attachments.maxSize) === undefined) {
    issues.push({
      path: 'spec.attachments.maxSize',
      reason: 'Invalid',
      message: 'maxSize is too large',
    });
  }
  if (issues.length > 0) return { ok: false, errors: issues };

  const { direction, ...rest } = s;
  const compiled: CompiledPolicy = { name: ctx.name, direction: direction ?? 'any', spec: rest };
  const key = configKeys.policy(ctx.name);
  const checked = selfCheck(
    () => parsePolicy(key, ctx.name, JSON.parse(JSON.stringify(compiled))),
    issues,
  );
  if (checked === undefined) return { ok: false, errors: issues };
  return { ok: true, compiled };
}
