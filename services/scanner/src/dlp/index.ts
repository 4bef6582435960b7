/**
 * DLP over a mail's subject, bodies and attachment text. Each rule's keywords (there
 * may be thousands) are compiled once into one Aho-Corasick automaton over their
 * squeezed form (dlp/aho-corasick.ts); patterns and detectors run over the folded text.
 */
import { KeywordMatcher } from './aho-corasick.js';

import type { DlpRule, DlpScope } from '../policy.js';
import { detect } from './detectors.js';
import { foldText, redact, squeezeText, stripSeparators } from './normalize.js';

export interface DlpText {
  readonly scope: DlpScope;
  /** Where the text comes from: `subject`, `body`, or an attachment's file name. */
  readonly source: string;
  readonly text: string;
}

export interface DlpFinding {
  readonly rule: DlpRule;
  /** Hits over every scope of the rule; at least `rule.minMatches`. */
  readonly count: number;
  /** Redacted evidence, at most 5 entries: `body: 机密** (keyword)`. */
  readonly evidence: readonly string[];
}

interface Prepared {
  readonly scope: DlpScope;
  readonly source: string;
  readonly folded: string;
  readonly squeezed: string;
}

interface CompiledRule {
  readonly rule: DlpRule;
  readonly keywords: KeywordMatcher<string> | undefined;
  readonly patterns: readonly RegExp[];
}

const MAX_EVIDENCE = 5;

function compile(rule: DlpRule): CompiledRule {
  const seen = new Set<string>();
  const patterns: Array<{ pattern: string; data: string }> = [];
  for (const k of rule.keywords) {
    const s = squeezeText(k);
    if (s === '' || seen.has(s)) continue;
    seen.add(s);
    patterns.push({ pattern: s, data: k });
  }
  return {
    rule,
    keywords: patterns.length > 0 ? new KeywordMatcher(patterns) : undefined,
    patterns: rule.patterns.map((src) => new RegExp(src, 'giu')),
  };
}

/** The DLP rules of one policy, compiled once per configuration snapshot. */
export class DlpEngine {
  private readonly rules: readonly CompiledRule[];

  constructor(rules: readonly DlpRule[]) {
    this.rules = rules.map(compile);
  }

  /** Prepares texts once for every engine that scans the same mail. */
  static prepare(texts: readonly DlpText[]): readonly Prepared[] {
    return texts
      .filter((t) => t.text !== '')
      .map((t) => {
        const folded = foldText(t.text);
        return { scope: t.scope, source: t.source, folded, squeezed: stripSeparators(folded) };
      });
  }

  /** The rules that fire, in rule order. */
  scan(prepared: readonly Prepared[]): DlpFinding[] {
    const out: DlpFinding[] = [];
    for (const c of this.rules) {
      let count = 0;
      const evidence: string[] = [];
      const note = (source: string, hit: string, kind: string): void => {
        count++;
        const e = `${source}: ${redact(hit)} (${kind})`;
        if (evidence.length < MAX_EVIDENCE && !evidence.includes(e)) evidence.push(e);
      };
      for (const p of prepared) {
        if (!c.rule.scope.includes(p.scope)) continue;
        if (c.keywords) {
          for (const m of c.keywords.search(p.squeezed)) note(p.source, m.data, 'keyword');
        }
        for (const re of c.patterns) {
          re.lastIndex = 0;
          for (let m = re.exec(p.folded); m !== null; m = re.exec(p.folded)) {
            if (m[0] === '') {
              re.lastIndex++;
              continue;
            }
            note(p.source, m[0], 'pattern');
          }
        }
        for (const d of c.rule.detectors) {
          for (const h of detect(d, p.folded)) note(p.source, h.text, d);
        }
      }
      if (count >= c.rule.minMatches) out.push({ rule: c.rule, count, evidence });
    }
    return out;
  }
}
