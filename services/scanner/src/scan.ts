/**
 * One scan: every check the applicable policies ask for, over one message, folded
 * into one outcome. The outside peers (clamd, spamd, DNS, clock, random) come in as
 * parameters, so the decision itself is testable without them; a peer that is down
 * is a result word here, and the policy's `onError` decides between a temporary
 * failure (redeliver later) and an incomplete pass.
 */
import type { DNSResolver } from 'mailauth';
import { mailHeaders, type Envelope } from '@mailmesh/proto';

import { checkAttachments } from './attachments.js';
import { checkAuthentication, type AuthResults } from './auth.js';
import type { ClamdClient } from './clamd.js';
import { DlpEngine, type DlpText } from './dlp/index.js';
import { extractText, htmlText, type PdfTextExtractor } from './dlp/extract.js';
import { unpdfExtractor } from './dlp/pdf.js';
import { parseMail, type ParsedMail } from './mime.js';
import type { Action, DlpAction, ScanPolicy } from './policy.js';
import type { SpamdClient, SpamdResult } from './spamd.js';
import { strictest, type Finding } from './verdict.js';

export interface HeaderToAdd {
  readonly name: string;
  readonly value: string;
}

export type ScanOutcome =
  | {
      readonly kind: 'verdict';
      readonly action: Action;
      /** Every check that fired, in evaluation order. */
      readonly findings: readonly Finding[];
      readonly headers: readonly HeaderToAdd[];
      readonly junk: boolean;
      readonly spamScore: number;
      /** A check could not run and its policy said `onError: accept`. */
      readonly incomplete: boolean;
    }
  | {
      /** A check could not run and its policy said `onError: tempfail`: scan again later. */
      readonly kind: 'tempfail';
      readonly check: 'antivirus' | 'spam';
      readonly reason: string;
    };

export interface ScanDeps {
  /** Absent: antivirus is unavailable (a policy's `onError` applies). */
  readonly clamd?: ClamdClient | undefined;
  /** Absent: spam checking is unavailable (a policy's `onError` applies). */
  readonly spamd?: SpamdClient | undefined;
  readonly resolver: DNSResolver;
  /** Our host name, the authserv-id of Authentication-Results. */
  readonly authservId: string;
  /** For DMARC `pct` sampling (RFC 7489 §6.6.4); default Math.random. */
  readonly random?: () => number;
  /** Default: unpdf (PDF.js), first 100 pages. */
  readonly pdfText?: PdfTextExtractor;
  /** Called between checks; the service resets the message's ack timer with it. */
  readonly progress?: () => void;
}

export interface ScanRequest {
  readonly raw: Buffer;
  readonly envelope: Envelope;
  readonly policies: readonly ScanPolicy[];
  /** The sender is one of ours (see `isLocalSender`): SPF/DKIM/DMARC are not judged. */
  readonly localSender: boolean;
}

const engines = new WeakMap<ScanPolicy, DlpEngine>();
const defaultPdfText = unpdfExtractor();

function engineOf(p: ScanPolicy): DlpEngine {
  let e = engines.get(p);
  if (!e) {
    e = new DlpEngine(p.dlp);
    engines.set(p, e);
  }
  return e;
}

const dlpAction = (a: DlpAction): Action => (a === 'notify' ? 'pass' : a);

async function dlpTexts(
  mail: ParsedMail,
  wantAttachments: boolean,
  deps: ScanDeps,
): Promise<DlpText[]> {
  const texts: DlpText[] = [
    { scope: 'subject', source: 'subject', text: mail.subject },
    ...mail.innerSubjects.map((s) => ({ scope: 'subject' as const, source: 'subject', text: s })),
    { scope: 'body', source: 'body', text: mail.text },
  ];
  if (mail.html !== '') texts.push({ scope: 'body', source: 'body', text: htmlText(mail.html) });
  if (wantAttachments) {
    for (const [i, a] of mail.attachments.entries()) {
      if (a.contentType === 'message/rfc822') continue;
      const text = await extractText(a, deps.pdfText ?? defaultPdfText);
      texts.push({ scope: 'attachments', source: a.filename || `part-${i + 1}`, text });
      deps.progress?.();
    }
  }
  return texts;
}

