/**
 * The configuration documents the end-to-end benchmark publishes into the
 * `mailmesh-config` KV bucket, as the operator would compile them (pure builders).
 *
 * - `bench.local`: the local domain. Its mailboxes receive the "local" load; its
 *   relay network (127.0.0.0/8) lets the load generator send outbound mail, which
 *   leaves through the domain's smart host: the smtp-sink (`tls: none`, no AUTH).
 * - `bench-policy`: a MailPolicy shaped like a group policy (DLP keywords, patterns
 *   and detectors, attachment blocking, SPF/DKIM/DMARC, an outbound allow-list),
 *   antivirus and spam only when the run has clamd and spamd.
 */
import {
  defaultLimits,
  type CompiledDomain,
  type CompiledPolicy,
  type PlatformConfig,
} from '@mailmesh/config';

export const BENCH_DOMAIN = 'bench.local';
/** The remote domain of the outbound load: routed to the smart host (the sink). */
export const REMOTE_DOMAIN = 'example.com';
/** Sender domain of the inbound load (mail from outside to the mailboxes). */
export const OUTSIDE_DOMAIN = 'bench.example';
export const POLICY_NAME = 'bench-policy';

/** Nobody logs in during the benchmark; a well-formed bcrypt hash of nothing known. */
const UNUSED_HASH = '$2b$04$abcdefghijklmnopqrstuu5L2lGv0k0N7o1u3v5w7y9A1C3E5G7I.';

export function platformDocument(o: {
  port: number;
  certFile: string;
  keyFile: string;
}): PlatformConfig {
  return {
    hostname: 'mx.bench.local',
    listeners: [
      {
        name: 'mx',
        kind: 'mx',
        addresses: [`127.0.0.1:${o.port}`],
        allowNetworks: [],
        proxyProtocolFrom: [],
      },
    ],
    tls: { certFile: o.certFile, keyFile: o.keyFile },
    // All load comes from one IP: per-IP limits would answer 421, which is their
    // point but not this benchmark's.
    limits: {
      ...defaultLimits,
      maxConnections: 10_000,
      perIpConnections: 10_000,
      perIpRatePerMinute: 100_000_000,
    },
    acceptanceDeadlineMs: 30_000,
    inlineScan: { enabled: false, timeoutMs: 10_000 },
  };
}

export function benchDomain(o: { mailboxes: readonly string[]; sinkPort: number }): CompiledDomain {
  return {
    domain: BENCH_DOMAIN,
    aliases: [],
    mailboxes: o.mailboxes.map((localPart) => ({
      localPart,
      address: `${localPart}@${BENCH_DOMAIN}`,
      passwordHash: UNUSED_HASH,
      quotaBytes: 0,
      sendAs: [],
      forwardTo: [],
    })),
    groups: [],
    relay: { allowedNetworks: ['127.0.0.0/8'] },
    outbound: { smartHost: { host: '127.0.0.1', port: o.sinkPort, tls: 'none' } },
    inbound: { requireTLS: false },
    policies: [POLICY_NAME],
  };
}

/** `count` distinct DLP keywords in the style of a group list (project code names). */
export function dlpKeywords(count: number): string[] {
  const chars = '甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉戌亥';
  const out: string[] = [];
  for (let i = 0; out.length < count; i++) {
    const a = chars[i % chars.length] ?? '';
    const b = chars[Math.floor(i / chars.length) % chars.length] ?? '';
    out.push(`项目${a}${b}代号${i}`);
  }
  return out;
}

/**
 * The benchmark's MailPolicy. `daemons`: add antivirus (clamd) and spam (spamd)
 * checks; without them the scanner runs every other check.
 */
export function benchPolicy(o: { daemons: boolean }): CompiledPolicy {
  return {
    name: POLICY_NAME,
    direction: 'any',
    spec: {
      dlp: [
        {
          name: 'contract-terms',
          keywords: ['机密合同', '技术专利', 'Project Phoenix', ...dlpKeywords(500)],
          patterns: ['合同金额[:：]\\s*[¥￥]?\\d[\\d,]*'],
          scope: ['subject', 'body', 'attachments'],
          action: 'quarantine',
        },
        { name: 'personal-data', detectors: ['cn-id-card', 'bank-card'], action: 'quarantine' },
        { name: 'mobile-numbers', detectors: ['cn-mobile'], minMatches: 3, action: 'tag' },
      ],
      attachments: {
        blockExtensions: ['exe', 'bat', 'scr', 'com', 'pif', 'js', 'vbs'],
        inspectArchives: true,
        blockExecutableContent: true,
        maxSize: '10Mi',
        action: 'reject',
      },
      authentication: { spf: 'enforce', dkim: 'enforce', dmarc: 'enforce' },
      recipients: { allowDomains: [BENCH_DOMAIN, REMOTE_DOMAIN] },
      ...(o.daemons
        ? {
            antivirus: { action: 'reject', onError: 'tempfail' },
            spam: { tagScore: 5, junkScore: 8, quarantineScore: 12, rejectScore: 20 },
          }
        : {}),
    },
  };
}

/**
 * The DNS table every service reads instead of the system resolver (no query leaves
 * the machine): SPF passes the load generator, DMARC is published for both sender
 * domains, the sink has an address.
 */
export function dnsTable(): Record<string, Record<string, string[]>> {
  return {
    [OUTSIDE_DOMAIN]: { TXT: ['v=spf1 ip4:127.0.0.0/8 -all'] },
    [`_dmarc.${OUTSIDE_DOMAIN}`]: { TXT: ['v=DMARC1; p=reject'] },
    [BENCH_DOMAIN]: { TXT: ['v=spf1 ip4:127.0.0.0/8 -all'] },
    [`_dmarc.${BENCH_DOMAIN}`]: { TXT: ['v=DMARC1; p=reject'] },
  };
}
