import type { HeaderField } from '@mailmesh/proto';

/**
 * One header field as CRLF-terminated text, folded at spaces so no line exceeds
 * 78 characters where the value allows it (RFC 5322 §2.1.1, §2.2.3).
 */
export function headerLine(name: string, value: string): string {
  // eslint-disable-next-line no-control-regex -- CR/LF/controls must never reach a header
  const v = value.replace(/[\x00-\x08\x0a-\x1f\x7f]+/g, ' ');
  const words = v.split(' ');
  let line = `${name}:`;
  const lines: string[] = [];
  for (const w of words) {
    if (line.length + 1 + w.length > 78 && line.trim() !== `${name}:`) {
      lines.push(line);
      line = `\t${w}`;
    } else {
      line += ` ${w}`;
    }
  }
  lines.push(line);
  return `${lines.join('\r\n')}\r\n`;
}

export function headerBlock(fields: readonly Pick<HeaderField, 'name' | 'value'>[]): string {
  return fields.map((f) => headerLine(f.name, f.value)).join('');
}
