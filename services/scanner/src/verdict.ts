/**
 * Verdicts: each check asks for an action; the mail gets the strictest one
 * (pass < tag < quarantine < reject) and keeps every reason.
 */
import { Verdict } from '@mailmesh/proto';

import type { Action } from './policy.js';

export type Check =
  'dlp' | 'attachment' | 'antivirus' | 'spam' | 'spf' | 'dkim' | 'dmarc' | 'arc' | 'mime';

/** One check that fired. `rule` is `<policy>/<rule>` for policy rules. */
export interface Finding {
  readonly check: Check;
  readonly rule: string;
  readonly action: Action;
  /** Redacted evidence for the trace. */
  readonly detail: string;
}

const RANK: Record<Action, number> = { pass: 0, tag: 1, quarantine: 2, reject: 3 };

export function stricter(a: Action, b: Action): Action {
  return RANK[b] > RANK[a] ? b : a;
}

/** The strictest action of `findings`; `pass` when none fired. */
export function strictest(findings: readonly { readonly action: Action }[]): Action {
  return findings.reduce<Action>((acc, f) => stricter(acc, f.action), 'pass');
}

export function toVerdict(a: Action): Verdict {
  switch (a) {
    case 'pass':
      return Verdict.PASS;
    case 'tag':
      return Verdict.TAG;
    case 'quarantine':
      return Verdict.QUARANTINE;
    case 'reject':
      return Verdict.REJECT;
  }
}
