/**
 * Wires the operator: caches (always running, so a new leader starts warm), leader
 * election, and — only while leading — the work queues, reconcile workers and the
 * autoscaler. A lost lease stops them before anything else is written.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { KubeConfig, V1Secret } from '@kubernetes/client-node';
import {
  defaultHasher,
  type PasswordHasher,
  policyReferencesOf,
  referencesOf,
} from '@mailmesh/config/crd';
import { createRegistry, type Logger, type Registry, silentLogger } from '@mailmesh/runtime';
import { type Autoscaler, startAutoscaler } from './autoscale/controller.js';
import type { ScalePolicy } from './autoscale/decide.js';
import { busMetricSource } from './autoscale/source.js';
import { busConfigStore } from './configstore.js';
import type { ReconcileContext } from './context.js';
import { dkimSecretName } from './dkim.js';
import { DnsEndpointSupport } from './dnsendpoint.js';
import { domainsClaiming, namesOf, reconcileDomain } from './domain.js';
import { OperatorError } from './errors.js';
import { kubeEventRecorder, logEvents } from './events.js';
import { mailDomainStore, mailPolicyStore, secretStore, type Store } from './informers.js';
import { kubeClients, loadKubeConfig } from './kube.js';
import { type LeaderElector, startLeaderElection } from './leader.js';
import { operatorMetrics, type OperatorMetrics } from './metrics.js';
import { connectInBackground } from './nats.js';
import { keyOf, type MailDomainObject, type MailPolicyObject } from './objects.js';
import { domainsUsingPolicy, reconcilePolicy } from './policy.js';
import { WorkQueue } from './queue.js';

export interface OperatorOptions {
  /** kubeconfig YAML; else `kubeconfigPath`; else in-cluster / default. */
  readonly kubeconfig?: string;
  readonly kubeconfigPath?: string;
  readonly kubeConfig?: KubeConfig;
  /** Namespace to watch; undefined = all namespaces. */
  readonly namespace?: string;
  /** Namespace of the leader Lease (the operator's own). */
  readonly leaseNamespace: string;
  /** Default `mailmesh-operator`. */
  readonly leaseName?: string;
  /** Default `<hostname>-<random>`. */
  readonly identity?: string;
  readonly leaseDurationMs?: number;
  readonly renewDeadlineMs?: number;
  readonly retryPeriodMs?: number;
  /** NATS servers (`nats://host:4222`, comma-separated). */
  readonly natsServers: string;
  readonly natsRetryMs?: number;
  /** Autoscaler settings; `false` turns it off. */
  readonly autoscale?:
    | false
    | {
        readonly intervalMs?: number;
        readonly labelSelector?: string;
        readonly policy?: ScalePolicy;
        readonly loadStaleMs?: number;
      };
  /** MX host for a domain's DNS records; default `mx.<domain>`. */
  readonly mxHost?: (domain: string) => string;
  /** How long the "is external-dns installed" answer is kept; default 60 s. */
  readonly dnsEndpointCheckMs?: number;
  /** Full re-reconcile of every object; default 10 min. */
  readonly resyncMs?: number;
  /** Workers per kind; default 2. */
  readonly workers?: number;
  readonly queueBaseDelayMs?: number;
  readonly queueMaxDelayMs?: number;
  readonly hasher?: PasswordHasher;
  readonly log?: Logger;
  readonly registry?: Registry;
}

export interface Operator {
  readonly identity: string;
  readonly registry: Registry;
  readonly metrics: OperatorMetrics;
  isLeader(): boolean;
  /** True once NATS is connected (readiness). */
  natsConnected(): boolean;
  stop(): Promise<void>;
}

interface Running {
  readonly domainQueue: WorkQueue;
  readonly policyQueue: WorkQueue;
  readonly workers: Promise<void>[];
  readonly autoscaler?: Autoscaler;
  readonly resync: NodeJS.Timeout;
}

