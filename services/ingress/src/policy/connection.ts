import type { Limits } from '@mailmesh/config';
import type { NetworkList } from '@mailmesh/config';
import { accept, replies, type Reply } from '../reply.js';

export interface ConnectFacts {
  readonly ip: string;
  /** The listener's allow-list; empty = everyone. */
  readonly allowNetworks: NetworkList;
  /** Sessions open now, not counting this one. */
  readonly active: number;
  readonly activeFromIp: number;
  /** Connections from this IP in the last minute, including this one. */
  readonly recentFromIp: number;
}

/** Connection policy at connect time (RFC 5321 §3.1: 554 or 421 instead of the greeting). */
export function decideConnect(limits: Limits, f: ConnectFacts): Reply {
  if (f.allowNetworks.size > 0 && !f.allowNetworks.has(f.ip))
    return replies.listenerNotAllowed(f.ip);
  if (f.active >= limits.maxConnections) return replies.tooManyConnections();
  if (f.activeFromIp >= limits.perIpConnections) return replies.tooManyFromIp(f.ip);
  if (f.recentFromIp > limits.perIpRatePerMinute) return replies.rateFromIp(f.ip);
  return accept();
}

const MINUTE = 60_000;

/** Open sessions (total and per IP) and recent connection times per IP. */
export class ConnectionTracker {
  private activeTotal = 0;
  private readonly perIp = new Map<string, number>();
  private readonly recent = new Map<string, number[]>();

  constructor(private readonly clock: () => number = Date.now) {}

  get active(): number {
    return this.activeTotal;
  }

  activeFrom(ip: string): number {
    return this.perIp.get(ip) ?? 0;
  }

  /** Records a connection attempt and returns the attempts of the last minute, this one included. */
  attempt(ip: string): number {
    const now = this.clock();
    const times = (this.recent.get(ip) ?? []).filter((t) => now - t < MINUTE);
    times.push(now);
    this.recent.set(ip, times);
    if (this.recent.size > 100_000) this.prune(now);
    return times.length;
  }

  private prune(now: number): void {
    for (const [ip, times] of this.recent) {
      if (times.every((t) => now - t >= MINUTE)) this.recent.delete(ip);
    }
  }

  /** Counts an admitted session; the returned function (idempotent) releases it. */
  open(ip: string): () => void {
    this.activeTotal++;
    this.perIp.set(ip, this.activeFrom(ip) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.activeTotal--;
      const n = this.activeFrom(ip) - 1;
      if (n <= 0) this.perIp.delete(ip);
      else this.perIp.set(ip, n);
    };
  }
}
