/**
 * Authentication results: DKIM (RFC 6376), ARC (RFC 8617) and DMARC (RFC 7489)
 * with mailauth, SPF as ingress evaluated it (the envelope's SpfResult), all
 * written into one Authentication-Results field (RFC 8601). The DNS resolver is a
 * parameter: tests serve their own keys, production passes node's resolver. Never
 * throws: DNS trouble is a `temperror` result.
 */
import { arc, dkimVerify, dmarc, type DNSResolver } from 'mailauth';
import { SpfResultCode, type Envelope } from '@mailmesh/proto';

export type AuthWord =
  'pass' | 'fail' | 'softfail' | 'neutral' | 'none' | 'temperror' | 'permerror' | 'policy';

export interface DkimSignatureResult {
  readonly domain: string;
  readonly selector: string;
  readonly result: AuthWord;
  readonly comment: string;
}

export interface AuthResults {
  readonly spf: AuthWord;
  readonly spfDomain: string;
  /** pass if any signature passes; else fail if any fails; else the first word; none without signatures. */
  readonly dkim: AuthWord;
  readonly signatures: readonly DkimSignatureResult[];
  readonly arc: AuthWord;
  readonly dmarc: AuthWord;
  /** The published policy that applies to the From domain (p, or sp for a subdomain). */
  readonly dmarcPolicy: 'none' | 'quarantine' | 'reject' | '';
  /** The `pct` tag, 0-100; 100 when absent. */
  readonly dmarcPct: number;
  readonly fromDomain: string;
  /** Authentication-Results field body, unfolded. */
  readonly header: string;
}

export interface AuthOptions {
  readonly resolver: DNSResolver;
  /** authserv-id of the Authentication-Results field: our host name. */
  readonly authservId: string;
  /** Smallest RSA key that verifies; default 1024. */
  readonly minBitLength?: number;
}

const SPF_WORD: Record<SpfResultCode, AuthWord> = {
  [SpfResultCode.UNSPECIFIED]: 'none',
  [SpfResultCode.NONE]: 'none',
  [SpfResultCode.NEUTRAL]: 'neutral',
  [SpfResultCode.PASS]: 'pass',
  [SpfResultCode.FAIL]: 'fail',
  [SpfResultCode.SOFTFAIL]: 'softfail',
  [SpfResultCode.TEMPERROR]: 'temperror',
  [SpfResultCode.PERMERROR]: 'permerror',
};

function word(w: unknown): AuthWord {
  switch (w) {
    case 'pass':
    case 'fail':
    case 'softfail':
    case 'neutral':
    case 'none':
    case 'temperror':
    case 'permerror':
    case 'policy':
      return w;
    case 'temperr':
      return 'temperror';
    default:
      return 'none';
  }
}

const oneLine = (s: string): string => s.replace(/\r?\n[ \t]*/g, ' ').trim();

export async function checkAuthentication(
  raw: Buffer,
  env: Envelope,
  opts: AuthOptions,
): Promise<AuthResults> {
  const spf = env.spf ? SPF_WORD[env.spf.result] : 'none';
  const spfDomain = env.spf?.domain ?? '';
  const rows: string[] = [];
  let signatures: DkimSignatureResult[] = [];
  let dkim: AuthWord = 'none';
  let arcWord: AuthWord = 'none';
  let dmarcWord: AuthWord = 'none';
  let dmarcPolicy: AuthResults['dmarcPolicy'] = '';
  let dmarcPct = 100;
  let fromDomain = '';
  try {
    const verified = await dkimVerify(raw, {
      resolver: opts.resolver,
      ...(env.mailFrom === '' ? {} : { sender: env.mailFrom }),
      minBitLength: opts.minBitLength ?? 1024,
    });
    fromDomain =
      (verified.headerFrom ?? [])
        .map((a: string) => a.slice(a.lastIndexOf('@') + 1).toLowerCase())
        .at(-1) ?? '';
    signatures = (verified.results ?? []).map((r) => {
      const comment = typeof r.status.comment === 'string' ? r.status.comment : '';
      let result = word(r.status.result);
      // RFC 6376 §6.1.3: a body hash mismatch fails the signature (mailauth says neutral).
      if (result === 'neutral' && /body hash/i.test(comment)) result = 'fail';
      return { domain: r.signingDomain ?? '', selector: r.selector ?? '', result, comment };
    });
    for (const r of verified.results ?? []) if (r.info) rows.push(oneLine(r.info));
    if (signatures.some((s) => s.result === 'pass')) dkim = 'pass';
    else if (signatures.some((s) => s.result === 'fail')) dkim = 'fail';
    else dkim = signatures[0]?.result ?? 'none';
    if (signatures.length === 0) rows.push('dkim=none');

    rows.push(
      spf === 'none' && spfDomain === ''
        ? 'spf=none'
        : `spf=${spf} smtp.mailfrom=${spfDomain || env.mailFrom}`,
    );

    // verified.arc is non-enumerable: the ARC chain data dkimVerify collected.
    const arcData = (verified as unknown as { arc?: Parameters<typeof arc>[0] }).arc;
    const arcResult = arcData
      ? await arc(arcData, { resolver: opts.resolver, minBitLength: opts.minBitLength ?? 1024 })
      : undefined;
    if (arcResult) {
      arcWord = word(arcResult.status.result);
      if (arcResult.info) rows.push(oneLine(arcResult.info));
    }

    if (verified.headerFrom && verified.headerFrom.length > 0) {
      const d = await dmarc({
        headerFrom: verified.headerFrom,
        spfDomains: spf === 'pass' && spfDomain !== '' ? [spfDomain] : [],
        dkimDomains: (verified.results ?? [])
          .filter((r) => r.status.result === 'pass')
          .map((r) => ({
            domain: r.signingDomain,
            ...(r.id === undefined ? {} : { id: r.id }),
            ...(r.status.aligned === undefined ? {} : { aligned: r.status.aligned }),
            ...(r.status.underSized === undefined ? {} : { underSized: r.status.underSized }),
          })),
        ...(arcResult ? { arcResult } : {}),
        resolver: opts.resolver,
      });
      if (d) {
        dmarcWord = word(d.status.result);
        const p = String(d.policy ?? '').toLowerCase();
        dmarcPolicy = p === 'reject' || p === 'quarantine' || p === 'none' ? p : '';
        dmarcPct = typeof d.pct === 'number' ? Math.max(0, Math.min(100, d.pct)) : 100;
        if (d.info) rows.push(oneLine(d.info));
      }
    }
  } catch (err) {
    // mailauth reports DNS failures as results; anything thrown is a broken message or a bug.
    dkim = dkim === 'none' ? 'permerror' : dkim;
    rows.push(
      `dkim=${dkim} reason="${(err instanceof Error ? err.message : String(err)).replace(/"/g, "'")}"`,
    );
  }
  return {
    spf,
    spfDomain,
    dkim,
    signatures,
    arc: arcWord,
    dmarc: dmarcWord,
    dmarcPolicy,
    dmarcPct,
    fromDomain,
    header: `${opts.authservId}; ${rows.join('; ')}`,
  };
}
