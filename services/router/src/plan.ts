/**
 * Route planning (pure): transport rules first, then one delivery job per
 * destination — the mailboxes of a local domain, a smart host, or a remote domain
 * reached by MX — with every recipient of that destination in it.
 */
import type { CompiledDomain, SmartHost } from '@mailmesh/config';
import { splitAddress } from '@mailmesh/config';
import { assertDnsName, InvalidNameError, subjects } from '@mailmesh/proto';
import { jobKey, type MxAnswer, type QueueRoute } from '@mailmesh/queue';

import type { RouterConfig } from './config.js';
import type { Expansion, FinalRecipient, Refusal } from './expand.js';
import { directionApplies, domainAllowed } from './rules.js';

export interface PlannedJob {
  /** `jobKey(route)`: unique within the mail. */
  readonly key: string;
  readonly subject: string;
  readonly route: QueueRoute;
  /** Name of the Kubernetes Secret (and key) with AUTH credentials for the next hop. */
  readonly auth?: { readonly name: string; readonly key: string };
  readonly destination: string;
  /** Why this route: shown by `mailmesh queue show`. */
  readonly reason: string;
  readonly recipients: readonly FinalRecipient[];
  /** Local mailboxes that forwarded into this job (Delivered-To lines for remote jobs). */
  readonly forwardedBy: readonly string[];
}

export interface Plan {
  readonly jobs: readonly PlannedJob[];
  readonly refused: readonly Refusal[];
}

/** DNS answers for the remote domains routed by MX (gathered before planning). */
export type MxFacts = ReadonlyMap<string, MxAnswer>;

/** The domain part of the reverse-path, lowercased; undefined for the null sender. */
export function senderDomainOf(mailFrom: string): string | undefined {
  return splitAddress(mailFrom)?.domain;
}

/**
 * The local domain whose outbound settings (smart host) and policies govern a
 * remote recipient: the innermost local domain that expanded or forwarded to it,
 * else the sender's domain when it is one of ours.
 */
export function governingDomain(
  config: RouterConfig,
  r: FinalRecipient,
  senderDomain: string | undefined,
): CompiledDomain | undefined {
  const viaDomain = r.via[r.via.length - 1];
  if (viaDomain !== undefined) return config.snapshot.domainOf(viaDomain);
  return senderDomain !== undefined ? config.snapshot.domainOf(senderDomain) : undefined;
}

/** Which remote domains need an MX answer: those no smart host covers. */
export function domainsNeedingMx(
  config: RouterConfig,
  expansion: Expansion,
  mailFrom: string,
): string[] {
  const sender = senderDomainOf(mailFrom);
  const out = new Set<string>();
  for (const r of expansion.recipients) {
    if (r.local) continue;
    if (governingDomain(config, r, sender)?.outbound.smartHost === undefined) out.add(r.domain);
  }
  return [...out];
}

/** The transport rule refusal for one recipient, if a governing policy forbids its domain. */
export function transportRefusal(
  config: RouterConfig,
  r: FinalRecipient,
  senderDomain: string | undefined,
): Refusal | undefined {
  const snap = config.snapshot;
  const senderLocal = senderDomain !== undefined && snap.isLocalDomain(senderDomain);
  const governing = new Set<string>();
  if (senderLocal && senderDomain !== undefined) {
    const d = snap.domainOf(senderDomain);
    if (d) governing.add(d.domain);
  }
  for (const v of r.via) governing.add(v);
  // A recipient reached by expanding a local address is governed like mail sent from that domain.
  const fromLocal = senderLocal || r.via.length > 0;
  for (const name of governing) {
    const domain = snap.domainOf(name);
    for (const policyName of domain?.policies ?? []) {
      const rule = config.rules.get(policyName);
      if (!rule || !directionApplies(rule.direction, fromLocal, r.local)) continue;
      if (domainAllowed(rule, r.domain)) continue;
      return {
        envelope: r.envelope,
        address: r.address,
        kind: 'transport-rule',
        code: 550,
        enhanced: '5.7.1',
        message:
          `recipient domain ${r.domain} is not allowed by MailPolicy ${rule.policy} of ${name} ` +
          `(recipients.allowDomains: ${rule.allowDomains.join(', ')})`,
        rule: `MailPolicy ${rule.policy} recipients.allowDomains`,
      };
    }
  }
  return undefined;
}

function validRoute(name: string): boolean {
  try {
    assertDnsName('route', name);
    return true;
  } catch (err) {
    if (err instanceof InvalidNameError) return false;
    throw err;
  }
}

interface Draft {
  key: string;
  subject: string;
  route: QueueRoute;
  auth?: { name: string; key: string };
  destination: string;
  reason: string;
  recipients: FinalRecipient[];
  forwardedBy: Set<string>;
}

function smartHostRoute(sh: SmartHost, domain: string): QueueRoute {
  return { kind: 'remote', domain, nextHop: sh.host, port: sh.port, tls: sh.tls, mx: false };
}

