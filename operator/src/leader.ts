/**
 * Leader election with a coordination.k8s.io/v1 Lease, after client-go's
 * leaderelection: a candidate takes the lease when it is free or its holder has not
 * renewed it for `leaseDurationMs` of *our* clock (renew times written by others are
 * compared for change only, so clock skew does not matter), renews every
 * `retryPeriodMs`, and gives up leadership when it could not renew for
 * `renewDeadlineMs`. Updates use the Lease's resourceVersion, so two candidates never
 * both win. A graceful stop releases the lease so the next leader starts at once.
 */
import { type CoordinationV1Api, type V1Lease, V1MicroTime } from '@kubernetes/client-node';
import type { Logger } from '@mailmesh/runtime';
import { statusOf } from './kube.js';

export interface LeaderElectionOptions {
  readonly coordination: CoordinationV1Api;
  readonly namespace: string;
  readonly leaseName: string;
  /** Unique per process (pod name + random suffix). */
  readonly identity: string;
  /** Default 15 s. */
  readonly leaseDurationMs?: number;
  /** Default 10 s; must be below leaseDurationMs. */
  readonly renewDeadlineMs?: number;
  /** Default 2 s. */
  readonly retryPeriodMs?: number;
  readonly log: Logger;
  readonly now?: () => number;
  onStartedLeading(): void;
  onStoppedLeading(): void;
}

export interface LeaderElector {
  isLeader(): boolean;
  /** Stops campaigning; releases the lease if held. */
  stop(): Promise<void>;
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });

export function startLeaderElection(opts: LeaderElectionOptions): LeaderElector {
  const leaseMs = opts.leaseDurationMs ?? 15_000;
  const renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
  const retryMs = opts.retryPeriodMs ?? 2_000;
  const now = opts.now ?? Date.now;
  const api = opts.coordination;
  const { namespace, leaseName: name, identity, log } = opts;
  const abort = new AbortController();
  let leader = false;
  let lastRenew = 0;
  let observed: { record: string; at: number } | undefined;

  const recordOf = (l: V1Lease): string =>
    JSON.stringify([
      l.spec?.holderIdentity ?? '',
      String(l.spec?.renewTime ?? ''),
      l.spec?.leaseTransitions ?? 0,
    ]);

  async function tryAcquireOrRenew(): Promise<boolean> {
    const t = now();
    const stamp = new V1MicroTime(t);
    let lease: V1Lease;
    try {
      lease = await api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
      await api.createNamespacedLease({
        namespace,
        body: {
          metadata: { name, namespace },
          spec: {
            holderIdentity: identity,
            leaseDurationSeconds: Math.ceil(leaseMs / 1000),
            acquireTime: stamp,
            renewTime: stamp,
            leaseTransitions: 0,
          },
        },
      });
      return true;
    }
    const rec = recordOf(lease);
    if (observed?.record !== rec) observed = { record: rec, at: t };
    const holder = lease.spec?.holderIdentity ?? '';
    const durationMs = (lease.spec?.leaseDurationSeconds ?? Math.ceil(leaseMs / 1000)) * 1000;
    if (holder !== '' && holder !== identity && observed.at + durationMs > t) return false;
    const spec = lease.spec ?? {};
    lease.spec = {
      ...spec,
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(leaseMs / 1000),
      renewTime: stamp,
      ...(holder !== identity
        ? {
            acquireTime: stamp,
            leaseTransitions: (spec.leaseTransitions ?? 0) + (holder === '' ? 0 : 1),
          }
        : {}),
    };
    await api.replaceNamespacedLease({ name, namespace, body: lease });
    return true;
  }

  const loop = (async () => {
    while (!abort.signal.aborted) {
      let ok = false;
      try {
        ok = await tryAcquireOrRenew();
      } catch (err) {
        if (statusOf(err) !== 409)
          log.warn(
            { event: 'leader.error', err, lease: `${namespace}/${name}` },
            'lease update failed',
          );
      }
      if (abort.signal.aborted) break;
      if (ok) {
        lastRenew = now();
        if (!leader) {
          leader = true;
          log.info(
            { event: 'leader.acquired', identity, lease: `${namespace}/${name}` },
            'became leader',
          );
          opts.onStartedLeading();
        }
      } else if (leader && now() - lastRenew > renewDeadlineMs) {
        leader = false;
        log.warn(
          { event: 'leader.lost', identity, lease: `${namespace}/${name}` },
          'lost leadership',
        );
        opts.onStoppedLeading();
      }
      await sleep(retryMs, abort.signal);
    }
  })();

  return {
    isLeader: () => leader,
    async stop() {
      abort.abort();
      await loop;
      if (!leader) return;
      leader = false;
      opts.onStoppedLeading();
      try {
        const lease = await api.readNamespacedLease({ name, namespace });
        if (lease.spec?.holderIdentity === identity) {
          lease.spec = { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1 };
          await api.replaceNamespacedLease({ name, namespace, body: lease });
        }
      } catch (err) {
        log.warn({ event: 'leader.release_failed', err }, 'could not release the lease');
      }
    },
  };
}
