/**
 * Content sniffing: what a file is by its first bytes, whatever its name says.
 */

export type ExecutableKind = 'pe' | 'elf' | 'mach-o' | 'mach-o-fat' | 'script' | 'windows-shortcut';

const MACH_O = new Set([0xfeedface, 0xfeedfacf, 0xcefaedfe, 0xcffaedfe]);
const LNK = Buffer.from([0x4c, 0x00, 0x00, 0x00, 0x01, 0x14, 0x02, 0x00]);

/** The executable format of `head` (the first bytes of a file), or undefined. */
export function executableKind(head: Buffer): ExecutableKind | undefined {
  let b = head;
  // A UTF-8 BOM before "#!" still runs under most shells' loaders (and fools naive checks).
  if (b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) b = b.subarray(3);
  if (b.length >= 2 && b[0] === 0x4d && b[1] === 0x5a) return 'pe'; // "MZ": DOS/PE (exe, dll, scr)
  if (b.length >= 2 && b[0] === 0x23 && b[1] === 0x21) return 'script'; // "#!"
  if (b.length < 4) return undefined;
  const magic = b.readUInt32BE(0);
  if (magic === 0x7f454c46) return 'elf';
  if (MACH_O.has(magic)) return 'mach-o';
  // 0xCAFEBABE is also a Java class file; both are code, both are blocked.
  if (magic === 0xcafebabe) return 'mach-o-fat';
  if (b.length >= 8 && b.subarray(0, 8).equals(LNK)) return 'windows-shortcut';
  return undefined;
}

/** True when `head` starts like a zip archive (local file header or empty archive). */
export function isZip(head: Buffer): boolean {
  return (
    head.length >= 4 &&
    head[0] === 0x50 &&
    head[1] === 0x4b &&
    ((head[2] === 0x03 && head[3] === 0x04) || (head[2] === 0x05 && head[3] === 0x06))
  );
}

export function isPdf(head: Buffer): boolean {
  return head.subarray(0, 5).toString('latin1') === '%PDF-';
}

// Bidi overrides (U+202A-202E, U+2066-2069) make "gpj.exe" display as "exe.jpg";
// zero-width characters hide inside extensions.
const INVISIBLE = /[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\u00ad]/gu;

/**
 * The name Windows would act on: the last path segment, NFKC-folded (full-width
 * `．ＥＸＥ` is `.exe`), without invisible and bidi control characters, without
 * the trailing dots and spaces Windows strips, lowercase.
 */
export function normalizeFilename(name: string): string {
  const base = name.split(/[\\/]/).pop() ?? '';
  return base
    .normalize('NFKC')
    .replace(INVISIBLE, '')
    .replace(/[\s.]+$/u, '')
    .trim()
    .toLowerCase();
}

/** The extension after the last dot of the normalised name, `''` if none. */
export function extensionOf(name: string): string {
  const n = normalizeFilename(name);
  const dot = n.lastIndexOf('.');
  return dot < 0 ? '' : n.slice(dot + 1);
}
