import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { verify } from '@node-rs/argon2';
import { describe, expect, test } from 'vitest';
import { buildSnapshot, encodeConfigValue } from '../src/index.js';
import {
  argon2idHasher,
  compileBundle,
  compileDomain,
  compilePolicy,
  loadYaml,
  referencesOf,
  type DomainCompileContext,
  type Issue,
} from '../src/crd/index.js';

const hasher = argon2idHasher({ memoryCost: 1024, timeCost: 1 });
const HASH =
  '$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g';
const pw = { hash: HASH };
const ctx = (over: Partial<DomainCompileContext> = {}): DomainCompileContext => ({
  secrets: new Map([['pw', { alice: 'alice-pw\n', bob: HASH }]]),
  policies: new Set(['group-dlp']),
  hasher,
  ...over,
});

async function errorsOf(spec: unknown, c = ctx()): Promise<Issue[]> {
  const r = await compileDomain(spec, c);
  if (r.ok) throw new Error('expected a refusal');
  return [...r.errors];
}

const examples = join(import.meta.dirname, '..', '..', '..', 'examples', 'company');

test('the company examples compile into documents every service accepts', async () => {
  const objects = ['dev-secrets', 'policies', 'domains'].flatMap((f) =>
    loadYaml(readFileSync(join(examples, `${f}.yaml`), 'utf8')).documents.map((d) => d.value),
  );
  const r = await compileBundle(objects, { hasher });
  expect(r.errors).toEqual([]);
  expect([...r.entries.keys()].sort()).toEqual([
    'domain.bj.company.local',
    'domain.company.local',
    'domain.sh.company.local',
    'policy.group-dlp',
    'policy.internal-only',
  ]);
  const snap = buildSnapshot(new Map([...r.entries].map(([k, v]) => [k, encodeConfigValue(v)])));
  const sh = snap.domainOf('shanghai.company.local');
  expect(sh?.outbound.smartHost).toEqual({
    host: 'mail.company.local',
    port: 587,
    tls: 'required',
    authSecretRef: { name: 'dev-relay', key: 'credentials' },
  });
  expect(snap.findRecipient('sales@sh.company.local')?.kind).toBe('group');
  expect(snap.findRecipient('nobody@company.local')?.kind).toBe('catchAll');
  const hq = snap.domainOf('company.local');
  expect(hq?.groups[0]?.members).toEqual([
    'wang.wu@company.local',
    'zhang.san@sh.company.local',
    'li.si@bj.company.local',
  ]);
  expect(hq?.mailboxes.map((m) => m.quotaBytes)).toEqual([2 ** 30, 10 * 2 ** 30]);
  expect(
    await verify(snap.findLogin('li.si@bj.company.local')?.mailbox.passwordHash ?? '', 'dev-lisi'),
  ).toBe(true);
  expect(snap.policies.get('group-dlp')?.spec).toMatchObject({
    dlp: [{ name: 'contract-terms', minMatches: 1, action: 'quarantine' }],
    antivirus: { action: 'reject', onError: 'tempfail' },
  });
});

