/**
 * In-process validation of MailDomain / MailPolicy objects with the CRD schemas
 * (schema.ts): ajv for the OpenAPI part, plus what the API server checks beyond plain
 * JSON Schema — unknown fields (fieldValidation=Strict), `x-kubernetes-list-type`
 * set/map uniqueness, CEL rules (through their JavaScript twins) and defaulting.
 * Every issue carries the field path the API server would name (`spec.mailboxes[2].name`).
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import {
  celTwins,
  type JsonSchema,
  mailDomainSchema,
  mailDomainSpecSchema,
  mailPolicySchema,
  mailPolicySpecSchema,
  OBJECT_NAME_PATTERN,
  patternHints,
} from './schema.js';
import { crdApiVersion } from './types.js';

/**
 * Why a field is refused. `Invalid` and `Duplicate` are what the API server also
 * refuses; the others come from the compiler, which sees referenced objects.
 */
export type IssueReason = 'Invalid' | 'Duplicate' | 'SecretMissing' | 'PolicyMissing' | 'Conflict';

export interface Issue {
  /** `spec.mailboxes[2].name`; `''` for the object itself. */
  readonly path: string;
  readonly reason: IssueReason;
  readonly message: string;
}

export type ResourceKind = 'MailDomain' | 'MailPolicy';

const K8S_KEYWORDS = [
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-validations',
];

/** A copy of `schema` that refuses unknown fields, as `fieldValidation=Strict` does. */
function strict(schema: JsonSchema): Record<string, unknown> {
  const out: Record<string, unknown> = { ...schema };
  if (schema.properties !== undefined) {
    out.properties = Object.fromEntries(
      Object.entries(schema.properties).map(([k, v]) => [k, strict(v)]),
    );
    if (schema['x-kubernetes-preserve-unknown-fields'] !== true) out.additionalProperties = false;
  }
  if (schema.items !== undefined) out.items = strict(schema.items);
  return out;
}

let ajv: Ajv | undefined;
const compiled = new Map<JsonSchema, ValidateFunction>();

function validatorOf(schema: JsonSchema): ValidateFunction {
  ajv ??= (() => {
    const a = new Ajv({ allErrors: true, useDefaults: true, verbose: true, strict: true });
    for (const k of K8S_KEYWORDS) a.addKeyword({ keyword: k });
    a.addFormat('int64', true).addFormat('int32', true).addFormat('date-time', true);
    return a;
  })();
  let v = compiled.get(schema);
  if (v === undefined) {
    v = ajv.compile(strict(schema));
    compiled.set(schema, v);
  }
  return v;
}

/** `a.b[2].c` from a base path and JSON-pointer segments. */
export function joinPath(base: string, segments: readonly (string | number)[]): string {
  let p = base;
  for (const s of segments) {
    if (typeof s === 'number') p += `[${s}]`;
    else p = p === '' ? s : `${p}.${s}`;
  }
  return p;
}

function pointerSegments(pointer: string): (string | number)[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^(0|[1-9][0-9]*)$/.test(s) ? Number(s) : s));
}

const describe = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;

function issueOf(base: string, e: ErrorObject): Issue {
  const segs = pointerSegments(e.instancePath);
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return {
        path: joinPath(base, [...segs, String(p.missingProperty)]),
        reason: 'Invalid',
        message: 'Required value',
      };
    case 'additionalProperties':
      return {
        path: joinPath(base, [...segs, String(p.additionalProperty)]),
        reason: 'Invalid',
        message: `unknown field "${String(p.additionalProperty)}"`,
      };
    case 'pattern': {
      const pattern = String(p.pattern);
      const hint = patternHints.get(pattern);
      return {
        path: joinPath(base, segs),
        reason: 'Invalid',
        message: `Invalid value ${JSON.stringify(e.data)}: must be ${hint ?? `matching ${pattern}`}`,
      };
    }
    case 'enum':
      return {
        path: joinPath(base, segs),
        reason: 'Invalid',
        message: `Unsupported value ${JSON.stringify(e.data)}: supported values: ${(
          p.allowedValues as unknown[]
        )
          .map((v) => JSON.stringify(v))
          .join(', ')}`,
      };
    case 'type':
      return {
        path: joinPath(base, segs),
        reason: 'Invalid',
        message: `must be of type ${String(p.type)}, got ${describe(e.data)}`,
      };
    default:
      return { path: joinPath(base, segs), reason: 'Invalid', message: e.message ?? e.keyword };
  }
}

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The API server drops `null` object fields whose schema is not nullable before it
 * validates (a YAML `catchAll:` with no value); do the same.
 */
function dropNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(dropNulls);
  if (isObj(v)) {
    return Object.fromEntries(
      Object.entries(v)
        .filter(([, x]) => x !== null)
        .map(([k, x]) => [k, dropNulls(x)]),
    );
  }
  return v;
}

