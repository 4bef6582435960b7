/**
 * Envelope address forms that have no place on an intranet MTA and that open
 * relays historically honoured: they are refused before any lookup so that no
 * later stage ever has to interpret them (DESIGN rule 7).
 */

/** Why a path is refused, or undefined if it is a plain `local@domain` (or `<>`). */
export function pathProblem(raw: string): string | undefined {
  let p = raw.trim();
  if (p.startsWith('<') && p.endsWith('>')) p = p.slice(1, -1);
  if (p === '') return undefined;
  // RFC 5321 §4.1.2 / Appendix C: `<@relay1,@relay2:user@domain>`
  if (p.startsWith('@')) return 'source routes are not accepted';
  const at = p.lastIndexOf('@');
  const local = at === -1 ? p : p.slice(0, at);
  if (local.startsWith('"')) return 'quoted local parts are not accepted';
  if (local.includes('@')) return 'more than one @ is not accepted';
  // The "percent hack" (user%host@relay) and UUCP bang paths (host!user@relay).
  if (local.includes('%')) return 'percent-hack addresses are not accepted';
  if (local.includes('!')) return 'bang paths are not accepted';
  if (at === -1) return 'an address must be local@domain';
  return undefined;
}
