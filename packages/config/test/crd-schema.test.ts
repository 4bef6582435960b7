import { expect, test } from 'vitest';
import {
  celTwins,
  crdManifests,
  loadYaml,
  mailDomainSchema,
  mailPolicySchema,
  type JsonSchema,
  validateResource,
} from '../src/crd/index.js';

function rules(s: JsonSchema, out: string[] = []): string[] {
  for (const r of s['x-kubernetes-validations'] ?? []) out.push(r.rule);
  for (const p of Object.values(s.properties ?? {})) rules(p, out);
  if (s.items) rules(s.items, out);
  return out;
}

test('every CEL rule but transition rules has a JavaScript twin', () => {
  const all = [...rules(mailDomainSchema), ...rules(mailPolicySchema)];
  expect(all.length).toBeGreaterThan(5);
  for (const r of all) expect(celTwins.has(r) || r.includes('oldSelf'), r).toBe(true);
});

function walk(s: JsonSchema, path: string, visit: (s: JsonSchema, path: string) => void): void {
  visit(s, path);
  for (const [k, p] of Object.entries(s.properties ?? {})) walk(p, `${path}.${k}`, visit);
  if (s.items) walk(s.items, `${path}[]`, visit);
}

test('schemas are structural and bounded (what CEL cost estimation needs)', () => {
  for (const crd of crdManifests()) {
    walk(crd.spec.versions[0]!.schema.openAPIV3Schema, crd.metadata.name, (s, path) => {
      expect(s.type, `${path} has a type`).toBeDefined();
      expect(Object.keys(s), path).not.toContain('additionalProperties');
      if (s.type === 'array' && !path.includes('.status'))
        expect(s.maxItems, `${path} maxItems`).toBeDefined();
      if (s.type === 'string' && path.includes('.spec.') && s.enum === undefined)
        expect(s.maxLength, `${path} maxLength`).toBeDefined();
    });
  }
});

test('validateResource checks apiVersion, kind and metadata too', () => {
  const r = validateResource('MailDomain', {
    apiVersion: 'v1',
    kind: 'MailDomain',
    metadata: { name: 'Bad Name' },
    spec: { domain: 'x.company.local' },
  });
  expect(r.issues.map((i) => i.path)).toEqual(['apiVersion', 'metadata.name']);
  const ok = validateResource(
    'MailPolicy',
    loadYaml('apiVersion: mailmesh.io/v1alpha1\nkind: MailPolicy\nmetadata: {name: p}\nspec: {}\n')
      .documents[0]?.value,
  );
  expect(ok.issues).toEqual([]);
  expect(ok.value).toMatchObject({ spec: { direction: 'any' } });
});
