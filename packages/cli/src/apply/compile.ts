/**
 * YAML files -> the documents of the `mailmesh-config` bucket, with the operator's own
 * schemas and bundle compiler (`@mailmesh/config/crd` compileBundle), so `mailmesh apply` refuses exactly
 * what the API server and the operator refuse, at the same field paths. Every defect
 * of every file is collected; any defect means no documents at all.
 *
 * Resources are namespaced as in Kubernetes (absent namespace = `default`): a
 * MailDomain sees the Secrets and MailPolicies of its own namespace.
 */
import type { CompiledDomain, CompiledPolicy } from '@mailmesh/config';
import {
  compileBundle,
  loadYaml,
  secretDataOf,
  type Issue,
  type LoadedDocument,
  type PasswordHasher,
} from '@mailmesh/config/crd';
import { configKeys } from '@mailmesh/proto';

import { ConfigInvalidError, type ConfigIssue } from '../errors.js';
import type { SourceFile } from './files.js';

export const DEFAULT_NAMESPACE = 'default';

/** What is live in the bucket, where it matters to compiling. */
export interface LiveView {
  /** Published domains by FQDN: their password hashes are reused while they verify. */
  readonly domains: ReadonlyMap<string, CompiledDomain>;
  /** Published policy names. */
  readonly policies: ReadonlySet<string>;
}

export interface CompileOptions {
  /**
   * What is live now: password hashes of live domains are kept while they verify, and
   * (without `prune`) live domains the input does not mention keep their names.
   * References (policies, Secrets) resolve within the input, as in one namespace.
   */
  readonly live?: LiveView;
  /** The input is the whole configuration: live documents not in it will be deleted. */
  readonly prune?: boolean;
  readonly hasher?: PasswordHasher;
}

export interface CompiledResource {
  readonly kind: 'MailDomain' | 'MailPolicy';
  readonly namespace: string;
  readonly name: string;
  /** The bucket key it compiles to. */
  readonly key: string;
  readonly file: string;
}

export interface CompiledConfig {
  /** Bucket key -> document, policies first. */
  readonly documents: ReadonlyMap<string, CompiledDomain | CompiledPolicy>;
  readonly domains: readonly CompiledDomain[];
  readonly policies: readonly CompiledPolicy[];
  readonly resources: readonly CompiledResource[];
  /** Secret data by namespace, then Secret name (for `mailmesh dns` to find DKIM keys). */
  readonly secrets: ReadonlyMap<string, ReadonlyMap<string, Readonly<Record<string, string>>>>;
}

interface Located {
  readonly file: string;
  readonly doc: LoadedDocument;
  readonly value: Record<string, unknown>;
  readonly namespace: string;
  readonly name: string;
}

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function metaOf(value: Record<string, unknown>): { name: string; namespace: string } {
  const meta = isObj(value['metadata']) ? value['metadata'] : {};
  const name = typeof meta['name'] === 'string' ? meta['name'] : '';
  const ns =
    typeof meta['namespace'] === 'string' && meta['namespace'] !== ''
      ? meta['namespace']
      : DEFAULT_NAMESPACE;
  return { name, namespace: ns };
}

function resourceLabel(kind: string, ns: string, name: string): string {
  return `${kind} ${ns}/${name === '' ? '?' : name}`;
}

/**
 * Loads, validates and compiles every document of `files` with the operator's bundle
 * compiler. Throws `ConfigInvalidError` with every issue found (file, line, resource,
 * field path) if there is any.
 */
