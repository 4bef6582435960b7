/**
 * MailDomain / MailPolicy reconciliation against a real kube-apiserver + etcd and a real
 * nats-server: the examples become compiled config in KV with Ready=True, Secrets and
 * MailPolicies re-trigger their users, refusals carry reasons, deletion removes keys.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { verify } from '@node-rs/argon2';
import { buildSnapshot } from '@mailmesh/config';
import { argon2idHasher, loadYaml } from '@mailmesh/config/crd';
import { configKeys, kvBuckets } from '@mailmesh/proto';
import { type Bus, connectBus } from '@mailmesh/runtime';
import { type KubePeer, type NatsPeer, startKube, startNats } from '@mailmesh/testkit';
import type { KV } from '@nats-io/kv';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { mergePatch, type KubeClients } from '../src/kube.js';
import type { MailDomainObject } from '../src/objects.js';
import { type Operator, startOperator } from '../src/operator.js';
import {
  clientsFor,
  condition,
  createCustom,
  createNamespace,
  getDomain,
  getPolicy,
  installCrdTexts,
  installCrds,
  testLogger,
  waitFor,
} from './helpers.js';

const ns = 'mail';
let kube: KubePeer;
let nats: NatsPeer;
let api: KubeClients;
let operator: Operator;
let bus: Bus;
let kv: KV;

const examples = join(import.meta.dirname, '..', '..', 'examples', 'company');
const docs = (file: string) =>
  loadYaml(readFileSync(join(examples, file), 'utf8')).documents.map(
    (d) => d.value as Record<string, unknown>,
  );

async function kvJson(key: string): Promise<Record<string, unknown> | undefined> {
  const e = await kv.get(key);
  if (!e || e.operation !== 'PUT') return undefined;
  return e.json<Record<string, unknown>>();
}

async function readyDomain(name: string, timeoutMs = 30_000): Promise<MailDomainObject> {
  return waitFor(
    `MailDomain ${name} Ready=True`,
    async () => {
      const d = await getDomain(api, ns, name);
      const ready = condition(d, 'Ready');
      return ready?.status === 'True' && d.status?.observedGeneration === d.metadata.generation
        ? d
        : undefined;
    },
    timeoutMs,
  );
}

async function notReady(name: string, reason: string): Promise<MailDomainObject> {
  return waitFor(`MailDomain ${name} Ready=False ${reason}`, async () => {
    const d = await getDomain(api, ns, name);
    const ready = condition(d, 'Ready');
    return ready?.status === 'False' && ready.reason === reason ? d : undefined;
  });
}

const patchDomain = (name: string, body: object) =>
  api.custom.patchNamespacedCustomObject(
    { group: 'mailmesh.io', version: 'v1alpha1', plural: 'maildomains', namespace: ns, name, body },
    mergePatch,
  );

const dnsEndpointCrd = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: dnsendpoints.externaldns.k8s.io
  # *.k8s.io groups need this; external-dns ships its CRD with it.
  annotations: { api-approved.kubernetes.io: "https://github.com/kubernetes-sigs/external-dns/pull/2007" }
spec:
  group: externaldns.k8s.io
  scope: Namespaced
  names: { kind: DNSEndpoint, listKind: DNSEndpointList, plural: dnsendpoints, singular: dnsendpoint }
  versions:
    - name: v1alpha1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec: { type: object, x-kubernetes-preserve-unknown-fields: true }
            status: { type: object, x-kubernetes-preserve-unknown-fields: true }
`;

beforeAll(async () => {
  [kube, nats] = await Promise.all([startKube(), startNats()]);
  api = clientsFor(kube.kubeconfig);
  await installCrds(api);
  await createNamespace(api, ns);
  operator = await startOperator({
    kubeconfig: kube.kubeconfig,
    namespace: ns,
    leaseNamespace: ns,
    leaseDurationMs: 3_000,
    renewDeadlineMs: 2_000,
    retryPeriodMs: 300,
    natsServers: nats.url,
    natsRetryMs: 300,
    autoscale: false,
    dnsEndpointCheckMs: 300,
    queueMaxDelayMs: 1_000,
    hasher: argon2idHasher({ memoryCost: 1024, timeCost: 1 }),
    log: testLogger(),
  });
  await waitFor(
    'operator leads and NATS is connected',
    () => operator.isLeader() && operator.natsConnected(),
  );
  bus = await connectBus({ servers: nats.url, name: 'reconcile-test' });
  kv = await bus.kv(kvBuckets.config);
});

afterAll(async () => {
  await bus?.close();
  await operator?.stop();
  await Promise.all([kube?.stop(), nats?.stop()]);
});

test('the examples compile into KV and become Ready=True', async () => {
  for (const s of docs('dev-secrets.yaml')) {
    const meta = s.metadata as { name: string };
    await api.core.createNamespacedSecret({
      namespace: ns,
      body: {
        metadata: { name: meta.name, namespace: ns },
        stringData: s.stringData as Record<string, string>,
      },
    });
  }
  for (const p of docs('policies.yaml')) await createCustom(api, 'mailpolicies', ns, p);
  for (const d of docs('domains.yaml')) await createCustom(api, 'maildomains', ns, d);

  const sh = await readyDomain('sh');
  await readyDomain('hq');
  await readyDomain('bj');
  for (const p of ['group-dlp', 'internal-only']) {
    await waitFor(
      `policy ${p} ready`,
      async () => condition(await getPolicy(api, ns, p), 'Ready')?.status === 'True',
    );
  }

  const doc = await kvJson(configKeys.domain('sh.company.local'));
  expect(doc?.domain).toBe('sh.company.local');
  expect(sh.status?.mailboxes).toBe(1);
  expect(sh.status?.configRevision).toBe(
    (await kv.get(configKeys.domain('sh.company.local')))?.revision,
  );
  expect(condition(sh, 'ConfigPublished')?.status).toBe('True');
  expect(condition(sh, 'DkimReady')?.status).toBe('True');
  expect(sh.metadata.finalizers).toContain('mailmesh.io/config');

  // The snapshot every service builds from the bucket accepts the operator's documents.
  const entries = new Map<string, Uint8Array>();
  for await (const k of await kv.keys()) {
    const e = await kv.get(k);
    if (e?.operation === 'PUT') entries.set(k, e.value);
  }
  const snap = buildSnapshot(entries);
  expect([...snap.domains.keys()].sort()).toEqual([
    'bj.company.local',
    'company.local',
    'sh.company.local',
  ]);
  expect([...snap.policies.keys()].sort()).toEqual(['group-dlp', 'internal-only']);
  const login = snap.findLogin('zhang.san@shanghai.company.local');
  expect(login?.mailbox.address).toBe('zhang.san@sh.company.local');
  expect(await verify(login?.mailbox.passwordHash ?? '', 'dev-zhangsan')).toBe(true);
  expect(snap.domainOf('sh.company.local')?.outbound.dkim?.keySecretRef).toEqual({
    name: 'sh-dkim',
    key: 'private.pem',
  });

  // DNS records: MX, SPF, DMARC per name, the DKIM key of the generated Secret.
  const records = sh.status?.dnsRecords ?? [];
  expect(records).toContainEqual({
    type: 'MX',
    name: 'sh.company.local.',
    value: '10 mx.sh.company.local.',
  });
  expect(records).toContainEqual({
    type: 'TXT',
    name: 'sh.company.local.',
    value: 'v=spf1 mx -all',
  });
  expect(
    records.some((r) => r.name === '_dmarc.sh.company.local.' && r.value.startsWith('v=DMARC1;')),
  ).toBe(true);
  const dkim = records.find((r) => r.name === 'mailmesh._domainkey.sh.company.local.');
  expect(dkim?.value).toMatch(/^v=DKIM1; k=rsa; p=[A-Za-z0-9+/]{300,}={0,2}$/);
  const secret = await api.core.readNamespacedSecret({ name: 'sh-dkim', namespace: ns });
  expect(secret.metadata?.ownerReferences?.[0]).toMatchObject({
    kind: 'MailDomain',
    name: 'sh',
    uid: sh.metadata.uid,
  });
});

test('editing a mailbox password Secret updates KV; the DKIM key is never regenerated', async () => {
  const before = await kv.get(configKeys.domain('sh.company.local'));
  const dkimBefore = (await api.core.readNamespacedSecret({ name: 'sh-dkim', namespace: ns })).data;
  await api.core.patchNamespacedSecret(
    {
      name: 'dev-passwords',
      namespace: ns,
      body: { stringData: { 'zhang.san.sh.company.local': 'new-secret-1' } },
    },
    mergePatch,
  );
  const doc = await waitFor('new hash in KV', async () => {
    const e = await kv.get(configKeys.domain('sh.company.local'));
    return e && e.revision > (before?.revision ?? 0)
      ? e.json<{ mailboxes: { passwordHash: string }[] }>()
      : undefined;
  });
  expect(await verify(doc.mailboxes[0]?.passwordHash ?? '', 'new-secret-1')).toBe(true);
  const sh = await waitFor('status follows the revision', async () => {
    const d = await getDomain(api, ns, 'sh');
    const rev = (await kv.get(configKeys.domain('sh.company.local')))?.revision;
    return d.status?.configRevision === rev ? d : undefined;
  });
  expect(condition(sh, 'Ready')?.status).toBe('True');
  // Unchanged passwords keep their hash (no churn for other domains).
  const hq = await kvJson(configKeys.domain('company.local'));
  await patchDomain('hq', { metadata: { annotations: { touched: '1' } } });
  await new Promise((r) => setTimeout(r, 1_000));
  expect(await kvJson(configKeys.domain('company.local'))).toEqual(hq);
  expect((await api.core.readNamespacedSecret({ name: 'sh-dkim', namespace: ns })).data).toEqual(
    dkimBefore,
  );
});

test('a missing Secret gives Ready=False SecretMissing; creating it recovers', async () => {
  await createCustom(api, 'maildomains', ns, {
    apiVersion: 'mailmesh.io/v1alpha1',
    kind: 'MailDomain',
    metadata: { name: 'gz', namespace: ns },
    spec: {
      domain: 'gz.company.local',
      mailboxes: [
        { name: 'zhao.liu', password: { secretRef: { name: 'gz-passwords', key: 'zhao.liu' } } },
      ],
    },
  });
  const d = await notReady('gz', 'SecretMissing');
  expect(condition(d, 'Ready')?.message).toContain(
    'spec.mailboxes[0].password.secretRef.name: Secret "gz-passwords" not found',
  );
  expect(condition(d, 'ConfigPublished')?.status).toBe('False');
  expect(await kvJson(configKeys.domain('gz.company.local'))).toBeUndefined();

  await api.core.createNamespacedSecret({
    namespace: ns,
    body: { metadata: { name: 'gz-passwords' }, stringData: { 'zhao.liu': 'pw' } },
  });
  await readyDomain('gz');
  expect((await kvJson(configKeys.domain('gz.company.local')))?.domain).toBe('gz.company.local');
});

test('a missing MailPolicy gives PolicyMissing; creating it recovers', async () => {
  await createCustom(api, 'maildomains', ns, {
    apiVersion: 'mailmesh.io/v1alpha1',
    kind: 'MailDomain',
    metadata: { name: 'cd', namespace: ns },
    spec: { domain: 'cd.company.local', policies: ['group-dlp', 'cd-rules'] },
  });
  const d = await notReady('cd', 'PolicyMissing');
  expect(condition(d, 'Ready')?.message).toContain(
    'spec.policies[1]: MailPolicy "cd-rules" not found',
  );
  await createCustom(api, 'mailpolicies', ns, {
    apiVersion: 'mailmesh.io/v1alpha1',
    kind: 'MailPolicy',
    metadata: { name: 'cd-rules', namespace: ns },
    spec: { direction: 'inbound', attachments: { blockExtensions: ['exe'] } },
  });
  await readyDomain('cd');
  expect(await kvJson(configKeys.policy('cd-rules'))).toEqual({
    name: 'cd-rules',
    direction: 'inbound',
    spec: { attachments: { blockExtensions: ['exe'], action: 'reject' } },
  });
});

test('a second MailDomain for a served domain is refused with DomainConflict and changes nothing', async () => {
  const before = await kv.get(configKeys.domain('bj.company.local'));
  await createCustom(api, 'maildomains', ns, {
    apiVersion: 'mailmesh.io/v1alpha1',
    kind: 'MailDomain',
    metadata: { name: 'bj-copy', namespace: ns },
    spec: { domain: 'bj.company.local' },
  });
  const d = await notReady('bj-copy', 'DomainConflict');
  expect(condition(d, 'Ready')?.message).toContain(
    'bj.company.local is already served by MailDomain mail/bj',
  );
  expect((await kv.get(configKeys.domain('bj.company.local')))?.revision).toBe(before?.revision);
});

test('DNSEndpoint objects appear once the external-dns CRD is installed', async () => {
  await installCrdTexts(api, [dnsEndpointCrd]);
  const ep = await waitFor(
    'DNSEndpoint sh-mail',
    async () => {
      await patchDomain('sh', { metadata: { annotations: { touched: String(Date.now()) } } });
      return (await api.custom.getNamespacedCustomObject({
        group: 'externaldns.k8s.io',
        version: 'v1alpha1',
        plural: 'dnsendpoints',
        namespace: ns,
        name: 'sh-mail',
      })) as { spec: { endpoints: { dnsName: string; recordType: string; targets: string[] }[] } };
    },
    30_000,
    500,
  );
  expect(ep.spec.endpoints).toContainEqual(
    expect.objectContaining({
      dnsName: 'sh.company.local',
      recordType: 'MX',
      targets: ['10 mx.sh.company.local.'],
    }),
  );
});

test('NATS down: Ready=False NatsUnavailable; NATS back: published', async () => {
  await nats.kill();
  await patchDomain('gz', {
    spec: {
      mailboxes: [
        { name: 'zhao.liu', password: { secretRef: { name: 'gz-passwords', key: 'zhao.liu' } } },
        { name: 'qian.qi', password: { secretRef: { name: 'gz-passwords', key: 'zhao.liu' } } },
      ],
    },
  });
  await notReady('gz', 'NatsUnavailable');
  await nats.restart();
  const d = await readyDomain('gz', 60_000);
  expect(d.status?.mailboxes).toBe(2);
  const doc = await waitFor(
    'KV has two mailboxes',
    async () => {
      const v = await kvJson(configKeys.domain('gz.company.local')).catch(() => undefined);
      return (v?.mailboxes as unknown[] | undefined)?.length === 2 ? v : undefined;
    },
    30_000,
    300,
  );
  expect(doc.domain).toBe('gz.company.local');
});

test('an alias added to an older MailDomain never displaces a name that is live elsewhere', async () => {
  const before = await kv.get(configKeys.domain('company.local'));
  await patchDomain('hq', { spec: { domainAliases: ['gz.company.local'] } });
  const hq = await notReady('hq', 'DomainConflict');
  expect(condition(hq, 'Ready')?.message).toContain(
    'spec.domainAliases[0]: gz.company.local is already served by MailDomain mail/gz',
  );
  expect((await kv.get(configKeys.domain('company.local')))?.revision).toBe(before?.revision);
  expect(condition(await getDomain(api, ns, 'gz'), 'Ready')?.status).toBe('True');
  await patchDomain('hq', { spec: { domainAliases: null } });
  await readyDomain('hq');
});

test('deleting a MailDomain removes its key; delete-data is recorded as an Event', async () => {
  await waitFor(
    'cd published',
    async () => (await kvJson(configKeys.domain('cd.company.local'))) !== undefined,
  );
  await patchDomain('cd', { metadata: { annotations: { 'mailmesh.io/delete-data': 'true' } } });
  await api.custom.deleteNamespacedCustomObject({
    group: 'mailmesh.io',
    version: 'v1alpha1',
    plural: 'maildomains',
    namespace: ns,
    name: 'cd',
  });
  await waitFor(
    'cd key removed',
    async () => (await kvJson(configKeys.domain('cd.company.local'))) === undefined,
    30_000,
    200,
  );
  await waitFor('cd object gone (finalizer released)', async () => {
    try {
      await getDomain(api, ns, 'cd');
      return false;
    } catch {
      return true;
    }
  });
  const events = await api.core.listNamespacedEvent({
    namespace: ns,
    fieldSelector: 'involvedObject.name=cd',
  });
  expect(events.items.map((e) => e.reason)).toEqual(
    expect.arrayContaining(['ConfigRemoved', 'MailboxDataDeletionRequested']),
  );
});

test('deleting the MailDomain that holds a name hands the name to the one refused for it', async () => {
  expect(
    ((await kvJson(configKeys.domain('bj.company.local')))?.mailboxes as unknown[]).length,
  ).toBe(1);
  await api.custom.deleteNamespacedCustomObject({
    group: 'mailmesh.io',
    version: 'v1alpha1',
    plural: 'maildomains',
    namespace: ns,
    name: 'bj',
  });
  await readyDomain('bj-copy');
  await waitFor('bj-copy published', async () => {
    const doc = await kvJson(configKeys.domain('bj.company.local'));
    return (doc?.mailboxes as unknown[] | undefined)?.length === 0;
  });
});
