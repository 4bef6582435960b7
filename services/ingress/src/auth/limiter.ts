import type { Limits } from '@mailmesh/config';

interface Entry {
  failures: number;
  /** Failures older than the cool-down are forgotten. */
  firstAt: number;
  lockedUntil: number;
}

export type AuthGate = 'open' | 'ip-locked' | 'account-locked';

/**
 * Counts failed AUTH attempts per client IP and per account. Reaching a limit
 * locks the key for `authCooldownMs`; afterwards it starts from zero. State is per
 * ingress process (a pod): a cluster-wide limit would need a shared store.
 */
export class AuthLimiter {
  private readonly ips = new Map<string, Entry>();
  private readonly accounts = new Map<string, Entry>();

  constructor(
    private readonly clock: () => number = Date.now,
    /** Upper bound on remembered keys per kind, so a spray of IPs cannot grow memory without end. */
    private readonly maxKeys = 100_000,
  ) {}

  private live(map: Map<string, Entry>, key: string, limits: Limits): Entry | undefined {
    const e = map.get(key);
    if (!e) return undefined;
    const now = this.clock();
    if (e.lockedUntil !== 0 ? now >= e.lockedUntil : now - e.firstAt >= limits.authCooldownMs) {
      map.delete(key);
      return undefined;
    }
    return e;
  }

  /** May this IP try at all? (Checked when AUTH starts.) */
  ipGate(ip: string, limits: Limits): AuthGate {
    const e = this.live(this.ips, ip, limits);
    return e && e.lockedUntil > 0 ? 'ip-locked' : 'open';
  }

  /** May this account be tried? (Checked before the password is verified.) */
  accountGate(account: string, limits: Limits): AuthGate {
    const e = this.live(this.accounts, account.toLowerCase(), limits);
    return e && e.lockedUntil > 0 ? 'account-locked' : 'open';
  }

  private bump(map: Map<string, Entry>, key: string, limit: number, limits: Limits): void {
    const now = this.clock();
    let e = this.live(map, key, limits);
    if (!e) {
      if (map.size >= this.maxKeys) {
        const oldest = map.keys().next();
        if (!oldest.done) map.delete(oldest.value);
      }
      e = { failures: 0, firstAt: now, lockedUntil: 0 };
      map.set(key, e);
    }
    e.failures++;
    if (e.failures >= limit) e.lockedUntil = now + limits.authCooldownMs;
  }

  failed(ip: string, account: string | undefined, limits: Limits): void {
    this.bump(this.ips, ip, limits.authFailuresPerIp, limits);
    if (account !== undefined && account !== '') {
      this.bump(this.accounts, account.toLowerCase(), limits.authFailuresPerAccount, limits);
    }
  }

  succeeded(account: string): void {
    this.accounts.delete(account.toLowerCase());
  }
}
