/** The pure half of the inline scan: which listeners ask, and what a reply means in SMTP. */
import { create } from '@bufbuild/protobuf';
import { InlineScanReplySchema, Verdict } from '@mailmesh/proto';
import { describe, expect, it } from 'vitest';

import { decideInline, inlineScanApplies, type InlineScanOutcome } from '../src/accept/inline.js';

const MAIL_ID = '01ARZ3NDEKTSV4RRFFQ69G5FAV';

function verdict(v: Verdict, reasons: [check: string, rule: string, action: Verdict][] = []) {
  return {
    kind: 'verdict',
    reply: create(InlineScanReplySchema, {
      mailId: MAIL_ID,
      verdict: v,
      reasons: reasons.map(([check, rule, action]) => ({ check, rule, action })),
    }),
  } as const satisfies InlineScanOutcome;
}

const noVerdict: InlineScanOutcome = { kind: 'no-verdict', reason: 'timeout', detail: 'timeout' };

describe('inlineScanApplies', () => {
  it('needs enabled, then every listener kind unless listenerKinds names some', () => {
    expect(inlineScanApplies(undefined, 'mx')).toBe(false);
    expect(inlineScanApplies({ enabled: false, timeoutMs: 1 }, 'mx')).toBe(false);
    expect(inlineScanApplies({ enabled: true, timeoutMs: 1 }, 'smtps')).toBe(true);
    const only = { enabled: true, timeoutMs: 1, listenerKinds: ['mx', 'smtps'] as const };
    expect(inlineScanApplies(only, 'mx')).toBe(true);
    expect(inlineScanApplies(only, 'submission')).toBe(false);
    expect(inlineScanApplies({ ...only, listenerKinds: [] }, 'submission')).toBe(true);
  });
});

describe('decideInline', () => {
  it('a reject names the first rejecting policy rule, with 550 5.7.1', () => {
    const d = decideInline(
      verdict(Verdict.REJECT, [
        ['spam', 'corp/tag', Verdict.TAG],
        ['antivirus', 'corp/Eicar-Signature', Verdict.REJECT],
        ['dlp', 'corp/top-secret', Verdict.REJECT],
      ]),
      'accept',
    );
    expect(d).toEqual({
      kind: 'refuse',
      reply: {
        kind: 'deny',
        code: 550,
        enhanced: '5.7.1',
        text: 'Message rejected by policy corp/Eicar-Signature (antivirus)',
      },
    });
  });

  it('reply text stays one printable ASCII line whatever the rule name holds', () => {
    const d = decideInline(
      verdict(Verdict.REJECT, [['dlp', 'corp/机密\r\n250 ok', Verdict.REJECT]]),
      'accept',
    );
    expect(d.kind === 'refuse' && d.reply.text).toBe(
      'Message rejected by policy corp/????250 ok (dlp)',
    );
    const bare = decideInline(verdict(Verdict.REJECT), 'accept');
    expect(bare.kind === 'refuse' && bare.reply.text).toBe(
      'Message rejected by policy content (scan)',
    );
  });

  it('pass, tag and quarantine are queued (the after-queue scan acts on them)', () => {
    for (const v of [Verdict.PASS, Verdict.TAG, Verdict.QUARANTINE]) {
      expect(decideInline(verdict(v), 'tempfail')).toEqual({ kind: 'queue', fallback: false });
    }
  });

  it('no verdict: the fallback decides', () => {
    expect(decideInline(noVerdict, 'accept')).toEqual({ kind: 'queue', fallback: true });
    expect(decideInline(noVerdict, 'tempfail')).toEqual({
      kind: 'refuse',
      reply: {
        kind: 'denysoft',
        code: 451,
        enhanced: '4.3.0',
        text: 'Error: content scan unavailable, try again later',
      },
    });
  });
});