/** Set/map uniqueness and CEL twins, following the value through the schema. */
function walk(schema: JsonSchema, value: unknown, path: string, out: Issue[]): void {
  if (value === undefined) return;
  for (const rule of schema['x-kubernetes-validations'] ?? []) {
    const twin = celTwins.get(rule.rule);
    if (twin !== undefined && !twin.check(value)) {
      out.push({
        path: rule.fieldPath !== undefined ? `${path}${rule.fieldPath}`.replace(/^\./, '') : path,
        reason: twin.reason,
        message: rule.message,
      });
    }
  }
  if (Array.isArray(value) && schema.items !== undefined) {
    const listType = schema['x-kubernetes-list-type'];
    const keys = schema['x-kubernetes-list-map-keys'] ?? [];
    const seen = new Map<string, number>();
    value.forEach((item: unknown, i) => {
      let id: string | undefined;
      let blame = joinPath(path, [i]);
      if (listType === 'set') id = JSON.stringify(item);
      if (listType === 'map' && isObj(item)) {
        id = JSON.stringify(keys.map((k) => item[k]));
        if (keys.length === 1 && keys[0] !== undefined) blame = joinPath(path, [i, keys[0]]);
      }
      if (id !== undefined) {
        const first = seen.get(id);
        if (first !== undefined) {
          const shown =
            listType === 'map' && keys.length === 1 && isObj(item) ? item[keys[0] ?? ''] : item;
          out.push({
            path: blame,
            reason: 'Duplicate',
            message: `Duplicate value ${JSON.stringify(shown)} (also at ${joinPath(path, [first])})`,
          });
        } else {
          seen.set(id, i);
        }
      }
      walk(schema.items as JsonSchema, item, joinPath(path, [i]), out);
    });
  }
  if (isObj(value) && schema.properties !== undefined) {
    for (const [k, s] of Object.entries(schema.properties))
      walk(s, value[k], joinPath(path, [k]), out);
  }
}

export interface Validated<T> {
  /** A defaulted copy of the input (schema defaults applied, null fields dropped). */
  readonly value: T;
  readonly issues: readonly Issue[];
}

function run<T>(schema: JsonSchema, input: unknown, base: string): Validated<T> {
  const value = dropNulls(structuredClone(input));
  const validate = validatorOf(schema);
  const issues: Issue[] = [];
  if (!validate(value)) for (const e of validate.errors ?? []) issues.push(issueOf(base, e));
  walk(schema, value, base, issues);
  return { value: value as T, issues: dedupe(issues) };
}

function dedupe(issues: Issue[]): Issue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const k = `${i.path}\0${i.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

const specSchemas: Record<ResourceKind, JsonSchema> = {
  MailDomain: mailDomainSpecSchema,
  MailPolicy: mailPolicySpecSchema,
};
const objectSchemas: Record<ResourceKind, JsonSchema> = {
  MailDomain: mailDomainSchema,
  MailPolicy: mailPolicySchema,
};

/** Validates and defaults a `spec`; paths start with `spec.`. */
export function validateSpec<T>(kind: ResourceKind, spec: unknown): Validated<T> {
  if (!isObj(spec)) {
    return {
      value: spec as T,
      issues: [
        {
          path: 'spec',
          reason: 'Invalid',
          message: `must be of type object, got ${describe(spec)}`,
        },
      ],
    };
  }
  return run<T>(specSchemas[kind], spec, 'spec');
}

const OBJECT_NAME = new RegExp(OBJECT_NAME_PATTERN);

/**
 * Validates a whole object as `kubectl apply` would send it: apiVersion, kind,
 * metadata.name (and namespace), the kind's schema and its root-level CEL rules.
 */
export function validateResource<T>(kind: ResourceKind, obj: unknown): Validated<T> {
  if (!isObj(obj)) {
    return {
      value: obj as T,
      issues: [{ path: '', reason: 'Invalid', message: `must be an object, got ${describe(obj)}` }],
    };
  }
  const issues: Issue[] = [];
  if (obj.apiVersion !== crdApiVersion) {
    issues.push({ path: 'apiVersion', reason: 'Invalid', message: `must be ${crdApiVersion}` });
  }
  if (obj.kind !== kind)
    issues.push({ path: 'kind', reason: 'Invalid', message: `must be ${kind}` });
  const meta = obj.metadata;
  if (!isObj(meta)) {
    issues.push({ path: 'metadata', reason: 'Invalid', message: 'Required value' });
  } else {
    for (const field of ['name', 'namespace'] as const) {
      const v = meta[field];
      if (v === undefined && field === 'namespace') continue;
      if (typeof v !== 'string' || v.length > 253 || !OBJECT_NAME.test(v)) {
        issues.push({
          path: `metadata.${field}`,
          reason: 'Invalid',
          message:
            v === undefined
              ? 'Required value'
              : `Invalid value ${JSON.stringify(v)}: must be a lowercase DNS subdomain of at most 253 characters`,
        });
      }
    }
  }
  const r = run<T>(objectSchemas[kind], obj, '');
  // The object schema leaves metadata open; the checks above cover it.
  return { value: r.value, issues: dedupe([...issues, ...r.issues]) };
}
