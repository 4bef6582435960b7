/**
 * Transport rules: `MailPolicy.spec.recipients.allowDomains` lists the recipient
 * domains a governed mail may go to (`*.company.local`, `sgcc.com.cn`); any other
 * recipient is refused with a DSN naming the rule.
 */
import type { CompiledPolicy, PolicyDirection } from '@mailmesh/config';

import { TransportRuleError } from './errors.js';

export interface TransportRule {
  readonly policy: string;
  readonly direction: PolicyDirection;
  readonly allowDomains: readonly string[];
  readonly matchers: readonly RegExp[];
}

const GLOB = /^(\*\.)?([a-z0-9](?:[a-z0-9-]*[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$/;

/**
 * A domain glob: `example.com` matches exactly; `*.example.com` matches every
 * subdomain at any depth (`sh.example.com`, `a.b.example.com`) but not
 * `example.com` itself. Case-insensitive.
 */
export function domainGlob(glob: string): RegExp {
  const g = glob.toLowerCase();
  if (g === '*') return /^.+$/;
  const escape = (s: string): string => s.replace(/[.\\^$+?()[\]{}|-]/g, '\\$&');
  if (g.startsWith('*.')) return new RegExp(`^(?:[^.]+\\.)+${escape(g.slice(2))}$`);
  return new RegExp(`^${escape(g)}$`);
}

export function domainAllowed(rule: TransportRule, domain: string): boolean {
  const d = domain.toLowerCase();
  return rule.matchers.some((m) => m.test(d));
}

/** The transport rule of a policy, if it has `recipients.allowDomains`; throws on a malformed one. */
export function transportRuleOf(policy: CompiledPolicy): TransportRule | undefined {
  const recipients = policy.spec['recipients'];
  if (recipients === undefined) return undefined;
  if (recipients === null || typeof recipients !== 'object' || Array.isArray(recipients)) {
    throw new TransportRuleError(policy.name, 'recipients', 'must be an object');
  }
  const allow = (recipients as Record<string, unknown>)['allowDomains'];
  if (allow === undefined) return undefined;
  if (!Array.isArray(allow)) {
    throw new TransportRuleError(
      policy.name,
      'recipients.allowDomains',
      'must be a list of domain globs',
    );
  }
  const allowDomains = allow.map((g: unknown, i) => {
    if (typeof g !== 'string' || (g !== '*' && !GLOB.test(g.toLowerCase()))) {
      throw new TransportRuleError(
        policy.name,
        `recipients.allowDomains[${i}]`,
        `${JSON.stringify(g)} is not a domain or *.domain glob`,
      );
    }
    return g.toLowerCase();
  });
  return {
    policy: policy.name,
    direction: policy.direction,
    allowDomains,
    matchers: allowDomains.map(domainGlob),
  };
}

/** Whether a policy of `direction` governs a mail between these parties. */
export function directionApplies(
  direction: PolicyDirection,
  senderLocal: boolean,
  recipientLocal: boolean,
): boolean {
  switch (direction) {
    case 'any':
      return true;
    case 'outbound':
      return senderLocal && !recipientLocal;
    case 'inbound':
      return !senderLocal && recipientLocal;
    case 'internal':
      return senderLocal && recipientLocal;
  }
}