function spamFindings(
  policies: readonly ScanPolicy[],
  r: SpamdResult & { result: 'pass' },
): {
  findings: Finding[];
  junk: boolean;
  tagged: boolean;
} {
  const findings: Finding[] = [];
  let junk = false;
  let tagged = false;
  const tests = r.symbols.slice(0, 20).join(',');
  for (const p of policies) {
    const s = p.spam;
    if (!s) continue;
    let action: Action | undefined;
    let level = '';
    if (r.score >= s.rejectScore) [action, level] = ['reject', `reject >= ${s.rejectScore}`];
    else if (r.score >= s.quarantineScore)
      [action, level] = ['quarantine', `quarantine >= ${s.quarantineScore}`];
    else if (r.score >= s.junkScore) [action, level] = ['tag', `junk >= ${s.junkScore}`];
    else if (r.score >= s.tagScore) [action, level] = ['tag', `tag >= ${s.tagScore}`];
    if (r.score >= s.junkScore) junk = true;
    if (r.score >= s.tagScore) tagged = true;
    if (action) {
      findings.push({
        check: 'spam',
        rule: `${p.name}/${level.split(' ')[0] ?? 'score'}`,
        action,
        detail: `score ${r.score} (${level}) tests=${tests}`,
      });
    }
  }
  return { findings, junk, tagged };
}

function authFindings(
  policies: readonly ScanPolicy[],
  a: AuthResults,
  random: () => number,
): Finding[] {
  const out: Finding[] = [];
  for (const p of policies) {
    const m = p.authentication;
    if (!m) continue;
    if (a.spf === 'fail' || a.spf === 'softfail') {
      const action: Action = m.spf === 'enforce' ? (a.spf === 'fail' ? 'reject' : 'tag') : 'pass';
      out.push({
        check: 'spf',
        rule: `${p.name}/spf`,
        action,
        detail: `spf=${a.spf} smtp.mailfrom=${a.spfDomain}`,
      });
    }
    if (a.dkim === 'fail') {
      const failed = a.signatures.filter((s) => s.result === 'fail');
      out.push({
        check: 'dkim',
        rule: `${p.name}/dkim`,
        action: m.dkim === 'enforce' ? 'quarantine' : 'pass',
        detail: failed
          .map((s) => `dkim=fail header.d=${s.domain} (${s.comment || 'bad signature'})`)
          .join('; '),
      });
    }
    if (a.dmarc === 'fail') {
      let action: Action = 'pass';
      let policy = a.dmarcPolicy || 'none';
      if (m.dmarc === 'enforce') {
        // RFC 7489 §6.6.4: pct selects the share of failing mail the policy applies to;
        // the rest gets the next weaker policy.
        if (a.dmarcPct < 100 && random() * 100 >= a.dmarcPct) {
          policy = policy === 'reject' ? 'quarantine' : 'none';
        }
        action = policy === 'reject' ? 'reject' : policy === 'quarantine' ? 'quarantine' : 'pass';
      }
      out.push({
        check: 'dmarc',
        rule: `${p.name}/dmarc`,
        action,
        detail: `dmarc=fail header.from=${a.fromDomain} p=${a.dmarcPolicy || 'none'} pct=${a.dmarcPct} applied=${policy}`,
      });
    }
  }
  return out;
}

