/**
 * Recipient expansion (pure): each envelope recipient becomes the final recipients
 * mail is delivered to — a mailbox (at its primary domain, so domain aliases
 * collapse), the members of a group (nested, local or remote), the `forwardTo`
 * addresses of a mailbox, a domain's catch-all — or a refusal with a precise reason.
 * Duplicates are collapsed; loops and oversized expansions are stopped.
 */
import { domainToASCII } from 'node:url';
import type { CompiledGroup, CompiledMailbox, ConfigSnapshot } from '@mailmesh/config';
import { splitAddress } from '@mailmesh/config';
import type { DsnNotify } from '@mailmesh/proto';

/** An envelope recipient as the router received it. */
export interface EnvelopeRecipient {
  readonly address: string;
  /** ORCPT as received; empty if none. */
  readonly original: string;
  readonly notify: readonly DsnNotify[];
}

export interface FinalRecipient {
  /** Where to deliver: canonical `local@primary-domain` for mailboxes, as given (domain lowercased) for remote. */
  readonly address: string;
  /** The envelope recipient this one came from (DSNs report to it, ORCPT derives from it). */
  readonly envelope: EnvelopeRecipient;
  readonly local: boolean;
  /** Primary domain (local) or the ASCII recipient domain (remote). */
  readonly domain: string;
  /** Local domains whose groups, forwards or catch-all led here, outermost first. */
  readonly via: readonly string[];
  /** Local mailboxes that forwarded the mail here (a Delivered-To each, for loop detection). */
  readonly forwardedBy: readonly string[];
}

/** Closed set of reasons the router refuses a recipient. */
export const refusalKinds = [
  'unknown-user',
  'bad-address',
  'expansion-too-deep',
  'expansion-too-large',
  'mail-loop',
  'too-many-hops',
  'transport-rule',
  'unknown-domain',
  'null-mx',
  'content-rejected',
] as const;
export type RefusalKind = (typeof refusalKinds)[number];

export interface Refusal {
  readonly envelope: EnvelopeRecipient;
  /** The address refused (may be a group member rather than the envelope recipient). */
  readonly address: string;
  readonly kind: RefusalKind;
  readonly code: number;
  readonly enhanced: string;
  readonly message: string;
  /** The rule that refused, e.g. `MailPolicy internal-only recipients.allowDomains`. */
  readonly rule?: string;
}

/** One expansion a trace shows: `sales@sh.company.local` -> its members. */
export interface ExpansionStep {
  readonly from: string;
  readonly kind: 'group' | 'forward' | 'catch-all' | 'domain-alias';
  readonly to: readonly string[];
}

export interface Expansion {
  readonly recipients: readonly FinalRecipient[];
  readonly refused: readonly Refusal[];
  readonly steps: readonly ExpansionStep[];
}

export interface ExpandLimits {
  /** Nesting depth of groups/forwards below an envelope recipient; default 10. */
  readonly maxDepth: number;
  /** Final recipients one mail may expand to; default 1000. */
  readonly maxRecipients: number;
}

export const defaultExpandLimits: ExpandLimits = { maxDepth: 10, maxRecipients: 1_000 };

/** Facts from the message's own header section. */
export interface HeaderFacts {
  /** Lowercased Delivered-To addresses already on the message (RFC 9228 / Postfix loop check). */
  readonly deliveredTo: ReadonlySet<string>;
  /** Number of Received fields (RFC 5321 §6.3 hop count). */
  readonly receivedCount: number;
}

/** RFC 5321 §6.3: a mail with more hops than this is looping. */
export const MAX_HOPS = 100;

/** `local@domain` with the domain in lowercase ASCII (IDNs to A-labels); undefined if not an address. */
export function normalizeRemote(address: string): { address: string; domain: string } | undefined {
  const at = address.lastIndexOf('@');
  if (at <= 0 || at === address.length - 1) return undefined;
  const local = address.slice(0, at);
  const domain = domainToASCII(address.slice(at + 1).toLowerCase());
  if (domain === '') return undefined;
  return { address: `${local}@${domain}`, domain };
}

