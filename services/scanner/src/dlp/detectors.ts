/**
 * Built-in DLP detectors. Each finds candidates with a regular expression over
 * folded text (so full-width digits count) and keeps only those that pass the
 * format's own check digit, which is what separates a real number from noise.
 */
import type { DetectorName } from '../policy.js';

/** GB 11643-1999: weights of the 17 digits, then the check character by sum mod 11. */
const ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK = '10X98765432';

/** True for an 18-character PRC resident identity number with a valid date and check digit. */
export function isValidCnIdCard(id: string): boolean {
  if (!/^[1-9]\d{16}[\dXx]$/.test(id)) return false;
  const y = Number(id.slice(6, 10));
  const m = Number(id.slice(10, 12));
  const d = Number(id.slice(12, 14));
  const date = new Date(Date.UTC(y, m - 1, d));
  if (
    y < 1900 ||
    date.getUTCFullYear() !== y ||
    date.getUTCMonth() !== m - 1 ||
    date.getUTCDate() !== d
  ) {
    return false;
  }
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += Number(id[i]) * (ID_WEIGHTS[i] ?? 0);
  return ID_CHECK[sum % 11] === id[17]?.toUpperCase();
}

/** ISO/IEC 7812 Luhn check over a digit string. */
export function luhnValid(digits: string): boolean {
  if (!/^\d+$/.test(digits)) return false;
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let n = Number(digits[i]);
    if (double) {
      n *= 2;
      if (n > 9) n -= 9;
    }
    sum += n;
    double = !double;
  }
  return sum % 10 === 0;
}

const ID_RE = /(?<![0-9a-z])[1-9]\d{16}[\dx](?![0-9a-z])/giu;
// 13-19 digits, optionally grouped by single spaces or dashes (`6222 0212 3456 7890 128`).
const CARD_RE = /(?<![\d-])[3-6]\d{3}(?:[ -]?\d){9,15}(?![\d-])/gu;
// Mainland mobile: 1[3-9]x xxxx xxxx, optionally +86 / 86 first, spaces or dashes as 3-4-4.
const MOBILE_RE = /(?<![\d+])(?:(?:\+|00)?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?!\d)/gu;

export interface DetectorHit {
  readonly detector: DetectorName;
  readonly text: string;
}

function* matches(re: RegExp, text: string): Generator<string> {
  re.lastIndex = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) yield m[0];
}

/** Every hit of one detector in `text` (already folded by `foldText`). */
export function detect(detector: DetectorName, text: string): DetectorHit[] {
  const out: DetectorHit[] = [];
  switch (detector) {
    case 'cn-id-card':
      for (const t of matches(ID_RE, text)) if (isValidCnIdCard(t)) out.push({ detector, text: t });
      break;
    case 'bank-card':
      for (const t of matches(CARD_RE, text)) {
        const digits = t.replace(/[ -]/g, '');
        // An 18-digit resident id that happens to pass Luhn is an id, not a card.
        if (
          digits.length >= 13 &&
          digits.length <= 19 &&
          luhnValid(digits) &&
          !isValidCnIdCard(digits)
        ) {
          out.push({ detector, text: t });
        }
      }
      break;
    case 'cn-mobile':
      for (const t of matches(MOBILE_RE, text)) out.push({ detector, text: t });
      break;
  }
  return out;
}