export async function compileSources(
  files: readonly SourceFile[],
  opts: CompileOptions = {},
): Promise<CompiledConfig> {
  const issues: ConfigIssue[] = [];
  const objects: unknown[] = [];
  const origin: Located[] = [];

  const at = (
    file: string,
    doc: LoadedDocument | undefined,
    resource: string | undefined,
    i: Pick<Issue, 'path' | 'message'> & { readonly reason?: string },
  ): ConfigIssue => {
    const pos = doc?.locate(i.path);
    return {
      file,
      ...(pos !== undefined ? { line: pos.line, col: pos.col } : {}),
      ...(resource !== undefined ? { resource } : {}),
      path: i.path,
      ...(i.reason !== undefined ? { reason: i.reason } : {}),
      message: i.message,
    };
  };

  for (const f of files) {
    const loaded = loadYaml(f.text);
    for (const e of loaded.errors) {
      issues.push({
        file: f.path,
        line: e.line,
        col: e.col,
        path: '',
        reason: 'Invalid',
        message: `invalid YAML: ${e.message}`,
      });
    }
    for (const doc of loaded.documents) {
      const value = doc.value;
      if (!isObj(value)) {
        issues.push(
          at(f.path, doc, `document ${doc.index + 1}`, {
            path: '',
            reason: 'Invalid',
            message: 'must be a mapping (a Kubernetes object)',
          }),
        );
        continue;
      }
      const { name, namespace } = metaOf(value);
      objects.push(value);
      origin.push({ file: f.path, doc, value, namespace, name });
    }
  }

  const bundle = await compileBundle(objects, {
    defaultNamespace: DEFAULT_NAMESPACE,
    ...(opts.live !== undefined ? { previous: opts.live.domains } : {}),
    ...(opts.hasher !== undefined ? { hasher: opts.hasher } : {}),
  });
  for (const e of bundle.errors) {
    const o = origin[e.index];
    const label = resourceLabel(e.kind === '' ? '?' : e.kind, e.namespace, e.name);
    for (const i of e.issues) {
      const hint =
        i.reason === 'PolicyMissing' &&
        opts.live !== undefined &&
        [...opts.live.policies].some((p) => i.message.includes(`"${p}"`))
          ? ' (it is live in the bucket, but references resolve within the files given: add its file with -f)'
          : '';
      issues.push(
        at(o?.file ?? '<input>', o?.doc, label, { ...i, message: `${i.message}${hint}` }),
      );
    }
  }

  const secrets = new Map<string, Map<string, Readonly<Record<string, string>>>>();
  const resources: CompiledResource[] = [];
  const domains: CompiledDomain[] = [];
  const policies: CompiledPolicy[] = [];
  for (const o of origin) {
    const kind = o.value['kind'];
    if (kind === 'Secret' && o.value['apiVersion'] === 'v1') {
      let ns = secrets.get(o.namespace);
      if (ns === undefined)
        secrets.set(o.namespace, (ns = new Map<string, Readonly<Record<string, string>>>()));
      ns.set(o.name, secretDataOf(o.value));
    }
  }
  for (const [key, doc] of bundle.entries) {
    if (key.startsWith(configKeys.policyPrefix)) policies.push(doc as CompiledPolicy);
    else domains.push(doc as CompiledDomain);
  }
  for (const o of origin) {
    const kind = o.value['kind'];
    if (kind === 'MailPolicy' && bundle.entries.has(configKeys.policy(o.name))) {
      resources.push({
        kind,
        namespace: o.namespace,
        name: o.name,
        key: configKeys.policy(o.name),
        file: o.file,
      });
    } else if (kind === 'MailDomain') {
      const spec = isObj(o.value['spec']) ? o.value['spec'] : {};
      const fqdn = typeof spec['domain'] === 'string' ? spec['domain'] : '';
      const key = `${configKeys.domainPrefix}${fqdn}`;
      if (bundle.entries.has(key))
        resources.push({ kind, namespace: o.namespace, name: o.name, key, file: o.file });
    }
  }

  // Without prune, live domains the input does not replace stay live: the input must
  // not claim their names (services would refuse the whole snapshot).
  if (opts.prune !== true && opts.live !== undefined) {
    const inputKeys = new Set(domains.map((d) => d.domain));
    const liveOwner = new Map<string, string>();
    for (const d of opts.live.domains.values()) {
      if (inputKeys.has(d.domain)) continue;
      for (const n of [d.domain, ...d.aliases]) liveOwner.set(n, configKeys.domain(d.domain));
    }
    for (const r of resources) {
      if (r.kind !== 'MailDomain') continue;
      const d = domains.find((x) => configKeys.domain(x.domain) === r.key);
      const o = origin.find(
        (x) => x.file === r.file && x.name === r.name && x.namespace === r.namespace,
      );
      if (d === undefined) continue;
      for (const [i, n] of [d.domain, ...d.aliases].entries()) {
        const owner = liveOwner.get(n);
        if (owner === undefined) continue;
        issues.push(
          at(r.file, o?.doc, resourceLabel('MailDomain', r.namespace, r.name), {
            path: i === 0 ? 'spec.domain' : `spec.domainAliases[${i - 1}]`,
            reason: 'Conflict',
            message: `${n} is already served by the live ${owner} (apply its change too, or use --prune)`,
          }),
        );
      }
    }
  }

  if (issues.length > 0) throw new ConfigInvalidError(issues);

  const documents = new Map<string, CompiledDomain | CompiledPolicy>();
  for (const p of policies) documents.set(configKeys.policy(p.name), p);
  for (const d of domains) documents.set(configKeys.domain(d.domain), d);
  return { documents, domains, policies, resources, secrets };
}