export function expandRecipients(
  snapshot: ConfigSnapshot,
  envelopeRecipients: readonly EnvelopeRecipient[],
  headers: HeaderFacts,
  limits: ExpandLimits = defaultExpandLimits,
): Expansion {
  const recipients: FinalRecipient[] = [];
  const refused: Refusal[] = [];
  const steps: ExpansionStep[] = [];
  const seen = new Set<string>();
  const expandedGroups = new Set<string>();

  if (headers.receivedCount > MAX_HOPS) {
    for (const r of envelopeRecipients) {
      refused.push({
        envelope: r,
        address: r.address,
        kind: 'too-many-hops',
        code: 554,
        enhanced: '5.4.6',
        message: `message has ${headers.receivedCount} Received headers (limit ${MAX_HOPS}): routing loop`,
      });
    }
    return { recipients, refused, steps };
  }

  for (const env of envelopeRecipients) {
    let stopped = false;
    const refuse = (
      address: string,
      kind: RefusalKind,
      code: number,
      enhanced: string,
      message: string,
    ): void => {
      refused.push({ envelope: env, address, kind, code, enhanced, message });
    };

    const visit = (
      address: string,
      depth: number,
      via: readonly string[],
      forwardedBy: readonly string[],
    ): void => {
      if (stopped) return;
      if (depth > limits.maxDepth) {
        refuse(
          env.address,
          'expansion-too-deep',
          554,
          '5.4.6',
          `expansion of ${env.address} nests deeper than ${limits.maxDepth} levels at ${address}`,
        );
        stopped = true;
        return;
      }
      const parts = splitAddress(address);
      if (!parts) {
        refuse(address, 'bad-address', 553, '5.1.3', `${address} is not a valid address`);
        return;
      }
      const match = snapshot.findRecipient(address);
      if (!match) {
        if (snapshot.isLocalDomain(parts.domain)) {
          const primary = snapshot.domainOf(parts.domain)?.domain ?? parts.domain;
          refuse(
            address,
            'unknown-user',
            550,
            '5.1.1',
            depth === 0
              ? `no mailbox, group or catch-all ${parts.local}@${primary}`
              : `${address} (reached through ${via.length > 0 ? 'expansion' : 'forwarding'} of ${env.address}) does not exist`,
          );
          return;
        }
        const remote = normalizeRemote(address);
        if (!remote) {
          refuse(address, 'bad-address', 553, '5.1.3', `${address} has no valid domain`);
          return;
        }
        add({
          address: remote.address,
          envelope: env,
          local: false,
          domain: remote.domain,
          via,
          forwardedBy,
        });
        return;
      }
      if (parts.domain !== match.domain.domain && depth === 0) {
        steps.push({ from: address, kind: 'domain-alias', to: [match.address] });
      }
      const domain = match.domain.domain;
      let target: CompiledMailbox | CompiledGroup;
      if (match.kind === 'catchAll') {
        target = match.target;
        steps.push({ from: match.address, kind: 'catch-all', to: [target.address] });
      } else {
        target = match.kind === 'group' ? match.group : match.mailbox;
      }
      if ('members' in target) {
        // A group reached again (a cycle, or two paths to it) adds nothing new.
        if (expandedGroups.has(target.address)) return;
        expandedGroups.add(target.address);
        steps.push({ from: target.address, kind: 'group', to: target.members });
        for (const m of target.members) visit(m, depth + 1, [...via, domain], forwardedBy);
        return;
      }
      const mailbox = target;
      if (headers.deliveredTo.has(mailbox.address)) {
        refuse(
          mailbox.address,
          'mail-loop',
          554,
          '5.4.6',
          `mail forwarding loop: the message already has Delivered-To: ${mailbox.address}`,
        );
        return;
      }
      add({ address: mailbox.address, envelope: env, local: true, domain, via, forwardedBy });
      if (mailbox.forwardTo.length > 0 && !forwardedBy.includes(mailbox.address)) {
        steps.push({ from: mailbox.address, kind: 'forward', to: mailbox.forwardTo });
        for (const f of mailbox.forwardTo)
          visit(f, depth + 1, [...via, domain], [...forwardedBy, mailbox.address]);
      }
    };

    const add = (r: FinalRecipient): void => {
      const key = r.local
        ? r.address
        : `${r.address.slice(0, r.address.lastIndexOf('@'))}@${r.domain}`;
      if (seen.has(key)) return;
      if (recipients.length >= limits.maxRecipients) {
        refuse(
          env.address,
          'expansion-too-large',
          552,
          '5.5.3',
          `expansion of ${env.address} exceeds ${limits.maxRecipients} recipients per mail`,
        );
        stopped = true;
        return;
      }
      seen.add(key);
      recipients.push(r);
    };

    visit(env.address, 0, [], []);
  }
  return { recipients, refused, steps };
}