/**
 * Plans the delivery jobs of a mail. Recipients refused by expansion stay refused;
 * transport rules, unknown domains (NXDOMAIN) and null MX refuse more. A temporary
 * DNS failure does not block routing: the job goes to the MX route and delivery,
 * which resolves at every attempt, retries on its schedule.
 */
export function planRoutes(
  config: RouterConfig,
  mailFrom: string,
  expansion: Expansion,
  mx: MxFacts,
): Plan {
  const snap = config.snapshot;
  const sender = senderDomainOf(mailFrom);
  const refused: Refusal[] = [...expansion.refused];
  const drafts = new Map<string, Draft>();
  const localDomains = [...snap.domains.keys()].join(', ') || 'none';

  const addTo = (d: Omit<Draft, 'recipients' | 'forwardedBy'>, r: FinalRecipient): void => {
    let draft = drafts.get(d.key);
    if (!draft) {
      draft = { ...d, recipients: [], forwardedBy: new Set() };
      drafts.set(d.key, draft);
    }
    draft.recipients.push(r);
    for (const f of r.forwardedBy) draft.forwardedBy.add(f);
  };

  for (const r of expansion.recipients) {
    const rule = transportRefusal(config, r, sender);
    if (rule) {
      refused.push(rule);
      continue;
    }
    if (r.local) {
      const route: QueueRoute = { kind: 'local', domain: r.domain };
      addTo(
        {
          key: jobKey(route),
          subject: subjects.deliverLocal(r.domain),
          route,
          destination: `mailboxes of ${r.domain}`,
          reason: `${r.domain} is a local domain`,
        },
        r,
      );
      continue;
    }
    if (!validRoute(r.domain)) {
      refused.push({
        envelope: r.envelope,
        address: r.address,
        kind: 'unknown-domain',
        code: 550,
        enhanced: '5.1.2',
        message: `${r.domain} is not a routable domain name`,
      });
      continue;
    }
    const gov = governingDomain(config, r, sender);
    const sh = gov?.outbound.smartHost;
    if (sh && gov) {
      const route = smartHostRoute(sh, r.domain);
      const key = jobKey(route);
      // One job per smart host: recipients of every remote domain share it.
      const existing = drafts.get(key);
      addTo(
        {
          key,
          subject: subjects.deliverRemote(sh.host),
          route: existing ? existing.route : route,
          ...(sh.authSecretRef
            ? { auth: { name: sh.authSecretRef.name, key: sh.authSecretRef.key } }
            : {}),
          destination: `smart host ${sh.host}:${sh.port}`,
          reason: `${r.domain} is not a local domain; ${gov.domain} relays outbound mail through its smart host`,
        },
        r,
      );
      if (existing && existing.route.domain !== r.domain) {
        // Mixed domains: the job's domain names the next hop instead of one recipient domain.
        existing.route = { ...existing.route, domain: sh.host };
      }
      continue;
    }
    const answer = mx.get(r.domain);
    const noSmartHost =
      gov !== undefined
        ? `${gov.domain} has no outbound.smartHost`
        : `sender domain ${sender ?? '(null sender)'} is not a local domain`;
    if (answer?.kind === 'nxdomain') {
      refused.push({
        envelope: r.envelope,
        address: r.address,
        kind: 'unknown-domain',
        code: 550,
        enhanced: '5.1.2',
        message:
          `no route to ${r.domain}: it is not a local domain of this platform (local: ${localDomains}), ` +
          `${noSmartHost}, and DNS says ${answer.detail}`,
      });
      continue;
    }
    if (answer?.kind === 'null-mx') {
      refused.push({
        envelope: r.envelope,
        address: r.address,
        kind: 'null-mx',
        code: 556,
        enhanced: '5.1.10',
        message: `${r.domain} accepts no mail (null MX, RFC 7505)`,
      });
      continue;
    }
    const route: QueueRoute = {
      kind: 'remote',
      domain: r.domain,
      nextHop: r.domain,
      port: 25,
      tls: 'opportunistic',
      mx: true,
    };
    const via =
      answer?.kind === 'hosts'
        ? `MX ${answer.hosts.slice(0, 3).join(', ')}${answer.implicit ? ' (implicit: no MX records)' : ''}`
        : `MX lookup failed for now (${answer?.detail ?? 'not looked up'}); delivery retries`;
    addTo(
      {
        key: jobKey(route),
        subject: subjects.deliverRemote(r.domain),
        route,
        destination: `MX of ${r.domain}`,
        reason: `${r.domain} is not a local domain and ${noSmartHost}: delivered by ${via}`,
      },
      r,
    );
  }

  const jobs: PlannedJob[] = [...drafts.values()].map((d) => ({
    key: d.key,
    subject: d.subject,
    route: d.route,
    ...(d.auth ? { auth: d.auth } : {}),
    destination: d.destination,
    reason: d.reason,
    recipients: d.recipients,
    forwardedBy: [...d.forwardedBy],
  }));
  return { jobs, refused };
}
