/**
 * NATS subject matching for tests. Tokens are separated by "."; "*" matches
 * exactly one token and ">" (last token only) matches one or more.
 */

const tokens = (s: string): string[] => s.split('.');

/** True if some concrete subject matches both `a` and `b`. */
export function subjectsOverlap(a: string, b: string): boolean {
  const x = tokens(a);
  const y = tokens(b);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const p = x[i];
    const q = y[i];
    if (p === undefined || q === undefined) return false;
    if (p === '>' || q === '>') return true;
    if (p !== '*' && q !== '*' && p !== q) return false;
  }
  return true;
}

/** True if every concrete subject matched by `subject` is also matched by `pattern`. */
export function subjectCovers(pattern: string, subject: string): boolean {
  const x = tokens(pattern);
  const y = tokens(subject);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const p = x[i];
    const q = y[i];
    if (p === undefined || q === undefined) return false;
    if (p === '>') return true;
    if (q === '>') return false;
    if (p === '*') continue;
    if (q === '*' || p !== q) return false;
  }
  return true;
}