/** Runs every check the policies ask for; never throws for a verdict. */
export async function scanMessage(req: ScanRequest, deps: ScanDeps): Promise<ScanOutcome> {
  const { raw, policies } = req;
  const findings: Finding[] = [];
  const headers: HeaderToAdd[] = [];
  let incomplete = false;
  let junk = false;
  let spamScore = 0;

  // --- content: MIME, attachments, DLP
  const needsContent = policies.some((p) => p.attachments !== undefined || p.dlp.length > 0);
  if (needsContent) {
    const mail = await parseMail(raw);
    deps.progress?.();
    if (mail.problems.length > 0) {
      findings.push({
        check: 'mime',
        rule: 'parse',
        action: 'pass',
        detail: mail.problems.slice(0, 5).join('; '),
      });
    }
    for (const p of policies) {
      if (!p.attachments) continue;
      for (const f of await checkAttachments(mail.attachments, p.attachments)) {
        findings.push({
          check: 'attachment',
          rule: `${p.name}/${f.rule}`,
          action: p.attachments.action,
          detail: `${f.path}: ${f.detail}`,
        });
      }
    }
    deps.progress?.();
    const dlpPolicies = policies.filter((p) => p.dlp.length > 0);
    if (dlpPolicies.length > 0) {
      const wantAttachments = dlpPolicies.some((p) =>
        p.dlp.some((r) => r.scope.includes('attachments')),
      );
      const prepared = DlpEngine.prepare(await dlpTexts(mail, wantAttachments, deps));
      for (const p of dlpPolicies) {
        for (const f of engineOf(p).scan(prepared)) {
          findings.push({
            check: 'dlp',
            rule: `${p.name}/${f.rule.name}`,
            action: dlpAction(f.rule.action),
            detail: `${f.count} match${f.count === 1 ? '' : 'es'}: ${f.evidence.join(', ')}`,
          });
        }
      }
      deps.progress?.();
    }
  }

  // --- antivirus
  const avPolicies = policies.filter((p) => p.antivirus !== undefined);
  if (avPolicies.length > 0) {
    const r = deps.clamd
      ? await deps.clamd.scan(raw)
      : { result: 'temperror' as const, reason: 'no clamd configured' };
    deps.progress?.();
    if (r.result === 'fail') {
      for (const p of avPolicies) {
        findings.push({
          check: 'antivirus',
          rule: `${p.name}/${r.signature}`,
          action: p.antivirus?.action ?? 'reject',
          detail: `clamd: ${r.signature} FOUND`,
        });
      }
    } else if (r.result === 'temperror') {
      if (avPolicies.some((p) => p.antivirus?.onError === 'tempfail')) {
        return { kind: 'tempfail', check: 'antivirus', reason: r.reason };
      }
      incomplete = true;
      for (const p of avPolicies) {
        findings.push({
          check: 'antivirus',
          rule: `${p.name}/unavailable`,
          action: 'pass',
          detail: `clamd: ${r.reason}`,
        });
      }
    }
  }

  // --- spam
  const spamPolicies = policies.filter((p) => p.spam !== undefined);
  if (spamPolicies.length > 0) {
    const r: SpamdResult = deps.spamd
      ? await deps.spamd.check(raw)
      : { result: 'temperror', reason: 'no spamd configured' };
    deps.progress?.();
    if (r.result === 'pass') {
      spamScore = r.score;
      const s = spamFindings(spamPolicies, r);
      findings.push(...s.findings);
      junk = s.junk;
      if (s.tagged) {
        headers.push({
          name: mailHeaders.spamScore,
          value: `${r.score.toFixed(1)} tests=${r.symbols.slice(0, 20).join(',') || 'none'}`,
        });
      }
    } else if (r.result === 'temperror') {
      if (spamPolicies.some((p) => p.spam?.onError === 'tempfail')) {
        return { kind: 'tempfail', check: 'spam', reason: r.reason };
      }
      incomplete = true;
      for (const p of spamPolicies) {
        findings.push({
          check: 'spam',
          rule: `${p.name}/unavailable`,
          action: 'pass',
          detail: `spamd: ${r.reason}`,
        });
      }
    }
  }

  // --- authentication (mail from outside only: our own mail is signed on delivery)
  const authPolicies = policies.filter((p) => p.authentication !== undefined);
  if (authPolicies.length > 0 && !req.localSender) {
    const a = await checkAuthentication(raw, req.envelope, {
      resolver: deps.resolver,
      authservId: deps.authservId,
    });
    deps.progress?.();
    headers.unshift({ name: mailHeaders.authenticationResults, value: a.header });
    findings.push(...authFindings(authPolicies, a, deps.random ?? Math.random));
  }

  const action = strictest(findings);
  if (incomplete) headers.push({ name: mailHeaders.scan, value: 'incomplete' });
  if (action !== 'pass') headers.push({ name: mailHeaders.verdict, value: action });
  return { kind: 'verdict', action, findings, headers, junk, spamScore, incomplete };
}