describe('compileDomain', () => {
  test('hashes plaintext (trailing newline dropped), keeps hashes, applies defaults, adds the DKIM key', async () => {
    const r = await compileDomain(
      {
        domain: 'x.company.local',
        mailboxes: [
          { name: 'alice', password: { secretRef: { name: 'pw', key: 'alice' } }, quota: '1.5Gi' },
          { name: 'bob', password: { secretRef: { name: 'pw', key: 'bob' } } },
          { name: 'carol', password: pw, displayName: 'Carol' },
        ],
        outbound: { smartHost: { host: 'relay.company.local' } },
      },
      ctx({ dkimKey: { name: 'x-dkim', key: 'private.pem' } }),
    );
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const [alice, bob, carol] = r.compiled.mailboxes;
    expect(await verify(alice?.passwordHash ?? '', 'alice-pw')).toBe(true);
    expect(alice?.quotaBytes).toBe(1.5 * 2 ** 30);
    expect(bob?.passwordHash).toBe(HASH);
    expect(carol).toEqual({
      localPart: 'carol',
      address: 'carol@x.company.local',
      displayName: 'Carol',
      passwordHash: HASH,
      quotaBytes: 0,
      sendAs: [],
      forwardTo: [],
    });
    expect(r.compiled.outbound).toEqual({
      smartHost: { host: 'relay.company.local', port: 25, tls: 'required' },
      dkim: { selector: 'mailmesh', keySecretRef: { name: 'x-dkim', key: 'private.pem' } },
    });
  });

  test('keeps the previous hash while it verifies, so an unchanged domain compiles to the same bytes', async () => {
    const spec = {
      domain: 'x.company.local',
      mailboxes: [{ name: 'alice', password: { secretRef: { name: 'pw', key: 'alice' } } }],
    };
    const first = await compileDomain(spec, ctx());
    if (!first.ok) throw new Error('refused');
    const again = await compileDomain(spec, ctx({ previous: first.compiled }));
    expect(again).toEqual(first);
    const changed = await compileDomain(
      spec,
      ctx({ previous: first.compiled, secrets: new Map([['pw', { alice: 'other' }]]) }),
    );
    if (!changed.ok) throw new Error('refused');
    expect(changed.compiled.mailboxes[0]?.passwordHash).not.toBe(
      first.compiled.mailboxes[0]?.passwordHash,
    );
  });

  test('duplicate mailbox names', async () => {
    expect(
      await errorsOf({
        domain: 'x.company.local',
        mailboxes: [
          { name: 'a', password: pw },
          { name: 'b', password: pw },
          { name: 'a', password: pw },
        ],
      }),
    ).toEqual([
      {
        path: 'spec.mailboxes[2].name',
        reason: 'Duplicate',
        message: 'Duplicate value "a" (also at spec.mailboxes[0])',
      },
    ]);
  });

  test('a group with the name of a mailbox; an alias repeating the domain', async () => {
    expect(
      await errorsOf({
        domain: 'x.company.local',
        domainAliases: ['x.company.local'],
        mailboxes: [{ name: 'sales', password: pw }],
        groups: [{ name: 'sales', members: ['a@b.local'] }],
      }),
    ).toEqual([
      {
        path: 'spec.domainAliases',
        reason: 'Duplicate',
        message: 'domainAliases must not repeat domain',
      },
      {
        path: 'spec.groups',
        reason: 'Duplicate',
        message: 'a group must not have the name of a mailbox',
      },
    ]);
  });

  test('schema errors: pattern, unknown field, enum, required, type', async () => {
    const errors = await errorsOf({
      domain: 'Bad_Domain',
      mailboxs: [],
      outbound: { smartHost: { host: 'relay.company.local', tls: 'maybe' } },
      mailboxes: [{ name: 'a' }, { name: 'b', password: pw, quota: 12 }],
    });
    expect(errors).toEqual(
      expect.arrayContaining([
        {
          path: 'spec.domain',
          reason: 'Invalid',
          message:
            'Invalid value "Bad_Domain": must be a lowercase DNS name with at least two labels (sh.company.local)',
        },
        { path: 'spec.mailboxs', reason: 'Invalid', message: 'unknown field "mailboxs"' },
        {
          path: 'spec.outbound.smartHost.tls',
          reason: 'Invalid',
          message:
            'Unsupported value "maybe": supported values: "required", "opportunistic", "none"',
        },
        { path: 'spec.mailboxes[0].password', reason: 'Invalid', message: 'Required value' },
        {
          path: 'spec.mailboxes[1].quota',
          reason: 'Invalid',
          message: 'must be of type string, got number',
        },
      ]),
    );
  });

  test('missing Secrets and keys name the reference', async () => {
    expect(
      await errorsOf({
        domain: 'x.company.local',
        mailboxes: [
          { name: 'a', password: { secretRef: { name: 'nope', key: 'a' } } },
          { name: 'b', password: { secretRef: { name: 'pw', key: 'nokey' } } },
        ],
        outbound: {
          smartHost: {
            host: 'relay.company.local',
            auth: { secretRef: { name: 'relay', key: 'credentials' } },
          },
        },
      }),
    ).toEqual([
      {
        path: 'spec.mailboxes[0].password.secretRef.name',
        reason: 'SecretMissing',
        message: 'Secret "nope" not found',
      },
      {
        path: 'spec.mailboxes[1].password.secretRef.key',
        reason: 'SecretMissing',
        message: 'Secret "pw" has no key "nokey"',
      },
      {
        path: 'spec.outbound.smartHost.auth.secretRef.name',
        reason: 'SecretMissing',
        message: 'Secret "relay" not found',
      },
    ]);
  });

  test('missing policies, unknown local members, group cycles, claimed names', async () => {
    const errors = await errorsOf(
      {
        domain: 'x.company.local',
        domainAliases: ['y.company.local'],
        mailboxes: [{ name: 'a', password: pw }],
        groups: [
          { name: 'g1', members: ['a', 'g2'] },
          { name: 'g2', members: ['g1@y.company.local', 'ghost'] },
        ],
        policies: ['group-dlp', 'nope'],
      },
      ctx({ claimed: new Map([['y.company.local', 'mail/other']]) }),
    );
    expect(errors).toEqual([
      {
        path: 'spec.domainAliases[0]',
        reason: 'Conflict',
        message: 'y.company.local is already served by MailDomain mail/other',
      },
      {
        path: 'spec.groups[1].members[1]',
        reason: 'Invalid',
        message:
          'ghost is not a mailbox or group of x.company.local; write a full address for a remote member',
      },
      {
        path: 'spec.groups[0].members',
        reason: 'Invalid',
        message: 'groups form a cycle: g1 -> g2 -> g1',
      },
      { path: 'spec.policies[1]', reason: 'PolicyMissing', message: 'MailPolicy "nope" not found' },
    ]);
  });

  test('an empty plaintext password is refused', async () => {
    const errors = await errorsOf(
      {
        domain: 'x.company.local',
        mailboxes: [{ name: 'a', password: { secretRef: { name: 'pw', key: 'a' } } }],
      },
      ctx({ secrets: new Map([['pw', { a: '\n' }]]) }),
    );
    expect(errors).toEqual([
      {
        path: 'spec.mailboxes[0].password.secretRef.key',
        reason: 'Invalid',
        message: 'Secret "pw" key "a" is empty',
      },
    ]);
  });

  test('null fields are dropped as the API server drops them', async () => {
    const r = await compileDomain(
      { domain: 'x.company.local', catchAll: null, mailboxes: null },
      ctx(),
    );
    expect(r.ok).toBe(true);
  });

  test('referencesOf lists the Secrets and policies a spec reads', () => {
    expect(
      referencesOf({
        domain: 'x.company.local',
        mailboxes: [
          { name: 'a', password: { secretRef: { name: 's1', key: 'a' } } },
          { name: 'b', password: pw },
        ],
        outbound: { dkim: { key: { secretRef: { name: 'dk', key: 'k' } } } },
        policies: ['p2', 'p1'],
      }),
    ).toEqual({ secrets: ['dk', 's1'], policies: ['p1', 'p2'] });
  });
});

