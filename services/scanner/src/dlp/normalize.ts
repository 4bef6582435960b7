/**
 * Chinese-aware text folding for DLP. Keywords and text are folded the same way, so
 * a keyword matches whatever the writer did to dodge it:
 *
 * - NFKC: full-width `ＡＢＣ１２３` and half-width katakana become their usual forms,
 *   compatibility ideographs their unified ones;
 * - lowercase;
 * - traditional -> simplified Chinese (OpenCC `t` -> `cn`), so `機密` finds `机密`;
 * - for keywords only, whitespace, punctuation, symbols and invisible characters
 *   are dropped, so `机 密`, `机-密`, `机\u200b密` and `机。密` all find `机密`.
 */
import * as OpenCC from 'opencc-js/t2cn';

type Convert = (text: string) => string;
// opencc-js's declarations import './core' without an extension, which NodeNext cannot
// resolve, so its types arrive as errors: state the one signature used here.
const makeConverter = OpenCC.Converter as unknown as (o: { from: string; to: string }) => Convert;
/** The t2cn bundle carries only the traditional -> mainland dictionaries. */
const toSimplified: Convert = makeConverter({ from: 't', to: 'cn' });

// Invisible code points listed one by one on purpose, combining ones included.
const INVISIBLE =
  // eslint-disable-next-line no-misleading-character-class
  /[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0]/gu;
const HAN = /\p{Script=Han}/u;
const SEPARATORS = /[\p{White_Space}\p{P}\p{S}\p{Cc}\p{Cf}]/gu;

/** NFKC + lowercase + traditional-to-simplified, with invisible characters removed. */
export function foldText(s: string): string {
  const n = s.normalize('NFKC').replace(INVISIBLE, '').toLowerCase();
  // OpenCC is the costly step; text without Han characters has nothing for it to do.
  return HAN.test(n) ? toSimplified(n) : n;
}

/** Whitespace, punctuation, symbols and controls removed from already folded text. */
export function stripSeparators(folded: string): string {
  return folded.replace(SEPARATORS, '');
}

/** `foldText` without whitespace, punctuation and symbols: the keyword-matching form. */
export function squeezeText(s: string): string {
  return stripSeparators(foldText(s));
}

/**
 * Evidence for the trace that never shows a whole hit: the first half (at most 4
 * characters) and stars for the rest, e.g. `机密合同` -> `机密**`.
 */
export function redact(hit: string): string {
  const chars = [...hit];
  const keep = Math.min(4, Math.floor(chars.length / 2));
  return chars.slice(0, keep).join('') + '*'.repeat(Math.max(2, chars.length - keep));
}
