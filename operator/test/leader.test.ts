/**
 * Two operator processes (`node dist/main.js`, as in a two-replica Deployment) against
 * one kube-apiserver and one nats-server: only the Lease holder reconciles and writes;
 * kill -9 of the leader hands over within the lease duration.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configKeys, kvBuckets } from '@mailmesh/proto';
import { type Bus, connectBus } from '@mailmesh/runtime';
import { freePort, type KubePeer, type NatsPeer, startKube, startNats } from '@mailmesh/testkit';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { KubeClients } from '../src/kube.js';
import {
  clientsFor,
  condition,
  createCustom,
  createNamespace,
  getDomain,
  installCrds,
  waitFor,
} from './helpers.js';

const ns = 'mail';
let kube: KubePeer;
let nats: NatsPeer;
let api: KubeClients;
let bus: Bus;
const logDir = mkdtempSync(join(tmpdir(), 'mailmesh-leader-'));

interface Proc {
  readonly name: string;
  readonly child: ChildProcess;
  readonly port: number;
  readonly exited: Promise<number | null>;
}
const procs: Proc[] = [];

async function startProcess(name: string): Promise<Proc> {
  const port = await freePort();
  const log = createWriteStream(join(logDir, `${name}.log`));
  const child = spawn(process.execPath, [join(import.meta.dirname, '..', 'dist', 'main.js')], {
    env: {
      ...process.env,
      MAILMESH_NATS_URL: nats.url,
      KUBECONFIG: kube.kubeconfigPath,
      MAILMESH_NAMESPACE: ns,
      POD_NAMESPACE: ns,
      POD_NAME: name,
      MAILMESH_LEASE_DURATION_MS: '3000',
      MAILMESH_RENEW_DEADLINE_MS: '2000',
      MAILMESH_RETRY_PERIOD_MS: '300',
      MAILMESH_AUTOSCALE: 'off',
      MAILMESH_HEALTH_PORT: String(port),
      MAILMESH_LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  const p = { name, child, port, exited };
  procs.push(p);
  await waitFor(
    `${name} ready`,
    async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200,
    30_000,
    200,
  );
  return p;
}

async function metric(p: Proc, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${p.port}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) {
      if (labels && !line.includes(labels)) continue;
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return total;
}

async function holder(): Promise<string | undefined> {
  try {
    const lease = await api.coordination.readNamespacedLease({
      name: 'mailmesh-operator',
      namespace: ns,
    });
    return lease.spec?.holderIdentity ?? undefined;
  } catch {
    return undefined;
  }
}

const domain = (name: string) => ({
  apiVersion: 'mailmesh.io/v1alpha1',
  kind: 'MailDomain',
  metadata: { name, namespace: ns },
  spec: {
    domain: `${name}.company.local`,
    mailboxes: [{ name: 'user', password: { secretRef: { name: 'pw', key: 'user' } } }],
  },
});

async function ready(name: string): Promise<void> {
  await waitFor(
    `${name} Ready`,
    async () => condition(await getDomain(api, ns, name), 'Ready')?.status === 'True',
    60_000,
    200,
  );
}

beforeAll(async () => {
  [kube, nats] = await Promise.all([startKube(), startNats()]);
  api = clientsFor(kube.kubeconfig);
  await installCrds(api);
  await createNamespace(api, ns);
  await api.core.createNamespacedSecret({
    namespace: ns,
    body: { metadata: { name: 'pw' }, stringData: { user: 'secret' } },
  });
  bus = await connectBus({ servers: nats.url, name: 'leader-test' });
});

afterAll(async () => {
  for (const p of procs) {
    if (p.child.exitCode === null && p.child.signalCode === null) {
      p.child.kill('SIGKILL');
      await p.exited;
    }
  }
  await bus?.close();
  await Promise.all([kube?.stop(), nats?.stop()]);
});

test('only the leader writes; killing it hands over', async () => {
  const a = await startProcess('op-a');
  await waitFor(
    'op-a holds the lease',
    async () => (await holder())?.startsWith('op-a-'),
    30_000,
    200,
  );
  const b = await startProcess('op-b');
  expect(await metric(b, 'mailmesh_operator_leader')).toBe(0);

  await createCustom(api, 'maildomains', ns, domain('one'));
  await ready('one');
  const kv = await bus.kv(kvBuckets.config);
  expect((await kv.get(configKeys.domain('one.company.local')))?.operation).toBe('PUT');
  expect(await metric(a, 'mailmesh_operator_config_writes_total')).toBeGreaterThan(0);
  expect(await metric(b, 'mailmesh_operator_config_writes_total')).toBe(0);
  expect(await metric(b, 'mailmesh_operator_reconciles_total')).toBe(0);
  expect((await holder())?.startsWith('op-a-')).toBe(true);

  a.child.kill('SIGKILL');
  await a.exited;
  await waitFor(
    'op-b holds the lease',
    async () => (await holder())?.startsWith('op-b-'),
    30_000,
    200,
  );
  expect(await metric(b, 'mailmesh_operator_leader')).toBe(1);

  await createCustom(api, 'maildomains', ns, domain('two'));
  await ready('two');
  expect((await kv.get(configKeys.domain('two.company.local')))?.operation).toBe('PUT');
  expect(await metric(b, 'mailmesh_operator_config_writes_total')).toBeGreaterThan(0);
  const lease = await api.coordination.readNamespacedLease({
    name: 'mailmesh-operator',
    namespace: ns,
  });
  expect(lease.spec?.leaseTransitions).toBeGreaterThanOrEqual(1);

  // A graceful stop releases the lease and exits 0.
  b.child.kill('SIGTERM');
  expect(await b.exited).toBe(0);
  expect(await holder()).toBeFalsy();
});