export async function startOperator(opts: OperatorOptions): Promise<Operator> {
  const log = opts.log ?? silentLogger();
  const registry = opts.registry ?? createRegistry('operator');
  const metrics = operatorMetrics(registry);
  const identity = opts.identity ?? `${hostname()}-${randomBytes(4).toString('hex')}`;
  const kc =
    opts.kubeConfig ??
    loadKubeConfig({
      ...(opts.kubeconfig !== undefined ? { kubeconfig: opts.kubeconfig } : {}),
      ...(opts.kubeconfigPath !== undefined ? { kubeconfigPath: opts.kubeconfigPath } : {}),
    });
  const kube = kubeClients(kc);
  const nats = connectInBackground({
    servers: opts.natsServers,
    name: `operator-${identity}`,
    log,
    ...(opts.natsRetryMs !== undefined ? { retryMs: opts.natsRetryMs } : {}),
  });
  const events = kubeEventRecorder(kube.core, 'mailmesh-operator', log);
  let running: Running | undefined;

  const enqueueDomain = (k: string): void => running?.domainQueue.add(k);
  const enqueuePolicy = (k: string): void => running?.policyQueue.add(k);

  // References of each MailDomain / MailPolicy, so a Secret or MailPolicy event finds its users.
  const secretUsers = new Map<string, Set<string>>();
  const refsByObject = new Map<string, string[]>();
  const index = (
    obj: MailDomainObject | MailPolicyObject,
    kind: 'd' | 'p',
    remove = false,
  ): void => {
    const id = `${kind}:${keyOf(obj)}`;
    for (const s of refsByObject.get(id) ?? []) secretUsers.get(s)?.delete(id);
    refsByObject.delete(id);
    if (remove || typeof obj.spec !== 'object' || obj.spec === null) return;
    const ns = obj.metadata.namespace ?? '';
    let names: string[];
    try {
      names =
        kind === 'd'
          ? [
              ...referencesOf((obj as MailDomainObject).spec).secrets,
              dkimSecretName(obj.metadata.name ?? ''),
            ]
          : policyReferencesOf((obj as MailPolicyObject).spec).secrets;
    } catch {
      names = []; // a malformed spec references nothing it can be found by
    }
    const keys = names.map((n) => `${ns}/${n}`);
    refsByObject.set(id, keys);
    for (const k of keys) {
      let users = secretUsers.get(k);
      if (!users) secretUsers.set(k, (users = new Set()));
      users.add(id);
    }
  };

  // Handlers fire during the initial list too, before ctx exists: then only index;
  // becoming leader enqueues everything anyway.
  const onDomain = (md: MailDomainObject, removed = false): void => {
    index(md, 'd', removed);
    if (running === undefined) return;
    enqueueDomain(keyOf(md));
    for (const k of domainsClaiming(ctx, namesOf(md))) enqueueDomain(k);
  };
  const onPolicy = (mp: MailPolicyObject, removed = false): void => {
    index(mp, 'p', removed);
    if (running === undefined) return;
    enqueuePolicy(keyOf(mp));
    for (const d of domainsUsingPolicy(ctx, mp.metadata.namespace ?? '', mp.metadata.name ?? ''))
      enqueueDomain(d);
    for (const p of policies.list())
      if (p.metadata.name === mp.metadata.name) enqueuePolicy(keyOf(p));
  };
  const onSecret = (s: V1Secret): void => {
    for (const id of secretUsers.get(keyOf(s)) ?? []) {
      if (id.startsWith('d:')) enqueueDomain(id.slice(2));
      else enqueuePolicy(id.slice(2));
    }
  };

  const ns = opts.namespace;
  const domains: Store<MailDomainObject> = await mailDomainStore(
    kc,
    kube.custom,
    ns,
    {
      add: (o) => onDomain(o),
      update: (o) => onDomain(o),
      delete: (o) => onDomain(o, true),
    },
    log,
  );
  const policies: Store<MailPolicyObject> = await mailPolicyStore(
    kc,
    kube.custom,
    ns,
    {
      add: (o) => onPolicy(o),
      update: (o) => onPolicy(o),
      delete: (o) => onPolicy(o, true),
    },
    log,
  );
  const secrets: Store<V1Secret> = await secretStore(
    kc,
    kube.core,
    ns,
    {
      add: onSecret,
      update: onSecret,
      delete: onSecret,
    },
    log,
  );

  const ctx: ReconcileContext = {
    kube,
    domains,
    policies,
    secrets,
    store: busConfigStore(() => nats.current()),
    events,
    log,
    hasher: opts.hasher ?? defaultHasher(),
    dnsEndpoints: new DnsEndpointSupport(kube, opts.dnsEndpointCheckMs ?? 60_000),
    ...(opts.mxHost ? { mxHost: opts.mxHost } : {}),
    metrics,
    now: () => new Date(),
    enqueueDomain,
    enqueuePolicy,
  };
  for (const d of domains.list()) index(d, 'd');
  for (const p of policies.list()) index(p, 'p');

  const worker = async (
    queue: WorkQueue,
    kind: string,
    reconcile: (ctx: ReconcileContext, key: string) => Promise<void>,
  ): Promise<void> => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      try {
        await reconcile(ctx, key);
        queue.forget(key);
      } catch (err) {
        const delay = queue.addRateLimited(key);
        metrics.reconciles.inc({ kind, result: 'error' });
        const retryable = !(err instanceof OperatorError) || err.retryable;
        log.warn(
          { event: logEvents.reconcileError, kind, key, err, retryInMs: delay, retryable },
          'reconcile failed',
        );
      } finally {
        queue.done(key);
      }
    }
  };

  const enqueueAll = (): void => {
    for (const d of domains.list()) enqueueDomain(keyOf(d));
    for (const p of policies.list()) enqueuePolicy(keyOf(p));
  };

  const startLeading = (): void => {
    metrics.leader.set(1);
    const q = {
      baseDelayMs: opts.queueBaseDelayMs ?? 100,
      maxDelayMs: opts.queueMaxDelayMs ?? 60_000,
    };
    const domainQueue = new WorkQueue(q);
    const policyQueue = new WorkQueue(q);
    const n = opts.workers ?? 2;
    const workers: Promise<void>[] = [];
    for (let i = 0; i < n; i++) {
      workers.push(
        worker(domainQueue, 'MailDomain', reconcileDomain),
        worker(policyQueue, 'MailPolicy', reconcilePolicy),
      );
    }
    const autoscaler =
      opts.autoscale === false
        ? undefined
        : startAutoscaler({
            kube,
            ...(ns !== undefined ? { namespace: ns } : {}),
            ...(opts.autoscale?.labelSelector !== undefined
              ? { labelSelector: opts.autoscale.labelSelector }
              : {}),
            ...(opts.autoscale?.intervalMs !== undefined
              ? { intervalMs: opts.autoscale.intervalMs }
              : {}),
            ...(opts.autoscale?.policy !== undefined ? { policy: opts.autoscale.policy } : {}),
            metrics: busMetricSource(() => nats.current(), {
              ...(opts.autoscale?.loadStaleMs !== undefined
                ? { staleMs: opts.autoscale.loadStaleMs }
                : {}),
            }),
            events,
            registry: metrics,
            log,
          });
    const resync = setInterval(enqueueAll, opts.resyncMs ?? 600_000);
    resync.unref();
    running = { domainQueue, policyQueue, workers, resync, ...(autoscaler ? { autoscaler } : {}) };
    enqueueAll();
  };

  const stopLeading = async (): Promise<void> => {
    metrics.leader.set(0);
    const r = running;
    running = undefined;
    if (!r) return;
    clearInterval(r.resync);
    r.domainQueue.shutDown();
    r.policyQueue.shutDown();
    await Promise.all([...r.workers, r.autoscaler?.stop()]);
  };

  let stopping: Promise<void> | undefined;
  const elector: LeaderElector = startLeaderElection({
    coordination: kube.coordination,
    namespace: opts.leaseNamespace,
    leaseName: opts.leaseName ?? 'mailmesh-operator',
    identity,
    ...(opts.leaseDurationMs !== undefined ? { leaseDurationMs: opts.leaseDurationMs } : {}),
    ...(opts.renewDeadlineMs !== undefined ? { renewDeadlineMs: opts.renewDeadlineMs } : {}),
    ...(opts.retryPeriodMs !== undefined ? { retryPeriodMs: opts.retryPeriodMs } : {}),
    log,
    onStartedLeading: startLeading,
    onStoppedLeading: () => {
      stopping = stopLeading();
    },
  });

  return {
    identity,
    registry,
    metrics,
    isLeader: () => elector.isLeader(),
    natsConnected: () => nats.current() !== undefined,
    async stop() {
      await elector.stop();
      await stopping;
      await stopLeading();
      await Promise.all([domains.stop(), policies.stop(), secrets.stop()]);
      await nats.close();
    },
  };
}
