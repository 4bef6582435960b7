/**
 * The CRDs on a real kube-apiserver: installable, and refusing bad specs with the same
 * field paths as the in-process validator (`mailmesh apply`).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadYaml, validateResource, type ResourceKind } from '@mailmesh/config/crd';
import { type KubePeer, startKube } from '@mailmesh/testkit';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { KubeClients } from '../src/kube.js';
import { apiErrorOf, clientsFor, createCustom, createNamespace, installCrds } from './helpers.js';

let kube: KubePeer;
let api: KubeClients;
const ns = 'crdtest';

beforeAll(async () => {
  kube = await startKube();
  api = clientsFor(kube.kubeconfig);
  await installCrds(api);
  await createNamespace(api, ns);
});
afterAll(async () => {
  await kube?.stop();
});

const examples = join(import.meta.dirname, '..', '..', 'examples', 'company');
const docs = (file: string) =>
  loadYaml(readFileSync(join(examples, file), 'utf8')).documents.map(
    (d) => d.value as Record<string, unknown>,
  );

const domain = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: 'mailmesh.io/v1alpha1',
  kind: 'MailDomain',
  metadata: { name, namespace: ns },
  spec,
});
const pw = {
  hash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g',
};

test('the example MailDomains and MailPolicies are accepted by the API server and by validateResource', async () => {
  for (const o of [...docs('policies.yaml'), ...docs('domains.yaml')]) {
    const kind = o.kind as ResourceKind;
    expect(validateResource(kind, o).issues).toEqual([]);
    const body = { ...o, metadata: { ...(o.metadata as object), namespace: ns } };
    await createCustom(api, kind === 'MailDomain' ? 'maildomains' : 'mailpolicies', ns, body);
  }
  const crd = await api.apiext.readCustomResourceDefinition({ name: 'maildomains.mailmesh.io' });
  expect(crd.spec.versions[0]?.additionalPrinterColumns?.map((c) => c.name)).toEqual([
    'Domain',
    'Mailboxes',
    'Ready',
    'Reason',
    'Age',
  ]);
  expect(crd.spec.versions[0]?.subresources?.status).toEqual({});
});

describe('refused by the API server and by validateResource, naming the same field', () => {
  const cases: {
    name: string;
    kind: ResourceKind;
    obj: Record<string, unknown>;
    path: string;
    server: RegExp;
  }[] = [
    {
      name: 'bad domain name',
      kind: 'MailDomain',
      obj: domain('bad-domain', { domain: 'Bad_Domain.company.local' }),
      path: 'spec.domain',
      server: /spec\.domain.*should match/,
    },
    {
      name: 'single-label domain',
      kind: 'MailDomain',
      obj: domain('single', { domain: 'localhost' }),
      path: 'spec.domain',
      server: /spec\.domain.*should match/,
    },
    {
      name: 'unknown field',
      kind: 'MailDomain',
      obj: domain('unknown-field', { domain: 'u.company.local', mailboxs: [] }),
      path: 'spec.mailboxs',
      server: /unknown field "spec\.mailboxs"/,
    },
    {
      name: 'unknown nested field',
      kind: 'MailDomain',
      obj: domain('unknown-nested', {
        domain: 'u2.company.local',
        mailboxes: [{ name: 'a', password: pw, quotaa: '1Gi' }],
      }),
      path: 'spec.mailboxes[0].quotaa',
      server: /unknown field "spec\.mailboxes\[0\]\.quotaa"/,
    },
    {
      name: 'duplicate mailbox',
      kind: 'MailDomain',
      obj: domain('dup-mailbox', {
        domain: 'd.company.local',
        mailboxes: [
          { name: 'a', password: pw },
          { name: 'b', password: pw },
          { name: 'a', password: pw },
        ],
      }),
      path: 'spec.mailboxes[2].name',
      server: /spec\.mailboxes\[2\].*Duplicate value/,
    },
    {
      name: 'group named like a mailbox',
      kind: 'MailDomain',
      obj: domain('dup-group', {
        domain: 'g.company.local',
        mailboxes: [{ name: 'sales', password: pw }],
        groups: [{ name: 'sales', members: ['x@y.local'] }],
      }),
      path: 'spec.groups',
      server: /spec\.groups: Invalid value.*a group must not have the name of a mailbox/,
    },
    {
      name: 'password with both secretRef and hash',
      kind: 'MailDomain',
      obj: domain('two-passwords', {
        domain: 'p.company.local',
        mailboxes: [{ name: 'a', password: { ...pw, secretRef: { name: 's', key: 'k' } } }],
      }),
      path: 'spec.mailboxes[0].password',
      server: /spec\.mailboxes\[0\]\.password.*exactly one of secretRef or hash/,
    },
    {
      name: 'catchAll naming nobody',
      kind: 'MailDomain',
      obj: domain('catchall', {
        domain: 'c.company.local',
        mailboxes: [{ name: 'a', password: pw }],
        catchAll: 'nobody',
      }),
      path: 'spec.catchAll',
      server: /spec\.catchAll.*catchAll must name a mailbox or group/,
    },
    {
      name: 'relay network that is no CIDR',
      kind: 'MailDomain',
      obj: domain('relay', {
        domain: 'r.company.local',
        relay: { allowedNetworks: ['192.168.1.0/33'] },
      }),
      path: 'spec.relay.allowedNetworks[0]',
      server: /spec\.relay\.allowedNetworks\[0\].*must be an IP address or a CIDR block/,
    },
    {
      name: 'spam scores out of order',
      kind: 'MailPolicy',
      obj: {
        apiVersion: 'mailmesh.io/v1alpha1',
        kind: 'MailPolicy',
        metadata: { name: 'spam', namespace: ns },
        spec: { spam: { tagScore: 9, rejectScore: 5 } },
      },
      path: 'spec.spam',
      server: /spec\.spam.*spam scores must ascend/,
    },
    {
      name: 'MailPolicy name with a dot',
      kind: 'MailPolicy',
      obj: {
        apiVersion: 'mailmesh.io/v1alpha1',
        kind: 'MailPolicy',
        metadata: { name: 'a.b', namespace: ns },
        spec: {},
      },
      path: '',
      server: /metadata\.name of a MailPolicy must be a DNS label/,
    },
    {
      name: 'DLP action not in the enum',
      kind: 'MailPolicy',
      obj: {
        apiVersion: 'mailmesh.io/v1alpha1',
        kind: 'MailPolicy',
        metadata: { name: 'dlp-enum', namespace: ns },
        spec: { dlp: [{ name: 'r', keywords: ['x'], action: 'drop' }] },
      },
      path: 'spec.dlp[0].action',
      server: /spec\.dlp\[0\]\.action: Unsupported value: "drop"/,
    },
  ];

  for (const c of cases) {
    test(c.name, async () => {
      const local = validateResource(c.kind, c.obj);
      expect(local.issues.map((i) => i.path)).toContain(c.path);
      let refused: { status: number | undefined; message: string } | undefined;
      try {
        await createCustom(
          api,
          c.kind === 'MailDomain' ? 'maildomains' : 'mailpolicies',
          ns,
          c.obj,
        );
      } catch (err) {
        refused = apiErrorOf(err);
      }
      expect(refused?.status).toBeOneOf([400, 422]);
      expect(refused?.message).toMatch(c.server);
    });
  }
});

test('spec.domain is immutable', async () => {
  await createCustom(api, 'maildomains', ns, domain('immutable', { domain: 'i.company.local' }));
  let refused: { status: number | undefined; message: string } | undefined;
  try {
    await api.custom.patchNamespacedCustomObject(
      {
        group: 'mailmesh.io',
        version: 'v1alpha1',
        plural: 'maildomains',
        namespace: ns,
        name: 'immutable',
        body: { spec: { domain: 'j.company.local' } },
      },
      (await import('../src/kube.js')).mergePatch,
    );
  } catch (err) {
    refused = apiErrorOf(err);
  }
  expect(refused?.message).toMatch(/domain is immutable/);
});
