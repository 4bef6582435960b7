/**
 * The judgement of one mail as both scanner paths make it: the after-queue
 * consumer of `mail.accepted` (service.ts) and the before-queue responder on
 * `rpc.scan.inline` (inline.ts). Same policies, same checks, same spool
 * integrity check, so a mail refused inline is exactly a mail that would have
 * been rejected after queue.
 */
import { createHash } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import {
  HeaderFieldSchema,
  Origin,
  ReasonSchema,
  type Envelope,
  type HeaderField,
  type Reason,
} from '@mailmesh/proto';

import type { ScannerConfig } from './config.js';
import { isLocalSender, selectPolicies, type ScanPolicy } from './policy.js';
import { scanMessage, type HeaderToAdd, type ScanDeps, type ScanOutcome } from './scan.js';
import { strictest, toVerdict, type Finding } from './verdict.js';

export interface Judgement {
  /** A verdict (with the integrity finding folded in), or a temporary failure. */
  readonly outcome: ScanOutcome;
  /** The policies that applied, for logs. */
  readonly policies: readonly ScanPolicy[];
  /** Wall time of the checks. */
  readonly scanMs: number;
  /** Origin DSN: ours, about mail already judged; no policy applies. */
  readonly isDsn: boolean;
}

export const sha256Hex = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Runs every check the mail's policies ask for; never throws for a verdict. */
export async function judgeMail(
  env: Envelope,
  raw: Buffer,
  cfg: ScannerConfig,
  deps: ScanDeps,
): Promise<Judgement> {
  // DSNs are ours, about mail we already judged: scanning them again could only lose them.
  const isDsn = env.origin === Origin.DSN;
  const localSender = isLocalSender(env, cfg.view);
  const policies = isDsn ? [] : selectPolicies(env, cfg.view, cfg.policies);
  const started = process.hrtime.bigint();
  const out = await scanMessage({ raw, envelope: env, policies, localSender }, deps);
  const scanMs = Number(process.hrtime.bigint() - started) / 1e6;
  if (out.kind === 'tempfail') return { outcome: out, policies, scanMs, isDsn };

  const findings: Finding[] = [...out.findings];
  if (env.sha256 !== sha256Hex(raw)) {
    // Bytes differ from what ingress stored: do not deliver them blindly.
    findings.push({
      check: 'mime',
      rule: 'spool-integrity',
      action: 'quarantine',
      detail: 'body sha256 differs from envelope',
    });
  }
  return {
    outcome: { ...out, action: strictest(findings), findings },
    policies,
    scanMs,
    isDsn,
  };
}

/** Findings as wire Reasons; details are capped (they are evidence, not content). */
export function reasonsOf(findings: readonly Finding[]): Reason[] {
  return findings.map((f) =>
    create(ReasonSchema, {
      check: f.check,
      rule: f.rule,
      action: toVerdict(f.action),
      detail: f.detail.slice(0, 1000),
    }),
  );
}

/** Headers as wire HeaderFields, unfolded (a CR or LF would inject fields). */
export function headerFieldsOf(headers: readonly HeaderToAdd[]): HeaderField[] {
  return headers.map((h) =>
    create(HeaderFieldSchema, { name: h.name, value: h.value.replace(/[\r\n]+/g, ' ') }),
  );
}
