import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { binPath } from './internal/bin.js';
import { httpStatusIs, httpsGet } from './internal/checks.js';
import { launch, type PeerProcesses } from './internal/peer.js';
import { freePorts } from './internal/ports.js';
import type { Peer } from './types.js';

export interface KubePeer extends Peer {
  /** `https://127.0.0.1:PORT` (self-signed certificate: skip verification). */
  readonly server: string;
  /** kubeconfig YAML: token auth, insecure-skip-tls-verify, context `mailmesh-test`. */
  readonly kubeconfig: string;
  readonly kubeconfigPath: string;
  /** Bearer token of `mailmesh-admin` in group `system:masters`. */
  readonly token: string;
  /** `http://127.0.0.1:PORT` of the backing etcd. */
  readonly etcdUrl: string;
  readonly etcdLogFile: string;
}

export interface StartKubeOptions {
  /** Default 90 s for etcd and kube-apiserver together. */
  readonly readyTimeoutMs?: number;
  /** Extra kube-apiserver flags (`--feature-gates=...`). */
  readonly extraArgs?: readonly string[];
}

export const KUBE_CONTEXT = 'mailmesh-test';

/** kubeconfig YAML for a token user; every value is JSON-quoted, which YAML accepts. */
export function kubeconfigYaml(server: string, token: string): string {
  const q = (s: string): string => JSON.stringify(s);
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `- name: ${KUBE_CONTEXT}`,
    '  cluster:',
    `    server: ${q(server)}`,
    '    insecure-skip-tls-verify: true',
    'users:',
    '- name: mailmesh-admin',
    '  user:',
    `    token: ${q(token)}`,
    'contexts:',
    `- name: ${KUBE_CONTEXT}`,
    '  context:',
    `    cluster: ${KUBE_CONTEXT}`,
    '    user: mailmesh-admin',
    '    namespace: default',
    `current-context: ${KUBE_CONTEXT}`,
    '',
  ].join('\n');
}

class KubePeerImpl implements KubePeer {
  constructor(
    private readonly peer: PeerProcesses,
    readonly server: string,
    readonly token: string,
    readonly kubeconfig: string,
    readonly kubeconfigPath: string,
    readonly etcdUrl: string,
  ) {}

  get dir(): string {
    return this.peer.dir;
  }

  get logFile(): string {
    return this.peer.main.logFile;
  }

  get etcdLogFile(): string {
    return join(this.peer.dir, 'etcd.log');
  }

  stop(): Promise<void> {
    return this.peer.stop();
  }
}

/**
 * Starts etcd and kube-apiserver (no kubelet, no controllers) on free loopback ports and
 * resolves once /readyz answers `ok` with the admin token. Good for CRDs, custom objects,
 * RBAC, server-side apply and validation; nothing reconciles Deployments or Pods.
 */
export async function startKube(opts: StartKubeOptions = {}): Promise<KubePeer> {
  const etcd = binPath('etcd');
  const apiserver = binPath('kube-apiserver');
  const token = randomBytes(24).toString('hex');
  const timeout = opts.readyTimeoutMs ?? 90_000;
  let server = '';
  let etcdUrl = '';
  let kubeconfigPath = '';
  const peer = await launch('kube', async (dir) => {
    const [clientPort = 0, peerPort = 0, apiPort = 0] = await freePorts(3);
    etcdUrl = `http://127.0.0.1:${clientPort}`;
    const etcdPeerUrl = `http://127.0.0.1:${peerPort}`;
    server = `https://127.0.0.1:${apiPort}`;
    for (const sub of ['etcd', 'certs', 'pki']) await mkdir(join(dir, sub), { mode: 0o700 });

    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const saKey = join(dir, 'pki', 'sa.key');
    await writeFile(saKey, privateKey.export({ type: 'pkcs1', format: 'pem' }), { mode: 0o600 });
    const tokenFile = join(dir, 'pki', 'tokens.csv');
    // token,user,uid,"group1,group2"
    await writeFile(tokenFile, `${token},mailmesh-admin,mailmesh-admin,"system:masters"\n`, {
      mode: 0o600,
    });
    kubeconfigPath = join(dir, 'kubeconfig.yaml');
    await writeFile(kubeconfigPath, kubeconfigYaml(server, token), { mode: 0o600 });

    return [
      {
        name: 'etcd',
        command: etcd,
        args: [
          '--name=mailmesh-test',
          `--data-dir=${join(dir, 'etcd')}`,
          `--listen-client-urls=${etcdUrl}`,
          `--advertise-client-urls=${etcdUrl}`,
          `--listen-peer-urls=${etcdPeerUrl}`,
          `--initial-advertise-peer-urls=${etcdPeerUrl}`,
          `--initial-cluster=mailmesh-test=${etcdPeerUrl}`,
          '--initial-cluster-state=new',
          // Test data is disposable; fsync per write is what makes etcd slow on shared disks.
          '--unsafe-no-fsync',
          '--log-level=warn',
        ],
        readyTimeoutMs: timeout,
        ready: (signal) => httpStatusIs(`${etcdUrl}/health`, 200, signal),
      },
      {
        name: 'kube-apiserver',
        command: apiserver,
        args: [
          `--etcd-servers=${etcdUrl}`,
          '--bind-address=127.0.0.1',
          '--advertise-address=127.0.0.1',
          `--secure-port=${apiPort}`,
          `--cert-dir=${join(dir, 'certs')}`,
          `--service-account-key-file=${saKey}`,
          `--service-account-signing-key-file=${saKey}`,
          '--service-account-issuer=https://kubernetes.default.svc',
          `--token-auth-file=${tokenFile}`,
          '--authorization-mode=RBAC',
          '--service-cluster-ip-range=10.0.0.0/24',
          // No controller-manager runs, so nothing would create the service account tokens
          // this plugin waits for.
          '--disable-admission-plugins=ServiceAccount',
          '--enable-priority-and-fairness=false',
          '--allow-privileged=true',
          // The kubernetes Service endpoints would point at 127.0.0.1 and nothing reads them.
          '--endpoint-reconciler-type=none',
          '--profiling=false',
          '--anonymous-auth=false',
          ...(opts.extraArgs ?? []),
        ],
        readyTimeoutMs: timeout,
        ready: async (signal) => {
          const res = await httpsGet(
            `${server}/readyz`,
            { authorization: `Bearer ${token}` },
            signal,
          );
          return res.status === 200 && res.body.trim() === 'ok';
        },
      },
    ];
  });
  return new KubePeerImpl(
    peer,
    server,
    token,
    kubeconfigYaml(server, token),
    kubeconfigPath,
    etcdUrl,
  );
}
