/**
 * Compiles a set of objects as `mailmesh apply -f` reads them from files: Secrets,
 * MailPolicies and MailDomains side by side, resolved per namespace the way the
 * operator resolves them in a cluster. Either every object compiles, and `entries`
 * holds every KV document, or `errors` names each refused object and field.
 */
import { configKeys } from '@mailmesh/proto';
import type { CompiledDomain, CompiledPolicy } from '../compiled.js';
import { compileDomain, compilePolicy, type SecretData } from '../compile.js';
import type { PasswordHasher } from './password.js';
import type { MailDomain, MailPolicy } from './types.js';
import { type Issue, validateResource } from './validate.js';

export interface ResourceIssues {
  /** Index of the object in the input. */
  readonly index: number;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly issues: readonly Issue[];
}

export interface CompiledBundle {
  /** KV key (`domain.<fqdn>`, `policy.<name>`) -> document. */
  readonly entries: ReadonlyMap<string, CompiledDomain | CompiledPolicy>;
  readonly errors: readonly ResourceIssues[];
}

export interface BundleOptions {
  /** Namespace of objects that name none; default `default`. */
  readonly defaultNamespace?: string;
  /** Secrets that exist outside the bundle: namespace -> name -> data. */
  readonly secrets?: ReadonlyMap<string, SecretData>;
  /** Published domains by FQDN, so unchanged passwords keep their hashes. */
  readonly previous?: ReadonlyMap<string, CompiledDomain>;
  readonly hasher?: PasswordHasher;
}

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The data of a v1 Secret object (`data` base64-decoded, `stringData` winning), as UTF-8 text. */
export function secretDataOf(secret: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isObj(secret)) return out;
  if (isObj(secret.data)) {
    for (const [k, v] of Object.entries(secret.data)) {
      if (typeof v === 'string') out[k] = Buffer.from(v, 'base64').toString('utf8');
    }
  }
  if (isObj(secret.stringData)) {
    for (const [k, v] of Object.entries(secret.stringData)) if (typeof v === 'string') out[k] = v;
  }
  return out;
}

function metaOf(o: unknown, fallbackNs: string): { kind: string; name: string; namespace: string } {
  const r = isObj(o) ? o : {};
  const m = isObj(r.metadata) ? r.metadata : {};
  return {
    kind: typeof r.kind === 'string' ? r.kind : '',
    name: typeof m.name === 'string' ? m.name : '',
    namespace: typeof m.namespace === 'string' && m.namespace !== '' ? m.namespace : fallbackNs,
  };
}

export async function compileBundle(
  objects: readonly unknown[],
  opts: BundleOptions = {},
): Promise<CompiledBundle> {
  const ns0 = opts.defaultNamespace ?? 'default';
  const errors: ResourceIssues[] = [];
  const entries = new Map<string, CompiledDomain | CompiledPolicy>();
  const secrets = new Map<string, Map<string, Readonly<Record<string, string>>>>();
  for (const [ns, data] of opts.secrets ?? []) secrets.set(ns, new Map(data));
  const policies: { index: number; ns: string; obj: MailPolicy }[] = [];
  const domains: { index: number; ns: string; obj: MailDomain }[] = [];
  const fail = (index: number, o: unknown, issues: readonly Issue[]): void => {
    const m = metaOf(o, ns0);
    errors.push({ index, kind: m.kind, namespace: m.namespace, name: m.name, issues });
  };

  objects.forEach((o, index) => {
    const m = metaOf(o, ns0);
    if (m.kind === 'Secret' && isObj(o) && o.apiVersion === 'v1') {
      let byName = secrets.get(m.namespace);
      if (byName === undefined) {
        byName = new Map<string, Readonly<Record<string, string>>>();
        secrets.set(m.namespace, byName);
      }
      byName.set(m.name, secretDataOf(o));
    } else if (m.kind === 'MailPolicy' || m.kind === 'MailDomain') {
      const v = validateResource<MailPolicy | MailDomain>(m.kind, o);
      if (v.issues.length > 0) fail(index, o, v.issues);
      else if (v.value.kind === 'MailPolicy')
        policies.push({ index, ns: m.namespace, obj: v.value });
      else domains.push({ index, ns: m.namespace, obj: v.value });
    } else {
      fail(index, o, [
        {
          path: 'kind',
          reason: 'Invalid',
          message: `unsupported kind ${JSON.stringify(m.kind)} (MailDomain, MailPolicy or v1 Secret)`,
        },
      ]);
    }
  });

  const policyOwner = new Map<string, string>();
  const policyNames = new Map<string, Set<string>>();
  for (const { index, ns, obj } of policies) {
    const name = obj.metadata.name ?? '';
    let inNs = policyNames.get(ns);
    if (inNs === undefined) policyNames.set(ns, (inNs = new Set()));
    inNs.add(name);
    const owner = policyOwner.get(name);
    if (owner !== undefined) {
      fail(index, obj, [
        {
          path: 'metadata.name',
          reason: 'Conflict',
          message: `policy ${name} is already defined by MailPolicy ${owner}`,
        },
      ]);
      continue;
    }
    policyOwner.set(name, `${ns}/${name}`);
    const r = compilePolicy(obj.spec, { name, secrets: secrets.get(ns) ?? new Map() });
    if (r.ok) entries.set(configKeys.policy(name), r.compiled);
    else fail(index, obj, r.errors);
  }

  const claimed = new Map<string, string>();
  for (const { index, ns, obj } of domains) {
    const r = await compileDomain(obj.spec, {
      secrets: secrets.get(ns) ?? new Map(),
      policies: policyNames.get(ns) ?? new Set(),
      claimed,
      ...(opts.previous?.get(obj.spec.domain)
        ? { previous: opts.previous.get(obj.spec.domain) as CompiledDomain }
        : {}),
      ...(opts.hasher ? { hasher: opts.hasher } : {}),
    });
    if (!r.ok) {
      fail(index, obj, r.errors);
      continue;
    }
    const owner = `${ns}/${obj.metadata.name ?? ''}`;
    for (const n of [r.compiled.domain, ...r.compiled.aliases]) claimed.set(n, owner);
    entries.set(configKeys.domain(r.compiled.domain), r.compiled);
  }
  return { entries, errors };
}
