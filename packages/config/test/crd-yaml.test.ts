import { expect, test } from 'vitest';
import { loadYaml, parsePath, validateResource } from '../src/crd/index.js';

const text = `# two documents
apiVersion: mailmesh.io/v1alpha1
kind: MailDomain
metadata: { name: sh }
spec:
  domain: sh.company.local
  inbound:
    requireTLS: yes
  mailboxes:
    - name: a
      password: { hash: "x" }
    - name: b
      password: { hash: "x" }
---
---
apiVersion: v1
kind: Secret
metadata: { name: s }
stringData: { since: 2024-01-01 }
`;

test('loads multi-document YAML like kubectl (YAML 1.1 booleans, timestamps as strings)', () => {
  const { documents, errors } = loadYaml(text);
  expect(errors).toEqual([]);
  expect(documents).toHaveLength(2);
  expect(documents[0]?.position).toEqual({ line: 2, col: 1 });
  expect(
    (documents[0]?.value as { spec: { inbound: { requireTLS: unknown } } }).spec.inbound.requireTLS,
  ).toBe(true);
  expect((documents[1]?.value as { stringData: { since: unknown } }).stringData.since).toBe(
    '2024-01-01',
  );
});

test('locates a field path, or its nearest written ancestor', () => {
  const doc = loadYaml(text).documents[0]!;
  expect(doc.locate('spec.mailboxes[1].name')).toEqual({ line: 12, col: 7 });
  expect(doc.locate('spec.mailboxes[1].password.hash')).toEqual({ line: 13, col: 19 });
  expect(doc.locate('spec.mailboxes[1].quota')).toEqual({ line: 12, col: 7 });
  const issue = validateResource('MailDomain', doc.value).issues[0];
  expect(issue?.path).toBe('spec.mailboxes[0].password.hash');
  expect(doc.locate(issue?.path ?? '')).toEqual({ line: 11, col: 19 });
});

test('syntax errors and duplicate keys carry line and column', () => {
  const dup = loadYaml('a: 1\nb: 2\na: 3\n');
  expect(dup.errors[0]).toMatchObject({ line: 3, col: 1 });
  expect(dup.errors[0]?.message).toMatch(/unique/i);
  const bad = loadYaml('a: [1, 2\n');
  expect(bad.errors.length).toBeGreaterThan(0);
  expect(bad.documents).toEqual([]);
});

test('parsePath', () => {
  expect(parsePath('spec.mailboxes[2].sendAs[0]')).toEqual(['spec', 'mailboxes', 2, 'sendAs', 0]);
  expect(parsePath('')).toEqual([]);
});