describe('compilePolicy', () => {
  test('compiles with defaults and without direction in spec', () => {
    const r = compilePolicy(
      { dlp: [{ name: 'r', keywords: ['机密'] }] },
      { name: 'p', secrets: new Map() },
    );
    expect(r).toEqual({
      ok: true,
      compiled: {
        name: 'p',
        direction: 'any',
        spec: {
          dlp: [
            {
              name: 'r',
              keywords: ['机密'],
              minMatches: 1,
              scope: ['subject', 'body', 'attachments'],
              action: 'quarantine',
            },
          ],
        },
      },
    });
  });

  test('names bad regular expressions, missing webhook Secrets, empty DLP rules and bad names', () => {
    const r = compilePolicy(
      {
        dlp: [{ name: 'r', patterns: ['ok', '(unclosed'] }],
        notify: [
          {
            webhook: {
              url: 'https://hooks.company.local/x',
              secretRef: { name: 'im', key: 'token' },
            },
          },
        ],
      },
      { name: 'p', secrets: new Map() },
    );
    expect(r.ok ? [] : r.errors).toEqual([
      {
        path: 'spec.dlp[0].patterns[1]',
        reason: 'Invalid',
        message: expect.stringMatching(/^not a valid regular expression: /) as unknown,
      },
      {
        path: 'spec.notify[0].webhook.secretRef.name',
        reason: 'SecretMissing',
        message: 'Secret "im" not found',
      },
    ]);
    const empty = compilePolicy({ dlp: [{ name: 'r' }] }, { name: 'Bad.Name', secrets: new Map() });
    expect(empty.ok ? [] : empty.errors.map((e) => e.path)).toEqual([
      'metadata.name',
      'spec.dlp[0]',
    ]);
  });
});

test('compileBundle reports per object, resolves per namespace and refuses a second claim', async () => {
  const md = (name: string, namespace: string, spec: object) => ({
    apiVersion: 'mailmesh.io/v1alpha1',
    kind: 'MailDomain',
    metadata: { name, namespace },
    spec,
  });
  const r = await compileBundle(
    [
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'pw', namespace: 'a' },
        data: { u: Buffer.from('pw').toString('base64') },
      },
      md('one', 'a', {
        domain: 'one.company.local',
        mailboxes: [{ name: 'u', password: { secretRef: { name: 'pw', key: 'u' } } }],
      }),
      md('two', 'b', {
        domain: 'two.company.local',
        mailboxes: [{ name: 'u', password: { secretRef: { name: 'pw', key: 'u' } } }],
      }),
      md('three', 'a', { domain: 'one.company.local' }),
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } },
    ],
    { hasher },
  );
  expect([...r.entries.keys()]).toEqual(['domain.one.company.local']);
  expect(
    r.errors.map((e) => [e.index, e.name, e.issues.map((i) => `${i.path} ${i.reason}`)]),
  ).toEqual([
    [4, 'x', ['kind Invalid']],
    [2, 'two', ['spec.mailboxes[0].password.secretRef.name SecretMissing']],
    [3, 'three', ['spec.domain Conflict']],
  ]);
});
